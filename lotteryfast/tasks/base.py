"""The interface between the lottery engine and a task (RL or NLP).

The engine knows nothing about environments or datasets: it hands a task a population of
members (initial weights + masks) and gets back trained weights and a metric. A task may train
the members one by one or, much faster, all together.
"""

from __future__ import annotations

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


@dataclass
class MemberResult:
    """What training one member produced."""

    metric: float
    trained: Params
    rewind: Params | None = None
    curve: list[float] = field(default_factory=list)  # the metric per epoch
    stats: dict[str, float] = field(default_factory=dict)


class Task(Protocol):
    """A trainable problem: its network, its training and its metric."""

    name: str
    metric_name: str
    higher_is_better: bool

    def init_params(self, seed: int) -> Params:
        """Fresh weights from the initialization distribution (deterministic in seed)."""
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
    MaskedAdam (masks aligned with the parameters), snapshots. Subclasses define `new_model()`,
    `_train_one()` and a config with lr, beta1, beta2 and eps."""

    device: torch.device
    cfg: object

    def new_model(self) -> torch.nn.Module:
        """A freshly initialized network on the CPU (from the current torch RNG)."""
        raise NotImplementedError

    def build(self) -> torch.nn.Module:
        return self.new_model().to(self.device)

    def init_params(self, seed: int) -> Params:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = self.new_model()
        return self.snapshot(model)

    def prunable(self, names: list[str]) -> list[str]:
        return list(names)

    def train(self, members: list[Member], progress: object | None = None) -> list[MemberResult]:
        return [self._train_one(m, progress) for m in members]

    def _train_one(self, member: Member, progress: object | None) -> MemberResult:
        raise NotImplementedError

    def model_and_optimizer(self, member: Member):
        """The member's network (its weights loaded, on the device) and its MaskedAdam."""
        from lotteryfast.optim import MaskedAdam

        cfg = self.cfg
        model = self.build()
        model.load_state_dict(member.params)
        names = [n for n, _ in model.named_parameters()]
        masks = [member.masks[n].to(self.device) if member.masks and n in member.masks else None for n in names]
        opt = MaskedAdam(model.parameters(), masks, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
        return model, opt

    @staticmethod
    def snapshot(model: torch.nn.Module) -> Params:
        """A CPU copy of the model's state dict."""
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
