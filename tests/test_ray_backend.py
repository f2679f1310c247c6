"""The Ray backend on a real multi-node cluster on this machine (ray.cluster_utils.Cluster: a head
without CPUs and two worker nodes of one CPU each): results byte-identical to the local backend,
a killed worker node or a killed driver costs nothing finished, bad addresses and storage are one
line, exit 2, and a sweep's experiments run concurrently."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Every node of the test clusters on the loopback interface (Ray's switch for single-machine
# clusters): no traffic to this machine's other addresses.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from lotteryfast.run import main  # noqa: E402

SMALL = ["cartpole", "--epochs", "1", "--games-per-epoch", "24", "--levels", "3", "--seeds", "2", "--no-plot"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_DEDUP_LOGS": "0"}


def _cluster(workers: int = 2) -> tuple[Cluster, list]:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(workers)]
    cluster.wait_for_nodes()
    return cluster, nodes


@pytest.fixture(scope="module")
def cluster():
    c, _ = _cluster()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    assert main([*SMALL, "--out", str(out)]) == 0
    return out


def _driver(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lotteryfast.run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        **kw,
    )


def _finished_units(out: Path) -> list[tuple]:
    lines = (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []
    return [(r["seed"], r["level"], r["kind"]) for r in map(json.loads, lines)]


def _same_results(out: Path, reference: Path) -> None:
    assert (out / "summary.csv").read_bytes() == (reference / "summary.csv").read_bytes()
    for path in reference.rglob("metrics.json"):
        mine = json.loads((out / path.relative_to(reference)).read_text())
        theirs = json.loads(path.read_text())
        assert (mine["metric"], mine["curve"]) == (theirs["metric"], theirs["curve"]), path
    for path in reference.rglob("masks.pt"):
        assert (out / path.relative_to(reference)).read_bytes() == path.read_bytes(), path
    units = _finished_units(out)
    assert len(units) == len(set(units)) == len(_finished_units(reference))  # no unit trained twice


def test_ray_backend_gives_byte_identical_results_to_local(cluster, local_run, tmp_path):
    out = tmp_path / "ray"
    backend = ["--backend", "ray", "--address", cluster.address]
    res = subprocess.run(
        [sys.executable, "-m", "lotteryfast.run", *SMALL, "--out", str(out), *backend],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    _same_results(out, local_run)
    events = [json.loads(line) for line in (out / "jobs.jsonl").read_text().splitlines()]
    nodes = {e["node"] for e in events if e["event"] == "start"}
    assert len(nodes) == 2  # both worker nodes took jobs
    train = [e for e in events if e["event"] == "start" and e["kind"] == "train" and e["level"] > 0]
    assert all(len(e["units"]) == 2 for e in train)  # classic control: a (seed, level)'s WT and RT per job


def test_a_killed_worker_node_costs_no_finished_unit(local_run, tmp_path):
    cluster, nodes = _cluster()
    try:
        out = tmp_path / "ray"
        args = [*SMALL, "--out", str(out), "--backend", "ray", "--address", cluster.address, "--members-per-job", "1"]
        driver = _driver(args)
        victim = None
        deadline = time.time() + 300
        while victim is None and time.time() < deadline and driver.poll() is None:
            time.sleep(0.2)
            if (out / "jobs.jsonl").exists() and len(_finished_units(out)) >= 2:
                events = [json.loads(line) for line in (out / "jobs.jsonl").read_text().splitlines()]
                started = {(e["job"], e["node"]) for e in events if e["event"] == "start"}
                ended = {(e["job"], e["node"]) for e in events if e["event"] == "end"}
                busy = [node for job, node in started - ended]
                victim = next((n for n in nodes if n.node_id in busy), None)
        assert victim is not None, "no job was seen running on a worker node"
        cluster.remove_node(victim, allow_graceful=False)  # kills the node's raylet and workers
        _, err = driver.communicate(timeout=600)
        assert driver.returncode == 0, err[-3000:]
        _same_results(out, local_run)
        events = [json.loads(line) for line in (out / "jobs.jsonl").read_text().splitlines()]
        assert any(e["event"] == "start" and e["node"] == victim.node_id for e in events)
        later = [e for e in events if e["event"] == "start" and e["node"] != victim.node_id]
        assert later  # the surviving node finished the work
    finally:
        cluster.shutdown()


def test_a_killed_driver_resumes_with_the_same_command(cluster, local_run, tmp_path):
    out = tmp_path / "ray"
    args = [*SMALL, "--out", str(out), "--backend", "ray", "--address", cluster.address]
    driver = _driver(args)
    deadline = time.time() + 300
    while len(_finished_units(out)) < 3 and time.time() < deadline and driver.poll() is None:
        time.sleep(0.1)
    assert driver.poll() is None, "the run ended before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.communicate()
    assert 3 <= len(_finished_units(out)) < len(_finished_units(local_run))
    time.sleep(2)  # Ray cancels the dead driver's tasks
    again = _driver(args)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    assert (out / "summary.csv").read_bytes() == (local_run / "summary.csv").read_bytes()
    assert set(_finished_units(out)) == set(_finished_units(local_run))


def _one_line_exit_2(args: list[str]) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "lotteryfast.run", *args], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lotteryfast.run: error:"), res.stderr[-2000:]
    return lines[0]


def test_unreachable_address_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    line = _one_line_exit_2([*SMALL, "--out", str(out), "--backend", "ray", "--address", "127.0.0.1:1"])
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in line
    assert not out.exists()


def test_a_run_directory_the_workers_cannot_write_is_one_line_and_nothing_trained(cluster, tmp_path):
    out = Path("/proc/lotteryfast-no-such-dir/run")
    line = _one_line_exit_2([*SMALL, "--out", str(out), "--backend", "ray", "--address", cluster.address])
    assert "cannot write to /proc" in line


def test_without_ray_the_backend_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from lotteryfast.run import main\n"
        f"sys.exit(main({[*SMALL, '--out', str(tmp_path / 'r'), '--backend', 'ray']!r}))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert res.returncode == 2 and "pip install 'lotteryfast[ray]'" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_a_sweep_runs_its_experiments_jobs_concurrently(cluster, tmp_path):
    out = tmp_path / "sweep"
    grid = ["cartpole", "--vary", "reset=epoch:1,init", "--set", "epochs=1", "--set", "games_per_epoch=40"]
    rest = ["--levels", "2", "--seeds", "2", "--no-plot", "--out", str(out)]
    backend = ["--backend", "ray", "--address", cluster.address, "--members-per-job", "1"]
    res = subprocess.run(
        [sys.executable, "-m", "lotteryfast.sweep", *grid, *rest, *backend],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    spans = {}
    for exp in ("cartpole-reset=epoch_1", "cartpole-reset=init"):
        events = [json.loads(line) for line in (out / exp / "jobs.jsonl").read_text().splitlines()]
        starts = [e["time"] for e in events if e["event"] == "start" and e["kind"] == "train"]
        ends = [e["time"] for e in events if e["event"] == "end" and e["kind"] == "train"]
        spans[exp] = (min(starts), max(ends))
    (a0, a1), (b0, b1) = spans.values()
    assert a0 < b1 and b0 < a1  # the two experiments' jobs ran at the same time
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("experiment,task,reset,level,kind") and len(rows) == 1 + 2 * 5
