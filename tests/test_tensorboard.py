"""TensorBoard event files per unit, read back with TensorBoard's own reader."""

from __future__ import annotations

import json

import pytest

from lotteryfast.run import main

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def _events(path):
    acc = EventAccumulator(str(path))
    acc.Reload()
    return acc


def test_cartpole_units_write_curves_losses_and_hparams(tmp_path):
    out = tmp_path / "run"
    argv = ["cartpole", "--epochs", "3", "--games-per-epoch", "6", "--levels", "1", "--seeds", "1", "--no-plot"]
    assert main([*argv, "--out", str(out), "--tensorboard"]) == 0
    for kind, level in (("dense", 0), ("wt", 1), ("rt", 1)):
        unit = out / "tensorboard" / "seed0" / f"level{level:02d}" / kind
        acc = _events(unit)
        record = json.loads((out / "seed0" / f"level{level:02d}" / kind / "metrics.json").read_text())
        metric = [e.value for e in acc.Scalars("metric/reward")]
        assert metric == pytest.approx(record["curve"]) and [e.step for e in acc.Scalars("metric/reward")] == [1, 2, 3]
        for tag in ("train/loss", "train/entropy", "train/value_loss", "train/policy_loss"):
            assert len(acc.Scalars(tag)) == 3, tag
        assert acc.Scalars("final/reward")[0].value == pytest.approx(record["metric"])
        assert acc.PluginTagToContent("hparams")  # the HPARAMS summaries are there (KeyError otherwise)
    assert json.loads((out / "config.json").read_text())["tensorboard"] is True


def test_no_tensorboard_writes_none_and_does_not_change_the_run(tmp_path):
    out = tmp_path / "run"
    argv = ["cartpole", "--epochs", "1", "--games-per-epoch", "6", "--levels", "1", "--seeds", "1", "--no-plot"]
    assert main([*argv, "--out", str(out), "--no-tensorboard"]) == 0
    assert not (out / "tensorboard").exists()
    log = (out / "metrics.jsonl").read_text()
    assert main([*argv, "--out", str(out), "--tensorboard"]) == 0  # same run (not part of its identity)
    assert (out / "metrics.jsonl").read_text() == log
