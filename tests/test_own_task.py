"""A user's own task: TorchTask (masks, late resetting, determinism, random tickets of a
pretrained factory), the one-call Python helper, and the CLI by import path, file path and entry
point — including the complete example examples/lenet_digits.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lotteryfast.experiment import run_experiment
from lotteryfast.lottery import LotteryConfig
from lotteryfast.run import main
from lotteryfast.tasks.base import Member
from lotteryfast.tasks.optimizers import AdamConfig, RMSpropConfig
from lotteryfast.tasks.torch_task import TorchTask
from lotteryfast.tickets import prune_masks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lenet_digits.py"


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def _task(epochs=3, optimizer=None, random_init=None, factory=None) -> TorchTask:
    x, y = _data()

    def train_epoch(model, opt, epoch, gen):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 16):
            idx = order[i : i + 16]
            loss = F.cross_entropy(F.dropout(model(x[idx]), 0.1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return float(loss.detach())

    return TorchTask(
        "toy",
        model=factory or (lambda: nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))),
        train_epoch=train_epoch,
        evaluate=lambda m: float((m(x).argmax(1) == y).float().mean()),
        epochs=epochs,
        optimizer=optimizer,
        metric_name="accuracy",
        random_init=random_init,
    )


@pytest.mark.parametrize("optimizer", [AdamConfig(lr=1e-2), RMSpropConfig(lr=1e-3, momentum=0.5)])
def test_masks_hold_and_the_member_learns_deterministically(optimizer):
    task = _task(optimizer=optimizer)
    params = task.init_params(0)
    masks = prune_masks(params, None, 0.6)
    init = {k: v * masks[k] for k, v in params.items()}
    a = task.train([Member(init, masks, 5)])[0]
    b = task.train([Member(init, masks, 5)])[0]
    for k, m in masks.items():
        assert torch.all(a.trained[k][~m] == 0), k
        assert torch.equal(a.trained[k], b.trained[k])  # same seed, same numbers
    assert a.metric == b.metric and len(a.curve) == 3 and a.stats["updates"] == 18
    assert task.init_params(0).keys() == params.keys()
    assert all(torch.equal(task.init_params(0)[k], params[k]) for k in params)
    assert not all(torch.equal(task.init_params(1)[k], params[k]) for k in params)


def test_late_reset_by_updates_and_by_epochs_takes_the_weights_at_that_point():
    one_epoch = _task(epochs=1).train([Member(_task().init_params(0), None, 9)])[0].trained
    task = _task(epochs=3)
    by_updates = task.train([Member(task.init_params(0), None, 9, rewind_updates=6)])[0]
    by_epochs = task.train([Member(task.init_params(0), None, 9, rewind_epochs=1)])[0]
    dense = task.train([Member(task.init_params(0), None, 9)])[0]
    assert dense.rewind is None
    for k in one_epoch:  # 6 updates = one epoch of 96 / 16 batches
        assert torch.equal(by_updates.rewind[k], one_epoch[k])
        assert torch.equal(by_epochs.rewind[k], one_epoch[k])
        assert not torch.equal(by_epochs.trained[k], one_epoch[k])


def test_random_tickets_of_a_pretrained_factory_come_from_random_init(tmp_path):
    pretrained = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    state = {k: v.clone() for k, v in pretrained.state_dict().items()}

    def factory():
        net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
        net.load_state_dict(state)
        return net

    def reinit(net):
        for m in net:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    task = _task(epochs=2, factory=factory, random_init=reinit)
    assert all(torch.equal(task.init_params(s)["0.weight"], state["0.weight"]) for s in (0, 1))
    assert not torch.equal(task.random_params(3)["0.weight"], state["0.weight"])
    run_experiment(task, LotteryConfig(seeds=1, levels=1, rate=0.5, reset="init"), tmp_path / "run")
    rt = torch.load(tmp_path / "run" / "seed0" / "level01" / "rt" / "ticket.pt")["init"]
    wt = torch.load(tmp_path / "run" / "seed0" / "level01" / "wt" / "ticket.pt")["init"]
    masks = prune_masks(torch.load(tmp_path / "run" / "seed0" / "level00" / "dense" / "trained.pt"), None, 0.5)
    torch.testing.assert_close(wt["0.weight"], state["0.weight"] * masks["0.weight"])  # reset to init
    assert not torch.equal(rt["0.weight"], wt["0.weight"])


def test_one_call_helper_runs_resumes_and_refuses_another_config(tmp_path):
    task = _task(epochs=2)
    cfg = LotteryConfig(seeds=2, levels=2, rate=0.5, reset="update:3")
    rows = run_experiment(task, cfg, tmp_path / "r")
    assert {(r.level, r.kind) for r in rows} == {(0, "dense"), (1, "wt"), (1, "rt"), (2, "wt"), (2, "rt")}
    log = (tmp_path / "r" / "metrics.jsonl").read_text()
    again = run_experiment(task, cfg, tmp_path / "r")
    assert (tmp_path / "r" / "metrics.jsonl").read_text() == log and [r.mean for r in again] == [r.mean for r in rows]
    with pytest.raises(ValueError, match="different config"):
        run_experiment(task, LotteryConfig(seeds=2, levels=2, rate=0.3, reset="update:3"), tmp_path / "r")


def test_the_example_runs_from_the_cli_by_file_path_learns_and_resumes(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "digits"
    args = [f"{EXAMPLE}:spec", "--levels", "2", "--rate", "0.5", "--seeds", "1", "--epochs", "4", "--out", str(out)]
    assert main([*args, "--no-plot"]) == 0
    printed = capsys.readouterr().out
    assert "LeNet-300-100" in printed and "test accuracy" in printed
    summary = json.loads((out / "summary.json").read_text())
    dense = next(r for r in summary["rows"] if r["kind"] == "dense")
    assert dense["mean"] > 0.9  # LeNet-300-100 learns the digits in 4 epochs
    config = json.loads((out / "config.json").read_text())
    assert config["task_config"]["epochs"] == 4 and config["task_config"]["optim"]["lr"] == 1.2e-3
    lines = (out / "metrics.jsonl").read_text()
    assert main([*args, "--no-plot"]) == 0
    assert (out / "metrics.jsonl").read_text() == lines  # resumed: nothing retrained
    assert main([f"{EXAMPLE}:spec", "--hidden", "0"]) == 2
    assert "DigitsConfig.hidden must be >= 1, got 0" in capsys.readouterr().err


def _write_package(root: Path) -> None:
    pkg = root / "mylottery"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(
        textwrap.dedent("""
        import torch.nn.functional as F
        import torch
        from torch import nn
        from lotteryfast.tasks.torch_task import TorchTask

        def make_task():
            x = torch.randn(32, 3, generator=torch.Generator().manual_seed(1)); y = (x[:, 0] > 0).long()
            def train_epoch(model, opt, epoch, gen):
                loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
            return TorchTask("tiny-installed", lambda: nn.Linear(3, 2), train_epoch,
                             lambda m: float((m(x).argmax(1) == y).float().mean()), epochs=2)
        """)
    )
    dist = root / "mylottery-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mylottery\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lotteryfast.tasks]\ntiny = mylottery.tasks:make_task\n")


@pytest.mark.parametrize("how", ["module", "entry-point"])
def test_installed_tasks_run_by_module_path_and_entry_point(tmp_path, how):
    _write_package(tmp_path)
    name = "mylottery.tasks:make_task" if how == "module" else "tiny"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "lotteryfast.run",
        name,
        "--levels",
        "1",
        "--seeds",
        "1",
        "--reset-to",
        "init",
        "--out",
        str(out),
        "--no-plot",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "tiny-installed" in res.stdout
    assert json.loads((out / "config.json").read_text())["task"] == name
    helped = subprocess.run(
        [sys.executable, "-m", "lotteryfast.run", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert "tiny" in helped.stdout  # installed tasks are listed
