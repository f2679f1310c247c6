"""Figures like the paper's: the task's metric against the fraction of weights pruned, winning
tickets in blue, random tickets in red, the dense network as a gray band; mean ± std over seeds.

    python -m lotteryfast.plot RUN_DIR      # writes RUN_DIR/plot.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLORS = {
    "wt": ("tab:blue", "winning ticket"),
    "rt": ("tab:red", "random ticket"),
    "rp": ("tab:green", "random pruning"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_curve(ax, points: list[tuple[float, float, float]], color: str, label: str, style: str = "-o") -> None:
    """A mean line with a ± std band through (x, mean, std) points."""
    x, m, s = zip(*points, strict=True)
    ax.plot(x, m, style, color=color, ms=3, lw=1.5, label=label)
    ax.fill_between(
        x,
        [a - b for a, b in zip(m, s, strict=True)],
        [a + b for a, b in zip(m, s, strict=True)],
        color=color,
        alpha=0.18,
        lw=0,
    )


def draw_run(ax, run_dir: str | Path, title: str | None = None) -> None:
    """Draws one run directory's summary.json on matplotlib axes `ax`."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    rows = summary["rows"]
    dense = [r for r in rows if r["kind"] == "dense"]
    if dense:
        d = dense[0]
        ax.axhline(d["mean"], color="gray", lw=1.2, label="dense (level 0)")
        ax.axhspan(d["mean"] - d["std"], d["mean"] + d["std"], color="gray", alpha=0.15, lw=0)
    for kind, (color, label) in COLORS.items():
        pts = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["fraction_pruned"])
        if dense:
            pts = [dense[0], *pts]  # both curves start at the dense network
        if len(pts) < 2:
            continue
        draw_curve(ax, [(100 * r["fraction_pruned"], r["mean"], r["std"]) for r in pts], color, label)
    ax.set_xlabel("weights pruned (%)")
    ax.set_ylabel(summary["metric"])
    ax.set_title(
        title
        or f"{config.get('task', '')}: {'one-shot' if config.get('one_shot') else 'iterative'} pruning, "
        f"reset {config.get('reset', '')}, {config.get('seeds', '?')} seed(s)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draws RUN_DIR/summary.json into a PNG (default RUN_DIR/plot.png) and returns its path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    draw_run(ax, run_dir)
    fig.tight_layout()
    out = Path(out) if out else Path(run_dir) / "plot.png"
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_panels(panels: list[tuple[str, Path]], out: str | Path) -> Path:
    """One figure with a panel per (title, run directory) that has a summary; returns its path."""
    plt = _pyplot()
    panels = [(t, d) for t, d in panels if (Path(d) / "summary.json").exists()]
    cols = min(3, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), dpi=110, squeeze=False)
    for ax, (title, run_dir) in zip(axes.flat, panels, strict=False):
        draw_run(ax, run_dir, title)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lotteryfast.plot", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="PNG path (default RUN_DIR/plot.png)")
    args = parser.parse_args(argv)
    if not (args.run_dir / "summary.json").exists():
        print(f"lotteryfast.plot: error: no summary.json in {args.run_dir} (is it a run directory?)", file=sys.stderr)
        return 2
    print(plot_run(args.run_dir, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
