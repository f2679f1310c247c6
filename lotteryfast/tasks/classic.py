"""Classic control with A2C, as in the paper's FLARE setup (§3.2, Table 1).

A population of tickets trains at once: every member's MLP weights are stacked into one tensor
per layer, so a forward pass over all members and all their environments is a few batched matrix
products, the environments step as one batch, and one MaskedRMSprop step updates every member.
Members stay independent: own environments, own random streams, own loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from lotteryfast.config import Config, option
from lotteryfast.envs.classic import make_batch
from lotteryfast.lottery import LotteryConfig
from lotteryfast.tasks.base import Member, MemberResult, Params
from lotteryfast.tasks.optimizers import RMSpropConfig
from lotteryfast.tasks.spec import Preset


@dataclass(frozen=True)
class ClassicConfig(Config):
    """Hyper-parameters (defaults: the paper's, Table 1 and §3.2.3)."""

    env_id: str = option(
        "CartPole-v0",
        "the environment (CartPole, Acrobot: batched in NumPy; LunarLander-v2: C++ on Box2D; other ids: gymnasium)",
    )
    hidden: tuple[int, ...] = option((128, 128, 128), "hidden layer widths of the MLP", min=1)
    envs: int = option(32, "environments per member (the paper's game threads)", min=1)
    rollout: int = option(4, "steps per environment per update (32 x 4 = 128 steps a batch)", min=1)
    epochs: int = option(20, "training epochs N per ticket", min=1)
    games_per_epoch: int = option(160, "games M per epoch", min=1)
    last_episodes: int = option(100, "L: the ticket's reward averages its last L episodes", min=1)
    reward_scale: float = option(0.01, "immediate rewards are multiplied by this (the paper divides by 100)")
    gamma: float = option(0.99, "discount factor", min=0.0, max=1.0)
    entropy_coef: float = option(0.01, "entropy bonus weight", min=0.0)
    value_coef: float = option(0.5, "value loss weight", min=0.0)
    optim: RMSpropConfig = option(RMSpropConfig(lr=1e-4, alpha=0.99, eps=1e-8), "RMSprop (paper: lr 1e-4)")


PAPER_LOTTERY = LotteryConfig(seeds=3, levels=20, rate=0.2, reset="epoch:1")
# The quick preset: the paper's hyper-parameters, a shorter experiment (3 seeds, 10 levels at rate
# 0.35 down to 1.3 % of the weights, fewer games per ticket): `python -m lotteryfast.run` runs it.
QUICK_LOTTERY = LotteryConfig(seeds=3, levels=10, rate=0.35, reset="epoch:1")
_PAPER = {
    "cartpole": ClassicConfig("CartPole-v0", (128, 128, 128), games_per_epoch=160),
    "acrobot": ClassicConfig("Acrobot-v1", (256, 256, 256), games_per_epoch=320),
    # The paper's LunarLander-v2, in C++ (envs/classic.py LunarLanderBatch); --env-id LunarLander-v3
    # runs gymnasium's own (the same dynamics, slower: README, "LunarLander-v2").
    "lunarlander": ClassicConfig("LunarLander-v2", (256, 256, 256), games_per_epoch=640),
}
PRESETS: dict[str, dict[str, Preset]] = {
    "cartpole": {
        "paper": Preset(_PAPER["cartpole"], PAPER_LOTTERY),
        "quick": Preset(replace(_PAPER["cartpole"], epochs=15, games_per_epoch=160), QUICK_LOTTERY),
    },
    "acrobot": {
        "paper": Preset(_PAPER["acrobot"], PAPER_LOTTERY),
        "quick": Preset(replace(_PAPER["acrobot"], epochs=8, games_per_epoch=80), QUICK_LOTTERY),
    },
    "lunarlander": {
        "paper": Preset(_PAPER["lunarlander"], PAPER_LOTTERY),
        "quick": Preset(replace(_PAPER["lunarlander"], epochs=8, games_per_epoch=80), QUICK_LOTTERY),
    },
}


_STATS = ("loss", "value_loss", "entropy", "policy_loss")


def _layer_sizes(cfg: ClassicConfig, obs_dim: int) -> list[tuple[str, int, int]]:
    sizes = [obs_dim, *cfg.hidden]
    return [(f"fc{i}", sizes[i], sizes[i + 1]) for i in range(len(cfg.hidden))]


class ClassicControlTask:
    """A2C on a classic-control environment; metric: mean episodic reward of the last L episodes."""

    metric_name = "reward"
    higher_is_better = True

    def __init__(self, cfg: ClassicConfig, device: str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.name = cfg.env_id
        probe = make_batch(cfg.env_id, 1, 1, [0])
        self.obs_dim, self.n_actions = probe.obs_dim, probe.n_actions
        self.progress_units = cfg.epochs * cfg.games_per_epoch  # games per member, for progress bars

    # --- network ------------------------------------------------------------------------------
    def init_params(self, seed: int) -> Params:
        """torch.nn.Linear's default initialization, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), seeded."""
        gen = torch.Generator().manual_seed(int(seed))
        layers = [
            *_layer_sizes(self.cfg, self.obs_dim),
            ("policy", self.cfg.hidden[-1], self.n_actions),
            ("value", self.cfg.hidden[-1], 1),
        ]
        params: Params = {}
        for name, fan_in, fan_out in layers:
            bound = 1.0 / math.sqrt(fan_in)
            params[f"{name}.weight"] = (torch.rand(fan_out, fan_in, generator=gen) * 2 - 1) * bound
            params[f"{name}.bias"] = (torch.rand(fan_out, generator=gen) * 2 - 1) * bound
        return params

    def prunable(self, names: list[str]) -> list[str]:
        """Every weight and bias."""
        return list(names)

    def _forward(self, p: Params, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stacked MLP: obs [M, E, obs_dim] -> logits [M, E, A], values [M, E]."""
        h = obs
        for i in range(len(self.cfg.hidden)):
            w, b = p[f"fc{i}.weight"], p[f"fc{i}.bias"]
            h = torch.relu(torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)))
        # Both heads in one product: a lone value head is a matrix-vector product, which torch
        # computes with another reduction order for a population of one than for several — a
        # member's numbers must not depend on who trains beside it.
        weight = torch.cat([p["policy.weight"], p["value.weight"]], dim=1)
        bias = torch.cat([p["policy.bias"], p["value.bias"]], dim=1)
        out = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        return out[..., : self.n_actions], out[..., self.n_actions]

    # --- training -----------------------------------------------------------------------------
    def train(self, members: list[Member], progress: object | None = None) -> list[MemberResult]:
        """A2C on all members at once; each trains for N x M games."""
        cfg, dev = self.cfg, self.device
        n = len(members)
        names = list(members[0].params)
        params = {k: torch.stack([m.params[k] for m in members]).to(dev).requires_grad_() for k in names}
        masks = [
            None
            if all(m.masks is None or k not in m.masks for m in members)
            else torch.stack(
                [
                    m.masks[k] if m.masks and k in m.masks else torch.ones_like(m.params[k], dtype=torch.bool)
                    for m in members
                ]
            ).to(dev)
            for k in names
        ]
        opt = cfg.optim.build(list(params.values()), masks)
        env = make_batch(cfg.env_id, n, cfg.envs, [m.seed for m in members], device=str(dev))
        action_gens = [torch.Generator().manual_seed(int(m.seed) * 7919 + 17) for m in members]
        target = cfg.epochs * cfg.games_per_epoch
        episodes: list[list[float]] = [[] for _ in members]
        resets = [
            m.late_reset(lambda i=i: {k: v[i].detach().cpu().clone() for k, v in params.items()})
            for i, m in enumerate(members)
        ]
        updates, env_steps = 0, 0
        finished_at = [(0, 0)] * n  # (updates, env steps) of each member when it finished
        history: list[list[dict[str, float]]] = [[] for _ in members]
        sums = torch.zeros(n, len(_STATS), device=dev)  # per member since its last epoch: _STATS summed
        counts = torch.zeros(n, dtype=torch.int64, device=dev)  # ... over this many updates
        obs = env.reset()
        active = torch.ones(n, dtype=torch.bool)
        while bool(active.any()):
            # Roll out without autograd, then one batched forward over all T x E steps for the loss:
            # the weights do not change within a rollout, so the log-probabilities are the same.
            states, actions, rewards, dones = [], [], [], []
            with torch.no_grad():
                for _ in range(cfg.rollout):
                    logits, _ = self._forward(params, obs)
                    probs = torch.softmax(logits, dim=-1)
                    u = torch.stack([torch.rand(cfg.envs, generator=g) for g in action_gens]).to(dev)
                    action = (probs.cumsum(-1) < u.unsqueeze(-1)).sum(-1).clamp_max(self.n_actions - 1)
                    res = env.step(action)
                    env_steps += cfg.envs
                    states.append(obs)
                    actions.append(action)
                    rewards.append(res.reward * cfg.reward_scale)
                    dones.append(res.done.float())
                    if bool(res.done.any()):
                        self._record_episodes(res, active, episodes, target)
                    obs = res.obs
                _, bootstrap = self._forward(params, obs)
                returns, ret = [], bootstrap
                for r, d in zip(reversed(rewards), reversed(dones), strict=True):
                    ret = r + cfg.gamma * (1.0 - d) * ret
                    returns.append(ret)
                returns.reverse()
            logits, values = self._forward(params, torch.cat(states, dim=1))  # [M, T*E, ...]
            log_probs = F.log_softmax(logits, dim=-1)
            taken = log_probs.gather(-1, torch.cat(actions, dim=1).unsqueeze(-1)).squeeze(-1)
            entropy = -(log_probs.exp() * log_probs).sum(-1)
            adv = torch.cat(returns, dim=1) - values  # [M, T*E]
            loss_m = -(taken * adv.detach()).mean(dim=1) + cfg.value_coef * adv.pow(2).mean(dim=1)
            loss_m = loss_m - cfg.entropy_coef * entropy.mean(dim=1)
            opt.zero_grad(set_to_none=False)
            (loss_m * active.to(dev, torch.float32)).sum().backward()
            opt.step()
            updates += 1
            games = torch.tensor([len(e) for e in episodes])
            with torch.no_grad():  # per-member training statistics, summed on the device, read per epoch
                terms = torch.stack(
                    [loss_m, adv.pow(2).mean(dim=1), entropy.mean(dim=1), -(taken * adv).mean(dim=1)], dim=1
                )
                on = active.to(dev)
                sums += terms * on.unsqueeze(1)
                counts += on
            for i in torch.nonzero(active).flatten().tolist():
                crossed = min(int(games[i]) // cfg.games_per_epoch, cfg.epochs) - len(history[i])
                if crossed > 0:  # an update may finish the games of several (short) epochs
                    mean = dict(zip(_STATS, (sums[i] / counts[i]).tolist(), strict=True))
                    history[i] += [mean] * crossed
                    sums[i], counts[i] = 0.0, 0
            for i, reset in enumerate(resets):
                reset.progress(epochs=float(games[i]) / cfg.games_per_epoch, updates=updates)
            for i in torch.nonzero(active & (games >= target)).flatten().tolist():
                finished_at[i] = (updates, env_steps)
            active = games < target
            if progress is not None:
                progress.update(int(games.clamp_max(target).sum()) - progress.n)
        results = []
        for i in range(n):
            eps = episodes[i]
            curve = [
                sum(eps[e * cfg.games_per_epoch : (e + 1) * cfg.games_per_epoch]) / cfg.games_per_epoch
                for e in range(cfg.epochs)
            ]
            results.append(
                MemberResult(
                    metric=sum(eps[-cfg.last_episodes :]) / min(cfg.last_episodes, len(eps)),
                    trained={k: v[i].detach().cpu().clone() for k, v in params.items()},
                    rewind=resets[i].weights,
                    curve=curve,
                    stats={"updates": finished_at[i][0], "env_steps": finished_at[i][1]},
                    history=history[i],
                )
            )
        return results

    @staticmethod
    def _record_episodes(res, active: torch.Tensor, episodes: list[list[float]], target: int) -> None:
        done = res.done.cpu()
        finished = res.episode_return.cpu()
        for i in torch.nonzero(done.any(dim=1) & active).flatten().tolist():
            for r in finished[i][done[i]].tolist():
                if len(episodes[i]) < target:
                    episodes[i].append(r)
