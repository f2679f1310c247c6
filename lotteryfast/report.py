"""Reports on run directories: per panel and level the winning/random ticket mean ± std, the
paired WT - RT difference across seeds with a 95 % confidence interval, and verdicts on claims.

    python -m lotteryfast.report RUN_OR_SWEEP_DIR... [--out DIR]    # report.md + report.json

Runs are grouped into panels (one task and task config; e.g. one game) and, within a panel, into
variants (iterative / one-shot x reset point). Differences are oriented so that positive means
"better" (higher reward or BLEU, lower log perplexity). For directories that a figure wrote
(figure.json), the figure's own claims are judged; otherwise the generic claim that winning
tickets beat random tickets at high pruning, per panel.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lotteryfast.stats import mean_ci, mean_std

HIGH = 0.8  # "high pruning": levels with at least this fraction of the weights pruned
# Fields of a run's identity that name its variant (everything else must agree within a panel).
VARIANT_FIELDS = ("one_shot", "reset", "tickets", "layerwise", "locations")


class ReportError(ValueError):
    """Bad input to a report (one line for the user)."""


@dataclass
class Run:
    """One run directory's finished units: (seed, level, kind) -> (metric, fraction pruned)."""

    path: Path
    identity: dict[str, Any]
    metric: str
    higher_is_better: bool
    units: dict[tuple[int, int, str], tuple[float, float]]
    panel: str = ""
    variant: str = ""

    @property
    def sign(self) -> float:
        """+1 when higher is better, -1 otherwise: multiplies differences so that + means better."""
        return 1.0 if self.higher_is_better else -1.0

    def expected_units(self) -> int | None:
        """Units the run has when finished (from its config; None if the config does not say)."""
        ident = self.identity
        if not all(k in ident for k in ("seeds", "levels", "tickets")):
            return None
        return int(ident["seeds"]) * (1 + int(ident["levels"]) * len(ident["tickets"]))

    def seeds(self) -> list[int]:
        """The seeds with a finished dense network."""
        return sorted({s for s, lv, k in self.units if lv == 0})

    def levels(self) -> list[int]:
        """Levels with any finished unit."""
        return sorted({lv for _, lv, _ in self.units})

    def value(self, seed: int, level: int, kind: str) -> float | None:
        """A unit's metric (the dense network for level 0, whatever `kind`)."""
        got = self.units.get((seed, level, "dense" if level == 0 else kind))
        return got[0] if got else None

    def fraction(self, level: int) -> float:
        """The fraction of weights pruned at `level` (mean over finished units)."""
        fr = [f for (_, lv, _), (_, f) in self.units.items() if lv == level]
        return sum(fr) / len(fr) if fr else math.nan

    def values(self, level: int, kind: str) -> dict[int, float]:
        """seed -> metric at (level, kind)."""
        out = {}
        for s in self.seeds():
            v = self.value(s, level, kind)
            if v is not None:
                out[s] = v
        return out


