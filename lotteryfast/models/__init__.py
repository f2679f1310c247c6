"""Networks of the NLP tasks."""
