"""LunarLander-v2 in C++ (lotteryfast._box2d) against gymnasium's Box2D LunarLander.

gymnasium's environment is driven with the C++ environment's random numbers (a Python replica of
its SplitMix64 stream stands in for ``np_random``): from the same terrain, push and engine
dispersion, every observation, reward and termination must be identical, bit for bit, over random
and landing (heuristic) episodes. Then the pool: rows equal single environments, time limits,
same-step resets, threads and other members change nothing, bad input is refused.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium")
pytest.importorskip("Box2D")
_box2d = pytest.importorskip("lotteryfast._box2d")

from gymnasium.envs.box2d.lunar_lander import heuristic  # noqa: E402
from splitmix_reference import SplitMix64, mix  # noqa: E402

from lotteryfast.envs.classic import LunarLanderBatch, make_batch  # noqa: E402


def stream(seed: int, index: int) -> SplitMix64:
    """The generator of environment `index` of a member seeded `seed` (lf::mix)."""
    return SplitMix64(mix(seed, index))


def gym_twin(seed: int, index: int):
    """gymnasium's LunarLander (v3, no wind) drawing the C++ environment's random numbers."""
    env = gym.make("LunarLander-v3").unwrapped
    env.reset(seed=0)
    env.np_random = stream(seed, index)  # reset() without a seed keeps it
    return env


def test_replica_matches_the_cpp_stream():
    env = _box2d.LunarLander(7, 3)
    twin = gym_twin(7, 3)
    assert np.array_equal(env.reset(), twin.reset()[0])


@pytest.mark.parametrize("policy", ["random", "heuristic"])
def test_steps_bit_for_bit_like_gymnasium(policy):
    rng = np.random.default_rng(1)
    endings = {"crash/away": 0, "landed": 0}
    for seed, index in [(0, 0), (1, 5), (2**40 + 3, 17)]:
        ours, theirs = _box2d.LunarLander(seed, index), gym_twin(seed, index)
        obs = ours.reset()
        ref = theirs.reset()[0]
        assert obs.dtype == np.float32 and obs.shape == (8,)
        assert np.array_equal(obs, ref)
        for t in range(1500):
            action = int(rng.integers(4)) if policy == "random" else int(heuristic(theirs, ref))
            obs, reward, terminated = ours.step(action)
            ref, ref_reward, ref_terminated, _, _ = theirs.step(action)
            assert np.array_equal(obs, ref), (seed, t, action, obs - ref)
            assert reward == ref_reward and terminated == ref_terminated, (seed, t, reward, ref_reward)
            if terminated:
                endings["landed" if reward == 100 else "crash/away"] += 1
                obs = ours.reset()
                ref = theirs.reset()[0]
                assert np.array_equal(obs, ref)
    # Both kinds of ending were compared (the heuristic lands; random play crashes).
    assert endings["landed" if policy == "heuristic" else "crash/away"] >= 3, endings


def test_legs_touch_down_in_landing_episodes():
    ours, theirs = _box2d.LunarLander(4, 0), gym_twin(4, 0)
    ours.reset()
    ref = theirs.reset()[0]
    contact = np.zeros(2)
    for _ in range(1000):
        action = int(heuristic(theirs, ref))
        obs, _, done = ours.step(action)
        ref, *_ = theirs.step(action)
        contact = np.maximum(contact, obs[6:])
        if done:
            break
    assert done and contact.tolist() == [1.0, 1.0]


def replay_single(seed: int, index: int, actions: np.ndarray, max_steps: int):
    """(obs, reward, terminated, truncated, episode_return) per step of one environment, with the
    pool's time limit and same-step resets, from the single-environment binding."""
    env = _box2d.LunarLander(seed, index)
    first = env.reset()
    rows, steps, ret = [], 0, 0.0
    for a in actions:
        obs, reward, terminated = env.step(int(a))
        steps += 1
        ret += reward
        truncated = not terminated and steps >= max_steps
        ended = terminated or truncated
        rows.append((obs if not ended else None, reward, terminated, truncated, ret if ended else 0.0))
        if ended:
            obs = env.reset()
            rows[-1] = (obs, *rows[-1][1:])
            steps, ret = 0, 0.0
    return first, rows


