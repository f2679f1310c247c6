"""``--optimizer masked_adam`` for fairseq: MaskedAdam behind fairseq's optimizer interface.

Weight decay is torch.optim.Adam's (added to the gradient), unlike fairseq's ``adam`` (AdamW);
the paper's recipe uses none.
"""

# No `from __future__ import annotations`: fairseq reads the config's field types at run time.
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, List  # noqa: UP035 (fairseq's config parser needs typing.List)

from fairseq.dataclass import FairseqDataclass
from fairseq.optim import FairseqOptimizer, register_optimizer
from omegaconf import II, OmegaConf

from lotteryfast.fairseq_plugin.masks_file import masks_for
from lotteryfast.optim import MaskedAdam


@dataclass
class MaskedAdamConfig(FairseqDataclass):
    adam_betas: Any = field(default=(0.9, 0.999), metadata={"help": "betas for Adam"})
    adam_eps: float = field(default=1e-8, metadata={"help": "epsilon for Adam"})
    weight_decay: float = field(default=0.0, metadata={"help": "L2 weight decay (torch.optim.Adam's)"})
    masks: str = field(default="", metadata={"help": "masks file from `python -m lotteryfast.fairseq_plugin prune`"})
    lr: List[float] = II("optimization.lr")  # noqa: UP006, RUF009 (fairseq's own convention)


@register_optimizer("masked_adam", dataclass=MaskedAdamConfig)
class FairseqMaskedAdam(FairseqOptimizer):
    """Adam that keeps pruned weights (and their optimizer state) exactly zero."""

    def __init__(self, cfg: MaskedAdamConfig, params):
        super().__init__(cfg)
        params = list(params)
        if params and isinstance(params[0], dict):
            raise ValueError("masked_adam takes a plain parameter list, not parameter groups")
        masks = masks_for(params, cfg.masks) if cfg.masks else None
        self._optimizer = MaskedAdam(params, masks, **self.optimizer_config)

    @property
    def optimizer_config(self) -> dict[str, Any]:
        betas = self.cfg.adam_betas
        betas = eval(betas) if isinstance(betas, str) else OmegaConf.to_container(betas)  # fairseq's own convention
        return {
            "lr": self.cfg.lr[0] if isinstance(self.cfg.lr, Collection) else self.cfg.lr,
            "betas": tuple(betas),
            "eps": self.cfg.adam_eps,
            "weight_decay": self.cfg.weight_decay,
        }
