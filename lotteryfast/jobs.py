"""An experiment as a graph of jobs that follows the pruning DAG.

Two kinds of job:

* ``masks``: compute the masks of (seed, level) from the trained weights they prune — level
  k-1's winning ticket of that seed (iterative; the dense network at k = 1) or the dense network
  (one-shot) — and write them to the run directory;
* ``train``: train some members of one level together (one population) and write each finished
  unit (seed, level, ticket kind).

Level k of seed s needs the masks of (s, k), which need level k-1's trained winning ticket of s;
winning and random tickets of a level, and all seeds, are independent. A job only ever reads
and writes the run directory (the one state shared between the driver and the workers), skips
units that are already finished and writes each unit atomically, so running a job again — after
a lost worker, or a killed driver — costs only the units that were in flight. How members are
grouped into jobs never changes a result (a member's numbers do not depend on its population).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Job:
    """One node of the graph: `kind` ("masks" or "train") of `units` ((seed, ticket kind) pairs;
    the kind is "" for masks jobs) at `level` of the experiment in `run_dir`."""

    kind: str
    run_dir: str
    level: int
    units: tuple[tuple[int, str], ...]
    deps: tuple[str, ...] = field(default=(), compare=False)

    @property
    def id(self) -> str:
        """A name unique within a sweep."""
        units = ",".join(f"s{s}{k}" for s, k in self.units)
        return f"{self.run_dir}::{self.kind}:l{self.level}:{units}"

    @property
    def label(self) -> str:
        """Short, for logs and progress."""
        units = ",".join(f"s{s}{'-' + k if k else ''}" for s, k in self.units)
        return f"{Path(self.run_dir).name} {self.kind} level {self.level} [{units}]"


def experiment_jobs(lottery: Any, members_per_job: int | None = None) -> list[Job]:
    """The unfinished work of one experiment (a :class:`lotteryfast.lottery.Lottery`) as jobs in
    topological order. `members_per_job` None: all unfinished members of a level in one job (one
    population, the local default); n: jobs of at most n members, seed-major (so 2 keeps a
    (seed, level)'s winning and random ticket together)."""
    cfg, run = lottery.cfg, lottery.run_dir
    path = str(run.path)
    if members_per_job is not None and members_per_job < 1:
        raise ValueError(f"members_per_job must be >= 1, got {members_per_job}")
    jobs: list[Job] = []
    producer: dict[tuple[int, int, str], str] = {}  # unit -> the train job that writes it
    masks_job: dict[tuple[int, int], str] = {}

    def group(units: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
        if members_per_job is None:
            return [units] if units else []
        return [units[i : i + members_per_job] for i in range(0, len(units), members_per_job)]

    def add_train(level: int, units: list[tuple[int, str]]) -> None:
        for chunk in group(units):
            deps = tuple(sorted({masks_job[(s, level)] for s, _ in chunk if (s, level) in masks_job}))
            job = Job("train", path, level, tuple(chunk), deps)
            jobs.append(job)
            for s, k in chunk:
                producer[(s, level, k)] = job.id

    add_train(0, [(s, "dense") for s in lottery.seeds if not run.finished(s, 0, "dense")])
    for level in range(1, cfg.levels + 1):
        units = [(s, k) for s in lottery.seeds for k in cfg.tickets if not run.finished(s, level, k)]
        for s in sorted({s for s, _ in units}):
            if lottery.masks_path(s, level).exists():
                continue
            source = (s, 0, "dense") if (cfg.one_shot or level == 1) else (s, level - 1, "wt")
            deps = [producer[source]] if source in producer else []
            if not cfg.one_shot and level > 1 and (s, level - 1) in masks_job:
                deps.append(masks_job[(s, level - 1)])
            job = Job("masks", path, level, ((s, ""),), tuple(deps))
            jobs.append(job)
            masks_job[(s, level)] = job.id
        add_train(level, units)
    return jobs


def log_event(run_dir: str | Path, job: Job, event: str, **extra: Any) -> None:
    """Appends a line to the run directory's jobs.jsonl: which job started or ended, when and where
    (a record of the schedule; the unit files remain the source of truth)."""
    record = {
        "event": event,
        "job": job.label,
        "kind": job.kind,
        "level": job.level,
        "units": [list(u) for u in job.units],
        "time": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **extra,
    }
    with open(Path(run_dir) / "jobs.jsonl", "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def run_job(lottery: Any, job: Job, **where: Any) -> None:
    """Runs one job on `lottery` (the experiment of ``job.run_dir``), logging its start and end
    (by the process that writes the run directory: rank 0 under torchrun)."""
    writes = getattr(lottery.run_dir, "writer", True)
    if writes:
        log_event(job.run_dir, job, "start", **where)
    if job.kind == "masks":
        for seed, _ in job.units:
            lottery.masks(seed, job.level)
    elif job.kind == "train":
        lottery.train_units(job.level, list(job.units))
    else:
        raise ValueError(f"unknown job kind {job.kind!r}")
    if writes:
        log_event(job.run_dir, job, "end", **where)


# --- a worker's view: the experiment rebuilt from its run directory ----------------------------

_EXPERIMENTS: dict[str, Any] = {}


def experiment_from_run_dir(run_dir: str | Path) -> Any:
    """The Lottery of a run directory, rebuilt from its config.json (cached per process: a worker
    that runs many jobs of one experiment builds its task once). The task must be findable by
    name (built-in, module:attr, file.py:attr or an entry point)."""
    from lotteryfast.lottery import Lottery, LotteryConfig
    from lotteryfast.runs import RunDir
    from lotteryfast.tasks.spec import BuildContext, find_task

    key = str(Path(run_dir).resolve())
    if key in _EXPERIMENTS:
        return _EXPERIMENTS[key]
    identity = json.loads((Path(run_dir) / "config.json").read_text())
    spec = find_task(identity["task"])
    task_cfg = spec.config_class.from_dict({**identity["task_config"], **identity.get("locations", {})})
    lottery_cfg = LotteryConfig.from_dict({k: identity[k] for k in LotteryConfig.__dataclass_fields__})
    task = spec.build(task_cfg, BuildContext(device=identity.get("device", "cpu"), workdir=Path(run_dir)))
    lottery = Lottery(task, lottery_cfg, RunDir(run_dir, identity))
    _EXPERIMENTS[key] = lottery
    return lottery
