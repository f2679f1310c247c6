"""A2C with importance correction on Atari: the network's shapes, the loss against a float64
reference written out step by step, and training through both actor pools."""

from __future__ import annotations

import collections
import dataclasses
import math

import pytest
import torch

pytest.importorskip("ale_py", reason="ale-py is not installed")

from lotteryfast import global_magnitude_prune
from lotteryfast.models.atari_net import AtariNet, AtariNetConfig, feature_shape
from lotteryfast.tasks.atari import AtariConfig, AtariTask, a2c_loss
from lotteryfast.tasks.base import Member
from lotteryfast.tickets import prune_masks

try:
    from lotteryfast import _ale  # noqa: F401

    HAVE_NATIVE = True
except ImportError:
    HAVE_NATIVE = False

TINY = AtariConfig(
    num_envs=4, threads=1, batch=2, epochs=2, batches_per_epoch=3, last_episodes=8, channels=(4, 4, 4, 4), hidden=16
)


def test_paper_network_has_1920_features_on_105x80_frames():
    assert feature_shape(AtariNetConfig()) == (64, 6, 5)
    net = AtariNet(6)
    assert net.fc1.in_features == 1920 and [c.kernel_size for c in net.convs] == [(5, 5), (5, 5), (3, 3), (3, 3)]
    assert [c.padding for c in net.convs] == [(2, 2), (2, 2), (1, 1), (1, 1)] and net.fc2.in_features == 512
    logits, value = net(torch.zeros(3, 4, 105, 80, dtype=torch.uint8))
    assert logits.shape == (3, 6) and value.shape == (3,)
    with pytest.raises(ValueError, match="too small"):
        AtariNet(4, AtariNetConfig(height=12, width=12))


def test_network_initialisation_keeps_the_signal_survives_pruning_and_is_seeded():
    """Orthogonal layers with gain sqrt 2 and zero biases, heads included: the activations do not
    vanish through the six layers, an 80 % global magnitude prune keeps part of every layer (the
    policy head too), and a seed fixes the weights."""
    cfg = AtariNetConfig(channels=(16, 16, 32, 32), hidden=256, height=52, width=40)
    torch.manual_seed(0)
    net = AtariNet(4, cfg)
    for layer in (net.convs[1], net.fc2, net.policy, net.value):
        w = layer.weight.detach().flatten(1).double()
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w  # orthogonal rows (or columns)
        torch.testing.assert_close(gram, 2 * torch.eye(min(w.shape), dtype=torch.float64), atol=1e-5, rtol=0)
        assert torch.count_nonzero(layer.bias) == 0
    frames = torch.randint(0, 256, (8, 4, 52, 40), dtype=torch.uint8)
    x = frames.float() / 255
    for conv in net.convs:
        x = torch.nn.functional.max_pool2d(torch.relu(conv(x)), 2)
    hidden = torch.relu(net.fc2(torch.relu(net.fc1(x.flatten(1)))))
    assert hidden.abs().mean() > 0.1  # PyTorch's default initialisation gives ~0.018 here
    weights = [p.detach() for p in net.parameters()]
    masks = global_magnitude_prune(weights, [torch.ones_like(w, dtype=torch.bool) for w in weights], 0.8)
    kept = {name: float(m.float().mean()) for (name, _), m in zip(net.named_parameters(), masks, strict=True)}
    assert kept["policy.weight"] > 0.1 and kept["value.weight"] > 0.1, kept
    torch.manual_seed(0)
    assert all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), AtariNet(4, cfg).state_dict().values(), strict=True)
    )


def reference_loss(logits, values, actions, behaviour, rewards, dones, cfg):
    """The same loss, one rollout and one step at a time, in float64."""
    t_len, batch = actions.shape
    total_policy = total_value = total_entropy = 0.0
    for b in range(batch):
        ret = float(values[t_len, b])
        for t in reversed(range(t_len)):
            r = min(max(float(rewards[t, b]), -1.0), 1.0)
            ret = r + (0.0 if dones[t, b] else cfg.gamma * ret)
            probs = torch.softmax(logits[t, b], 0)
            logp = torch.log(probs[actions[t, b]])
            adv = min(max(ret - float(values[t, b]), -1.0), 1.0)
            ratio = min(math.exp(float(logp) - float(behaviour[t, b])), cfg.ratio_clamp)
            total_policy = total_policy - ratio * adv * logp
            total_value = total_value + 0.5 * (ret - values[t, b]) ** 2
            total_entropy = total_entropy - (probs * torch.log(probs)).sum()
    n = t_len * batch
    return total_policy / n + cfg.value_coef * total_value / n - cfg.entropy * total_entropy / n


