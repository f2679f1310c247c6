"""What the CLI and the experiment tools know of a task: its presets (typed config instances) and
how to build it; and how a task is found by name: a built-in task, ``module:attr`` (or
``path/to/file.py:attr``), or an entry point of the ``lotteryfast.tasks`` group."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lotteryfast.config import Config, NoConfig
from lotteryfast.lottery import LotteryConfig
from lotteryfast.tasks.base import Task

ENTRY_POINT_GROUP = "lotteryfast.tasks"


@dataclass(frozen=True)
class Preset:
    """A named setup: the task's config and the lottery settings."""

    task: Config
    lottery: LotteryConfig


@dataclass(frozen=True)
class BuildContext:
    """Where a task is built: device ("cpu"/"cuda"), the run directory (for caches) and whether
    this process writes files (rank 0 of a data-parallel run)."""

    device: str = "cpu"
    workdir: Path = Path(".")
    writer: bool = True


@dataclass(frozen=True)
class TaskSpec:
    """A task as the CLI sees it: presets -> (task config, lottery settings), and how to build the
    task from a config. The config's fields become CLI flags. ``presets`` must hold
    ``default_preset``; every preset's task config is of one class."""

    name: str
    presets: dict[str, Preset]
    build: Callable[[Any, BuildContext], Task]
    description: str = ""
    default_preset: str = "quick"
    population: bool = False  # trains many members fast together: a cluster job takes a (seed, level)'s tickets

    def members_per_job(self, lottery: LotteryConfig) -> int:
        """Members per job on a cluster by default: the tickets of one (seed, level) for
        population tasks, one member otherwise."""
        return len(lottery.tickets) if self.population else 1

    def __post_init__(self) -> None:
        if self.default_preset not in self.presets:
            raise ValueError(f"task {self.name!r}: default preset {self.default_preset!r} is not among its presets")
        classes = {type(p.task) for p in self.presets.values()}
        if len(classes) != 1:
            raise ValueError(f"task {self.name!r}: presets mix config classes {sorted(c.__name__ for c in classes)}")

    @property
    def config_class(self) -> type[Config]:
        """The class of the task's config (its fields are the task's CLI flags)."""
        return type(self.presets[self.default_preset].task)

    @staticmethod
    def of_task(task: Task, lottery: LotteryConfig | None = None) -> TaskSpec:
        """A spec for a ready-built task without options of its own (one preset, the paper's
        lottery settings unless `lottery` is given)."""
        preset = Preset(NoConfig(), lottery or LotteryConfig())
        return TaskSpec(str(getattr(task, "name", type(task).__name__)), {"quick": preset}, lambda cfg, ctx: task)


def _is_task(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("init_params", "train", "metric_name"))


def as_spec(obj: Any, where: str) -> TaskSpec:
    """A TaskSpec from what a user's import path names: a TaskSpec, a Task, or a callable
    without arguments returning either."""
    if isinstance(obj, TaskSpec):
        return obj
    if _is_task(obj):
        return TaskSpec.of_task(obj)
    if callable(obj):
        made = obj()
        if isinstance(made, TaskSpec):
            return made
        if _is_task(made):
            return TaskSpec.of_task(made)
        raise ValueError(f"{where} returned {type(made).__name__}, expected a TaskSpec or a Task")
    raise ValueError(f"{where} is a {type(obj).__name__}, expected a TaskSpec, a Task or a function returning one")


def _import_attr(path: str) -> Any:
    module_name, _, attr = path.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"task {path!r}: expected module:attribute (e.g. mypkg.tasks:make_task)")
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            if not file.is_file():
                raise ValueError(f"task {path!r}: no file {file}")
            name = f"lotteryfast_user_{file.stem}"
            spec = importlib.util.spec_from_file_location(name, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            if "" not in sys.path and Path.cwd().as_posix() not in sys.path:
                sys.path.insert(0, "")  # as `python -m` does: modules of the working directory import
            module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"task {path!r}: cannot import {module_name!r} ({err})") from None
    if not hasattr(module, attr):
        raise ValueError(f"task {path!r}: module {module_name!r} has no attribute {attr!r}")
    return getattr(module, attr)


def entry_point_tasks() -> dict[str, importlib.metadata.EntryPoint]:
    """Tasks installed packages register under the ``lotteryfast.tasks`` entry-point group."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def find_task(name: str) -> TaskSpec:
    """The TaskSpec for `name`: a built-in task, an installed entry point, or module:attr."""
    from lotteryfast.tasks.registry import BUILTIN

    if name in BUILTIN:
        return BUILTIN[name]()
    if ":" in name:
        return as_spec(_import_attr(name), name)
    installed = entry_point_tasks()
    if name in installed:
        return as_spec(installed[name].load(), f"entry point {name!r}")
    known = [*BUILTIN, *installed]
    raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(known)}, or give module:attribute")
