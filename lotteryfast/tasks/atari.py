"""Atari with A2C and importance-factor correction (paper §3.2.3, Table 1), on our actor pool.

ELF's setup: many game threads, each blocked every 6 steps; the trainer samples batches of 128
rollouts from the common pool, so a batch may come from an older policy than the one it trains:
the policy gradient is weighted by pi_current(a) / pi_old(a), clamped at 1.5. Entropy weight
0.01; immediate rewards and advantages clipped to [-1, 1]; Adam (lr 1e-3, betas (0.9, 0.999),
eps 1e-3) through MaskedAdam. A ticket trains N = 25 epochs of M = 1000 batches and scores the
mean (unclipped) game score of the last L = 1024 finished episodes.

Here one round steps all `num_envs` games `rollout` steps with the current policy (one batched
inference per step), then trains on the round's rollouts in shuffled batches of `batch`; every
batch after the first of a round is off-policy, as in ELF, and the importance factor corrects it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from lotteryfast.config import Config, option
from lotteryfast.envs.atari import AleVectorPool, AtariPool, AtariPreprocessing
from lotteryfast.lottery import LotteryConfig
from lotteryfast.models.atari_net import AtariNet, AtariNetConfig
from lotteryfast.tasks.base import Member, MemberResult, ModelTask
from lotteryfast.tasks.optimizers import AdamConfig
from lotteryfast.tasks.spec import Preset

POOLS = ("native", "alepy")


@dataclass(frozen=True)
class AtariConfig(Config):
    """Hyper-parameters (defaults: the paper's)."""

    game: str = option("Breakout", "the game, e.g. Breakout, SpaceInvaders (paper: 9 games)")
    pool: str = option("native", "native (lotteryfast's C++ pool) or alepy (ale-py's AtariVectorEnv)", choices=POOLS)
    num_envs: int = option(1024, "games stepped in parallel", min=1)
    threads: int = option(0, "emulator threads (0: one per core)", min=0)
    rollout: int = option(6, "steps per rollout", min=1)
    batch: int = option(128, "rollouts per training batch", min=1)
    epochs: int = option(25, "training epochs N per ticket", min=1)
    batches_per_epoch: int = option(1000, "batches M per epoch", min=1)
    last_episodes: int = option(1024, "L: the ticket's score averages its last L episodes", min=1)
    gamma: float = option(0.99, "discount factor", min=0.0, max=1.0)
    entropy: float = option(0.01, "entropy bonus weight", min=0.0)
    value_coef: float = option(0.5, "value loss weight", min=0.0)
    ratio_clamp: float = option(1.5, "importance factor pi/pi_old clamped at this", min=0.0)
    reward_clip: float = option(1.0, "immediate rewards clipped to [-c, c] for the returns", min=0.0)
    advantage_clip: float = option(1.0, "advantages clipped to [-c, c]", min=0.0)
    channels: tuple[int, ...] = option((64, 64, 64, 64), "channels of the four conv layers", min=1)
    hidden: int = option(512, "width of the MLP after the convolutions", min=1)
    actor_batch: int = option(
        0, "0: synchronous rounds; B: ELF-style asynchronous actors, B games per inference", min=0
    )
    preprocessing: AtariPreprocessing = option(AtariPreprocessing(), "frame preprocessing")
    optim: AdamConfig = option(AdamConfig(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-3), "Adam (paper: 1e-3, eps 1e-3)")

    def check(self) -> None:
        if len(self.channels) != 4:
            raise ValueError(f"AtariConfig.channels must list 4 conv widths, got {self.channels}")
        if self.actor_batch and self.num_envs % self.actor_batch:
            raise ValueError(f"actor_batch must divide num_envs ({self.num_envs}), got {self.actor_batch}")
        if self.actor_batch and self.pool != "native":
            raise ValueError("asynchronous actors (actor_batch > 0) need the native pool")
        if self.batch > self.num_envs:
            raise ValueError(f"batch ({self.batch} rollouts) must not exceed num_envs ({self.num_envs})")

    @property
    def net(self) -> AtariNetConfig:
        """The network's shape (frames from the preprocessing)."""
        pp = self.preprocessing
        return AtariNetConfig(tuple(self.channels), self.hidden, pp.stack, pp.height, pp.width)


# The quick preset: Assault (a paper game whose score rises within minutes on a CPU; Breakout
# rises after ~500k agent steps, with --episodic-life --fire-reset: bench/RESULTS.md), frames of
# 52 x 40, a narrower network (16-16-32-32 channels, MLP 256), 32 games, 4 epochs of 300 batches
# of 16 rollouts per ticket (~115k agent steps); reset after 1 epoch; 1 seed, 1 level at rate 0.8.
QUICK = replace(
    AtariConfig(),
    game="Assault",
    num_envs=32,
    batch=16,
    epochs=4,
    batches_per_epoch=300,
    last_episodes=32,
    channels=(16, 16, 32, 32),
    hidden=256,
    preprocessing=AtariPreprocessing(height=52, width=40),
)
PRESETS: dict[str, Preset] = {
    "paper": Preset(AtariConfig(), LotteryConfig(seeds=3, levels=20, rate=0.2, reset="epoch:1")),
    "quick": Preset(QUICK, LotteryConfig(seeds=1, levels=1, rate=0.8, reset="epoch:1")),
}


def a2c_loss(
    logits: torch.Tensor,
    values: torch.Tensor,
    actions: torch.Tensor,
    behaviour_logp: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    cfg: AtariConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The importance-corrected A2C loss of a batch of rollouts.

    logits [T+1, B, A] and values [T+1, B] of the current network on the T+1 observations of
    each rollout (the last one bootstraps); actions, behaviour_logp (log pi_old(a)), rewards
    (raw) and dones [T, B]. n-step returns from clipped rewards, advantages clipped, the policy
    term weighted by min(pi/pi_old, clamp) (no gradient through the weight).
    """
    t_len = actions.size(0)
    with torch.no_grad():
        ret = values[t_len]
        returns = torch.empty_like(values[:t_len])
        clipped = rewards.clamp(-cfg.reward_clip, cfg.reward_clip)
        for t in reversed(range(t_len)):
            ret = clipped[t] + cfg.gamma * ret * (~dones[t]).float()
            returns[t] = ret
    logp_all = F.log_softmax(logits[:t_len], dim=-1)
    logp = logp_all.gather(-1, actions[..., None]).squeeze(-1)
    advantage = (returns - values[:t_len]).detach().clamp(-cfg.advantage_clip, cfg.advantage_clip)
    ratio = (logp.detach() - behaviour_logp).exp().clamp(max=cfg.ratio_clamp)
    policy = -(ratio * advantage * logp).mean()
    value = 0.5 * (returns - values[:t_len]).pow(2).mean()
    entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
    loss = policy + cfg.value_coef * value - cfg.entropy * entropy
    stats = {"policy": policy, "value": value, "entropy": entropy, "ratio": ratio.mean()}
    return loss, {k: float(v.detach()) for k, v in stats.items()}


def make_pool(cfg: AtariConfig, seed: int):
    """The configured actor pool (synchronous), reset with `seed`."""
    if cfg.pool == "native":
        return AtariPool(
            cfg.game, cfg.num_envs, cfg.threads, cfg.actor_batch or None, seed=seed, preprocessing=cfg.preprocessing
        )
    return AleVectorPool(cfg.game, cfg.num_envs, cfg.threads, seed=seed, preprocessing=cfg.preprocessing)


class AtariTask(ModelTask):
    """A2C on one Atari game; trains the members one after the other."""

    metric_name = "mean score of the last episodes"
    higher_is_better = True

    def __init__(self, cfg: AtariConfig, device: str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.name = f"Atari {cfg.game} A2C ({cfg.pool} pool)"
        probe = make_pool(dataclasses.replace(cfg, num_envs=1, batch=1, threads=1, actor_batch=0), 0)  # checks the game
        self.n_actions = probe.num_actions
        self.progress_units = cfg.epochs * cfg.batches_per_epoch

    def new_model(self) -> AtariNet:
        return AtariNet(self.n_actions, self.cfg.net)

    def _train_one(self, member: Member, progress) -> MemberResult:
        cfg = self.cfg
        model, opt = self.model_and_optimizer(member)
        gen = torch.Generator().manual_seed(int(member.seed))
        episodes: deque[float] = deque(maxlen=cfg.last_episodes)
        reset, curve, batches, stats = member.late_reset(lambda: self.snapshot(model)), [], 0, {}
        history: list[dict[str, float]] = []
        epoch_sums: dict[str, float] = {}
        total = cfg.epochs * cfg.batches_per_epoch
        source = self._async_batches if cfg.actor_batch else self._round_batches
        batches_of_rollouts = source(model, int(member.seed), gen, episodes)
        for batch in batches_of_rollouts:
            stats = self.update(model, opt, batch)
            for k, v in stats.items():
                epoch_sums[k] = epoch_sums.get(k, 0.0) + v
            batches += 1
            if progress is not None:
                progress.update(1)
            if batches % cfg.batches_per_epoch == 0:
                curve.append(_mean(episodes))
                history.append({k: v / cfg.batches_per_epoch for k, v in epoch_sums.items()})
                epoch_sums = {}
                reset.progress(epochs=batches // cfg.batches_per_epoch)
            reset.progress(updates=batches)
            if batches >= total:
                break
        batches_of_rollouts.close()  # stops the actors (drains in-flight steps, closes the pool)
        return MemberResult(
            metric=_mean(episodes),
            trained=self.snapshot(model),
            rewind=reset.weights,
            curve=curve,
            history=history,
            stats={"episodes": len(episodes), "batches": batches, **{f"last_{k}": v for k, v in stats.items()}},
        )

    def update(self, model: AtariNet, opt: torch.optim.Optimizer, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
        """One optimizer step on a batch of rollouts (frames, actions, behaviour log-probs, rewards,
        dones, as the batch sources yield them); returns the loss terms."""
        frames, actions, behaviour, rewards, dones = batch
        t_len, b = actions.shape
        logits, values = model(frames.to(self.device).flatten(0, 1))
        dev = (x.to(self.device) for x in (actions, behaviour, rewards, dones))
        loss, stats = a2c_loss(logits.view(t_len + 1, b, -1), values.view(t_len + 1, b), *dev, self.cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return stats

    @torch.no_grad()
    def _act(self, model: AtariNet, obs: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions sampled from the current policy and their log-probabilities (behaviour policy)."""
        logits, _ = model(obs.to(self.device))
        logp = F.log_softmax(logits.float(), -1).cpu()
        a = torch.multinomial(logp.exp(), 1, generator=gen).squeeze(1)
        return a, logp.gather(1, a[:, None]).squeeze(1)

    def _round_batches(self, model: AtariNet, seed: int, gen: torch.Generator, episodes: deque):
        """Rounds: every game steps `rollout` times with the current policy, then the round's
        rollouts go out in shuffled batches ([T+1, B] frames, [T, B] the rest). Deterministic."""
        cfg = self.cfg
        n, t_len = cfg.num_envs, cfg.rollout
        pool = make_pool(cfg, seed=seed)
        try:
            obs, _ = pool.reset()
            obs = obs.clone()
            while True:
                frames = torch.empty((t_len + 1, n, *obs.shape[1:]), dtype=torch.uint8)
                actions = torch.empty((t_len, n), dtype=torch.long)
                behaviour, rewards = torch.empty((t_len, n)), torch.empty((t_len, n))
                dones = torch.empty((t_len, n), dtype=torch.bool)
                for t in range(t_len):
                    frames[t] = obs
                    actions[t], behaviour[t] = self._act(model, obs, gen)
                    obs, r, term, trunc, info = pool.step(actions[t])
                    obs = obs.clone()
                    rewards[t], dones[t] = r, term | trunc
                    episodes.extend(finished_games(info))
                frames[t_len] = obs
                order = torch.randperm(n, generator=gen)
                for first in range(0, n - cfg.batch + 1, cfg.batch):
                    i = order[first : first + cfg.batch]
                    yield frames[:, i], actions[:, i], behaviour[:, i], rewards[:, i], dones[:, i]
        finally:
            if hasattr(pool, "close"):
                pool.close()

    def _async_batches(self, model: AtariNet, seed: int, gen: torch.Generator, episodes: deque):
        """ELF's scheme on AtariPool's asynchronous mode: whichever `actor_batch` games are ready
        get actions from the current policy; each game's rollout of `rollout` steps joins a common
        queue when complete, and training batches of `batch` rollouts are taken from it, oldest
        first. Timing decides which games are ready, so runs are not bit-reproducible."""
        cfg = self.cfg
        n, t_len = cfg.num_envs, cfg.rollout
        pool = make_pool(cfg, seed=seed)
        obs, _ = pool.reset()
        frames = torch.empty((n, t_len + 1, *obs.shape[1:]), dtype=torch.uint8)
        actions = torch.empty((n, t_len), dtype=torch.long)
        behaviour, rewards = torch.empty((n, t_len)), torch.empty((n, t_len))
        dones = torch.empty((n, t_len), dtype=torch.bool)
        pos = torch.zeros(n, dtype=torch.long)
        frames[:, 0] = obs
        queue: deque[tuple[torch.Tensor, ...]] = deque()
        queued = 0

        def act(ids: torch.Tensor) -> None:
            a, logp = self._act(model, frames[ids, pos[ids]], gen)
            actions[ids, pos[ids]], behaviour[ids, pos[ids]] = a, logp
            pool.send(a, ids)

        try:
            everyone = torch.arange(n)
            for first in range(0, n, cfg.actor_batch):
                act(everyone[first : first + cfg.actor_batch])
            while True:
                o, r, term, trunc, info = pool.recv()
                ids = info["env_id"]
                p = pos[ids]
                rewards[ids, p], dones[ids, p] = r, term | trunc
                episodes.extend(finished_games(info))
                frames[ids, p + 1] = o
                pos[ids] = p + 1
                full = ids[pos[ids] == t_len]
                if len(full):
                    queue.append(tuple(x[full].clone() for x in (frames, actions, behaviour, rewards, dones)))
                    queued += len(full)
                    frames[full, 0] = frames[full, t_len]
                    pos[full] = 0
                act(ids)
                while queued >= cfg.batch:
                    parts, need = [], cfg.batch
                    while need:
                        head = queue[0]
                        take = min(need, len(head[0]))
                        parts.append(tuple(x[:take] for x in head))
                        if take == len(head[0]):
                            queue.popleft()
                        else:
                            queue[0] = tuple(x[take:] for x in head)
                        need -= take
                    queued -= cfg.batch
                    f, a, b, rw, d = (torch.cat(xs) for xs in zip(*parts, strict=True))
                    yield f.transpose(0, 1), a.t(), b.t(), rw.t(), d.t()
        finally:
            for _ in range(n // cfg.actor_batch):  # every game has one step in flight: collect them
                pool.recv()


def finished_games(info: dict[str, torch.Tensor]) -> list[float]:
    """Scores of the games that ended in this step. Not `terminated`: with episodic life a lost
    life terminates the rollout's return, but the game (and its score) goes on."""
    return info["episode_return"][info["episode_length"] > 0].tolist()


def _mean(values) -> float:
    return float(sum(values) / len(values)) if len(values) else math.nan
