"""Figures and reports: the statistics against scipy, the verdict rules on constructed data, the
report CLI on bad input, and a tiny figure end to end (resumable, runs shared between figures)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lotteryfast import report as rep
from lotteryfast.figure import main as figure_main
from lotteryfast.report import main as report_main
from lotteryfast.stats import mean_ci, t975

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29, 30])
def test_t_quantiles_match_scipy(df):
    assert t975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=2e-3)


def test_mean_ci_matches_scipy_on_random_values():
    import numpy as np

    rng = np.random.default_rng(0)
    for n in (2, 3, 7):
        x = rng.normal(size=n).tolist()
        m, lo, hi = mean_ci(x)
        ref = scipy_stats.t.interval(0.95, n - 1, loc=np.mean(x), scale=scipy_stats.sem(x))
        assert (
            m == pytest.approx(np.mean(x))
            and lo == pytest.approx(ref[0], rel=1e-3)
            and hi == pytest.approx(ref[1], rel=1e-3)
        )
    assert mean_ci([1.0])[1] == -math.inf


def fake_run(
    path: Path, values: dict, *, higher=True, levels=3, rate=0.6, one_shot=False, reset="epoch:1", task="cartpole"
):
    """A run directory by hand: values[(seed, level, kind)] = metric."""
    identity = {
        "task": task,
        "preset": "quick",
        "device": "cpu",
        "format": 2,
        "seeds": 3,
        "levels": levels,
        "rate": rate,
        "one_shot": one_shot,
        "reset": reset,
        "tickets": ["wt", "rt"],
        "layerwise": False,
        "prune_biases": True,
        "prune_embeddings": True,
        "exclude": [],
        "seed_base": 0,
        "task_config": {},
    }
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(identity))
    for (seed, level, kind), metric in values.items():
        unit = path / f"seed{seed}" / f"level{level:02d}" / kind
        unit.mkdir(parents=True)
        rec = {
            "seed": seed,
            "level": level,
            "kind": kind,
            "metric": metric,
            "fraction_pruned": 1 - (1 - rate) ** level,
            "metric_name": "score",
        }
        (unit / "metrics.json").write_text(json.dumps(rec))
    (path / "summary.json").write_text(json.dumps({"metric": "score", "higher_is_better": higher, "rows": []}))
    return path


def values(wt_minus_rt: list[float], base=10.0, levels=3):
    out = {}
    for s, d in enumerate(wt_minus_rt):
        out[(s, 0, "dense")] = base
        for lv in range(1, levels + 1):
            out[(s, lv, "wt")] = base + d + 0.1 * lv
            out[(s, lv, "rt")] = base + 0.1 * lv
    return out


def test_paired_differences_and_verdicts(tmp_path):
    run = rep.load_run(fake_run(tmp_path / "a", values([2.0, 2.5, 3.0])))
    rows = rep.level_rows(run)
    d = rows[3]["wt_minus_rt"]
    m, lo, hi = mean_ci([2.0, 2.5, 3.0])
    assert d["mean"] == pytest.approx(m) and d["ci95"] == pytest.approx([lo, hi]) and d["n"] == 3
    assert rep.high_levels(run) == [2, 3]  # 84 % and 93.6 % pruned
    panels = rep.group([run])
    v = rep.claim_wt_beats_rt("x", panels, None, next(iter(panels[run.panel])))
    assert v.verdict == "supported"
    worse = rep.load_run(fake_run(tmp_path / "b", values([-2.0, -2.5, -3.0])))
    assert rep.claim_wt_beats_rt("x", rep.group([worse]), None, worse.variant).verdict == "contradicted"
    mixed = rep.load_run(fake_run(tmp_path / "c", values([2.0, -2.5, 0.1])))
    assert rep.claim_wt_beats_rt("x", rep.group([mixed]), None, mixed.variant).verdict == "inconclusive"
    # lower is better (log perplexity): the same numbers mean the opposite
    lower = rep.load_run(fake_run(tmp_path / "d", values([2.0, 2.5, 3.0]), higher=False))
    assert rep.claim_wt_beats_rt("x", rep.group([lower]), None, lower.variant).verdict == "contradicted"


def test_variant_claims_pair_runs_by_seed(tmp_path):
    late = rep.load_run(fake_run(tmp_path / "late", values([2.0, 2.0, 2.0])))
    init = rep.load_run(fake_run(tmp_path / "init", values([0.5, 0.6, 0.4]), reset="init"))
    panels = rep.group([late, init])
    assert set(panels[late.panel]) == {"iterative, late reset (epoch:1)", "iterative, reset to init"}
    v = rep.claim_variant_better("late helps", panels, late.variant, init.variant)
    assert v.verdict == "supported" and v.numbers[late.panel]["mean"] == pytest.approx(1.5)


def test_report_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    a = fake_run(tmp_path / "a", values([2.0, 2.5, 3.0]))
    b = fake_run(tmp_path / "b", values([1.0, 2.0, 3.0]), levels=4)
    assert report_main([str(a), str(b), "--out", str(tmp_path)]) == 2
    assert "cannot be compared in one panel (they differ in levels)" in capsys.readouterr().err
    assert report_main([str(a), str(b)]) == 2
    assert "--out" in capsys.readouterr().err
    assert report_main([str(tmp_path / "nothing")]) == 2
    assert "is not a run, sweep or figure directory" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists() and not (a / "report.md").exists()
    assert report_main([str(a)]) == 0
    report = json.loads((a / "report.json").read_text())
    assert report["claims"][0]["verdict"] == "supported"
    assert "| 3 | 93.6 % |" in (a / "report.md").read_text()


def test_figure_cli_bad_input(tmp_path, capsys, monkeypatch):
    assert figure_main(["fig9", "--out", str(tmp_path / "o")]) == 2
    assert "unknown figure 'fig9'; choose one of: fig1" in capsys.readouterr().err
    assert figure_main(["fig1", "--panels", "Pong", "--out", str(tmp_path / "o")]) == 2
    assert "fig1 has no panel 'Pong'" in capsys.readouterr().err
    monkeypatch.setenv("LOTTERYFAST_DATA", str(tmp_path / "no-data"))
    assert figure_main(["fig5", "--tiny", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "lotteryfast.figure: error:" in err
    assert not (tmp_path / "o").exists()


def test_tiny_figures_run_resume_and_share_runs(tmp_path):
    out = tmp_path / "figs"
    args = ["--tiny", "--panels", "CartPole-v0", "--out", str(out), "--no-plot", "--tickets", "wt,rt,rp"]
    assert figure_main(["fig1", *args]) == 0
    fig1 = json.loads((out / "fig1" / "figure.json").read_text())
    assert (out / "fig1" / "fig1.png").stat().st_size > 10_000
    report = json.loads((out / "fig1" / "report.json").read_text())
    assert report["claims"][0]["verdict"] in ("supported", "contradicted", "inconclusive")
    levels = report["panels"]["CartPole-v0"]["iterative, late reset"]["levels"]
    assert "rp" in levels[1] and "wt_minus_rp" in levels[1]
    (run_name,) = fig1["runs"].values()
    log = (out / "runs" / run_name / "metrics.jsonl").read_text()
    assert figure_main(["fig3", *args]) == 0  # fig3's "iterative, late reset" is fig1's run: not retrained
    fig3 = json.loads((out / "fig3" / "figure.json").read_text())
    assert fig3["runs"]["CartPole-v0|iterative, late reset"] == run_name
    assert (out / "runs" / run_name / "metrics.jsonl").read_text() == log
    assert len(fig3["runs"]) == 4
    assert report_main([str(out / "fig3")]) == 0  # the report command judges the figure's claims
    claims = [c["claim"] for c in json.loads((out / "fig3" / "report.json").read_text())["claims"]]
    assert "Late resetting improves winning tickets" in claims


def test_a_figure_grows_panel_by_panel_and_refuses_changed_settings(tmp_path, capsys):
    out = tmp_path / "figs"
    args = ["--tiny", "--out", str(out), "--no-plot", "--seeds", "2"]
    assert figure_main(["fig1", "--panels", "CartPole-v0", *args]) == 0
    first = json.loads((out / "fig1" / "config.json").read_text())
    assert figure_main(["fig1", "--panels", "LunarLander-v2", *args]) == 0  # the same figure grows
    grown = json.loads((out / "fig1" / "figure.json").read_text())["runs"]
    assert set(grown) == {"CartPole-v0|iterative, late reset", "LunarLander-v2|iterative, late reset"}
    assert (
        grown["CartPole-v0|iterative, late reset"] == first["sweep_figure"]["runs"]["CartPole-v0|iterative, late reset"]
    )
    report = json.loads((out / "fig1" / "report.json").read_text())
    assert {"CartPole-v0", "LunarLander-v2"} <= set(report["panels"])
    before = {p: p.read_bytes() for p in (out / "fig1").iterdir()}
    capsys.readouterr()
    # The same panel with other settings is another run: refused in one line, nothing written.
    assert figure_main(["fig1", "--panels", "CartPole-v0", "--tiny", "--out", str(out), "--seeds", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds CartPole-v0|iterative, late reset from run" in err
    assert {p: p.read_bytes() for p in (out / "fig1").iterdir()} == before


def test_report_and_figure_of_a_figure_stopped_part_way(tmp_path, capsys):
    """A figure command killed part-way has no figure.json yet: the report command judges and draws
    what finished, and says the run is in progress."""
    out = tmp_path / "figs"
    assert figure_main(["fig1", "--tiny", "--panels", "CartPole-v0", "--out", str(out), "--no-plot"]) == 0
    (out / "fig1" / "figure.json").unlink()
    (out / "fig1" / "fig1.png").unlink()
    (run_name,) = json.loads((out / "fig1" / "config.json").read_text())["sweep_figure"]["runs"].values()
    last = sorted((out / "runs" / run_name).glob("seed*/level*/rt/metrics.json"))[-1]
    last.unlink()
    assert report_main([str(out / "fig1")]) == 0
    md = (out / "fig1" / "report.md").read_text()
    assert "Winning tickets beat random tickets" in md and "**in progress: " in md
    units = json.loads((out / "fig1" / "report.json").read_text())["panels"]["CartPole-v0"]["iterative, late reset"]
    assert units["units"]["finished"] == units["units"]["expected"] - 1
    assert (out / "fig1" / "fig1.png").stat().st_size > 10_000
    for m in (out / "runs" / run_name).glob("seed*/level*/*/metrics.json"):
        m.unlink()
    capsys.readouterr()
    assert report_main([str(out / "fig1")]) == 2
    assert "no finished unit yet" in capsys.readouterr().err


def test_nan_metrics_give_nan_statistics_and_an_inconclusive_verdict(tmp_path):
    """A ticket that finished no episode scores NaN: statistics say NaN, verdicts stay inconclusive."""
    from lotteryfast.stats import mean_std

    assert all(math.isnan(x) for x in mean_ci([1.0, math.nan, 2.0]))
    assert all(math.isnan(x) for x in mean_std([1.0, math.nan]))
    vals = values([2.0, 2.5, 3.0])
    vals[(1, 3, "rt")] = math.nan
    run = rep.load_run(fake_run(tmp_path / "n", vals))
    d = rep.level_rows(run)[3]["wt_minus_rt"]
    assert math.isnan(d["mean"]) and rep.better_verdict(d) == "inconclusive"
