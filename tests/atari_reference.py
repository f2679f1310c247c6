"""A single-threaded reference of the AtariPool preprocessing on ale_py.ALEInterface, in plain
Python/NumPy, written from the definition in csrc/ale/pool.h (seeding included)."""

from __future__ import annotations

import numpy as np
from ale_py import Action, ALEInterface, LoggerMode
from splitmix_reference import SplitMix64, mix

NOOP_STREAM = 0x5BD1E995


def area_resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """INTER_AREA shrink: coverage-weighted means, rounded half to even."""

    def weights(n_in: int, n_out: int) -> np.ndarray:
        scale = n_in / n_out
        m = np.zeros((n_out, n_in))
        for o in range(n_out):
            a, b = o * scale, (o + 1) * scale
            for i in range(int(np.floor(a)), min(n_in, int(np.ceil(b)))):
                m[o, i] = (min(b, i + 1.0) - max(a, float(i))) / scale
        return m

    out = weights(img.shape[0], h) @ img.astype(np.float64) @ weights(img.shape[1], w).T
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class ReferenceEnv:
    """Environment `index` of a pool with base seed `seed` (same settings as AtariPreprocessing)."""

    def __init__(self, rom: str, seed: int, index: int, pp):
        ALEInterface.setLoggerMode(LoggerMode.Error)
        self.pp = pp
        self.ale = ALEInterface()
        self.ale.setFloat("repeat_action_probability", pp.repeat_action_probability)
        self.ale.setInt("frame_skip", 1)
        self.ale.setInt("random_seed", mix(seed, index) & 0x7FFFFFFF)
        self.ale.loadROM(rom)
        self.actions = self.ale.getLegalActionSet() if pp.full_action_space else self.ale.getMinimalActionSet()
        self.rng = SplitMix64(mix(seed ^ NOOP_STREAM, index))
        self.stack: list[np.ndarray] = []
        self.reset()

    def _frame(self, screen: np.ndarray) -> np.ndarray:
        return area_resize(screen, self.pp.height, self.pp.width)

    def reset(self) -> None:
        ale, pp = self.ale, self.pp
        ale.reset_game()
        noops = 1 + self.rng.next() % pp.noop_max if pp.noop_max > 0 else 0
        for _ in range(noops):
            ale.act(Action.NOOP)
            if ale.game_over():
                ale.reset_game()
        self.stack = [self._frame(ale.getScreenGrayscale())] * pp.stack
        self.score, self.steps, self.lives = 0.0, 0, ale.lives()
        if pp.fire_reset and Action.FIRE in list(self.actions):
            for _ in range(pp.frameskip):
                if ale.game_over():
                    break
                ale.act(Action.FIRE)
            self.stack = [self._frame(ale.getScreenGrayscale())] * pp.stack
            self.lives = ale.lives()

    def step(self, action: int):
        """(obs [S, H, W], reward, terminated, truncated, episode_return, episode_length, lives)."""
        ale, pp = self.ale, self.pp
        a = self.actions[action]
        reward, frames = 0.0, []
        for k in range(pp.frameskip):
            reward += ale.act(a)
            over = ale.game_over()
            if over or k >= pp.frameskip - 2:
                frames.append(ale.getScreenGrayscale())
            if over:
                break
        pooled = np.maximum(frames[-2], frames[-1]) if pp.max_pool and len(frames) >= 2 else frames[-1]
        self.score += reward
        self.steps += 1
        game_over = ale.game_over()
        lives = ale.lives()
        life_lost = pp.episodic_life and lives < self.lives
        truncated = not game_over and self.steps >= pp.max_episode_steps
        self.lives = lives
        r = float(np.sign(reward)) if pp.clip_rewards else reward
        ep_return, ep_len = 0.0, 0
        if game_over or truncated:
            ep_return, ep_len = self.score, self.steps
            self.reset()
        else:
            self.stack = [*self.stack[1:], self._frame(pooled)]
        return np.stack(self.stack), r, game_over or life_lost, truncated, ep_return, ep_len, ale.lives()
