"""Datasets read from local files (never downloaded at run time)."""
