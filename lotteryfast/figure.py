"""The paper's figures, one command each: the experiments (a sweep of ordinary run directories,
resumable), the figure drawn like the paper's, and a report that judges the paper's claims.

    python -m lotteryfast.figure fig1                       # CartPole, Acrobot, LunarLander: WT vs RT
    python -m lotteryfast.figure fig3 --preset paper --backend ray --address auto
    python -m lotteryfast.figure fig5 --tickets wt,rt,rp    # with the random-pruning control
    python -m lotteryfast.figure fig2 --tiny                # a smoke run (tiny sizes)

fig1: CartPole-v0, Acrobot-v1, LunarLander — WT vs RT (§4.1.1); fig2: the 9 Atari games of
Table 1 — WT vs RT (§4.1.2); fig3: classic-control ablations — {iterative, one-shot} x {late
reset, reset to init} (§4.1.3); fig4: the same ablations on Assault, Breakout, Seaquest; fig5:
LSTM on WikiText-2 — WT, RT, no late resetting, one-shot without late resetting (§4.2.1); fig6:
Transformer translation — all weights vs layer weights only, with and without late resetting
(§4.2.2). Output under OUT (default figures/<preset>): OUT/runs/ holds the run directories (a run
that two figures share, e.g. fig1's CartPole and fig3's "iterative, late reset", is trained once),
OUT/<fig>/ the figure (<fig>.png), figure.json, report.md and report.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lotteryfast import report as rep
from lotteryfast.config import OneLineParser, add_flags, apply_flags

LATE, INIT = "iterative, late reset", "iterative, reset to init"
OS_LATE, OS_INIT = "one-shot, late reset", "one-shot, reset to init"
ABLATIONS = (
    (LATE, {}),
    (INIT, {"reset": "init"}),
    (OS_LATE, {"one_shot": True}),
    (OS_INIT, {"one_shot": True, "reset": "init"}),
)
ATARI_GAMES = ("Assault", "Berzerk", "Breakout", "Centipede", "Kangaroo", "Krull", "Qbert", "Seaquest", "SpaceInvaders")
CLASSIC = (("CartPole-v0", "cartpole", {}), ("Acrobot-v1", "acrobot", {}), ("LunarLander-v2", "lunarlander", {}))

# Tiny sizes per task for smoke runs (--tiny): (task config fields, lottery fields).
TINY: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "classic": (dict(epochs=1, games_per_epoch=6, envs=4, hidden=(16, 16), last_episodes=6), {}),
    "atari": (
        dict(epochs=1, batches_per_epoch=2, num_envs=4, batch=2, channels=(4, 4, 4, 4), hidden=16, last_episodes=4),
        {},
    ),
    "lstm": (dict(epochs=1, batches_per_epoch=3, emb=16, hidden=16, bptt=10, eval_tokens=400), {"reset": "update:1"}),
    "mt": (
        dict(
            updates=4,
            d_model=32,
            heads=2,
            ffn=64,
            enc_layers=1,
            dec_layers=1,
            vocab=300,
            max_tokens=512,
            save_every=2,
            average_last=1,
            eval_sentences=8,
            warmup=2,
        ),
        {"reset": "update:2"},
    ),
}


@dataclass(frozen=True)
class Figure:
    """A figure: panels (title, task, task-config fields) x variants (label, lottery fields); the
    first variant is the main one (WT, RT and RP drawn); the others are drawn as WT lines."""

    name: str
    title: str
    panels: tuple[tuple[str, str, dict], ...]
    variants: tuple[tuple[str, dict], ...]
    claims: Callable[[dict[str, dict[str, rep.Run]]], list[rep.Verdict]]
    notes: tuple[str, ...] = field(default=())


def _fig1_claims(panels):
    return [
        rep.claim_wt_beats_rt(
            "Winning tickets beat random tickets at high pruning on all three classic-control games", panels, None, LATE
        )
    ]


def _fig2_claims(panels):
    strong = [p for p in ("Assault", "Seaquest", "Berzerk") if p in panels]
    per_game = [rep.claim_wt_beats_rt(f"{g}: WT beat RT at high pruning", panels, [g], LATE) for g in panels]
    most = rep.Verdict(
        "Winning tickets beat random tickets at high pruning on most of the Atari games",
        rep.combine([v.verdict for v in per_game], need="most"),
        "the per-game verdicts below (each: " + rep.RULE_BETTER + "); supported if more than half are supported",
        {v.claim.split(":")[0]: v.verdict for v in per_game},
    )
    return [
        rep.claim_wt_beats_rt(
            "Winning tickets clearly beat random tickets on Assault, Seaquest and Berzerk", panels, strong, LATE
        ),
        most,
        *per_game,
    ]


def _ablation_claims(panels):
    return [
        rep.claim_variant_better("Late resetting improves winning tickets", panels, LATE, INIT),
        rep.claim_variant_better("Iterative pruning improves winning tickets", panels, LATE, OS_LATE),
        rep.claim_variant_better(
            "Iterative pruning with late resetting beats one-shot pruning reset to init", panels, LATE, OS_INIT
        ),
    ]


FIG5_NO_LATE, FIG5_OS = "iterative, no late reset", "one-shot, no late reset"


def _fig5_claims(panels):
    return [
        rep.claim_wt_beats_rt("Winning tickets beat random tickets at high pruning", panels, None, LATE),
        rep.claim_no_loss_until(
            "The LSTM loses no noticeable log perplexity (<= 0.1 nats) up to ~90 % pruned", panels, LATE, 0.9, 0.1
        ),
        rep.claim_below_rt_past(
            "One-shot pruning without late resetting falls below the random ticket past 80 % pruned",
            panels,
            FIG5_OS,
            LATE,
            0.8,
        ),
        rep.claim_variant_better("Late resetting improves winning tickets", panels, LATE, FIG5_NO_LATE),
        rep.claim_variant_better("Iterative pruning improves winning tickets", panels, FIG5_NO_LATE, FIG5_OS),
    ]


ALL, LAYERS = "all weights pruned", "layer weights only"


def _fig6_claims(panels):
    main = {p: v.get("late reset") for p, v in panels.items()}
    return [
        rep.claim_wt_beats_rt("Winning tickets beat random tickets (all weights pruned)", panels, [ALL], "late reset"),
        rep.claim_variant_better("Late resetting improves winning tickets", panels, "late reset", "no late reset"),
        rep.claim_rt_falls_faster(
            "With only layer weights pruned, random tickets fall faster than with all weights pruned",
            main.get(LAYERS),
            main.get(ALL),
        ),
        rep.claim_linear(
            "With only layer weights pruned, winning tickets decline roughly linearly", main.get(LAYERS), "wt"
        ),
    ]


FIGURES: dict[str, Figure] = {
    "fig1": Figure(
        "fig1", "Figure 1: winning vs random tickets on classic control", CLASSIC, ((LATE, {}),), _fig1_claims
    ),
    "fig2": Figure(
        "fig2",
        "Figure 2: winning vs random tickets on Atari",
        tuple((g, "atari", {"game": g}) for g in ATARI_GAMES),
        ((LATE, {}),),
        _fig2_claims,
    ),
    "fig3": Figure(
        "fig3", "Figure 3: late resetting and iterative pruning, classic control", CLASSIC, ABLATIONS, _ablation_claims
    ),
    "fig4": Figure(
        "fig4",
        "Figure 4: late resetting and iterative pruning, Atari",
        tuple((g, "atari", {"game": g}) for g in ("Assault", "Breakout", "Seaquest")),
        ABLATIONS,
        _ablation_claims,
    ),
    "fig5": Figure(
        "fig5",
        "Figure 5: LSTM language model on WikiText-2",
        (("WikiText-2 LSTM", "lstm", {}),),
        ((LATE, {}), (FIG5_NO_LATE, {"reset": "init"}), (FIG5_OS, {"one_shot": True, "reset": "init"})),
        _fig5_claims,
    ),
    "fig6": Figure(
        "fig6",
        "Figure 6: Transformer translation",
        ((ALL, "mt", {"prune_scope": "all"}), (LAYERS, "mt", {"prune_scope": "layers"})),
        (("late reset", {}), ("no late reset", {"reset": "init"})),
        _fig6_claims,
    ),
}


def _tiny_key(task: str) -> str:
    return "classic" if task in ("cartpole", "acrobot", "lunarlander") else task


def plan(fig: Figure, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The figure's experiments (panel x variant), as lotteryfast.sweep.execute takes them."""
    from dataclasses import replace

    from lotteryfast.experiment import check_compatible, config_hash, run_identity
    from lotteryfast.tasks.spec import find_task

    out_root = args.out or Path("figures") / args.preset
    titles = [t for t, _, _ in fig.panels]
    chosen = [t.strip() for t in args.panels.split(",")] if args.panels else titles
    unknown = [t for t in chosen if t not in titles]
    if unknown:
        raise ValueError(f"{fig.name} has no panel {unknown[0]!r}; its panels: {', '.join(titles)}")
    experiments = []
    for title, task, task_fields in fig.panels:
        if title not in chosen:
            continue
        spec = find_task(task)
        if args.preset not in spec.presets:
            raise ValueError(f"unknown preset {args.preset!r} for task {task}")
        preset = spec.presets[args.preset]
        task_cfg = replace(preset.task, **task_fields)
        lottery = preset.lottery
        if args.tiny:
            tiny_task, tiny_lottery = TINY[_tiny_key(task)]
            task_cfg = replace(task_cfg, **tiny_task)
            lottery = replace(lottery, seeds=2, levels=2, **tiny_lottery)
        lottery = apply_flags(lottery, args, "lottery.")
        for label, fields in fig.variants:
            lot = replace(lottery, **fields)
            check_compatible(lot, task_cfg)
            identity = run_identity(task, lot, task_cfg, preset=args.preset, device=args.device)
            name = f"{task}-{config_hash(identity)}"
            experiments.append(
                dict(
                    name=name,
                    task=task,
                    spec=spec,
                    task_cfg=task_cfg,
                    lottery=lot,
                    identity=identity,
                    panel=title,
                    variant=label,
                    dir=out_root / "runs" / name,
                    varied={},
                )
            )
    return experiments