def load_run(path: Path) -> Run:
    """A run directory (config.json + unit metrics); ReportError if it is not one."""
    cfg = path / "config.json"
    if not cfg.is_file():
        raise ReportError(f"{path} is not a run directory (no config.json)")
    identity = json.loads(cfg.read_text())
    if "sweep" in identity:
        raise ReportError(f"{path} is a sweep directory, not a run directory")
    units: dict[tuple[int, int, str], tuple[float, float]] = {}
    metric, higher = "metric", True
    for m in sorted(path.glob("seed*/level*/*/metrics.json")):
        rec = json.loads(m.read_text())
        units[(rec["seed"], rec["level"], rec["kind"])] = (float(rec["metric"]), float(rec["fraction_pruned"]))
        metric = rec.get("metric_name", metric)
    summary = path / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        metric, higher = s.get("metric", metric), bool(s.get("higher_is_better", True))
    elif "perplexity" in metric:
        higher = False
    return Run(path, identity, metric, higher, units)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Run directories from run or sweep (or figure) directories."""
    from lotteryfast.figure import figure_info  # figure.py imports this module

    out: list[Path] = []
    for p in paths:
        p = Path(p)
        cfg = p / "config.json"
        info = figure_info(p)
        if info is not None:  # a figure still running lists runs not started yet
            done = (p / "figure.json").is_file()
            runs = [p.parent / "runs" / name for name in info["runs"].values()]
            out += [r for r in runs if done or r.is_dir()]
        elif cfg.is_file() and "sweep" in json.loads(cfg.read_text()):
            out += [p / name for name in json.loads(cfg.read_text())["sweep"]]
        elif cfg.is_file():
            out.append(p)
        else:
            raise ReportError(f"{p} is not a run, sweep or figure directory")
    return out


def variant_name(identity: dict[str, Any]) -> str:
    """'iterative, late reset (epoch:1)' / 'one-shot, reset to init' / ..."""
    reset = identity.get("reset", "")
    how = "one-shot" if identity.get("one_shot") else "iterative"
    return f"{how}, {'reset to init' if reset == 'init' else f'late reset ({reset})'}"


def panel_name(identity: dict[str, Any]) -> str:
    """The task and what distinguishes its config (game, prune scope)."""
    tc = identity.get("task_config", {})
    parts = [str(identity.get("task", "?"))]
    for key in ("game", "env_id", "prune_scope", "dataset"):
        if key in tc and key != "env_id":
            parts.append(f"{key}={tc[key]}")
    return " ".join(parts)


def group(runs: list[Run]) -> dict[str, dict[str, Run]]:
    """panel -> variant -> run; ReportError for runs that cannot be compared (within a panel all
    but the variant fields must agree) or the same run twice."""
    panels: dict[str, dict[str, Run]] = {}
    for r in runs:
        r.panel = r.panel or panel_name(r.identity)
        r.variant = r.variant or variant_name(r.identity)
        base = {k: v for k, v in r.identity.items() if k not in VARIANT_FIELDS}
        for other in panels.get(r.panel, {}).values():
            theirs = {k: v for k, v in other.identity.items() if k not in VARIANT_FIELDS}
            if base != theirs:
                diff = sorted(k for k in set(base) | set(theirs) if base.get(k) != theirs.get(k))
                raise ReportError(
                    f"{r.path} and {other.path} cannot be compared in one panel (they differ in {', '.join(diff)})"
                )
            if other.variant == r.variant:
                raise ReportError(f"{r.path} and {other.path} are the same variant of {r.panel}")
        panels.setdefault(r.panel, {})[r.variant] = r
    return panels


# --- statistics -------------------------------------------------------------------------------


def paired(a: Run, kind_a: str, b: Run, kind_b: str, levels: list[int]) -> dict[str, Any]:
    """Per seed, the mean over `levels` of (a - b), oriented (+ = a better); mean and 95 % CI."""
    diffs = []
    for s in sorted(set(a.seeds()) & set(b.seeds())):
        per = []
        for lv in levels:
            x, y = a.value(s, lv, kind_a), b.value(s, lv, kind_b)
            if x is not None and y is not None:
                per.append(a.sign * (x - y))
        if per:
            diffs.append(sum(per) / len(per))
    m, lo, hi = mean_ci(diffs)
    return {"mean": m, "ci95": [lo, hi], "n": len(diffs), "levels": levels}


def high_levels(run: Run, threshold: float = HIGH) -> list[int]:
    """Levels pruned at least `threshold` (else the most pruned level, so that a short run still says something)."""
    levels = [lv for lv in run.levels() if lv > 0]
    high = [lv for lv in levels if run.fraction(lv) >= threshold]
    return high or levels[-1:]


def level_rows(run: Run) -> list[dict[str, Any]]:
    """Per level: fraction, per kind mean/std/n, paired WT - RT (and WT - RP) with 95 % CI."""
    rows = []
    kinds = sorted({k for _, lv, k in run.units if lv > 0}, key=["wt", "rt", "rp"].index)
    for lv in run.levels():
        row: dict[str, Any] = {"level": lv, "fraction_pruned": run.fraction(lv)}
        for kind in ["dense"] if lv == 0 else kinds:
            vals = list(run.values(lv, kind).values())
            m, sd = mean_std(vals)
            row[kind] = {"mean": m, "std": sd, "n": len(vals)}
        if lv > 0:
            for other in ("rt", "rp"):
                if "wt" in kinds and other in kinds:
                    row[f"wt_minus_{other}"] = paired(run, "wt", run, other, [lv])
        rows.append(row)
    return rows


# --- claims -----------------------------------------------------------------------------------


@dataclass
class Verdict:
    """A claim's verdict with the numbers and the rule that decided it."""

    claim: str
    verdict: str  # supported | contradicted | inconclusive
    rule: str
    numbers: dict[str, Any] = field(default_factory=dict)


