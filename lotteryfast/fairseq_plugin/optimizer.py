"""``--optimizer masked_adam`` for fairseq: fairseq's ``adam`` (the paper trained with it) on the
kept weights, with the pruned weights and their optimizer state held at exactly zero.

Semantics are fairseq's ``adam``, not torch.optim.Adam's: ``--weight-decay`` is decoupled
(``p -= lr * wd * p`` before the step, as AdamW) and eps is added to ``sqrt(v)`` before the bias
correction. The fused MaskedAdam kernel computes torch's form; the two agree exactly when the
kernel gets ``eps / sqrt(1 - beta2^t)`` (so that ``sqrt(v / bc2) + eps' = (sqrt(v) + eps) / sqrt(bc2)``)
and the decay is applied to the weights first (pruned weights stay 0 under both).

The masks travel with the optimizer state in fairseq's checkpoints, so resuming a run (its
``checkpoint_last.pt``) keeps them even without ``--masks``; a model with many exactly-zero weights
(a pruned, rewound checkpoint) and no masks is refused rather than silently regrown. fp16:
``--fp16`` (fairseq's flat fp32 master copy: the masks are laid out by parameter offsets) and
``--fp16 --fp16-no-flatten-grads`` work; ``--memory-efficient-fp16`` is refused (it would keep
Adam's moments in fp16).
"""

# No `from __future__ import annotations`: fairseq reads the config's field types at run time.
import logging
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, List  # noqa: UP035 (fairseq's config parser needs typing.List)

import torch
from fairseq.dataclass import FairseqDataclass
from fairseq.optim import FairseqOptimizer, register_optimizer
from omegaconf import II, OmegaConf

from lotteryfast.fairseq_plugin.masks_file import masks_for
from lotteryfast.optim import MaskedAdam
from lotteryfast.tickets import pack_masks, unpack_masks

logger = logging.getLogger(__name__)
STATE_KEY = "lotteryfast_masks"
# A model that is this share exactly zero in its weight matrices has been pruned (a random
# initialization has no exact zeros; padding-index rows of embeddings are far below it).
PRUNED_ZERO_SHARE = 0.01


def fail(message: str) -> None:
    """Ends fairseq-train with one line on stderr (no traceback)."""
    raise SystemExit(f"masked_adam: error: {message}")


@dataclass
class MaskedAdamConfig(FairseqDataclass):
    adam_betas: Any = field(default=(0.9, 0.999), metadata={"help": "betas for Adam"})
    adam_eps: float = field(default=1e-8, metadata={"help": "epsilon for Adam (fairseq adam's placement)"})
    weight_decay: float = field(default=0.0, metadata={"help": "decoupled weight decay (as fairseq's adam)"})
    masks: str = field(default="", metadata={"help": "masks file from `python -m lotteryfast.fairseq_plugin prune`"})
    allow_dense_restart: bool = field(
        default=False, metadata={"help": "train a model with exactly-zero weights without masks (they regrow)"}
    )
    lr: List[float] = II("optimization.lr")  # noqa: UP006, RUF009 (fairseq's own convention)


class FairseqAdamOnMasks(MaskedAdam):
    """MaskedAdam computing fairseq's adam: decoupled weight decay, eps before the bias correction."""

    def __init__(self, params, masks, lr, betas, eps, weight_decay):
        super().__init__(params, masks, lr=lr, betas=betas, eps=eps, weight_decay=0.0)
        for group in self.param_groups:
            group["decoupled_decay"] = weight_decay

    def _hyper(self, group: dict) -> dict[str, Any]:
        hyper = super()._hyper(group)
        steps = [self.state[p]["step"] for p in group["params"] if p in self.state and "step" in self.state[p]]
        t = float(steps[0]) + 1 if steps else 1.0  # the step about to be taken
        hyper["eps"] = float(group["eps"]) / math.sqrt(1.0 - float(group["betas"][1]) ** t)
        return hyper

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            wd = group.get("decoupled_decay", 0.0)
            if wd:
                for p in group["params"]:
                    if p.grad is not None:
                        p.mul_(1.0 - float(group["lr"]) * wd)
        super().step()
        return loss

    def _check_group(self, group: dict, index: int | None = None) -> None:
        group = {k: v for k, v in group.items() if k != "decoupled_decay"}
        super()._check_group(group, index)


