"""AtariPool: many ALE environments stepped by C++ threads with the Atari preprocessing in C++.

    pool = AtariPool("Breakout", num_envs=32, num_threads=2, seed=0)
    obs, info = pool.reset()                        # uint8 [32, 4, 105, 80]
    obs, rewards, terminations, truncations, info = pool.step(actions)

Asynchronous batches (as ELF and envpool): ``AtariPool(..., batch_size=8)``; ``send(actions,
env_ids)`` queues steps, ``recv()`` returns whichever ``batch_size`` environments finished first.
The preprocessing (csrc/ale/pool.h has the exact definition): frame skip with max over the last
two frames, grayscale, area resize, frame stack, no-op starts, optional episodic life, fire reset
and reward clipping. The default frame of 105 x 80 (the 210 x 160 screen halved, as ELF does)
gives the paper's network 64 x 6 x 5 = 1920 features after its four conv/pool stages.
Observations are written straight into one preallocated uint8 tensor; the returned tensors are
views of the pool's buffers, valid until the next step of the same environments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import torch

from lotteryfast import _ale
from lotteryfast.config import Config, option

# The paper's games (§3.2, Table 1) and common extras use CamelCase names: "SpaceInvaders".
PAPER_GAMES = ("Assault", "Berzerk", "Breakout", "Centipede", "Kangaroo", "Krull", "Qbert", "Seaquest", "SpaceInvaders")


def rom_id(game: str) -> str:
    """'SpaceInvaders' -> 'space_invaders' (ale-py's ROM ids)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", game).lower()


def available_games() -> list[str]:
    """Every game whose ROM ships with ale-py, in CamelCase."""
    from ale_py import roms

    return sorted("".join(part.capitalize() for part in r.split("_")) for r in roms.get_all_rom_ids())


_CPP = _ale.Preprocessing()  # the defaults live in csrc/ale/pool.h (struct Preprocessing)


@dataclass(frozen=True)
class AtariPreprocessing(Config):
    """Preprocessing settings (defaults: the usual DQN/A2C pipeline with ELF's 105 x 80 frame),
    field for field the C++ pool's ``Preprocessing`` (csrc/ale/pool.h), whose defaults they take."""

    frameskip: int = option(_CPP.frameskip, "emulator frames per agent step", min=1)
    max_pool: bool = option(_CPP.max_pool, "max over the last two frames of a step")
    height: int = option(_CPP.height, "observation height (area resize of the 210-row screen)", min=1, max=210)
    width: int = option(_CPP.width, "observation width (area resize of the 160-column screen)", min=1, max=160)
    stack: int = option(_CPP.stack, "frames stacked per observation", min=1)
    noop_max: int = option(_CPP.noop_max, "up to this many no-op frames after a reset (0: none)", min=0)
    episodic_life: bool = option(_CPP.episodic_life, "a lost life ends the return (the game goes on)")
    fire_reset: bool = option(_CPP.fire_reset, "press FIRE after a reset (games that wait for it, e.g. Breakout)")
    clip_rewards: bool = option(_CPP.clip_rewards, "rewards clipped to their sign by the pool")
    repeat_action_probability: float = option(
        round(_CPP.repeat_action_probability, 6),
        "sticky actions: probability to repeat the last action",
        min=0.0,
        max=1.0,
    )
    max_episode_steps: int = option(_CPP.max_episode_steps, "agent steps before an episode is truncated", min=1)
    full_action_space: bool = option(_CPP.full_action_space, "all 18 actions instead of the game's minimal set")

    def to_cpp(self) -> Any:
        """The C++ pool's struct with these settings."""
        pp = _ale.Preprocessing()
        for key, value in self.to_dict().items():
            setattr(pp, key, value)
        return pp


def _preprocessing(preprocessing: AtariPreprocessing | None, overrides: dict[str, Any]) -> AtariPreprocessing:
    base = preprocessing or AtariPreprocessing()
    try:
        return replace(base, **overrides)
    except TypeError as err:
        raise ValueError(f"unknown preprocessing option: {err}") from None


class AtariPool:
    """A pool of `num_envs` Atari games of one kind (see the module docstring)."""

    def __init__(
        self,
        game: str,
        num_envs: int,
        num_threads: int = 0,
        batch_size: int | None = None,
        seed: int = 0,
        preprocessing: AtariPreprocessing | None = None,
        **overrides: Any,
    ):
        """`preprocessing` (default AtariPreprocessing()) with keyword `overrides` of its fields."""
        from ale_py import roms

        rom = rom_id(game)
        if rom not in roms.get_all_rom_ids():
            raise ValueError(f"unknown game {game!r}; valid games: {', '.join(available_games())}")
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if batch_size is None:
            batch_size = num_envs
        if not 1 <= batch_size <= num_envs:
            raise ValueError(f"batch_size must be in [1, num_envs={num_envs}], got {batch_size}")
        if num_threads < 0:
            raise ValueError(f"num_threads must be >= 1 (or 0 for one per core), got {num_threads}")
        self.preprocessing = _preprocessing(preprocessing, overrides)
        pp = self.preprocessing.to_cpp()
        self.game, self.num_envs, self.batch_size, self.seed = game, num_envs, batch_size, seed
        self._pool = _ale.AtariPool(str(roms.get_rom_path(rom)), num_envs, num_threads, batch_size, seed, pp)
        self._reset_done = False

    @property
    def num_actions(self) -> int:
        return self._pool.num_actions

    @property
    def num_threads(self) -> int:
        return self._pool.num_threads

    def _info(self, ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        p = self._pool
        pick = (lambda t: t) if ids is None else (lambda t: t[ids])
        return {
            "lives": pick(p.lives),
            "episode_return": pick(p.episode_return),
            "episode_length": pick(p.episode_length),
        }

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Resets every game (seed: a new base seed); returns (obs [N, S, H, W] uint8, info)."""
        if self._pool.pending:
            raise RuntimeError("reset() while asynchronous steps are in flight: recv() them first")
        self.seed = self.seed if seed is None else seed
        self._pool.reset(self.seed)
        self._reset_done = True
        return self._pool.obs, self._info()

    def step(self, actions: torch.Tensor):
        """Steps every game; returns (obs, rewards, terminations, truncations, info)."""
        self._require_reset()
        if self.batch_size != self.num_envs:
            raise RuntimeError("this pool is asynchronous (batch_size < num_envs): use send() and recv()")
        self._pool.step(torch.as_tensor(actions).reshape(-1))
        p = self._pool
        return p.obs, p.reward, p.terminated, p.truncated, self._info()

    def send(self, actions: torch.Tensor, env_ids: torch.Tensor) -> None:
        """Queues one step for each of `env_ids` (asynchronous mode)."""
        self._require_reset()
        self._pool.send(torch.as_tensor(actions).reshape(-1), torch.as_tensor(env_ids).reshape(-1))

    def recv(self):
        """The first `batch_size` queued steps to finish: (obs, rewards, terminations, truncations,
        info with "env_id"), rows in the order of info["env_id"]."""
        ids = self._pool.recv(self.batch_size).long()
        p = self._pool
        info = self._info(ids)
        info["env_id"] = ids
        return p.obs[ids], p.reward[ids], p.terminated[ids], p.truncated[ids], info

    def _require_reset(self) -> None:
        if not self._reset_done:
            raise RuntimeError("call reset() before stepping")


class AleVectorPool:
    """ale-py's own C++ ``AtariVectorEnv`` behind AtariPool's synchronous interface (the
    ``--pool alepy`` cross-check): same preprocessing options, same-step reset, torch outputs,
    ``info["episode_return"]`` and ``info["episode_length"]`` (the unclipped score and agent steps
    of a game that just ended, else 0)."""

    def __init__(
        self,
        game: str,
        num_envs: int,
        num_threads: int = 0,
        seed: int = 0,
        preprocessing: AtariPreprocessing | None = None,
        **overrides: Any,
    ):
        import ale_py.vector_env

        rom = rom_id(game)
        from ale_py import roms

        if rom not in roms.get_all_rom_ids():
            raise ValueError(f"unknown game {game!r}; valid games: {', '.join(available_games())}")
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.preprocessing = pp = _preprocessing(preprocessing, overrides)
        if pp.clip_rewards or not pp.max_pool:
            raise ValueError("the alepy pool supports clip_rewards=False and max_pool=True only")
        if pp.episodic_life:
            # Its terminations on a lost life do not say whether the game itself ended.
            raise ValueError("the alepy pool does not support episodic_life=True: use the native pool")
        self.game, self.num_envs, self.batch_size, self.seed = game, num_envs, num_envs, seed
        self._env = ale_py.vector_env.AtariVectorEnv(
            rom,
            num_envs,
            num_threads=num_threads,
            img_height=pp.height,
            img_width=pp.width,
            stack_num=pp.stack,
            frameskip=pp.frameskip,
            noop_max=pp.noop_max,
            episodic_life=pp.episodic_life,
            use_fire_reset=pp.fire_reset,
            reward_clipping=False,
            repeat_action_probability=pp.repeat_action_probability,
            max_num_frames_per_episode=pp.max_episode_steps * pp.frameskip,
            full_action_space=pp.full_action_space,
            autoreset_mode="SameStep",
        )
        self._returns = torch.zeros(num_envs)
        self._lengths = torch.zeros(num_envs, dtype=torch.int32)

    @property
    def num_actions(self) -> int:
        return int(self._env.single_action_space.n)

    def reset(self, seed: int | None = None):
        """Resets every game; returns (obs [N, S, H, W] uint8, info)."""
        self.seed = self.seed if seed is None else seed
        obs, _ = self._env.reset(seed=self.seed)
        self._returns.zero_()
        self._lengths.zero_()
        return torch.from_numpy(obs), {
            "episode_return": torch.zeros(self.num_envs),
            "episode_length": torch.zeros(self.num_envs, dtype=torch.int32),
        }

    def step(self, actions: torch.Tensor):
        """Steps every game; returns (obs, rewards, terminations, truncations, info)."""
        obs, reward, term, trunc, _ = self._env.step(torch.as_tensor(actions).reshape(-1).numpy())
        reward, term, trunc = torch.from_numpy(reward).float(), torch.from_numpy(term), torch.from_numpy(trunc)
        self._returns += reward
        self._lengths += 1
        done = term | trunc
        info = {
            "episode_return": torch.where(done, self._returns, torch.zeros_like(self._returns)),
            "episode_length": torch.where(done, self._lengths, torch.zeros_like(self._lengths)),
        }
        self._returns[done] = 0.0
        self._lengths[done] = 0
        return torch.from_numpy(obs), reward, term, trunc, info

    def close(self) -> None:
        self._env.close()
