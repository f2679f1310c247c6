"""How far a run (or a sweep, or a figure) is: finished and remaining units per level, the latest
metrics, elapsed time and an estimate of the time left. Reads only the run directory, so it works
while the run is going — also on a cluster's shared directory, from any machine that sees it.

    python -m lotteryfast.status RUN_OR_SWEEP_DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any


class NotARunError(ValueError):
    """The directory is not a run, sweep or figure directory."""


def run_dirs(path: Path) -> list[Path]:
    """The run directories under a run, sweep or figure directory."""
    cfg = path / "config.json"
    if (path / "figure.json").is_file():
        return [path.parent / "runs" / n for n in json.loads((path / "figure.json").read_text())["runs"].values()]
    if not cfg.is_file():
        raise NotARunError(f"{path} is not a run directory (no config.json)")
    identity = json.loads(cfg.read_text())
    if "sweep" in identity:
        return [path / name for name in identity["sweep"]]
    if "sweep_figure" in identity:
        return [path.parent / "runs" / n for n in identity["sweep_figure"]["runs"].values()]
    if "task" not in identity:
        raise NotARunError(f"{path} is not a run directory (its config.json names no task)")
    return [path]


def run_status(path: Path, now: float | None = None) -> dict[str, Any]:
    """Units per level (finished / expected), the latest finished units, elapsed and estimated time left."""
    now = time.time() if now is None else now
    if not (path / "config.json").is_file():
        return {"path": str(path), "started": False}
    identity = json.loads((path / "config.json").read_text())
    seeds = [identity.get("seed_base", 0) + i for i in range(identity["seeds"])]
    kinds = identity.get("tickets", ["wt", "rt"])
    levels = []
    records = []
    for level in range(identity["levels"] + 1):
        expected = [(s, k) for s in seeds for k in (["dense"] if level == 0 else kinds)]
        done = 0
        for s, k in expected:
            m = path / f"seed{s}" / f"level{level:02d}" / k / "metrics.json"
            if m.is_file():
                done += 1
                with contextlib.suppress(OSError, ValueError):  # being replaced right now
                    records.append(json.loads(m.read_text()))
        levels.append({"level": level, "finished": done, "total": len(expected)})
    finished = sum(lv["finished"] for lv in levels)
    total = sum(lv["total"] for lv in levels)
    events = _events(path)
    times = sorted(r["finished_at"] for r in records if "finished_at" in r)
    started = min([e["time"] for e in events] + times[:1] + [(path / "config.json").stat().st_mtime])
    end = max(times) if finished == total and times else now
    # The rate of the current session (the driver process that logged last): a resumed run's idle
    # gap does not count.
    session = [e for e in events if e.get("pid") == events[-1].get("pid")] if events else []
    since = session[0]["time"] if session else started
    done_now = sum(1 for t in times if t >= since)
    left = None
    if 0 < finished < total:
        rate_units, rate_time = (done_now, now - since) if done_now else (finished, now - started)
        left = rate_time / max(rate_units, 1) * (total - finished) if rate_units else None
    elapsed = end - started
    latest = sorted(records, key=lambda r: r.get("finished_at", 0))[-3:]
    return {
        "path": str(path),
        "started": True,
        "task": identity.get("task"),
        "levels": levels,
        "finished": finished,
        "total": total,
        "elapsed_s": elapsed,
        "left_s": left,
        "latest": [
            {k: r.get(k) for k in ("seed", "level", "kind", "metric", "metric_name", "fraction_pruned")} for r in latest
        ],
    }


def _events(path: Path) -> list[dict[str, Any]]:
    """The run's jobs.jsonl records (which job started or ended when), oldest first."""
    out = []
    log = path / "jobs.jsonl"
    if log.is_file():
        for line in log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def render(st: dict[str, Any]) -> str:
    """A few lines for a terminal."""
    if not st["started"]:
        return f"{st['path']}: not started"
    per_level = " ".join(f"{lv['level']}:{lv['finished']}/{lv['total']}" for lv in st["levels"])
    state = "finished" if st["finished"] == st["total"] else f"about {_duration(st['left_s'])} left"
    lines = [
        f"{st['path']} ({st['task']}): {st['finished']}/{st['total']} units, {_duration(st['elapsed_s'])} elapsed, "
        f"{state}",
        f"  per level (finished/total): {per_level}",
    ]
    for r in st["latest"]:
        lines.append(
            f"  latest: seed {r['seed']} level {r['level']} {r['kind']} ({100 * (r['fraction_pruned'] or 0):.1f} % "
            f"pruned): {r['metric_name']} {r['metric']:.4g}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The CLI; a directory that is not a run: one line, exit 2."""
    p = argparse.ArgumentParser(
        prog="python -m lotteryfast.status", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("dir", type=Path, help="a run, sweep or figure directory")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    args = p.parse_args(argv)
    try:
        dirs = run_dirs(args.dir)
    except (NotARunError, OSError, ValueError) as err:
        print(f"lotteryfast.status: error: {err}", file=sys.stderr)
        return 2
    states = [run_status(d) for d in dirs]
    if args.json:
        print(json.dumps(states, indent=2))
    else:
        print("\n".join(render(s) for s in states))
        if len(states) > 1:
            fin, tot = sum(s.get("finished", 0) for s in states), sum(s.get("total", 0) for s in states)
            print(f"all: {fin}/{tot} units")
    return 0


if __name__ == "__main__":
    sys.exit(main())
