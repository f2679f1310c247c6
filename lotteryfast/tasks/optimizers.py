"""The optimizer part of a task config, defined once: the fields, their checks and help text, and
the masked optimizer they build."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from lotteryfast.config import Config, option
from lotteryfast.optim import MaskedAdam, MaskedRMSprop


@dataclass(frozen=True)
class AdamConfig(Config):
    """Adam's hyper-parameters (torch.optim.Adam's defaults); built as a MaskedAdam."""

    lr: float = option(1e-3, "learning rate", min=0.0)
    beta1: float = option(0.9, "Adam's first-moment decay", min=0.0, below=1.0)
    beta2: float = option(0.999, "Adam's second-moment decay", min=0.0, below=1.0)
    eps: float = option(1e-8, "Adam's epsilon", min=0.0)
    weight_decay: float = option(0.0, "L2 penalty added to the gradient (torch.optim.Adam's)", min=0.0)

    def build(self, params: Iterable[torch.Tensor], masks: Sequence[torch.Tensor | None] | None) -> MaskedAdam:
        """The masked optimizer over `params` (masks aligned with them; None = dense)."""
        return MaskedAdam(
            params, masks, lr=self.lr, betas=(self.beta1, self.beta2), eps=self.eps, weight_decay=self.weight_decay
        )


@dataclass(frozen=True)
class RMSpropConfig(Config):
    """RMSprop's hyper-parameters (torch.optim.RMSprop's defaults); built as a MaskedRMSprop."""

    lr: float = option(1e-2, "learning rate", min=0.0)
    alpha: float = option(0.99, "RMSprop's smoothing constant", min=0.0)
    eps: float = option(1e-8, "RMSprop's epsilon", min=0.0)
    momentum: float = option(0.0, "RMSprop momentum", min=0.0)
    centered: bool = option(False, "centered RMSprop (normalise by the gradient's variance)")
    weight_decay: float = option(0.0, "L2 penalty added to the gradient", min=0.0)

    def build(self, params: Iterable[torch.Tensor], masks: Sequence[torch.Tensor | None] | None) -> MaskedRMSprop:
        """The masked optimizer over `params` (masks aligned with them; None = dense)."""
        return MaskedRMSprop(
            params,
            masks,
            lr=self.lr,
            alpha=self.alpha,
            eps=self.eps,
            momentum=self.momentum,
            centered=self.centered,
            weight_decay=self.weight_decay,
        )


OptimizerConfig = AdamConfig | RMSpropConfig