def figure_info(fig_dir: Path) -> dict[str, Any] | None:
    """{"figure", "runs"} of a figure directory — from figure.json once the command finished, else
    from config.json (a figure still running, or stopped part-way); None if it is not one."""
    done = fig_dir / "figure.json"
    if done.is_file():
        return json.loads(done.read_text())
    cfg = fig_dir / "config.json"
    if cfg.is_file():
        return json.loads(cfg.read_text()).get("sweep_figure")
    return None


def runs_of(fig_dir: Path) -> tuple[Figure, dict[str, dict[str, rep.Run]]]:
    """The figure of a figure directory and its runs, panel -> variant -> Run (finished units)."""
    info = figure_info(fig_dir)
    if info is None:
        raise rep.ReportError(f"{fig_dir} is not a figure directory")
    fig = FIGURES[info["figure"]]
    # Every panel of the figure, run or not: a claim about "all games" is not judged on a subset.
    panels: dict[str, dict[str, rep.Run]] = {title: {} for title, _, _ in fig.panels}
    for key, name in info["runs"].items():
        panel, variant = key.split("|", 1)
        if not (fig_dir.parent / "runs" / name / "config.json").is_file():
            if (fig_dir / "figure.json").is_file():
                raise rep.ReportError(f"{fig_dir}: its run {fig_dir.parent / 'runs' / name} is missing")
            continue  # not started yet
        run = rep.load_run(fig_dir.parent / "runs" / name)
        run.panel, run.variant = panel, variant
        panels.setdefault(panel, {})[variant] = run
    return fig, panels


