"""Process-wide settings of the training loops (the CLI and the benchmarks apply them; importing
lotteryfast changes nothing)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP = 2**31 - 1  # the largest value mallopt takes: 2 GiB


def keep_freed_memory() -> bool:
    """Lets large tensors reuse freed heap memory instead of fresh pages.

    glibc's malloc maps every allocation above its mmap threshold anew and unmaps it on free, so
    each training step page-faults its big activations in again (a 200 MB logits tensor of the
    WikiText-2 LSTM: ~30 ms of kernel time per allocation, measured in bench/RESULTS.md). Raising
    M_MMAP_THRESHOLD and M_TRIM_THRESHOLD to 2 GiB keeps freed memory in the process for the next
    step; the peak memory of a step is unchanged, the resident size stays at it. glibc on Linux
    only; LOTTERYFAST_KEEP_FREED_MEMORY=0 turns it off. Returns whether it was applied."""
    if os.environ.get("LOTTERYFAST_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP))
