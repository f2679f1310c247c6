"""Stepping speed of LunarLander: lotteryfast's C++ LunarLander-v2 (Box2D, OpenMP threads) against
gymnasium's LunarLander-v3 (its Box2D environment, stepped one by one in a SyncVectorEnv, as a
plain loop does) and, when it is installed, envpool's C++ LunarLander-v2 — measured in the same run
with the same random actions, as env-steps per second. A population as the paper trains it: 6
members (3 seeds x winning + random ticket) x 32 environments.

    python bench/lunar_speed.py              # table
    python bench/lunar_speed.py --tiny       # smoke run (CI)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

MEMBERS, ENVS = 6, 32


def rate(step: Callable[[np.ndarray], object], n_envs: int, seconds: float, seed: int = 0) -> float:
    """env-steps/s of `step` fed uniform random actions for about `seconds` (after a warm-up)."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 4, size=(64, n_envs))
    for i in range(5):
        step(actions[i])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(actions[done % 64])
        done += 1
    return done * n_envs / (time.perf_counter() - start)


def ours(threads: int, seconds: float) -> float:
    from lotteryfast import _box2d

    pool = _box2d.LunarLanderPool(list(range(MEMBERS)), ENVS, threads=threads)
    pool.reset()
    return rate(lambda a: pool.step(a.reshape(MEMBERS, ENVS)), MEMBERS * ENVS, seconds)


def gymnasium_sync(seconds: float) -> float:
    import gymnasium as gym

    envs = gym.vector.SyncVectorEnv([lambda: gym.make("LunarLander-v3") for _ in range(MEMBERS * ENVS)])
    envs.reset(seed=0)
    return rate(envs.step, MEMBERS * ENVS, seconds)


def envpool_v2(threads: int, seconds: float) -> float | None:
    try:
        import envpool
    except Exception:  # not installed, or installed without its asset packages
        return None
    env = envpool.make("LunarLander-v2", env_type="gymnasium", num_envs=MEMBERS * ENVS, num_threads=threads, seed=0)
    env.reset()
    return rate(env.step, MEMBERS * ENVS, seconds)


def main() -> None:
    """Prints the table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="measuring time per row")
    p.add_argument("--tiny", action="store_true", help="0.2 s per row: a smoke run")
    args = p.parse_args()
    seconds = 0.2 if args.tiny else args.seconds
    cores = os.cpu_count() or 1
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores; {MEMBERS} x {ENVS} environments")
    base = gymnasium_sync(seconds)
    rows = [("gymnasium LunarLander-v3, SyncVectorEnv", base)]
    for threads in sorted({1, min(2, cores)}):
        rows.append((f"lotteryfast LunarLander-v2 (C++), {threads} thread(s)", ours(threads, seconds)))
        ep = envpool_v2(threads, seconds)
        if ep is not None:
            rows.append((f"envpool LunarLander-v2, {threads} thread(s)", ep))
    print(f"{'implementation':<50} {'env-steps/s':>12} {'vs gymnasium':>13}")
    for name, value in rows:
        print(f"{name:<50} {value:>12,.0f} {value / base:>12.2f}x")


if __name__ == "__main__":
    main()
