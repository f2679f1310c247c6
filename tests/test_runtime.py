"""lotteryfast.runtime: the process-wide settings of the training loops."""

from __future__ import annotations


def test_keep_freed_memory_applies_on_glibc_and_can_be_turned_off(monkeypatch):
    import platform

    from lotteryfast.runtime import keep_freed_memory

    monkeypatch.setenv("LOTTERYFAST_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("LOTTERYFAST_KEEP_FREED_MEMORY")
    if platform.libc_ver()[0] == "glibc":
        assert keep_freed_memory() is True
