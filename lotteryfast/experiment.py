"""One lottery experiment in one call: the run directory (its identity, resume), the engine, the
summary and the plot. The CLI (``python -m lotteryfast.run``) and Python users share it:

    from lotteryfast.experiment import run_experiment
    from lotteryfast.lottery import LotteryConfig

    rows = run_experiment(my_task, LotteryConfig(seeds=2, levels=5), "runs/mine")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lotteryfast.config import Config
from lotteryfast.lottery import Bar, LevelSummary, Lottery, LotteryConfig, _no_bar
from lotteryfast.runs import RunDir
from lotteryfast.tasks.base import Task

FORMAT = 2  # version of the run-directory layout and config.json keys


def run_identity(
    task: str, lottery: LotteryConfig, task_config: Config | None, *, preset: str = "", device: str = "cpu"
) -> dict[str, Any]:
    """The resolved config that names a run (stored as config.json; a run directory holds one).
    Location fields of the task config (a data directory) are kept apart under "locations": they
    say where the data is, not what it is (see :func:`with_data`)."""
    ident, where = task_config.identity_and_locations() if task_config is not None else ({}, {})
    out = {
        "task": task,
        "preset": preset,
        "device": device,
        "format": FORMAT,
        **lottery.to_dict(),
        "task_config": ident,
    }
    if any(v not in ("", None) for v in where.values()):
        out["locations"] = where
    return out


def with_data(identity: dict[str, Any], task: Any) -> dict[str, Any]:
    """`identity` with the SHA-256 of the data the task read (tasks that read data sets define
    ``data_fingerprint()``): the data's content is part of a run's identity, its location is not."""
    fingerprint = getattr(task, "data_fingerprint", None)
    return {**identity, "data_sha256": fingerprint()} if callable(fingerprint) else identity


def config_hash(identity: dict[str, Any]) -> str:
    """8 hex digits naming a resolved config (default run directories: runs/<task>-<preset>-<hash>)."""
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]


def check_compatible(lottery: LotteryConfig, task_config: Config | None) -> None:
    """Rules between the lottery settings and the task's config (ValueError naming both)."""
    kind, value = lottery.rewind()
    updates = getattr(task_config, "updates", None)
    if kind == "update" and isinstance(updates, int) and value > updates:
        raise ValueError(f"late resetting point {lottery.reset} is past the {updates} training updates per ticket")


def run_experiment(
    task: Task,
    lottery: LotteryConfig,
    out: str | Path,
    *,
    identity: dict[str, Any] | None = None,
    bar: Bar = _no_bar,
    writer: bool = True,
    plot: bool = False,
) -> list[LevelSummary]:
    """Runs (or resumes) the lottery experiment of `task` in the run directory `out` and returns
    the per-level summary. `identity` names the run (default: the task's name, its `cfg` when it
    is a typed config, and `lottery`); a directory holding a run of another identity is refused."""
    task_config = getattr(task, "cfg", None)
    if identity is None:
        identity = run_identity(str(task.name), lottery, task_config if isinstance(task_config, Config) else None)
    run = RunDir(out, identity, writer=writer)
    rows = Lottery(task, lottery, run, bar=bar).run()
    if plot and writer:
        from lotteryfast.plot import plot_run

        plot_run(run.path)
    return rows
