"""The tasks the CLI knows: their presets, which options apply to them, and how to build them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAPER_LOTTERY = dict(seeds=3, levels=20, rate=0.2, reset="epoch:1")


@dataclass(frozen=True)
class TaskSpec:
    """One CLI task: presets -> (task config, lottery settings), CLI-overridable config fields."""

    name: str
    presets: dict[str, tuple[Any, dict]]
    options: tuple[str, ...]  # config fields the CLI may override (flag --a-b sets field a_b)
    build: Callable[[Any, str, Path, bool], Any]  # (config, device, run directory, writes files)


def _classic(name: str) -> TaskSpec:
    from lotteryfast.tasks.classic import PRESETS, QUICK, ClassicControlTask

    paper = PRESETS["paper"][name]
    quick_cfg, quick_lottery = QUICK[name]
    return TaskSpec(
        name,
        {"paper": (paper, PAPER_LOTTERY), "quick": (dataclasses.replace(paper, **quick_cfg), quick_lottery)},
        ("epochs", "games_per_epoch"),
        lambda cfg, device, workdir, writer: ClassicControlTask(cfg, device=device),
    )


def _lstm() -> TaskSpec:
    from lotteryfast.tasks.lstm import QUICK, LSTMConfig, LSTMLanguageModelTask

    paper = LSTMConfig()
    return TaskSpec(
        "lstm",
        {"paper": (paper, PAPER_LOTTERY), "quick": (dataclasses.replace(paper, **QUICK[0]), QUICK[1])},
        ("epochs", "batches_per_epoch", "data"),
        lambda cfg, device, workdir, writer: LSTMLanguageModelTask(cfg, device=device),
    )


def _mt() -> TaskSpec:
    from lotteryfast.tasks.mt import PAPER_LOTTERY as MT_LOTTERY
    from lotteryfast.tasks.mt import QUICK, MTConfig, TranslationTask

    paper = MTConfig()
    return TaskSpec(
        "mt",
        {"paper": (paper, MT_LOTTERY), "quick": (dataclasses.replace(paper, **QUICK[0]), QUICK[1])},
        ("updates", "dataset", "data", "prune_scope"),
        lambda cfg, device, workdir, writer: TranslationTask(cfg, device=device, workdir=workdir, write_cache=writer),
    )


def _atari() -> TaskSpec:
    from lotteryfast.tasks.atari import QUICK, AtariConfig, AtariTask

    paper = AtariConfig()
    return TaskSpec(
        "atari",
        {"paper": (paper, PAPER_LOTTERY), "quick": (dataclasses.replace(paper, **QUICK[0]), QUICK[1])},
        (
            "epochs",
            "batches_per_epoch",
            "game",
            "pool",
            "num_envs",
            "threads",
            "actor_batch",
            "episodic_life",
            "fire_reset",
        ),
        lambda cfg, device, workdir, writer: AtariTask(cfg, device=device),
    )


SPECS: dict[str, Callable[[], TaskSpec]] = {
    "cartpole": lambda: _classic("cartpole"),
    "acrobot": lambda: _classic("acrobot"),
    "lunarlander": lambda: _classic("lunarlander"),
    "lstm": _lstm,
    "mt": _mt,
    "atari": _atari,
}
