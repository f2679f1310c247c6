"""The batched CartPole against gymnasium's CartPole, step for step."""

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium")

from lotteryfast.envs.classic import AcrobotBatch, CartPoleBatch, GymBatch  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cartpole_batch_matches_gymnasium(seed):
    env = gym.make("CartPole-v0").unwrapped
    env.reset(seed=seed)
    batch = CartPoleBatch(1, 1, [seed])
    batch.reset()
    env.state = batch.state[0, 0].copy()
    rng = np.random.default_rng(seed)
    for t in range(500):
        a = int(rng.integers(2))
        obs, reward, terminated, _, _ = env.step(a)
        res = batch.step(torch.tensor([[a]]))
        if terminated:
            assert bool(res.done[0, 0]) and res.episode_return[0, 0].item() == t + 1
            return
        assert not bool(res.done[0, 0])
        assert np.array_equal(res.obs[0, 0].numpy(), obs), t
        assert reward == res.reward[0, 0].item() == 1.0
    pytest.fail("the episode never terminated under random actions")


def test_time_limit_truncates_and_resets_in_the_same_step():
    batch = CartPoleBatch(2, 3, [5, 6], max_steps=7)
    obs = batch.reset()
    assert obs.shape == (2, 3, 4) and obs.dtype == torch.float32
    assert float(obs.abs().max()) <= 0.05
    batch.state[:] = 0.0  # upright and still: cannot fall within 7 steps
    for t in range(7):
        res = batch.step(torch.full((2, 3), t % 2))
        assert bool(res.done.all()) == (t == 6)
    assert torch.all(res.episode_return == 7)
    assert float(res.obs.abs().max()) <= 0.05 and not batch.steps.any()  # already the next episode's start


def test_members_have_independent_streams():
    a = CartPoleBatch(2, 4, [1, 2]).reset()
    b = CartPoleBatch(3, 4, [1, 9, 2]).reset()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[2])
    assert not torch.equal(a[0], a[1])


def test_gym_batch_runs_any_gymnasium_env():
    batch = GymBatch("Acrobot-v1", 2, 2, [0, 1])
    obs = batch.reset()
    assert obs.shape == (2, 2, 6) and batch.n_actions == 3
    res = batch.step(torch.zeros(2, 2, dtype=torch.int64))
    assert res.reward.shape == (2, 2) and torch.all(res.reward == -1)


def test_seed_count_must_match_members():
    with pytest.raises(ValueError, match="one seed per member"):
        CartPoleBatch(2, 4, [1])


@pytest.mark.parametrize("seed", [0, 3])
def test_acrobot_batch_matches_gymnasium(seed):
    env = gym.make("Acrobot-v1").unwrapped
    env.reset(seed=seed)
    batch = AcrobotBatch(1, 1, [seed])
    batch.reset()
    env.state = batch.state[0, 0].copy()
    rng = np.random.default_rng(seed)
    for t in range(60):  # chaotic dynamics: compare a horizon where rounding cannot grow large
        a = int(rng.integers(3))
        obs, reward, terminated, _, _ = env.step(a)
        res = batch.step(torch.tensor([[a]]))
        assert bool(res.done[0, 0]) == terminated
        if terminated:
            return
        np.testing.assert_allclose(res.obs[0, 0].numpy(), obs, rtol=1e-5, atol=1e-5, err_msg=f"step {t}")
        assert res.reward[0, 0].item() == reward == -1.0