def test_pool_rows_equal_single_environments_with_time_limit_and_resets():
    seeds, envs, max_steps, steps = [11, 12], 3, 90, 300
    rng = np.random.default_rng(2)
    actions = rng.integers(0, 4, size=(steps, len(seeds), envs))
    actions[:, 0, 0] = 0  # free fall: crashes
    actions[:, 1, 2] = 2  # main engine only: flies off or hits the time limit
    pool = _box2d.LunarLanderPool(seeds, envs, max_steps=max_steps, threads=2)
    first = pool.reset()
    outs = [pool.step(actions[t]) for t in range(steps)]
    truncations = terminations = 0
    for m, seed in enumerate(seeds):
        for e in range(envs):
            ref_first, rows = replay_single(seed, e, actions[:, m, e], max_steps)
            assert np.array_equal(first[m, e], ref_first)
            for t, (obs, reward, terminated, truncated, ret) in enumerate(rows):
                o, r, te, tr, er = (x[m, e] for x in outs[t])
                assert np.array_equal(o, obs) and r == reward and bool(te) == terminated and bool(tr) == truncated
                assert er == pytest.approx(ret, abs=0, rel=1e-12)
                truncations += truncated
                terminations += terminated
    assert truncations > 0 and terminations > 0


def test_pool_independent_of_threads_and_other_members():
    rng = np.random.default_rng(3)
    actions = rng.integers(0, 4, size=(60, 3, 8))
    runs = []
    for seeds, threads in [([5, 6, 7], 1), ([5, 6, 7], 2), ([5, 6, 7], 0)]:
        pool = _box2d.LunarLanderPool(seeds, 8, threads=threads)
        runs.append([pool.reset()] + [pool.step(a)[0] for a in actions])
    for other in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0], other, strict=True))
    alone = _box2d.LunarLanderPool([6], 8, threads=1)
    obs = [alone.reset()] + [alone.step(a[1:2])[0] for a in actions]
    assert all(np.array_equal(a[0], b[1]) for a, b in zip(obs, runs[0], strict=True))


def test_batch_for_the_classic_task():
    batch = make_batch("LunarLander-v2", 2, 4, [0, 1])
    assert isinstance(batch, LunarLanderBatch) and (batch.obs_dim, batch.n_actions) == (8, 4)
    obs = batch.reset()
    assert obs.shape == (2, 4, 8) and obs.dtype == torch.float32
    running = torch.zeros(2, 4, dtype=torch.float64)
    ended = 0
    for _ in range(300):
        res = batch.step(torch.zeros(2, 4, dtype=torch.int64))  # no-op: every lander comes down
        assert res.reward.dtype == torch.float32 and res.done.dtype == torch.bool
        running += res.reward.double()
        ended += int(res.done.sum())
        assert torch.all(res.episode_return[~res.done] == 0)
        torch.testing.assert_close(res.episode_return[res.done].double(), running[res.done], atol=1e-3, rtol=1e-5)
        running[res.done] = 0
    assert ended >= 8
    v3 = make_batch("LunarLander-v3", 1, 2, [0])  # gymnasium's, still selectable
    assert type(v3).__name__ == "GymBatch" and v3.reset().shape == (1, 2, 8)


@pytest.mark.parametrize("bad", [4, -1, 99])
def test_bad_actions_named(bad):
    pool = _box2d.LunarLanderPool([0], 2)
    pool.reset()
    with pytest.raises(ValueError, match=f"got {bad} for environment 1"):
        pool.step(np.array([[0, bad]]))
    env = _box2d.LunarLander(0)
    env.reset()
    with pytest.raises(ValueError, match=f"got {bad}"):
        env.step(bad)


def test_bad_construction_named():
    with pytest.raises(ValueError, match="envs must be >= 1, got 0"):
        _box2d.LunarLanderPool([0], 0)
    with pytest.raises(ValueError, match="at least one member seed"):
        _box2d.LunarLanderPool([], 2)
    with pytest.raises(ValueError, match="max_steps must be >= 1, got 0"):
        _box2d.LunarLanderPool([0], 2, max_steps=0)
    with pytest.raises(ValueError, match=r"shaped \[1, 2\]"):
        pool = _box2d.LunarLanderPool([0], 2)
        pool.reset()
        pool.step(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="one seed per member"):
        LunarLanderBatch(2, 2, [0])
    with pytest.raises(RuntimeError, match="reset"):
        _box2d.LunarLander(0).step(0)
    with pytest.raises(ValueError, match="unknown environment 'LunarLander-v9'.*LunarLander-v2"):
        make_batch("LunarLander-v9", 1, 1, [0])
