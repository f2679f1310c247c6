"""AtariPool against the single-threaded ale_py reference, synchronous and asynchronous."""

from __future__ import annotations

import numpy as np
import pytest
import torch

ale_py = pytest.importorskip("ale_py")
_ale = pytest.importorskip("lotteryfast._ale", reason="the ALE pool is not built (tools/build_ale.sh)")

from atari_reference import ReferenceEnv, area_resize  # noqa: E402

from lotteryfast.envs.atari import AtariPool, AtariPreprocessing, rom_id  # noqa: E402


def rom(game: str) -> str:
    return str(ale_py.roms.get_rom_path(rom_id(game)))


def compare_step(pool_out, refs, ids, actions):
    obs, rew, term, trunc, info = pool_out
    for row, (i, a) in enumerate(zip(ids, actions, strict=True)):
        r_obs, r_rew, r_term, r_trunc, r_ret, r_len, r_lives = refs[i].step(int(a))
        assert np.array_equal(obs[row].numpy(), r_obs), f"env {i}: observation differs"
        assert rew[row].item() == r_rew and bool(term[row]) == r_term and bool(trunc[row]) == r_trunc, f"env {i}"
        assert info["episode_return"][row].item() == r_ret and info["episode_length"][row].item() == r_len
        assert info["lives"][row].item() == r_lives


@pytest.mark.parametrize(
    ("game", "threads", "options"),
    [
        ("Breakout", 1, dict(max_episode_steps=40)),
        ("Breakout", 3, dict(max_episode_steps=40, episodic_life=True, fire_reset=True, clip_rewards=True)),
        ("SpaceInvaders", 2, dict(max_episode_steps=60, noop_max=5)),
        ("Pong", 2, dict(max_episode_steps=30, height=84, width=84, stack=2, frameskip=3)),
        ("Seaquest", 2, dict(max_episode_steps=50, height=70, width=40)),
        ("Assault", 1, dict(max_episode_steps=50, max_pool=False)),
    ],
)
@pytest.mark.parametrize("simd", [True, False], ids=["simd", "scalar"])
def test_sync_pool_matches_reference(game, threads, options, simd):
    """Every observation, reward and flag equals the reference, with the vectorised frame
    preprocessing (AVX-512 VBMI, where the CPU has it) and with the scalar one."""
    _ale.set_frames_simd(simd)
    try:
        run_against_reference(game, threads, options)
    finally:
        _ale.set_frames_simd(True)


def run_against_reference(game, threads, options):
    pp = AtariPreprocessing(**options)
    n, seed = 3, 11
    pool = AtariPool(game, n, num_threads=threads, seed=seed, **options)
    obs, _info = pool.reset()
    refs = [ReferenceEnv(rom(game), seed, i, pp) for i in range(n)]
    for i, ref in enumerate(refs):
        assert np.array_equal(obs[i].numpy(), np.stack(ref.stack))
    rng = np.random.default_rng(0)
    for _ in range(90):
        actions = rng.integers(pool.num_actions, size=n)
        compare_step(pool.step(torch.as_tensor(actions)), refs, range(n), actions)


def test_results_do_not_depend_on_thread_count():
    outs = []
    for threads in (1, 2, 4):
        pool = AtariPool("Seaquest", 5, num_threads=threads, seed=3, max_episode_steps=25)
        pool.reset()
        rng = np.random.default_rng(1)
        frames = []
        for _ in range(40):
            obs, rew, *_ = pool.step(torch.as_tensor(rng.integers(pool.num_actions, size=5)))
            frames.append((obs.clone(), rew.clone()))
        outs.append(frames)
    for other in outs[1:]:
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(outs[0], other, strict=True))


def test_async_batches_never_lose_or_duplicate_a_step():
    n, batch, seed = 6, 2, 5
    pp = AtariPreprocessing(max_episode_steps=30)
    pool = AtariPool("Breakout", n, num_threads=2, batch_size=batch, seed=seed, max_episode_steps=30)
    pool.reset()
    refs = [ReferenceEnv(rom("Breakout"), seed, i, pp) for i in range(n)]
    rng = np.random.default_rng(2)
    sent = {i: int(rng.integers(pool.num_actions)) for i in range(n)}
    pool.send(torch.tensor(list(sent.values())), torch.tensor(list(sent)))
    steps = dict.fromkeys(range(n), 0)
    for _ in range(60):
        out = pool.recv()
        ids = out[4]["env_id"].tolist()
        assert len(ids) == batch and all(i in sent for i in ids)
        compare_step(out, refs, ids, [sent.pop(i) for i in ids])
        for i in ids:
            steps[i] += 1
            sent[i] = int(rng.integers(pool.num_actions))
        pool.send(torch.tensor([sent[i] for i in ids]), torch.tensor(ids))
    assert sum(steps.values()) == 60 * batch and len(sent) == n  # every step came back exactly once


def test_paper_network_sees_1920_features():
    """Table 1: four conv(+pool) stages on the 105 x 80 frame leave 64 x 6 x 5 = 1920 features."""
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(4, 64, 5, 1, 2),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 5, 1, 2),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, 1, 1),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, 1, 1),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    pool = AtariPool("Breakout", 2, num_threads=1)
    obs, _ = pool.reset()
    assert obs.shape == (2, 4, 105, 80) and obs.dtype == torch.uint8
    assert net(obs.float()).shape == (2, 1920)


def test_area_resize_of_whole_blocks_rounds_half_to_even():
    img = np.array([[1, 2], [2, 1]], dtype=np.uint8)  # mean 1.5 -> 2
    assert area_resize(img, 1, 1)[0, 0] == 2
    img = np.array([[0, 1], [1, 3]], dtype=np.uint8)  # mean 1.25 -> 1
    assert area_resize(img, 1, 1)[0, 0] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(game="Pongg", num_envs=2), "unknown game 'Pongg'; valid games: .*Breakout"),
        (dict(game="Pong", num_envs=0), "num_envs must be an integer >= 1"),
        (dict(game="Pong", num_envs=4, batch_size=5), r"batch_size must be in \[1, num_envs=4\]"),
        (dict(game="Pong", num_envs=4, num_threads=-1), "num_threads must be >= 1"),
        (dict(game="Pong", num_envs=1, colour=True), "unknown preprocessing option"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AtariPool(**kwargs)


def test_usage_errors():
    pool = AtariPool("Pong", 2, num_threads=1)
    with pytest.raises(RuntimeError, match="call reset"):
        pool.step(torch.zeros(2, dtype=torch.int64))
    pool.reset()
    with pytest.raises(ValueError, match="expected 2 actions"):
        pool.step(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="action 99 of environment 0 is not in"):
        pool.step(torch.tensor([99, 0]))
    apool = AtariPool("Pong", 2, num_threads=1, batch_size=1)
    apool.reset()
    apool.send(torch.zeros(1, dtype=torch.int64), torch.tensor([0]))
    with pytest.raises(RuntimeError, match="asynchronous"):
        apool.step(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="in flight"):  # the C++ pool refuses too
        apool._pool.step(torch.zeros(2, dtype=torch.int32))
    assert apool.recv()[4]["env_id"].tolist() == [0]
