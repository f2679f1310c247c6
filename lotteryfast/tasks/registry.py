"""The built-in tasks, each a TaskSpec: the one list the CLI and the tools read."""

from __future__ import annotations

from collections.abc import Callable

from lotteryfast.tasks.spec import TaskSpec


def _classic(name: str) -> TaskSpec:
    from lotteryfast.tasks.classic import PRESETS, ClassicControlTask

    return TaskSpec(
        name,
        PRESETS[name],
        lambda cfg, ctx: ClassicControlTask(cfg, device=ctx.device),
        f"A2C on {PRESETS[name]['paper'].task.env_id} (population training)",
        population=True,
    )


def _lstm() -> TaskSpec:
    from lotteryfast.tasks.lstm import PRESETS, LSTMLanguageModelTask

    return TaskSpec(
        "lstm", PRESETS, lambda cfg, ctx: LSTMLanguageModelTask(cfg, device=ctx.device), "LSTM LM on WikiText-2"
    )


def _mt() -> TaskSpec:
    from lotteryfast.tasks.mt import PRESETS, TranslationTask

    return TaskSpec(
        "mt",
        PRESETS,
        lambda cfg, ctx: TranslationTask(cfg, device=ctx.device, workdir=ctx.workdir, write_cache=ctx.writer),
        "Transformer translation with BLEU",
    )


def _atari() -> TaskSpec:
    from lotteryfast.tasks.atari import PRESETS, AtariTask

    return TaskSpec(
        "atari", PRESETS, lambda cfg, ctx: AtariTask(cfg, device=ctx.device), "A2C with importance correction on Atari"
    )


BUILTIN: dict[str, Callable[[], TaskSpec]] = {
    "cartpole": lambda: _classic("cartpole"),
    "acrobot": lambda: _classic("acrobot"),
    "lunarlander": lambda: _classic("lunarlander"),
    "lstm": _lstm,
    "mt": _mt,
    "atari": _atari,
}
