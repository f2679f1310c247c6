"""Lottery-ticket experiments from the command line.

    python -m lotteryfast.run                          # a small real CartPole experiment (~5 min, 2 cores)
    python -m lotteryfast.run cartpole --preset paper  # the paper's CartPole setup (3 seeds, 20 levels)
    python -m lotteryfast.run acrobot --one-shot --reset-to init --out runs/acrobot-ablation

Rerunning the same command continues an interrupted run (finished tickets are kept); the run
directory holds config.json, per (seed, level, ticket) the masks, weights and metrics,
metrics.jsonl, summary.json/.csv and plot.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

TASKS = ("cartpole", "acrobot", "lunarlander", "lstm", "mt", "atari")
PRESETS = ("quick", "paper")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        print(f"lotteryfast.run: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m lotteryfast.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("task", nargs="?", default="cartpole", help=f"one of: {', '.join(TASKS)} (default cartpole)")
    p.add_argument(
        "--preset", default="quick", help="quick (default: minutes on a laptop) or paper (the paper's setup)"
    )
    p.add_argument("--seeds", type=int, help="independent pruning processes (paper: 3)")
    p.add_argument("--levels", type=int, help="pruning levels K (paper: 20)")
    p.add_argument("--rate", type=float, help="pruning rate p per level, in (0, 1) (paper: 0.2)")
    p.add_argument("--one-shot", action="store_true", help="prune the trained dense network straight to r_k")
    p.add_argument("--reset-to", help="late resetting point: init, epoch:E or update:U (paper: epoch:1)")
    p.add_argument("--tickets", help="which tickets to train: wt,rt (default) or one of them")
    p.add_argument("--layerwise", action="store_true", help="prune each tensor by the rate instead of globally")
    p.add_argument("--exclude-biases", action="store_true", help="leave biases unpruned (paper: biases are pruned)")
    p.add_argument("--exclude", help="comma-separated parameter names or prefixes to leave unpruned (e.g. fc0)")
    p.add_argument("--epochs", type=int, help="training epochs N per ticket (override the preset)")
    p.add_argument("--games-per-epoch", type=int, help="RL tasks: games M per epoch (override the preset)")
    p.add_argument("--batches-per-epoch", type=int, help="lstm: batches per epoch (default: the whole split); atari: M")
    p.add_argument("--data", help="lstm: WikiText-2 directory; mt: root of the named datasets (default ../shared/data)")
    p.add_argument("--game", help="atari: the game, e.g. Breakout, SpaceInvaders (paper: 9 games)")
    p.add_argument("--pool", help="atari: native (lotteryfast's C++ pool, default) or alepy (ale-py's AtariVectorEnv)")
    p.add_argument("--num-envs", type=int, help="atari: games stepped in parallel (paper: 1024)")
    p.add_argument("--threads", type=int, help="atari: emulator threads (default: one per core)")
    p.add_argument(
        "--actor-batch",
        type=int,
        help="atari: ELF-style asynchronous actors, B ready games per inference (default: rounds)",
    )
    p.add_argument("--episodic-life", action="store_true", help="atari: a lost life ends the return (the game goes on)")
    p.add_argument("--fire-reset", action="store_true", help="atari: press FIRE after a reset (e.g. Breakout)")
    p.add_argument("--updates", type=int, help="mt: training updates per ticket (override the preset)")
    p.add_argument("--dataset", help="mt: multi30k, wmt14-sample or a directory of {train,valid,test}.{src,tgt} files")
    p.add_argument(
        "--prune-scope", help="mt: all (every weight, the default) or layers (attention + feed-forward only)"
    )
    p.add_argument("--out", type=Path, help="run directory (default: runs/<task>-<preset>-<config hash>)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    return p


def resolve(args: argparse.Namespace):
    """Validated (task spec, task config, lottery config, resolved config dict, run path)."""
    from lotteryfast.lottery import LotteryConfig
    from lotteryfast.tasks.registry import SPECS

    if args.task not in TASKS:
        raise ValueError(f"unknown task {args.task!r}; choose one of: {', '.join(TASKS)}")
    if args.preset not in PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}; choose quick or paper")
    if args.device not in ("cpu", "cuda") or (args.device == "cuda" and not torch.cuda.is_available()):
        avail = "cpu, cuda" if torch.cuda.is_available() else "cpu"
        raise ValueError(f"device {args.device!r} is not available ({avail})")
    spec = SPECS[args.task]()
    task_cfg, lottery = spec.presets[args.preset]
    lottery = dict(lottery)
    text_fields = ("data", "dataset", "prune_scope", "game", "pool")
    counts = ("epochs", "games_per_epoch", "batches_per_epoch", "updates", "num_envs", "threads", "actor_batch")
    for field in (*counts, *text_fields):
        value = getattr(args, field)
        if value is None:
            continue
        flag = "--" + field.replace("_", "-")
        if field not in spec.options:
            raise ValueError(f"{flag} does not apply to {args.task}")
        if field not in text_fields and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
        task_cfg = dataclasses.replace(task_cfg, **{field: value})
    for field in ("episodic_life", "fire_reset"):
        if getattr(args, field):
            if field not in spec.options:
                raise ValueError(f"--{field.replace('_', '-')} does not apply to {args.task}")
            task_cfg = dataclasses.replace(task_cfg, **{field: True})
    for key in ("seeds", "levels", "rate"):
        if getattr(args, key) is not None:
            lottery[key] = getattr(args, key)
    if args.reset_to is not None:
        lottery["reset"] = args.reset_to
    updates = getattr(task_cfg, "updates", None)
    reset = str(lottery.get("reset", ""))
    if updates is not None and reset.startswith("update:") and reset[7:].isdigit() and int(reset[7:]) > updates:
        raise ValueError(f"late resetting point {reset} is past the {updates} training updates per ticket")
    tickets = tuple(t.strip() for t in args.tickets.split(",")) if args.tickets else ("wt", "rt")
    exclude = tuple(e.strip() for e in args.exclude.split(",") if e.strip()) if args.exclude else ()
    cfg = LotteryConfig(
        one_shot=args.one_shot,
        tickets=tickets,
        layerwise=args.layerwise,
        prune_biases=not args.exclude_biases,
        exclude=exclude,
        **lottery,
    )
    listify = lambda d: {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}  # noqa: E731
    resolved = {
        "task": args.task,
        "preset": args.preset,
        "device": args.device,
        "format": 1,
        **listify(dataclasses.asdict(cfg)),
        "task_config": listify(dataclasses.asdict(task_cfg)),
    }
    digest = hashlib.sha1(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:8]
    out = args.out or Path("runs") / f"{args.task}-{args.preset}-{digest}"
    return spec, task_cfg, cfg, resolved, out


def print_summary(rows, metric: str) -> None:
    """A table of the metric per level: dense, winning and random tickets (mean ± std over seeds)."""
    by_level: dict[int, dict[str, object]] = {}
    for r in rows:
        by_level.setdefault(r.level, {})[r.kind] = r
    print(f"\n{'level':>5} {'pruned':>8} | {'winning ticket':>18} | {'random ticket':>18}   ({metric}, mean ± std)")
    for level, kinds in sorted(by_level.items()):
        first = next(iter(kinds.values()))
        cells = []
        for kind in ("wt", "rt"):
            r = kinds.get("dense" if level == 0 else kind)
            cells.append(f"{r.mean:10.2f} ± {r.std:6.2f}" if r else f"{'-':>18}")
        print(
            f"{level:>5} {100 * first.fraction_pruned:7.2f}% | {cells[0]} | {cells[1]}"
            + ("   (dense)" if level == 0 else "")
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    from lotteryfast.runtime import keep_freed_memory

    keep_freed_memory()  # big activations reuse freed memory instead of page-faulting every step

    from lotteryfast import distributed
    from lotteryfast.data.wikitext import DataError
    from lotteryfast.lottery import Lottery
    from lotteryfast.runs import RunConfigMismatchError, RunDir

    writer = distributed.is_writer() if distributed.active() else int(os.environ.get("RANK", "0")) == 0
    try:
        spec, task_cfg, cfg, resolved, out = resolve(args)
        device = distributed.init_from_env(args.device)
        writer = distributed.is_writer()
        run = RunDir(out, resolved, writer=writer)
        task = spec.build(task_cfg, device, run.path, writer)
    except (ValueError, RunConfigMismatchError, OSError, DataError) as err:
        if writer:
            print(f"lotteryfast.run: error: {err}", file=sys.stderr)
        return 2
    say = print if writer else (lambda *a, **k: None)
    length = f"{task_cfg.epochs} epochs" if hasattr(task_cfg, "epochs") else f"{task_cfg.updates} updates"
    say(
        f"lotteryfast: {task.name}, {cfg.seeds} seed(s), {cfg.levels} level(s) at rate {cfg.rate} "
        f"({'one-shot' if cfg.one_shot else 'iterative'}), reset {cfg.reset}, tickets {','.join(cfg.tickets)}; "
        f"{length} per ticket; {distributed.world_size()} process(es) -> {run.path}"
    )

    def bar(total: int, desc: str):
        return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, mininterval=0.5, disable=not writer)

    try:
        rows = Lottery(task, cfg, run, bar=bar).run()
    finally:
        distributed.shutdown()
    if writer:
        print_summary(rows, task.metric_name)
        if not args.no_plot:
            from lotteryfast.plot import plot_run

            print(f"\nplot: {plot_run(run.path)}")
        print(f"run directory: {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
