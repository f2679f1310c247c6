"""Classic-control environments for a population of learners, stepped as one batch.

A batch holds ``members x envs`` environments: member i (one ticket being trained) owns a row of
``envs`` environments and its own random generator, so a member's episodes do not depend on which
other members share the batch. Episodes reset in the same step they end (the observation returned
for a finished environment is the first of its next episode).

CartPole and Acrobot run vectorized in NumPy (gymnasium's dynamics, float64 state, tested step
for step against gymnasium). LunarLander-v2, the paper's, runs in C++ on Box2D
(:class:`LunarLanderBatch`, ``lotteryfast._box2d``: gymnasium's dynamics bit for bit, OpenMP
threads). Any other gymnasium id (LunarLander-v3 included) goes through :class:`GymBatch`, which
steps the gymnasium environments one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class StepResult:
    """What one batched step returns; all tensors are shaped [members, envs]."""

    obs: torch.Tensor  # next observations (after a reset where an episode ended), float32 [M, E, obs_dim]
    reward: torch.Tensor  # float32
    done: torch.Tensor  # bool: the episode ended at this step (terminated or truncated)
    episode_return: torch.Tensor  # float32: the finished episode's return where done, else 0


class _NumpyBatch:
    """Shared bookkeeping of the NumPy-vectorized environments: per-member generators, step
    counters, episode returns, time limits and same-step resets. Subclasses define the dynamics
    (`_advance`), the initial-state distribution (`_draw`) and the observation (`_obs`)."""

    state_dim = 4

    def __init__(self, members: int, envs: int, seeds: list[int], max_steps: int, device: str = "cpu"):
        if len(seeds) != members:
            raise ValueError(f"need one seed per member: got {len(seeds)} seeds for {members} members")
        self.members, self.envs, self.max_steps = members, envs, max_steps
        self.device = torch.device(device)
        self.rngs = [np.random.default_rng(int(s)) for s in seeds]
        self.state = np.zeros((members, envs, self.state_dim))
        self.steps = np.zeros((members, envs), dtype=np.int64)
        self.returns = np.zeros((members, envs), dtype=np.float32)

    def _draw(self, member: int, count: int) -> np.ndarray:
        raise NotImplementedError

    def _obs(self) -> torch.Tensor:
        raise NotImplementedError

    def _advance(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Moves self.state one step; returns (reward, terminated), both [members, envs]."""
        raise NotImplementedError

    def reset(self) -> torch.Tensor:
        """Starts every environment anew; returns observations [members, envs, obs_dim]."""
        self.state = np.stack([self._draw(m, self.envs) for m in range(self.members)])
        self.steps[:] = 0
        self.returns[:] = 0
        return self._obs()

    def step(self, action: torch.Tensor) -> StepResult:
        """Applies actions [members, envs]; finished episodes restart in the same step."""
        reward, terminated = self._advance(action.detach().cpu().numpy())
        self.steps += 1
        self.returns += reward
        done = terminated | (self.steps >= self.max_steps)
        episode_return = np.where(done, self.returns, 0.0).astype(np.float32)
        if done.any():
            for m in np.flatnonzero(done.any(axis=1)):
                idx = np.flatnonzero(done[m])
                self.state[m, idx] = self._draw(m, idx.size)
            self.steps[done] = 0
            self.returns[done] = 0
        as_t = lambda v: torch.from_numpy(v).to(self.device)  # noqa: E731
        return StepResult(self._obs(), as_t(reward.astype(np.float32)), as_t(done), as_t(episode_return))


