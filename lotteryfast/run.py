"""Lottery-ticket experiments from the command line.

    python -m lotteryfast.run                          # a small real CartPole experiment (~5 min, 2 cores)
    python -m lotteryfast.run cartpole --preset paper  # the paper's CartPole setup (3 seeds, 20 levels)
    python -m lotteryfast.run acrobot --one-shot --reset-to init --out runs/acrobot-ablation
    python -m lotteryfast.run cartpole --help          # every option of a task (its config's fields)
    python -m lotteryfast.run mypkg.tasks:make_task    # your own task (a TaskSpec, a Task, or a function)

Rerunning the same command continues an interrupted run (finished tickets are kept); the run
directory holds config.json, per (seed, level, ticket) the masks, weights and metrics,
metrics.jsonl, summary.json/.csv and plot.png.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from lotteryfast.config import OneLineParser, add_flags, apply_flags

DEFAULT_TASK = "cartpole"


def _task_name(argv: list[str]) -> str:
    """The task: the first argument unless it is a flag (then the default task)."""
    return argv[0] if argv and not argv[0].startswith("-") else DEFAULT_TASK


def build_parser(spec=None, preset: str | None = None) -> argparse.ArgumentParser:
    """The CLI of one task: run options, the lottery's fields and the task config's fields (each
    field of LotteryConfig and of the task's config dataclass is a flag, its help text beside it)."""
    from lotteryfast.lottery import LotteryConfig
    from lotteryfast.tasks.registry import BUILTIN
    from lotteryfast.tasks.spec import entry_point_tasks, find_task

    spec = spec or find_task(DEFAULT_TASK)
    shown = spec.presets.get(preset or spec.default_preset, spec.presets[spec.default_preset])
    tasks = ", ".join([*BUILTIN, *entry_point_tasks()])
    p = OneLineParser(
        prog="python -m lotteryfast.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "task",
        nargs="?",
        default=DEFAULT_TASK,
        help=f"one of: {tasks}; or your own as module:attribute or file.py:attribute (default {DEFAULT_TASK}); "
        "`TASK --help` lists its options",
    )
    p.add_argument(
        "--preset",
        default=spec.default_preset,
        help=f"the task's presets: {', '.join(spec.presets)} (default {spec.default_preset}); flags override it",
    )
    p.add_argument("--out", type=Path, help="run directory (default: runs/<task>-<preset>-<config hash>)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    add_backend_flags(p)
    try:
        add_flags(
            p.add_argument_group("lottery (the paper's defaults; the preset's shown)"),
            LotteryConfig,
            "lottery.",
            defaults=shown.lottery,
        )
        add_flags(
            p.add_argument_group(f"task {spec.name} ({spec.config_class.__name__})"),
            spec.config_class,
            "task.",
            defaults=shown.task,
        )
    except argparse.ArgumentError as err:
        raise ValueError(f"task {spec.name!r}: a config field's flag clashes with another flag: {err}") from None
    return p


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    """Where the jobs run: this process, or a Ray cluster (README "On a cluster")."""
    g = p.add_argument_group("execution")
    g.add_argument(
        "--backend",
        default="local",
        choices=("local", "ray"),
        help="local: this process, each level's members as one population (default); ray: Ray Core tasks",
    )
    g.add_argument("--address", help="ray: auto or HOST:PORT of a running cluster (default: a new local Ray instance)")
    g.add_argument("--cpus-per-job", type=float, default=1.0, help="ray: CPUs per job (default 1)")
    g.add_argument("--gpus-per-job", type=float, default=0.0, help="ray: GPUs per job; fractions share a GPU (0.25)")
    g.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="event files per unit in RUN_DIR/tensorboard (default: on where tensorboard is installed)",
    )
    g.add_argument(
        "--members-per-job",
        type=int,
        help="members trained together in one job (default: local: a whole level; ray: a (seed, level)'s "
        "tickets for classic control, 1 for model tasks); never changes a result",
    )


def tensorboard_wanted(args: argparse.Namespace) -> bool:
    """--tensorboard/--no-tensorboard (default: on where the tensorboard package is installed);
    ValueError when asked for without the package."""
    from lotteryfast import tensorboard

    if args.tensorboard and not tensorboard.available():
        raise ValueError("--tensorboard needs the tensorboard package: pip install tensorboard")
    return tensorboard.available() if args.tensorboard is None else bool(args.tensorboard)


def make_executor(args: argparse.Namespace, roots: list[Path]):
    """The executor the flags ask for; for Ray, storage every node can write is checked first.
    Raises ExecutorError (one line for the user)."""
    from lotteryfast.executors import ExecutorError, LocalExecutor, RayExecutor, python_path_env, writable_root

    if args.members_per_job is not None and args.members_per_job < 1:
        raise ExecutorError(f"--members-per-job must be >= 1, got {args.members_per_job}")
    if args.backend == "local":
        if args.address:
            raise ExecutorError("--address needs --backend ray")
        return LocalExecutor()
    executor = RayExecutor(
        args.address,
        cpus_per_job=args.cpus_per_job,
        gpus_per_job=args.gpus_per_job,
        runtime_env=python_path_env(),
    )
    try:
        executor.check_storage(sorted({writable_root(r) for r in roots}))
    except BaseException:
        executor.shutdown()
        raise
    return executor


def resolve(args: argparse.Namespace, spec):
    """Validated (task config, lottery config, resolved config dict, run path)."""
    from lotteryfast.experiment import check_compatible, config_hash, run_identity

    if args.preset not in spec.presets:
        raise ValueError(
            f"unknown preset {args.preset!r} for task {spec.name}; choose one of: {', '.join(spec.presets)}"
        )
    if args.device not in ("cpu", "cuda") or (args.device == "cuda" and not torch.cuda.is_available()):
        avail = "cpu, cuda" if torch.cuda.is_available() else "cpu"
        raise ValueError(f"device {args.device!r} is not available ({avail})")
    preset = spec.presets[args.preset]
    task_cfg = apply_flags(preset.task, args, "task.")
    cfg = apply_flags(preset.lottery, args, "lottery.")
    check_compatible(cfg, task_cfg)
    resolved = run_identity(args.task, cfg, task_cfg, preset=args.preset, device=args.device)
    safe = args.task.replace("/", "_").replace(":", "-")
    out = args.out or Path("runs") / f"{safe}-{args.preset}-{config_hash(resolved)}"
    return task_cfg, cfg, resolved, out


def print_summary(rows, metric: str) -> None:
    """A table of the metric per level: dense, then each ticket kind (mean ± std over seeds)."""
    by_level: dict[int, dict[str, object]] = {}
    for r in rows:
        by_level.setdefault(r.level, {})[r.kind] = r
    names = {"wt": "winning ticket", "rt": "random ticket", "rp": "random pruning"}
    kinds = [k for k in names if any(k in v for v in by_level.values())] or ["wt", "rt"]
    head = " | ".join(f"{names[k]:>18}" for k in kinds)
    print(f"\n{'level':>5} {'pruned':>8} | {head}   ({metric}, mean ± std)")
    for level, got in sorted(by_level.items()):
        first = next(iter(got.values()))
        cells = []
        for kind in kinds:
            r = got.get("dense" if level == 0 else kind)
            cells.append(f"{r.mean:10.2f} ± {r.std:6.2f}" if r else f"{'-':>18}")
        dense = "   (dense)" if level == 0 else ""
        print(f"{level:>5} {100 * first.fraction_pruned:7.2f}% | {' | '.join(cells)}{dense}")


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code (2: bad input, one line on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from lotteryfast.tasks.spec import find_task

    try:
        spec = find_task(_task_name(argv))
        parser = build_parser(spec, _preset_arg(argv))
    except ValueError as err:
        print(f"lotteryfast.run: error: {err}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a bad flag (2, one line already printed)
        return int(done.code or 0)
    from tqdm import tqdm

    from lotteryfast.runtime import keep_freed_memory

    keep_freed_memory()  # big activations reuse freed memory instead of page-faulting every step

    from lotteryfast import distributed
    from lotteryfast.data.wikitext import DataError
    from lotteryfast.executors import ExecutorError, LocalExecutor
    from lotteryfast.experiment import with_data
    from lotteryfast.lottery import Lottery
    from lotteryfast.runs import RunConfigMismatchError, RunDir
    from lotteryfast.tasks.spec import BuildContext

    writer = distributed.is_writer() if distributed.active() else int(os.environ.get("RANK", "0")) == 0
    executor = None
    try:
        task_cfg, cfg, resolved, out = resolve(args, spec)
        device = distributed.init_from_env(args.device)
        writer = distributed.is_writer()
        task = spec.build(task_cfg, BuildContext(device=str(device), workdir=out, writer=writer))
        resolved = {**with_data(resolved, task), "tensorboard": tensorboard_wanted(args)}
        lottery_probe = Lottery(task, cfg, None)  # checks the prunable set before anything is written
        executor = make_executor(args, [out])
        run = RunDir(out, resolved, writer=writer)
    except (ValueError, RunConfigMismatchError, OSError, DataError, ExecutorError) as err:
        if writer:
            print(f"lotteryfast.run: error: {err}", file=sys.stderr)
        if executor is not None and not isinstance(executor, LocalExecutor):
            executor.shutdown()
        return 2
    del lottery_probe
    say = print if writer else (lambda *a, **k: None)
    length = (
        f"{task_cfg.epochs} epochs"
        if hasattr(task_cfg, "epochs")
        else (f"{task_cfg.updates} updates" if hasattr(task_cfg, "updates") else "trained")
    )
    say(
        f"lotteryfast: {task.name}, {cfg.seeds} seed(s), {cfg.levels} level(s) at rate {cfg.rate} "
        f"({'one-shot' if cfg.one_shot else 'iterative'}), reset {cfg.reset}, tickets {','.join(cfg.tickets)}; "
        f"{length} per ticket; {distributed.world_size()} process(es), backend {args.backend} -> {run.path}"
    )

    def bar(total: int, desc: str):
        return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, mininterval=0.5, disable=not writer)

    lottery = Lottery(task, cfg, run, bar=bar)
    per_job = args.members_per_job
    if per_job is None and args.backend == "ray":
        per_job = spec.members_per_job(cfg)
    if isinstance(executor, LocalExecutor):
        executor.experiments[str(run.path)] = lottery
    try:
        rows = lottery.run(executor, members_per_job=per_job)
    finally:
        if not isinstance(executor, LocalExecutor):
            executor.shutdown()
        distributed.shutdown()
    if writer:
        print_summary(rows, task.metric_name)
        if not args.no_plot:
            from lotteryfast.plot import plot_run

            print(f"\nplot: {plot_run(run.path)}")
        print(f"run directory: {run.path}")
    return 0


def _preset_arg(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--preset" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--preset="):
            return a.split("=", 1)[1]
    return None


if __name__ == "__main__":
    sys.exit(main())
