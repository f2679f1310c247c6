"""The classic-control task and the CLI: masked weights stay zero, a short real run, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from lotteryfast.run import main
from lotteryfast.tasks.base import Member
from lotteryfast.tasks.classic import ClassicConfig, ClassicControlTask
from lotteryfast.tickets import prune_masks

TINY = ClassicConfig(epochs=2, games_per_epoch=16, last_episodes=10, envs=8)


def test_pruned_weights_stay_zero_through_a2c_training():
    task = ClassicControlTask(TINY)
    params = task.init_params(0)
    masks = prune_masks(params, None, 0.7)
    init = {k: v * masks[k] for k, v in params.items()}
    dense = Member(task.init_params(1), None, 5, rewind_epochs=1)
    res = task.train([Member(init, masks, 3), dense])
    for k, m in masks.items():
        assert torch.all(res[0].trained[k][~m] == 0), k
        if m.any():
            assert not torch.equal(res[0].trained[k][m], init[k][m]), f"{k} did not train"
    assert res[1].rewind is not None and res[0].rewind is None
    assert len(res[0].curve) == 2


def test_a2c_learns_cartpole():
    """The quick preset's A2C (paper hyper-parameters) lifts CartPole-v0 from a random policy's
    ~20 steps: the last epoch of 6 x 160 games averages well above the first."""
    cfg = ClassicConfig(epochs=6, games_per_epoch=160)
    task = ClassicControlTask(cfg)
    res = task.train([Member(task.init_params(0), None, 7)])[0]
    assert res.curve[0] < 40, res.curve  # untrained: about a random policy
    assert res.curve[-1] > 2.5 * res.curve[0] and res.metric > 60, res.curve


@pytest.mark.parametrize("env_id", ["CartPole-v0", "Acrobot-v1"])
def test_a_member_trains_bit_identically_alone_and_in_populations_of_2_and_6(env_id):
    """Results must not depend on --seeds, --tickets or how members are grouped into jobs."""
    cfg = ClassicConfig(env_id, (32, 32), epochs=2, games_per_epoch=6, last_episodes=6, envs=4)
    task = ClassicControlTask(cfg)
    params = task.init_params(0)
    masks = prune_masks(params, None, 0.5)
    member = Member({k: v * masks[k] for k, v in params.items()}, masks, 11, rewind_updates=3)
    others = [
        Member(task.init_params(i), None if i % 2 else prune_masks(task.init_params(i), None, 0.3), 20 + i)
        for i in range(1, 6)
    ]
    for i, o in enumerate(others):
        if o.masks is not None:
            o.params = {k: v * o.masks[k] for k, v in o.params.items()}
        o.rewind_epochs = 1 if i % 2 else None
    alone = task.train([member])[0]
    for population, at in (([others[0], member], 1), ([*others[:2], member, *others[2:]], 2)):
        together = task.train(population)[at]
        assert together.metric == alone.metric and together.curve == alone.curve
        assert together.stats == alone.stats
        for k in alone.trained:
            assert torch.equal(together.trained[k], alone.trained[k]), k
            assert torch.equal(together.rewind[k], alone.rewind[k]), k


def test_cli_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["cartpole", "--epochs", "1", "--games-per-epoch", "12", "--levels", "2", "--seeds", "2", "--rate", "0.5"]
    args += ["--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "winning ticket" in printed and "75.00%" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["level"], r["kind"]) for r in summary["rows"]} == {
        (0, "dense"),
        (1, "wt"),
        (1, "rt"),
        (2, "wt"),
        (2, "rt"),
    }
    assert (out / "plot.png").stat().st_size > 10_000
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert main(args) == 0  # resume: everything finished, nothing retrained
    assert (out / "metrics.jsonl").read_text().splitlines() == lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pong"], "unknown task 'pong'"),
        (["--rate", "1.5"], "rate must be in (0, 1)"),
        (["--levels", "-1"], "LotteryConfig.levels must be >= 0, got -1"),
        (["--preset", "huge"], "unknown preset"),
        (["--reset-to", "soon"], "reset must be"),
        (["--tickets", "wt,xt"], "LotteryConfig.tickets must be one of wt, rt, rp; got 'xt'"),
        (["--envs", "0"], "ClassicConfig.envs must be >= 1, got 0"),
        (["--epochs", "x"], "--epochs expects an integer, got 'x'"),
        (["--games-per-epoch", "0"], "ClassicConfig.games_per_epoch must be >= 1, got 0"),
        (["--out", "/proc/lotteryfast-cannot-write-here"], "cannot write the run directory"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lotteryfast.run: error:") and message in err[0]


def test_cli_refuses_a_mismatched_resume(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--epochs", "1", "--games-per-epoch", "8", "--levels", "1", "--seeds", "1", "--out", str(out)]
    assert main(base) == 0
    files = sorted(p.relative_to(out) for p in out.rglob("*"))
    capsys.readouterr()
    assert main([*base[:-2], "--rate", "0.3", "--out", str(out)]) == 2
    assert "different config" in capsys.readouterr().err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == files


def test_cli_help_lists_the_tasks():
    out = subprocess.run(
        [sys.executable, "-m", "lotteryfast.run", "--help"], capture_output=True, text=True, check=True
    )
    assert "cartpole" in out.stdout and "acrobot" in out.stdout and "lunarlander" in out.stdout