class CartPoleBatch(_NumpyBatch):
    """CartPole-v0/v1 (gymnasium's dynamics, Euler integration, float64) for [members, envs] at once.

    Stepped in NumPy: a batch of a few hundred environments is far below the size at which torch's
    per-operation overhead pays off.
    """

    obs_dim = 4
    n_actions = 2
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, members: int, envs: int, seeds: list[int], max_steps: int = 200, device: str = "cpu"):
        super().__init__(members, envs, seeds, max_steps, device)

    def _draw(self, member: int, count: int) -> np.ndarray:
        return self.rngs[member].uniform(-0.05, 0.05, size=(count, 4))

    def _obs(self) -> torch.Tensor:
        return torch.from_numpy(self.state.astype(np.float32)).to(self.device)

    def _advance(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0 = push left, 1 = push right; reward 1 per step, the last one included."""
        x, x_dot, theta, theta_dot = (self.state[..., i] for i in range(4))
        force = np.where(action == 1, self.force_mag, -self.force_mag)
        cos, sin = np.cos(theta), np.sin(theta)
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
        denominator = self.length * (4.0 / 3.0 - self.masspole * cos**2 / total_mass)
        theta_acc = (self.gravity * sin - cos * temp) / denominator
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * x_acc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * theta_acc
        self.state = np.stack([x, x_dot, theta, theta_dot], axis=-1)
        terminated = (x < -self.x_threshold) | (x > self.x_threshold)
        terminated |= (theta < -self.theta_threshold) | (theta > self.theta_threshold)
        return np.ones((self.members, self.envs)), terminated


class AcrobotBatch(_NumpyBatch):
    """Acrobot-v1 (gymnasium's "book" dynamics, one RK4 step of dt = 0.2, float64) for
    [members, envs] at once, in NumPy."""

    obs_dim = 6
    n_actions = 3
    dt = 0.2
    l1 = m1 = m2 = 1.0
    lc1 = lc2 = 0.5
    moi = 1.0
    max_vel_1, max_vel_2 = 4 * math.pi, 9 * math.pi

    def __init__(self, members: int, envs: int, seeds: list[int], max_steps: int = 500, device: str = "cpu"):
        super().__init__(members, envs, seeds, max_steps, device)

    def _draw(self, member: int, count: int) -> np.ndarray:
        return self.rngs[member].uniform(-0.1, 0.1, size=(count, 4)).astype(np.float32).astype(np.float64)

    def _obs(self) -> torch.Tensor:
        t1, t2, d1, d2 = (self.state[..., i] for i in range(4))
        obs = np.stack([np.cos(t1), np.sin(t1), np.cos(t2), np.sin(t2), d1, d2], axis=-1).astype(np.float32)
        return torch.from_numpy(obs).to(self.device)

    def _dsdt(self, s: np.ndarray, torque: np.ndarray) -> np.ndarray:
        m1, m2, l1, lc1, lc2, i1, i2, g = self.m1, self.m2, self.l1, self.lc1, self.lc2, self.moi, self.moi, 9.8
        theta1, theta2, dtheta1, dtheta2 = (s[..., i] for i in range(4))
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + i2
        phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - math.pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * np.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - math.pi / 2)
            + phi2
        )
        ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * np.sin(theta2) - phi2) / (
            m2 * lc2**2 + i2 - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], axis=-1)

    def _advance(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Torque action - 1 (of -1, 0, +1); reward -1 per step, 0 on the terminating one."""
        torque = action.astype(np.float64) - 1.0
        s, dt = self.state, self.dt
        k1 = self._dsdt(s, torque)
        k2 = self._dsdt(s + dt / 2.0 * k1, torque)
        k3 = self._dsdt(s + dt / 2.0 * k2, torque)
        k4 = self._dsdt(s + dt * k3, torque)
        ns = s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        ns[..., 0] = (ns[..., 0] + math.pi) % (2 * math.pi) - math.pi  # wrap to [-pi, pi)
        ns[..., 1] = (ns[..., 1] + math.pi) % (2 * math.pi) - math.pi
        ns[..., 2] = np.clip(ns[..., 2], -self.max_vel_1, self.max_vel_1)
        ns[..., 3] = np.clip(ns[..., 3], -self.max_vel_2, self.max_vel_2)
        self.state = ns
        terminated = -np.cos(ns[..., 0]) - np.cos(ns[..., 1] + ns[..., 0]) > 1.0
        return np.where(terminated, 0.0, -1.0), terminated


class GymBatch:
    """Any gymnasium environment id for [members, envs], stepped one environment at a time."""

    def __init__(self, env_id: str, members: int, envs: int, seeds: list[int], device: str = "cpu"):
        import gymnasium as gym

        if len(seeds) != members:
            raise ValueError(f"need one seed per member: got {len(seeds)} seeds for {members} members")
        self.members, self.envs, self.device = members, envs, torch.device(device)
        try:
            gym.spec(env_id)
        except gym.error.Error as err:
            raise ValueError(
                f"unknown environment {env_id!r} ({err}); batched natively: CartPole-v0, CartPole-v1, "
                "Acrobot-v1, LunarLander-v2"
            ) from None
        self.envs_list = [[gym.make(env_id) for _ in range(envs)] for _ in range(members)]
        first = self.envs_list[0][0]
        self.obs_dim = int(np.prod(first.observation_space.shape))
        self.n_actions = int(first.action_space.n)
        self.seeds = [int(s) for s in seeds]
        self.returns = np.zeros((members, envs), dtype=np.float64)

    def reset(self) -> torch.Tensor:
        obs = np.zeros((self.members, self.envs, self.obs_dim), dtype=np.float32)
        for m, row in enumerate(self.envs_list):
            for e, env in enumerate(row):
                obs[m, e] = env.reset(seed=self.seeds[m] * 100_003 + e)[0]
        self.returns[:] = 0
        return torch.from_numpy(obs).to(self.device)

    def step(self, action: torch.Tensor) -> StepResult:
        acts = action.cpu().numpy()
        obs = np.zeros((self.members, self.envs, self.obs_dim), dtype=np.float32)
        reward = np.zeros((self.members, self.envs), dtype=np.float32)
        done = np.zeros((self.members, self.envs), dtype=bool)
        ep_return = np.zeros((self.members, self.envs), dtype=np.float32)
        for m, row in enumerate(self.envs_list):
            for e, env in enumerate(row):
                o, r, term, trunc, _ = env.step(int(acts[m, e]))
                reward[m, e] = r
                self.returns[m, e] += r
                if term or trunc:
                    done[m, e] = True
                    ep_return[m, e] = self.returns[m, e]
                    self.returns[m, e] = 0
                    o = env.reset()[0]
                obs[m, e] = o
        as_t = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return StepResult(as_t(obs), as_t(reward), as_t(done), as_t(ep_return))


class LunarLanderBatch:
    """LunarLander-v2 (discrete, no wind: the paper's) for [members, envs], stepped in C++ on
    Box2D by ``lotteryfast._box2d`` on `threads` OpenMP threads (0: OpenMP's default). Environment
    e of member m draws its terrain, initial push and engine dispersion from its own SplitMix64
    stream seeded (seeds[m], e), so results depend on neither the other members nor the threads.
    Episodes end at 1,000 steps as gymnasium's time limit ends them."""

    obs_dim = 8
    n_actions = 4

    def __init__(
        self, members: int, envs: int, seeds: list[int], max_steps: int = 1000, threads: int = 0, device: str = "cpu"
    ):
        from lotteryfast import _box2d

        if len(seeds) != members:
            raise ValueError(f"need one seed per member: got {len(seeds)} seeds for {members} members")
        self.members, self.envs, self.device = members, envs, torch.device(device)
        self.pool = _box2d.LunarLanderPool([int(s) % 2**64 for s in seeds], envs, max_steps, threads)

    def reset(self) -> torch.Tensor:
        """Starts every environment anew; returns observations [members, envs, 8]."""
        return torch.from_numpy(self.pool.reset()).to(self.device)

    def step(self, action: torch.Tensor) -> StepResult:
        """Applies actions [members, envs] (0 noop, 1 left, 2 main, 3 right engine); finished
        episodes restart in the same step."""
        obs, reward, terminated, truncated, episode_return = self.pool.step(action.detach().cpu().numpy())
        as_t = lambda v: torch.from_numpy(v).to(self.device)  # noqa: E731
        done = (terminated | truncated).astype(bool)
        return StepResult(
            as_t(obs), as_t(reward.astype(np.float32)), as_t(done), as_t(episode_return.astype(np.float32))
        )


def make_batch(env_id: str, members: int, envs: int, seeds: list[int], device: str = "cpu"):
    """The fastest batched implementation of `env_id`: CartPole and Acrobot in NumPy,
    LunarLander-v2 in C++ on Box2D, any other gymnasium id (LunarLander-v3 included) via gymnasium."""
    if env_id == "LunarLander-v2":
        return LunarLanderBatch(members, envs, seeds, device=device)
    if env_id in ("CartPole-v0", "CartPole-v1"):
        return CartPoleBatch(members, envs, seeds, max_steps=200 if env_id.endswith("v0") else 500, device=device)
    if env_id == "Acrobot-v1":
        return AcrobotBatch(members, envs, seeds, device=device)
    return GymBatch(env_id, members, envs, seeds, device=device)
