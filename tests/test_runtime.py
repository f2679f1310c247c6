"""lotteryfast.runtime: the process-wide settings of the training loops."""

from __future__ import annotations

import platform
import sys

import pytest
import torch

from lotteryfast.runtime import keep_freed_memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("LOTTERYFAST_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/statm")
def test_freed_big_tensors_stay_in_the_process_on_glibc_and_it_says_when_it_cannot(monkeypatch):
    monkeypatch.delenv("LOTTERYFAST_KEEP_FREED_MEMORY", raising=False)
    applied = keep_freed_memory()
    if platform.libc_ver()[0] != "glibc":
        assert applied is False  # nothing to apply: says so
        return
    assert applied is True
    x = torch.ones(32 * 2**20)  # 128 MiB, above glibc's default mmap threshold
    held = _rss_bytes()
    del x
    # Freed, but kept for the next allocation (without the setting glibc unmaps it at once).
    assert _rss_bytes() > held - 64 * 2**20
