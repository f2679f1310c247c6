"""Several lottery experiments in one command, all their jobs in one graph.

    python -m lotteryfast.sweep cartpole,acrobot --vary one_shot=false,true --vary reset=epoch:1,init
    python -m lotteryfast.sweep atari --vary game=Assault,Breakout,Seaquest --seeds 3 --backend ray --address auto
    python -m lotteryfast.sweep lstm --set batches_per_epoch=20 --vary reset=epoch:1,init --levels 4

TASKS is a comma list of tasks (as for lotteryfast.run). Every combination of the --vary values
(a field of LotteryConfig or of the task's config, with a comma list of values) makes one
experiment per task; --set FIELD=VALUE changes a field for every task that has it; the lottery
flags (--seeds, --levels, --rate, ...) apply to all. Each experiment is an ordinary run directory
(resumable on its own, also with lotteryfast.run --out) under the sweep's directory; the sweep
writes summary.csv over experiments and plot.png with a panel per experiment. Rerunning the same
command resumes; with --backend ray the jobs of all experiments run concurrently on the cluster.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lotteryfast.config import OneLineParser, add_flags, apply_flags, leaf_fields, parse_value, with_field


def build_parser() -> argparse.ArgumentParser:
    """The sweep's CLI."""
    from lotteryfast.lottery import LotteryConfig
    from lotteryfast.run import add_backend_flags

    p = OneLineParser(
        prog="python -m lotteryfast.sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("tasks", help="comma list of tasks, e.g. cartpole,acrobot,lunarlander")
    p.add_argument("--preset", default="quick", help="every task's preset (default quick)")
    p.add_argument(
        "--vary", action="append", default=[], metavar="FIELD=V1,V2", help="a sweep axis (repeat for a grid)"
    )
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a fixed field for all tasks")
    p.add_argument("--out", type=Path, help="sweep directory (default: sweeps/<tasks>-<preset>-<hash>)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-plot", action="store_true", help="skip the PNGs")
    add_backend_flags(p)
    add_flags(p.add_argument_group("lottery (applies to every experiment)"), LotteryConfig, "lottery.")
    return p


def _split(item: str, flag: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{flag} expects FIELD=VALUE, got {item!r}")
    return name.strip(), value.strip()


def _set(lottery: Any, task_cfg: Any, name: str, text: str, task: str) -> tuple[Any, Any, bool]:
    """Sets field `name` (parsed from text) in the lottery or the task config; (lottery, task_cfg, found)."""
    for which in ("lottery", "task"):
        cfg = lottery if which == "lottery" else task_cfg
        fields = leaf_fields(type(cfg))
        if name in fields:
            value = parse_value(fields[name][1], text, name)
            cfg = with_field(cfg, name, value)
            return (cfg, task_cfg, True) if which == "lottery" else (lottery, cfg, True)
    return lottery, task_cfg, False


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", text).strip("_")[:60]


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The sweep's experiments: name, task name, spec, task config, lottery config, varied values.
    Raises ValueError (one line) for bad input."""
    from lotteryfast.experiment import check_compatible
    from lotteryfast.tasks.spec import find_task

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ValueError("no task given")
    axes = [_split(v, "--vary") for v in args.vary]
    axes = [(name, [x.strip() for x in values.split(",") if x.strip()]) for name, values in axes]
    for name, values in axes:
        if not values:
            raise ValueError(f"--vary {name}= has no values")
    if len({n for n, _ in axes}) != len(axes):
        raise ValueError("a field is varied twice")
    sets = [_split(s, "--set") for s in args.set]
    experiments = []
    for task in tasks:
        spec = find_task(task)
        if args.preset not in spec.presets:
            raise ValueError(
                f"unknown preset {args.preset!r} for task {spec.name}; choose one of: {', '.join(spec.presets)}"
            )
        preset = spec.presets[args.preset]
        lottery = apply_flags(preset.lottery, args, "lottery.")
        task_cfg = preset.task
        for name, text in sets:
            lottery, task_cfg, found = _set(lottery, task_cfg, name, text, task)
            if not found and len(tasks) == 1:
                raise ValueError(f"--set {name}: {task} has no field {name}")
        for combo in itertools.product(*[values for _, values in axes]) if axes else [()]:
            lot, cfg = lottery, task_cfg
            for (name, _), text in zip(axes, combo, strict=True):
                lot, cfg, found = _set(lot, cfg, name, text, task)
                if not found:
                    raise ValueError(f"--vary {name}: task {task} has no field {name}")
            check_compatible(lot, cfg)
            varied = dict(zip([n for n, _ in axes], combo, strict=True))
            name = "-".join(
                [_safe(task.replace(":", "-").replace("/", "_")), *[_safe(f"{k}={v}") for k, v in varied.items()]]
            )
            experiments.append(dict(name=name, task=task, spec=spec, task_cfg=cfg, lottery=lot, varied=varied))
    for name, _ in sets:
        if len(tasks) > 1 and not any(
            name in leaf_fields(type(e["task_cfg"])) or name in leaf_fields(type(e["lottery"])) for e in experiments
        ):
            raise ValueError(f"--set {name}: no task of the sweep has a field {name}")
    names = [e["name"] for e in experiments]
    if len(set(names)) != len(names):
        raise ValueError("two experiments of the sweep would share a directory (a task given twice?)")
    return experiments


def write_summary(sweep_dir: Path, experiments: list[dict[str, Any]], writer: Any) -> Path:
    """summary.csv over the experiments: one row per (experiment, level, ticket kind)."""
    axes = list(experiments[0]["varied"]) if experiments else []
    lines = [",".join(["experiment", "task", *axes, "level", "kind", "fraction_pruned", "mean", "std", "n", "metric"])]
    for e in experiments:
        path = sweep_dir / e["name"] / "summary.json"
        if not path.exists():
            continue
        summary = json.loads(path.read_text())
        for r in summary["rows"]:
            cells = [e["name"], e["task"], *[str(e["varied"][a]) for a in axes], str(r["level"]), r["kind"]]
            cells += [f"{r['fraction_pruned']:.6f}", f"{r['mean']:.6g}", f"{r['std']:.6g}", str(len(r["values"]))]
            cells.append(summary["metric"])
            lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    out = sweep_dir / "summary.csv"
    writer(out, ("\n".join(lines) + "\n").encode())
    return out


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code (2: bad input, one line on stderr)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    from lotteryfast.experiment import config_hash

    try:
        experiments = plan(args)
        identity = sweep_identity(experiments, args)
        default = Path("sweeps") / f"{_safe(args.tasks.replace(':', '-'))}-{args.preset}-{config_hash(identity)}"
        sweep_dir = args.out or default
        for e in experiments:
            e["dir"] = sweep_dir / e["name"]
    except ValueError as err:
        print(f"lotteryfast.sweep: error: {err}", file=sys.stderr)
        return 2
    code = execute(experiments, sweep_dir, identity, args, prog="lotteryfast.sweep")
    if code or not experiments:
        return code
    summary = write_summary(sweep_dir, experiments, lambda path, data: _atomic(path, data))
    print(f"summary: {summary}")
    if not args.no_plot:
        from lotteryfast.plot import plot_panels

        titles = [
            (f"{e['task']} " + " ".join(f"{k}={v}" for k, v in e["varied"].items()), e["dir"]) for e in experiments
        ]
        print(f"plot: {plot_panels(titles, sweep_dir / 'plot.png')}")
    return 0


def _atomic(path: Path, data: bytes) -> None:
    from lotteryfast.runs import atomic_write_bytes

    atomic_write_bytes(path, data)


def sweep_identity(experiments: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The identity of a sweep directory (its config.json): its experiments' identities."""
    from lotteryfast.experiment import run_identity

    for e in experiments:
        e["identity"] = run_identity(e["task"], e["lottery"], e["task_cfg"], preset=args.preset, device=args.device)
    return {"format": 1, "sweep": {e["name"]: e["identity"] for e in experiments}}


def execute(
    experiments: list[dict[str, Any]],
    sweep_dir: Path,
    identity: dict[str, Any],
    args: argparse.Namespace,
    prog: str,
    takes_over: Callable[[dict[str, Any]], bool] | None = None,
) -> int:
    """Runs (or resumes) the experiments (each with name, task, spec, task_cfg, lottery, identity and
    its run directory `dir`) as one job graph on the executor the flags ask for, after checking every
    input; then writes each experiment's summary (and plot). Returns the exit code. `takes_over`:
    which earlier config of `sweep_dir` this one may replace (see RunDir)."""
    from tqdm import tqdm

    from lotteryfast.data.wikitext import DataError
    from lotteryfast.executors import ExecutorError, LocalExecutor, run_graph
    from lotteryfast.experiment import with_data
    from lotteryfast.jobs import experiment_jobs
    from lotteryfast.lottery import Lottery
    from lotteryfast.run import make_executor, tensorboard_wanted
    from lotteryfast.runs import RunConfigMismatchError, RunDir
    from lotteryfast.runtime import keep_freed_memory
    from lotteryfast.tasks.spec import BuildContext

    keep_freed_memory()
    executor = None
    try:
        if args.device not in ("cpu", "cuda"):
            raise ValueError(f"device {args.device!r} is not available")
        built: dict[tuple[str, str], Any] = {}  # experiments that differ only in lottery settings share a task
        for e in experiments:
            key = (e["task"], json.dumps(e["task_cfg"].to_dict(), sort_keys=True))
            if key not in built:
                built[key] = e["spec"].build(e["task_cfg"], BuildContext(device=args.device, workdir=e["dir"]))
            e["task_obj"] = built[key]
            e["identity"] = {**with_data(e["identity"], e["task_obj"]), "tensorboard": tensorboard_wanted(args)}
            Lottery(e["task_obj"], e["lottery"], None)  # checks the prunable set before anything is written
        executor = make_executor(args, [sweep_dir])
        RunDir(sweep_dir, identity, takes_over=takes_over)
        for e in experiments:
            e["run"] = RunDir(e["dir"], e["identity"])
    except (ValueError, RunConfigMismatchError, OSError, DataError, ExecutorError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        if executor is not None and not isinstance(executor, LocalExecutor):
            executor.shutdown()
        return 2
    print(f"{prog}: {len(experiments)} experiment(s), backend {args.backend} -> {sweep_dir}")
    lotteries = {}
    jobs = []
    for e in experiments:
        lottery = Lottery(e["task_obj"], e["lottery"], e["run"])
        lotteries[str(e["run"].path)] = lottery
        per_job = args.members_per_job
        if per_job is None and args.backend == "ray":
            per_job = e["spec"].members_per_job(e["lottery"])
        jobs += experiment_jobs(lottery, per_job)
    if isinstance(executor, LocalExecutor):
        executor.experiments.update(lotteries)
    bar = tqdm(total=len(jobs), desc="jobs", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    try:
        run_graph(jobs, executor, on_finished=lambda ids: bar.update(len(ids)))
    finally:
        bar.close()
        if not isinstance(executor, LocalExecutor):
            executor.shutdown()
    for e in experiments:
        lotteries[str(e["run"].path)].summary()
        if not args.no_plot:
            from lotteryfast.plot import plot_run

            plot_run(e["run"].path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