def better_verdict(d: dict[str, Any]) -> str:
    """supported: the CI of the oriented difference lies above 0; contradicted: below; else inconclusive."""
    lo, hi = d["ci95"]
    if d["n"] >= 2 and lo > 0:
        return "supported"
    if d["n"] >= 2 and hi < 0:
        return "contradicted"
    return "inconclusive"


def combine(verdicts: list[str], need: str = "all") -> str:
    """all: supported if every part is, contradicted if any is; most: by majority of decided parts."""
    if not verdicts:
        return "inconclusive"
    if need == "all":
        if "contradicted" in verdicts:
            return "contradicted"
        return "supported" if all(v == "supported" for v in verdicts) else "inconclusive"
    sup, con = verdicts.count("supported"), verdicts.count("contradicted")
    if sup > len(verdicts) / 2:
        return "supported"
    if con >= len(verdicts) / 2:
        return "contradicted"
    return "inconclusive"


RULE_BETTER = (
    "per seed, the mean over the levels pruned >= 80 % (else the most pruned level) of the difference "
    "(oriented: + = better); supported if the 95 % t-interval over seeds lies above 0, contradicted if below, "
    "else inconclusive (always with fewer than 2 seeds)"
)


def claim_wt_beats_rt(text: str, panels: dict[str, dict[str, Run]], which: list[str] | None, main: str) -> Verdict:
    """WT better than RT at high pruning in each of `which` panels (None: all)."""
    parts, numbers = [], {}
    for panel in which or list(panels):
        run = panels.get(panel, {}).get(main)
        if run is None:
            numbers[panel] = "missing"
            parts.append("inconclusive")
            continue
        d = paired(run, "wt", run, "rt", high_levels(run))
        d["fractions"] = [round(run.fraction(lv), 4) for lv in d["levels"]]
        numbers[panel] = d
        parts.append(better_verdict(d))
    return Verdict(text, combine(parts), RULE_BETTER + "; all panels must agree", numbers)


def claim_variant_better(text: str, panels: dict[str, dict[str, Run]], better: str, worse: str) -> Verdict:
    """WT of variant `better` beats WT of variant `worse` at high pruning, in every panel that has both."""
    parts, numbers = [], {}
    for panel, variants in panels.items():
        if better in variants and worse in variants:
            a, b = variants[better], variants[worse]
            d = paired(a, "wt", b, "wt", [lv for lv in high_levels(a) if lv in b.levels()])
            numbers[panel] = d
            parts.append(better_verdict(d))
        else:  # a panel not run (or a variant missing): the claim is not judged on a subset
            numbers[panel] = "missing"
            parts.append("inconclusive")
    rule = RULE_BETTER + f"; WT of '{better}' minus WT of '{worse}', paired by seed; every panel must agree"
    return Verdict(text, combine(parts), rule, numbers)


def claim_no_loss_until(text: str, panels: dict[str, dict[str, Run]], main: str, upto: float, tol: float) -> Verdict:
    """WT within `tol` of the dense network at every level pruned <= upto (all panels)."""
    parts, numbers = [], {}
    for panel, variants in panels.items():
        run = variants.get(main)
        if run is None:
            continue
        worst = None
        for lv in [lv for lv in run.levels() if lv > 0 and run.fraction(lv) <= upto + 1e-9]:
            d = paired(run, "wt", run, "dense", [lv])  # + = WT better than dense
            d["fraction"] = run.fraction(lv)
            if worst is None or d["mean"] < worst["mean"]:
                worst = d
        numbers[panel] = worst
        if worst is None:
            parts.append("inconclusive")
        elif -worst["mean"] <= tol:
            parts.append("supported")
        elif worst["n"] >= 2 and -worst["ci95"][1] > tol:
            parts.append("contradicted")
        else:
            parts.append("inconclusive")
    rule = (
        f"the worst level pruned <= {upto:.0%}: WT minus the dense network per seed (oriented); supported if the "
        f"mean loss is <= {tol}, contradicted if the whole 95 % interval of the loss is above {tol}"
    )
    return Verdict(text, combine(parts), rule, numbers)


def claim_below_rt_past(text: str, panels: dict[str, dict[str, Run]], variant: str, main: str, past: float) -> Verdict:
    """WT of `variant` worse than RT (of the main variant) at the levels pruned more than `past`."""
    parts, numbers = [], {}
    for panel, variants in panels.items():
        if variant in variants and main in variants:
            a, b = variants[main], variants[variant]
            levels = [lv for lv in b.levels() if b.fraction(lv) > past and lv in a.levels()]
            d = paired(a, "rt", b, "wt", levels)  # + = RT better than the variant's WT
            numbers[panel] = d
            parts.append(better_verdict(d) if levels else "inconclusive")
    rule = RULE_BETTER.replace(">= 80 %", f"> {past:.0%}") + f"; RT minus WT of '{variant}', paired by seed"
    return Verdict(text, combine(parts), rule, numbers)