VARIANT_STYLE = ("tab:purple", "tab:orange", "tab:brown", "tab:olive")


def draw(fig: Figure, panels: dict[str, dict[str, rep.Run]], out: Path) -> Path:
    """The figure like the paper's: a panel per game or model; WT blue, RT red, RP green (main
    variant), the other variants' WT as labelled lines, dense as a gray band; mean ± std over seeds."""
    from lotteryfast.plot import COLORS, _pyplot, draw_curve

    plt = _pyplot()
    n = len(fig.panels)
    cols = min(3, n)
    rows = -(-n // cols)
    figure, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.7 * rows), dpi=110, squeeze=False)
    main = fig.variants[0][0]
    for ax, (title, _, _) in zip(axes.flat, fig.panels, strict=False):
        variants = panels.get(title, {})
        run = variants.get(main)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_xlabel("fraction of weights pruned (%)")
        if run is None or not run.units:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.set_ylabel(run.metric)
        dense = list(run.values(0, "dense").values())
        if dense:
            m, s = rep.mean_std(dense)
            ax.axhline(m, color="gray", lw=1.2, label="unpruned")
            ax.axhspan(m - s, m + s, color="gray", alpha=0.15, lw=0)

        def curve(r, kind, color, label, style="-o", ax=ax):
            pts = []
            for lv in r.levels():
                vals = list(r.values(lv, kind).values())
                if vals:
                    pts.append((100 * r.fraction(lv), *rep.mean_std(vals)))
            if len(pts) >= 2:
                draw_curve(ax, pts, color, label, style)

        for kind, (color, label) in COLORS.items():
            curve(run, kind, color, label + ("" if len(fig.variants) == 1 else f" ({main})"))
        for (label, _), color in zip(fig.variants[1:], VARIANT_STYLE, strict=False):
            if label in variants:
                curve(variants[label], "wt", color, f"winning ticket ({label})", "--s")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    figure.suptitle(fig.title, fontsize=11)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
    return out


