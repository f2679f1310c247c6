"""python -m lotteryfast.status: units per level, latest metrics, time left; one line for a non-run."""

from __future__ import annotations

import json

from lotteryfast.run import main as run_main
from lotteryfast.status import main, run_status


def test_status_of_a_partial_run_and_of_a_non_run(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["cartpole", "--epochs", "1", "--games-per-epoch", "6", "--levels", "2", "--seeds", "2", "--no-plot"]
    assert run_main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    st = run_status(out)
    assert st["finished"] == st["total"] == 2 + 2 * 2 * 2 and st["left_s"] is None
    for unit in (out / "seed1" / "level02").iterdir():
        if unit.is_dir():
            (unit / "metrics.json").unlink()  # as if the run were still going
    st = run_status(out)
    assert [lv["finished"] for lv in st["levels"]] == [2, 4, 2] and st["total"] == 10
    assert st["left_s"] is not None and st["left_s"] >= 0
    assert main([str(out)]) == 0
    text = capsys.readouterr().out
    assert "8/10 units" in text and "left" in text and "per level (finished/total): 0:2/2 1:4/4 2:2/4" in text
    assert "latest: seed" in text
    assert main([str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["finished"] == 8
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a run directory" in err
