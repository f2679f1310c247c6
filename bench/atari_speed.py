"""Env-steps/s of Atari actor pools, same run, same game, full preprocessing (frame skip 4 with max
pooling, grayscale, 105 x 80 area resize, stack of 4, no-op starts): lotteryfast's AtariPool against
ale-py's C++ AtariVectorEnv and gymnasium's AsyncVectorEnv, and the raw single-emulator frame rate
times the threads as the ceiling.

    python bench/atari_speed.py                         # 32 envs, 2 threads, Breakout
    python bench/atari_speed.py --steps 20 --envs 4      # smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import ale_py
import gymnasium as gym
import numpy as np
import torch

from lotteryfast.envs.atari import AtariPool, rom_id

PRE = dict(frameskip=4, noop_max=30)


def raw_frames_per_second(game: str, frames: int) -> float:
    """One emulator, random actions, no preprocessing: the work every pool must do per frame."""
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", 0)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(str(ale_py.roms.get_rom_path(rom_id(game))))
    actions = ale.getMinimalActionSet()
    rng = np.random.default_rng(0)
    picks = rng.integers(len(actions), size=frames)
    t0 = time.perf_counter()
    for i in range(frames):
        ale.act(actions[picks[i]])
        if ale.game_over():
            ale.reset_game()
    return frames / (time.perf_counter() - t0)


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
    ap.add_argument("--skip-async", action="store_true", help="skip gymnasium's AsyncVectorEnv (slow to start)")
    args = ap.parse_args()
    ceiling = raw_frames_per_second(args.game, 4000 if args.steps < 100 else 20000) / PRE["frameskip"] * args.threads
    # This machine's speed drifts between runs: alternate the two C++ pools and take medians.
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(lotteryfast_pool(args.game, args.envs, args.threads, args.steps))
        theirs.append(ale_vector_env(args.game, args.envs, args.threads, args.steps))
    ratios = sorted(a / b for a, b in zip(ours, theirs, strict=True))
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
        f"{platform.machine()}; ceiling (raw emulator x threads) {ceiling:,.0f} steps/s"
    )
    print("| pool | env-steps/s | vs AtariVectorEnv | of the ceiling |\n|---|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / rows[1][1]:.2f}x | {100 * rate / ceiling:.0f} % |")
    print(
        f"AtariPool / AtariVectorEnv per round (back-to-back pairs): median {statistics.median(ratios):.2f}x, "
        f"range {ratios[0]:.2f}-{ratios[-1]:.2f}x over {len(ratios)} rounds"
    )


if __name__ == "__main__":
    main()