def claim_linear(text: str, run: Run | None, kind: str, r2_yes: float = 0.9, r2_no: float = 0.7) -> Verdict:
    """The mean metric of `kind` against the fraction pruned is close to a straight line (R²)."""
    if run is None:
        return Verdict(text, "inconclusive", "run missing")
    pts = [(run.fraction(lv), mean_std(list(run.values(lv, kind).values()))[0]) for lv in run.levels()]
    pts = [(x, y) for x, y in pts if not math.isnan(y)]
    if len(pts) < 3:
        return Verdict(text, "inconclusive", "fewer than 3 levels", {"points": pts})
    n = len(pts)
    mx, my = sum(x for x, _ in pts) / n, sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    syy = sum((y - my) ** 2 for _, y in pts)
    r2 = (sxy * sxy / (sxx * syy)) if sxx > 0 and syy > 0 else 0.0
    verdict = "supported" if r2 >= r2_yes else ("contradicted" if r2 < r2_no else "inconclusive")
    rule = f"R² of a least-squares line through the mean per level: supported if >= {r2_yes}, contradicted if < {r2_no}"
    return Verdict(text, verdict, rule, {"r2": r2, "slope": sxy / sxx if sxx else math.nan, "levels": n})


def claim_rt_falls_faster(text: str, narrow: Run | None, wide: Run | None) -> Verdict:
    """RT of the `narrow` scope loses more (relative to its dense network) than RT of the `wide` one."""
    if narrow is None or wide is None:
        return Verdict(text, "inconclusive", "a panel is missing")
    levels = [lv for lv in high_levels(narrow, 0.5) if lv in wide.levels()]
    diffs = []
    for s in sorted(set(narrow.seeds()) & set(wide.seeds())):
        per = []
        for lv in levels:
            a, a0 = narrow.value(s, lv, "rt"), narrow.value(s, 0, "dense")
            b, b0 = wide.value(s, lv, "rt"), wide.value(s, 0, "dense")
            if None not in (a, a0, b, b0):
                per.append(narrow.sign * ((b - b0) - (a - a0)))  # + = the narrow scope's RT lost more
        if per:
            diffs.append(sum(per) / len(per))
    m, lo, hi = mean_ci(diffs)
    d = {"mean": m, "ci95": [lo, hi], "n": len(diffs), "levels": levels}
    rule = (
        "per seed, over the levels pruned >= 50 %: (RT drop from dense with layers pruned) minus (RT drop with "
        "all weights pruned); supported if the 95 % interval lies above 0, contradicted if below"
    )
    return Verdict(text, better_verdict(d), rule, d)


# --- the report -------------------------------------------------------------------------------


def build_report(panels: dict[str, dict[str, Run]], claims: list[Verdict], title: str) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {
        "title": title,
        "panels": {
            panel: {
                variant: {
                    "run": str(r.path),
                    "metric": r.metric,
                    "higher_is_better": r.higher_is_better,
                    "seeds": r.seeds(),
                    "units": {"finished": len(r.units), "expected": r.expected_units()},
                    "levels": level_rows(r),
                }
                for variant, r in variants.items()
            }
            for panel, variants in panels.items()
        },
        "claims": [vars(c) for c in claims],
    }


def _fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def _numbers(numbers: Any) -> str:
    """A claim's numbers for a table cell: per panel 'mean [95 % CI], n seeds' where they are that."""

    def one(d: Any) -> str:
        if isinstance(d, dict) and "ci95" in d:
            return f"{_fmt(d['mean'])} [{_fmt(d['ci95'][0])}, {_fmt(d['ci95'][1])}], n={d['n']}"
        if isinstance(d, dict):
            return ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in d.items())
        return str(d)

    if isinstance(numbers, dict) and "ci95" not in numbers and all(isinstance(v, dict | str) for v in numbers.values()):
        return "; ".join(f"{k}: {one(v)}" for k, v in numbers.items())
    return one(numbers)


def _progress(units: dict[str, Any] | None) -> str:
    """'; in progress: F of E units finished' for a run that is not finished, else ''."""
    if not units or units.get("expected") is None or units["finished"] >= units["expected"]:
        return ""
    return f"; **in progress: {units['finished']} of {units['expected']} units finished**"


