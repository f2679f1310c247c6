"""A failed start spoils nothing; the data's location is not part of a run's identity (its content is)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lotteryfast.run import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikitext-2"
TINY = ["lstm", "--epochs", "1", "--batches-per-epoch", "2", "--emb", "8", "--hidden", "8", "--eval-tokens", "200"]
TINY += ["--levels", "1", "--seeds", "1", "--reset-to", "update:1", "--no-plot"]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no WikiText-2 at {SHARED}")
def test_missing_data_writes_nothing_and_moved_data_keeps_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOTTERYFAST_DATA", str(tmp_path / "nowhere"))
    out = tmp_path / "D"
    assert main([*TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "python -m lotteryfast.data fetch wikitext-2" in err
    assert not out.exists()  # nothing written by the failed start
    first = tmp_path / "data-a"
    shutil.copytree(SHARED, first)
    assert main([*TINY, "--data", str(first), "--out", str(out)]) == 0  # the corrected command is accepted
    config = json.loads((out / "config.json").read_text())
    assert config["locations"] == {"data": str(first)} and "data" not in config["task_config"]
    assert len(config["data_sha256"]) == 64
    log = (out / "metrics.jsonl").read_text()
    moved = tmp_path / "data-b"
    first.rename(moved)
    assert main([*TINY, "--data", str(moved), "--out", str(out)]) == 0  # the data moved: same run, nothing retrained
    assert (out / "metrics.jsonl").read_text() == log
    assert json.loads((out / "config.json").read_text())["locations"] == {"data": str(moved)}
    (moved / "wiki.test.tokens").write_text("other words entirely\n")
    (moved / "SHA256SUMS").unlink()
    capsys.readouterr()
    assert main([*TINY, "--data", str(moved), "--out", str(out)]) == 2  # other data: another run
    assert "differs in: data_sha256" in capsys.readouterr().err
