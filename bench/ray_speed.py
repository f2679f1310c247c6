"""Wall time of lottery experiments through the Ray backend against the local one.

    python bench/ray_speed.py            # the quick CartPole experiment: local vs --backend ray
                                         # (a local Ray instance), then a 2-experiment sweep on a
                                         # local 3-node cluster vs the two experiments one after the other
    python bench/ray_speed.py --tiny     # a smoke run (CI)

Each command runs in a fresh process and a fresh run directory, as a user would run it; the
Ray figures include Ray's start-up, which is also measured alone (ray.init + one task).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
    return time.perf_counter() - t0


def ray_startup() -> float:
    code = (
        "import ray, time; t = time.perf_counter(); ray.init(); ray.get(ray.remote(lambda: 1).remote()); "
        "print(time.perf_counter() - t)"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # the local cluster on the loopback interface
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (smoke run)")
    args = ap.parse_args()
    size = ["--epochs", "1", "--games-per-epoch", "8", "--levels", "1", "--seeds", "1"] if args.tiny else []
    run = [sys.executable, "-m", "lotteryfast.run", "cartpole", "--no-plot", *size]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = ray_startup()
        local = timed([*run, "--out", str(tmp / "local")])
        on_ray = timed([*run, "--out", str(tmp / "ray"), "--backend", "ray"])
        same = (tmp / "local" / "summary.csv").read_bytes() == (tmp / "ray" / "summary.csv").read_bytes()
        print("| what | wall s |\n|---|---|")
        print(f"| Ray start-up alone (ray.init + one task) | {start:.1f} |")
        print(f"| quick CartPole, --backend local | {local:.1f} |")
        print(f"| quick CartPole, --backend ray (local instance, 2 CPUs) | {on_ray:.1f} |")
        print(f"| ray / local | {on_ray / local:.2f}x (without start-up: {(on_ray - start) / local:.2f}x) |")
        print(f"| summary.csv byte-identical | {same} |")

        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        try:
            exp = (
                ["--levels", "1", "--seeds", "1", "--set", "epochs=1", "--set", "games_per_epoch=8"]
                if args.tiny
                else []
            )
            sweep = [sys.executable, "-m", "lotteryfast.sweep", "cartpole", "--no-plot", *exp]
            both = timed(
                [
                    *sweep,
                    "--vary",
                    "reset=epoch:1,init",
                    "--out",
                    str(tmp / "sweep"),
                    "--backend",
                    "ray",
                    "--address",
                    cluster.address,
                ]
            )
            apart = sum(
                timed(
                    [
                        *sweep,
                        "--vary",
                        f"reset={r}",
                        "--out",
                        str(tmp / f"one-{i}"),
                        "--backend",
                        "ray",
                        "--address",
                        cluster.address,
                    ]
                )
                for i, r in enumerate(("epoch:1", "init"))
            )
        finally:
            cluster.shutdown()
        print(f"| sweep of 2 quick CartPole experiments on a local 3-node cluster (2 x 1 CPU) | {both:.1f} |")
        print(f"| the same 2 experiments one after the other (same cluster) | {apart:.1f} |")
        print(f"| one after the other / sweep | {apart / both:.2f}x |")


if __name__ == "__main__":
    main()