def to_markdown(report: dict[str, Any]) -> str:
    """report.md from the report data."""
    out = [f"# {report['title']}", ""]
    if report["claims"]:
        out += ["## Claims", "", "| claim | verdict | numbers |", "|---|---|---|"]
        for c in report["claims"]:
            out.append(f"| {c['claim']} | **{c['verdict']}** | {_numbers(c['numbers'])} |")
        out += ["", "Rules:", ""]
        out += [f"- *{c['claim']}*: {c['rule']}" for c in report["claims"]]
        out.append("")
    for panel, variants in report["panels"].items():
        for variant, data in variants.items():
            out += [
                f"## {panel} — {variant}",
                "",
                f"`{data['run']}`; metric: {data['metric']} "
                f"({'higher' if data['higher_is_better'] else 'lower'} is better), seeds {data['seeds']}"
                + _progress(data.get("units")),
                "",
            ]
            out += ["| level | pruned | dense / WT | RT | RP | WT - RT (95 % CI) |", "|---|---|---|---|---|---|"]
            for row in data["levels"]:
                main = row.get("dense") or row.get("wt") or {}
                cells = [f"{_fmt(main.get('mean'))} ± {_fmt(main.get('std'))}"]
                for kind in ("rt", "rp"):
                    k = row.get(kind)
                    cells.append(f"{_fmt(k['mean'])} ± {_fmt(k['std'])}" if k else "")
                d = row.get("wt_minus_rt")
                cells.append(f"{_fmt(d['mean'])} [{_fmt(d['ci95'][0])}, {_fmt(d['ci95'][1])}]" if d else "")
                out.append(f"| {row['level']} | {100 * row['fraction_pruned']:.1f} % | " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out)


def write_report(out_dir: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Writes report.md and report.json atomically; returns their paths."""
    from lotteryfast.runs import atomic_write_bytes

    md, js = out_dir / "report.md", out_dir / "report.json"
    atomic_write_bytes(js, (json.dumps(report, indent=2, default=str) + "\n").encode())
    atomic_write_bytes(md, (to_markdown(report) + "\n").encode())
    return md, js


def generic_claims(panels: dict[str, dict[str, Run]]) -> list[Verdict]:
    """Without a figure: per panel, WT beats RT at high pruning (in its first variant)."""
    out = []
    for panel, variants in panels.items():
        main = next(iter(variants))
        out.append(
            claim_wt_beats_rt(
                f"{panel}: winning tickets beat random tickets at high pruning", {panel: variants}, None, main
            )
        )
    return out


ClaimFn = Callable[[dict[str, dict[str, Run]]], list[Verdict]]


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code (2: bad input, one line on stderr, nothing written)."""
    p = argparse.ArgumentParser(
        prog="python -m lotteryfast.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("dirs", nargs="+", type=Path, help="run, sweep or figure directories")
    p.add_argument("--out", type=Path, help="where report.md/json go (default: the directory, if only one is given)")
    args = p.parse_args(argv)
    try:
        if args.out is None and len(args.dirs) > 1:
            raise ReportError("several directories: say where the report goes with --out")
        out = args.out or args.dirs[0]
        from lotteryfast.figure import draw, figure_info, runs_of

        info = figure_info(args.dirs[0]) if len(args.dirs) == 1 else None
        if info is not None:  # a figure directory, finished or not: its claims, and the figure redrawn
            fig, panels = runs_of(args.dirs[0])
            if not any(run.units for variants in panels.values() for run in variants.values()):
                raise ReportError(f"{args.dirs[0]}: no finished unit yet")
            report = build_report(panels, fig.claims(panels), fig.title)
        else:
            runs = [load_run(d) for d in expand(args.dirs)]
            if not any(r.units for r in runs):
                raise ReportError("no finished unit in the given directories")
            panels = group(runs)
            report = build_report(panels, generic_claims(panels), "lotteryfast report")
        md, _ = write_report(out, report)
        if info is not None:
            print(draw(fig, panels, out / f"{fig.name}.png"))
    except (ReportError, OSError) as err:
        print(f"lotteryfast.report: error: {err}", file=sys.stderr)
        return 2
    print(md)
    return 0


if __name__ == "__main__":
    # Run the imported module's main, not __main__'s: figure.py raises lotteryfast.report's
    # ReportError, which must be the class main() catches.
    from lotteryfast import report

    sys.exit(report.main())
