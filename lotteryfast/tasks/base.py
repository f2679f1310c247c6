"""The interface between the lottery engine and a task (RL or NLP).

The engine knows nothing about environments or datasets: it hands a task a population of
members (initial weights + masks) and gets back trained weights and a metric. A task may train
the members one by one or, much faster, all together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

Params = dict[str, torch.Tensor]


@dataclass
class Member:
    """One ticket to train: initial weights, masks (None = dense) and its seed."""

    params: Params
    masks: dict[str, torch.Tensor] | None
    seed: int
    rewind_epochs: float | None = None  # save the weights after this many epochs (late resetting)
    rewind_updates: int | None = None  # ... or after this many updates

    def late_reset(self, snapshot: Callable[[], Params]) -> LateReset:
        """The tracker of this member's late-resetting point (see :class:`LateReset`)."""
        return LateReset(self.rewind_epochs, self.rewind_updates, snapshot)


class LateReset:
    """The late-resetting point of one member, the one place that decides when the rewind weights
    are taken: the first time training has done `epochs` epochs or `updates` optimizer updates
    (whichever the member asks for), `snapshot()` is called once and kept in :attr:`weights`."""

    def __init__(self, epochs: float | None, updates: int | None, snapshot: Callable[[], Params]):
        self.epochs, self.updates, self._snapshot = epochs, updates, snapshot
        self.weights: Params | None = None

    @property
    def wanted(self) -> bool:
        """True while the member still needs its rewind weights."""
        return self.weights is None and (self.epochs is not None or self.updates is not None)

    def progress(self, *, epochs: float | None = None, updates: int | None = None) -> None:
        """Reports training progress (epochs done, possibly fractional; updates done)."""
        if not self.wanted:
            return
        if (self.epochs is not None and epochs is not None and epochs >= self.epochs) or (
            self.updates is not None and updates is not None and updates >= self.updates
        ):
            self.weights = self._snapshot()


@dataclass
class MemberResult:
    """What training one member produced."""

    metric: float
    trained: Params
    rewind: Params | None = None
    curve: list[float] = field(default_factory=list)  # the metric per epoch
    stats: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)  # training statistics per epoch (TensorBoard)


class Task(Protocol):
    """A trainable problem: its network, its training and its metric.

    ``init_params(seed)`` returns the weights training starts from, a deterministic function of
    `seed`. The engine calls it with each experiment seed for the dense network, and with fresh
    derived seeds for the random tickets: a fresh draw from the initialization distribution *is*
    the random ticket. A task that starts from pretrained weights (so that `init_params` returns
    the same weights whatever the seed) must also define ``random_params(seed)``, a fresh draw
    from the distribution its random tickets come from (e.g. the architecture's default
    initialization); the engine uses it for random tickets when present.

    ``train(members)`` trains each member with its masks held (pruned weights exactly zero) and
    returns one :class:`MemberResult` per member, in order; a member with `rewind_epochs` or
    `rewind_updates` set must return the weights at that point as `rewind` (use
    :meth:`Member.late_reset`). A member's result must not depend on the other members trained
    in the same call.
    """

    name: str
    metric_name: str
    higher_is_better: bool

    def init_params(self, seed: int) -> Params:
        """The weights training starts from (deterministic in seed; see the class docstring)."""
        ...

    def prunable(self, names: list[str]) -> list[str]:
        """Which parameters a ticket's masks cover (default: all weights and biases)."""
        ...

    def train(self, members: list[Member], progress: object | None = None) -> list[MemberResult]:
        """Trains every member (masked weights stay exactly zero) and returns their results."""
        ...


class ModelTask:
    """Shared machinery of the tasks that train one torch module per member, one member after the
    other (LSTM, Transformer, Atari): construction and seeded initial weights, the member's
    masked optimizer (masks aligned with the parameters), snapshots. Subclasses define
    `new_model()`, `_train_one()` and a config with an `optim` field (an AdamConfig or
    RMSpropConfig)."""

    device: torch.device
    cfg: object

    def new_model(self) -> torch.nn.Module:
        """A freshly initialized network on the CPU (from the current torch RNG)."""
        raise NotImplementedError

    def build(self) -> torch.nn.Module:
        """A fresh network on the task's device."""
        return self.new_model().to(self.device)

    def init_params(self, seed: int) -> Params:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = self.new_model()
        return self.snapshot(model)

    def prunable(self, names: list[str]) -> list[str]:
        """All parameters by default."""
        return list(names)

    def train(self, members: list[Member], progress: object | None = None) -> list[MemberResult]:
        """Trains the members one after the other."""
        return [self._train_one(m, progress) for m in members]

    def _train_one(self, member: Member, progress: object | None) -> MemberResult:
        raise NotImplementedError

    def model_and_optimizer(self, member: Member):
        """The member's network (its weights loaded, on the device) and its masked optimizer."""
        model = self.build()
        model.load_state_dict(member.params)
        names = [n for n, _ in model.named_parameters()]
        masks = [member.masks[n].to(self.device) if member.masks and n in member.masks else None for n in names]
        return model, self.optimizer_config().build(model.parameters(), masks)

    def optimizer_config(self):
        """The members' optimizer settings (an AdamConfig or RMSpropConfig): the config's `optim`."""
        return self.cfg.optim

    @staticmethod
    def snapshot(model: torch.nn.Module) -> Params:
        """A CPU copy of the model's state dict."""
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