def test_loss_and_gradients_match_the_stepwise_reference():
    g = torch.Generator().manual_seed(0)
    t_len, batch, n_actions = 6, 5, 4
    logits = torch.randn(t_len + 1, batch, n_actions, generator=g, dtype=torch.float64, requires_grad=True)
    values = torch.randn(t_len + 1, batch, generator=g, dtype=torch.float64, requires_grad=True)
    actions = torch.randint(n_actions, (t_len, batch), generator=g)
    # Behaviour log-probs around the current ones: ratios on both sides of the 1.5 clamp.
    current = torch.log_softmax(logits.detach()[:t_len], -1).gather(-1, actions[..., None]).squeeze(-1)
    behaviour = current + torch.randn(t_len, batch, generator=g, dtype=torch.float64)
    rewards = 3 * torch.randn(t_len, batch, generator=g, dtype=torch.float64)  # beyond the clip
    dones = torch.rand(t_len, batch, generator=g) < 0.2
    cfg = AtariConfig()
    ratios = (current - behaviour).exp()
    assert (ratios > 1.5).any() and (ratios < 1.5).any()
    loss, _ = a2c_loss(logits, values, actions, behaviour, rewards, dones, cfg)
    grads = torch.autograd.grad(loss, (logits, values))
    expect = reference_loss(logits, values, actions, behaviour, rewards, dones, cfg)
    expect_grads = torch.autograd.grad(expect, (logits, values))
    torch.testing.assert_close(loss, expect)
    for got, want in zip(grads, expect_grads, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("pool", ["native", "alepy"])
def test_training_keeps_masks_saves_rewind_and_is_deterministic(pool):
    if pool == "native" and not HAVE_NATIVE:
        pytest.skip("lotteryfast._ale not built")
    cfg = dataclasses.replace(TINY, pool=pool)
    task = AtariTask(cfg)
    params = task.init_params(0)
    masks = prune_masks({n: p for n, p in params.items()}, None, 0.6)
    member = lambda: Member(params, masks, 3, rewind_epochs=1)  # noqa: E731
    a = task._train_one(member(), None)
    assert a.stats["batches"] == 6 and len(a.curve) == 2 and a.rewind is not None
    for n, m in masks.items():
        assert torch.all(a.trained[n][~m] == 0) and torch.all(a.rewind[n][~m] == 0), n
    changed = [n for n in masks if n.endswith("weight") and not torch.equal(a.trained[n], params[n])]
    assert len(changed) == len([n for n in masks if n.endswith("weight")])
    b = task._train_one(member(), None)
    assert all(torch.equal(a.trained[n], b.trained[n]) for n in a.trained)


def test_bad_options_are_rejected_with_the_value():
    with pytest.raises(ValueError, match="unknown game 'Pongg'; valid games: .*Breakout"):
        AtariTask(dataclasses.replace(TINY, game="Pongg"))
    with pytest.raises(ValueError, match=r"batch \(8 rollouts\) must not exceed num_envs \(4\)"):
        dataclasses.replace(TINY, batch=8)
    with pytest.raises(ValueError, match="AtariConfig.pool must be one of native, alepy; got 'gym'"):
        dataclasses.replace(TINY, pool="gym")
    with pytest.raises(ValueError, match="AtariConfig.num_envs must be >= 1, got 0"):
        dataclasses.replace(TINY, num_envs=0)


def test_cli_names_the_bad_game_and_options(tmp_path, capsys):
    from lotteryfast.run import main

    assert main(["atari", "--game", "Pongg", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "unknown game 'Pongg'; valid games:" in err and "SpaceInvaders" in err
    assert main(["atari", "--num-envs", "8", "--out", str(tmp_path / "b")]) == 2  # quick batch is 16
    assert "must not exceed num_envs (8)" in capsys.readouterr().err
    assert main(["atari", "--prune-scope", "layers", "--out", str(tmp_path / "c")]) == 2  # another task's flag
    assert "unrecognized arguments: --prune-scope layers" in capsys.readouterr().err
    assert main(["cartpole", "--fire-reset", "--out", str(tmp_path / "d")]) == 2
    assert "unrecognized arguments: --fire-reset" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_switches_episodic_life_and_fire_reset():
    from lotteryfast.run import build_parser, resolve
    from lotteryfast.tasks.spec import find_task

    spec = find_task("atari")
    argv = ["atari", "--game", "Breakout", "--episodic-life", "--fire-reset"]
    cfg, *_ = resolve(build_parser(spec).parse_args(argv), spec)
    assert cfg.game == "Breakout" and cfg.preprocessing.episodic_life and cfg.preprocessing.fire_reset
    cfg, *_ = resolve(build_parser(spec).parse_args(["atari"]), spec)
    assert not cfg.preprocessing.episodic_life and not cfg.preprocessing.fire_reset


@pytest.mark.parametrize("actor_batch", [0, 2])
def test_rollouts_line_up_frames_actions_and_behaviour(actor_batch):
    """Without training in between, each rollout's recorded behaviour log-probs are exactly the
    network's log-probs of the recorded actions on the recorded frames (so ratio = 1), rewards and
    dones have the rollout's shape, and the async queue hands out every batch full."""
    if not HAVE_NATIVE:
        pytest.skip("lotteryfast._ale not built")
    cfg = dataclasses.replace(TINY, actor_batch=actor_batch, num_envs=4, batch=3, rollout=5)
    task = AtariTask(cfg)
    model = task.build()
    model.load_state_dict(task.init_params(0))
    episodes = collections.deque(maxlen=10)
    source = (task._async_batches if actor_batch else task._round_batches)(model, 0, torch.Generator(), episodes)
    for _, (frames, actions, behaviour, rewards, dones) in zip(range(6), source, strict=False):
        assert frames.shape[:2] == (6, 3) and actions.shape == behaviour.shape == rewards.shape == dones.shape == (5, 3)
        with torch.no_grad():
            logits, _ = model(frames[:5].flatten(0, 1))
        logp = torch.log_softmax(logits.view(5, 3, -1), -1).gather(-1, actions[..., None]).squeeze(-1)
        torch.testing.assert_close(logp, behaviour)
    source.close()


def test_async_actors_train_and_keep_masks():
    if not HAVE_NATIVE:
        pytest.skip("lotteryfast._ale not built")
    cfg = dataclasses.replace(TINY, actor_batch=2)
    task = AtariTask(cfg)
    params = task.init_params(0)
    masks = prune_masks(dict(params.items()), None, 0.6)
    res = task._train_one(Member(params, masks, 3, rewind_updates=2), None)
    assert res.stats["batches"] == 6 and res.rewind is not None
    for n, m in masks.items():
        assert torch.all(res.trained[n][~m] == 0) and torch.all(res.rewind[n][~m] == 0), n
    with pytest.raises(ValueError, match=r"actor_batch must divide num_envs \(4\), got 3"):
        dataclasses.replace(TINY, actor_batch=3)
    with pytest.raises(ValueError, match="need the native pool"):
        dataclasses.replace(TINY, actor_batch=2, pool="alepy")


def test_episode_scores_count_games_not_lives(monkeypatch):
    """With episodic life a lost life terminates the return, but the metric's episodes are whole
    games: exactly the games the pool reports as ended, with their scores."""
    if not HAVE_NATIVE:
        pytest.skip("lotteryfast._ale not built")
    import lotteryfast.tasks.atari as atari_task

    seen = {"terminations": 0, "games": []}
    real_make_pool = atari_task.make_pool

    class Spy:
        def __init__(self, pool):
            self.pool = pool

        def __getattr__(self, name):
            return getattr(self.pool, name)

        def step(self, actions):
            out = self.pool.step(actions)
            info = out[4]
            seen["terminations"] += int(out[2].sum())
            seen["games"] += info["episode_return"][info["episode_length"] > 0].tolist()
            return out

    monkeypatch.setattr(atari_task, "make_pool", lambda cfg, seed: Spy(real_make_pool(cfg, seed)))
    pp = dataclasses.replace(TINY.preprocessing, episodic_life=True)
    cfg = dataclasses.replace(TINY, game="Breakout", preprocessing=pp, num_envs=4, batch=4, rollout=6)
    task = AtariTask(cfg)
    model = task.build()
    episodes = collections.deque()
    source = task._round_batches(model, 0, torch.Generator().manual_seed(0), episodes)
    for _ in zip(range(60), source, strict=False):  # 360 agent steps per game: ~5 lives each
        pass
    source.close()
    assert len(seen["games"]) >= 1 and seen["terminations"] > len(seen["games"])
    assert list(episodes) == seen["games"]


def test_alepy_pool_refuses_episodic_life():
    pytest.importorskip("ale_py")
    from lotteryfast.envs.atari import AleVectorPool

    with pytest.raises(ValueError, match="episodic_life=True"):
        AleVectorPool("Breakout", 2, episodic_life=True)
