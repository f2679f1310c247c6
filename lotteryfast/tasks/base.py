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