def grown_identity(fig_dir: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """`identity` plus the panels earlier commands ran into the same figure directory: a figure
    grows panel by panel (`--panels`). A panel and variant that an earlier command ran with other
    settings (another run) is refused (ValueError naming both runs)."""
    path = fig_dir / "config.json"
    if not path.exists():
        return identity
    old = json.loads(path.read_text()).get("sweep_figure") or {}
    if old.get("figure") != identity["figure"]:
        return identity  # not this figure's directory: RunDir refuses it
    runs = dict(old.get("runs", {}))
    for key, name in identity["runs"].items():
        if runs.get(key, name) != name:
            raise ValueError(
                f"{fig_dir} already holds {key} from run {runs[key]}; these settings make run {name} "
                "(use another --out directory or the same options as that run)"
            )
        runs[key] = name
    return {**identity, "runs": runs}


def _grows(existing: dict[str, Any], identity: dict[str, Any]) -> bool:
    """Whether `identity` is the existing figure config with panels added (nothing changed)."""
    old = existing.get("sweep_figure") or {}
    return (
        existing.get("format") == 1
        and old.get("figure") == identity["figure"]
        and all(identity["runs"].get(k) == v for k, v in old.get("runs", {}).items())
    )


def build_parser() -> argparse.ArgumentParser:
    """The CLI."""
    from lotteryfast.lottery import LotteryConfig
    from lotteryfast.run import add_backend_flags

    p = OneLineParser(
        prog="python -m lotteryfast.figure", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("name", help=f"one of: {', '.join(FIGURES)}")
    p.add_argument("--preset", default="quick", help="quick (default) or paper")
    p.add_argument("--out", type=Path, help="output root (default figures/<preset>)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes: a smoke run of the whole pipeline")
    p.add_argument("--panels", help="comma list of the panels to run (default: all), e.g. CartPole-v0,Acrobot-v1")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-plot", action="store_true", help="skip the per-run PNGs (the figure is always drawn)")
    add_backend_flags(p)
    add_flags(p.add_argument_group("lottery (override the preset for every experiment)"), LotteryConfig, "lottery.")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code (2: bad input, one line on stderr, nothing written)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    from lotteryfast.runs import atomic_write_json
    from lotteryfast.sweep import execute

    if args.name not in FIGURES:
        print(
            f"lotteryfast.figure: error: unknown figure {args.name!r}; choose one of: {', '.join(FIGURES)}",
            file=sys.stderr,
        )
        return 2
    fig = FIGURES[args.name]
    try:
        experiments = plan(fig, args)
    except ValueError as err:
        print(f"lotteryfast.figure: error: {err}", file=sys.stderr)
        return 2
    out_root = args.out or Path("figures") / args.preset
    fig_dir = out_root / fig.name
    identity = {"figure": fig.name, "runs": {f"{e['panel']}|{e['variant']}": e["name"] for e in experiments}}
    try:
        identity = grown_identity(fig_dir, identity)
    except ValueError as err:
        print(f"lotteryfast.figure: error: {err}", file=sys.stderr)
        return 2
    code = execute(
        experiments,
        fig_dir,
        {"format": 1, "sweep_figure": identity},
        args,
        prog="lotteryfast.figure",
        takes_over=lambda existing: _grows(existing, identity),
    )
    if code:
        return code
    atomic_write_json(fig_dir / "figure.json", {**identity, "preset": args.preset, "tiny": args.tiny})
    fig_obj, panels = runs_of(fig_dir)
    png = draw(fig_obj, panels, fig_dir / f"{fig.name}.png")
    report = rep.build_report(panels, fig_obj.claims(panels), fig_obj.title)
    md, _ = rep.write_report(fig_dir, report)
    print(f"figure: {png}\nreport: {md}")
    for c in report["claims"]:
        print(f"  [{c['verdict']}] {c['claim']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
