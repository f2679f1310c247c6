"""Env-steps/s of Atari actor pools, same run, same game, full preprocessing (frame skip 4 with max
pooling, grayscale, 105 x 80 area resize, stack of 4, no-op starts): lotteryfast's AtariPool against
ale-py's C++ AtariVectorEnv and gymnasium's AsyncVectorEnv, against two ceilings: the raw
single-emulator frame rate times the threads, and the frame rate of that many raw emulators
running at the same time (what the cores deliver together).

    python bench/atari_speed.py                         # 32 envs, 2 threads, Breakout
    python bench/atari_speed.py --steps 20 --envs 4      # smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import time

import ale_py
import gymnasium as gym
import numpy as np
import torch

from lotteryfast.envs.atari import AtariPool, rom_id

PRE = dict(frameskip=4, noop_max=30)


def _raw_emulator(game: str):
    """One ALE emulator as every pool uses it (no sticky actions), and its minimal action set."""
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", 0)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(str(ale_py.roms.get_rom_path(rom_id(game))))
    return ale, ale.getMinimalActionSet()


def _play(ale, actions, picks) -> None:
    """One frame per pick, resetting finished games: the work every pool must do per frame."""
    for pick in picks:
        ale.act(actions[pick])
        if ale.game_over():
            ale.reset_game()


def raw_frames_per_second(game: str, frames: int) -> float:
    """One emulator, random actions, no preprocessing."""
    ale, actions = _raw_emulator(game)
    picks = np.random.default_rng(0).integers(len(actions), size=frames)
    t0 = time.perf_counter()
    _play(ale, actions, picks)
    return frames / (time.perf_counter() - t0)


def _raw_worker(game: str, seconds: float, barrier, rates, slot: int) -> None:
    ale, actions = _raw_emulator(game)
    picks = np.random.default_rng(slot).integers(len(actions), size=4096)
    barrier.wait()
    frames, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _play(ale, actions, picks)
        frames += len(picks)
    rates[slot] = frames / (time.perf_counter() - t0)


def raw_concurrent_frames_per_second(game: str, processes: int, seconds: float) -> float:
    """Frames/s of `processes` raw emulators running at the same time (one process each): what the
    cores give together, which on a shared VM can be well under the single rate times the cores."""
    ctx = multiprocessing.get_context("fork")
    barrier, rates = ctx.Barrier(processes), ctx.Array("d", processes)
    procs = [ctx.Process(target=_raw_worker, args=(game, seconds, barrier, rates, i)) for i in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return float(sum(rates))


def lotteryfast_pool(game: str, envs: int, threads: int, steps: int) -> float:
    pool = AtariPool(game, envs, num_threads=threads, seed=0, **PRE)
    pool.reset()
    actions = [torch.randint(pool.num_actions, (envs,), dtype=torch.int32) for _ in range(steps)]
    pool.step(actions[0])
    t0 = time.perf_counter()
    for a in actions[1:]:
        pool.step(a)
    return envs * (steps - 1) / (time.perf_counter() - t0)


def vector_env_rate(env, envs: int, steps: int) -> float:
    """env-steps/s of a gymnasium-style vector environment under random actions."""
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [rng.integers(env.single_action_space.n, size=envs) for _ in range(steps)]
    env.step(actions[0])
    t0 = time.perf_counter()
    for a in actions[1:]:
        env.step(a)
    rate = envs * (steps - 1) / (time.perf_counter() - t0)
    env.close()
    return rate


def ale_vector_env(game: str, envs: int, threads: int, steps: int) -> float:
    env = ale_py.vector_env.AtariVectorEnv(
        rom_id(game),
        envs,
        num_threads=threads,
        img_height=105,
        img_width=80,
        reward_clipping=False,
        use_fire_reset=False,
        **PRE,
    )
    return vector_env_rate(env, envs, steps)


def gym_async(game: str, envs: int, threads: int, steps: int) -> float:
    gym.register_envs(ale_py)

    def make():
        env = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0)
        env = gym.wrappers.AtariPreprocessing(
            env, noop_max=30, frame_skip=4, screen_size=(80, 105), grayscale_obs=True, scale_obs=False
        )
        return gym.wrappers.FrameStackObservation(env, 4)

    return vector_env_rate(gym.vector.AsyncVectorEnv([make for _ in range(envs)]), envs, steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--game", default="Breakout")
    ap.add_argument("--envs", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3, help="alternating measurements of the two C++ pools")
    ap.add_argument("--ceiling-seconds", type=float, default=3.0, help="length of each concurrent-ceiling run")
    ap.add_argument("--skip-async", action="store_true", help="skip gymnasium's AsyncVectorEnv (slow to start)")
    args = ap.parse_args()
    skip = PRE["frameskip"]
    single = raw_frames_per_second(args.game, 4000 if args.steps < 100 else 20000) / skip * args.threads
    # This machine's speed drifts between runs: each round measures both C++ pools and the
    # concurrent ceiling back to back; the table gives medians, the ratios are per round.
    ours, theirs, ceilings = [], [], []
    for _ in range(args.rounds):
        ceilings.append(raw_concurrent_frames_per_second(args.game, args.threads, args.ceiling_seconds) / skip)
        ours.append(lotteryfast_pool(args.game, args.envs, args.threads, args.steps))
        theirs.append(ale_vector_env(args.game, args.envs, args.threads, args.steps))
    ceiling = statistics.median(ceilings)
    rows = [
        ("lotteryfast AtariPool", statistics.median(ours)),
        ("ale-py AtariVectorEnv (C++)", statistics.median(theirs)),
    ]
    if not args.skip_async:
        rows.append(
            (
                "gymnasium AsyncVectorEnv + AtariPreprocessing",
                gym_async(args.game, args.envs, args.threads, max(args.steps // 3, 3)),
            )
        )
    print(
        f"{args.game}, {args.envs} envs, {args.threads} threads, frame skip 4, 105x80 gray, stack 4; "
        f"{platform.machine()}; ceilings: one raw emulator x threads {single:,.0f} steps/s, "
        f"{args.threads} raw emulators at once {ceiling:,.0f} steps/s (median of {args.rounds})"
    )
    print("| pool | env-steps/s | vs AtariVectorEnv | of raw x threads | of raw emulators at once |")
    print("|---|---|---|---|---|")
    for name, rate in rows:
        print(
            f"| {name} | {rate:,.0f} | {rate / rows[1][1]:.2f}x | {100 * rate / single:.0f} % "
            f"| {100 * rate / ceiling:.0f} % |"
        )
    for label, values in (
        ("AtariPool / AtariVectorEnv", [a / b for a, b in zip(ours, theirs, strict=True)]),
        ("AtariPool / raw emulators at once", [a / c for a, c in zip(ours, ceilings, strict=True)]),
        ("AtariVectorEnv / raw emulators at once", [b / c for b, c in zip(theirs, ceilings, strict=True)]),
    ):
        values = sorted(values)
        print(
            f"{label}, per round: median {statistics.median(values):.2f}, "
            f"range {values[0]:.2f}-{values[-1]:.2f} over {len(values)} rounds"
        )


if __name__ == "__main__":
    main()
