"""Loads the compiled extension with an actionable error when it is missing."""

import torch  # noqa: F401  (loads libtorch and its OpenMP runtime before the extension)

try:
    from lotteryfast import _C
except ImportError as err:  # pragma: no cover - only hit on a broken install
    raise ImportError(
        "lotteryfast's compiled extension lotteryfast._C is missing or does not load "
        f"({err}). Build it with `pip install --no-build-isolation -e .` (see README.md)."
    ) from err

__all__ = ["_C"]