@register_optimizer("masked_adam", dataclass=MaskedAdamConfig)
class FairseqMaskedAdam(FairseqOptimizer):
    """fairseq's adam that keeps pruned weights (and their optimizer state) exactly zero."""

    def __init__(self, cfg: MaskedAdamConfig, params):
        super().__init__(cfg)
        params = list(params)
        if params and isinstance(params[0], dict):
            fail("masked_adam takes a plain parameter list, not parameter groups")
        if any(p.dtype == torch.float16 for p in params):
            fail(
                "--memory-efficient-fp16 is not supported (Adam's moments would be kept in fp16): use --fp16 "
                "(flat fp32 master weights) or --fp16 --fp16-no-flatten-grads"
            )
        masks = None
        if cfg.masks:
            try:
                masks = masks_for(params, cfg.masks)
            except (ValueError, OSError) as err:
                fail(f"--masks {cfg.masks}: {err}")
            self._log_masks(masks, f"--masks {cfg.masks}")
        self._params = params
        self._checked = bool(cfg.masks) or bool(getattr(cfg, "allow_dense_restart", False))
        self._optimizer = FairseqAdamOnMasks(params, masks, **self.optimizer_config)

    supports_flat_params = True
    supports_memory_efficient_fp16 = True  # so that fairseq builds it: __init__ then names what works

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

    @staticmethod
    def _log_masks(masks, where: str) -> None:
        total = sum(m.numel() for m in masks if m is not None)
        kept = sum(int(m.sum()) for m in masks if m is not None)
        logger.info(
            f"masked_adam: masks loaded from {where}: {kept:,} of {total:,} masked weights kept "
            f"({100 * (1 - kept / max(total, 1)):.2f} % pruned)"
        )

    def state_dict(self):
        """fairseq's optimizer state with the masks (bit-packed) under 'lotteryfast_masks'."""
        sd = self._optimizer.state_dict()
        masks = self._optimizer.masks()
        sd[STATE_KEY] = {
            "packed": pack_masks({str(i): m for i, m in enumerate(masks) if m is not None}),
            "n": len(masks),
        }
        return sd

    def load_state_dict(self, state_dict, optimizer_overrides=None):
        """Loads the state; masks stored with it apply when no --masks were given (a resumed run)."""
        state_dict = dict(state_dict)
        stored = state_dict.pop(STATE_KEY, None)
        if stored is not None and stored["packed"] and not self.cfg.masks:
            if stored["n"] != len(self._params):
                fail(f"the checkpoint's masks cover {stored['n']} parameters, the optimizer has {len(self._params)}")
            unpacked = unpack_masks(stored["packed"])
            masks = [unpacked.get(str(i)) for i in range(len(self._params))]
            for i, (p, m) in enumerate(zip(self._params, masks, strict=True)):
                if m is not None and tuple(m.shape) != tuple(p.shape):
                    fail(f"the checkpoint's mask {i} has shape {tuple(m.shape)}, the parameter {tuple(p.shape)}")
            self._optimizer.set_masks(
                [None if m is None else m.to(p.device) for p, m in zip(self._params, masks, strict=True)]
            )
            self._log_masks(masks, "the checkpoint's optimizer state")
            self._checked = True
        super().load_state_dict(state_dict, optimizer_overrides)
        for group in self._optimizer.param_groups:
            group["decoupled_decay"] = self.cfg.weight_decay

    def step(self, closure=None, scale=1.0, groups=None):
        """As fairseq's; the first step refuses a pruned model trained without masks."""
        if not self._checked:
            self._refuse_pruned_without_masks()
        return super().step(closure, scale, groups)

    def _refuse_pruned_without_masks(self) -> None:
        self._checked = True
        matrices = [p for p in self._params if p.dim() >= 2]
        total = sum(p.numel() for p in matrices)
        zeros = sum(int((p == 0).sum()) for p in matrices)
        if total and zeros > PRUNED_ZERO_SHARE * total:
            fail(
                f"{zeros:,} of {total:,} weights are exactly zero (a pruned checkpoint?) but no masks were given: add "
                "--masks MASKS.pt (the masks file of this level), or --allow-dense-restart to let them regrow"
            )
