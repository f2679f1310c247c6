"""Masked Adam and RMSprop: drop-in ``torch.optim`` optimizers that keep pruned weights at zero.

One fused kernel step per (device, dtype) bucket of a param group reads each parameter, its
gradient, its optimizer state and its packed mask once and writes the parameter and state once.
Pruned entries end every step with weight 0 and no optimizer state; kept entries follow
``torch.optim.Adam`` / ``torch.optim.RMSprop`` applied to ``grad * mask``.

For masked parameters the state is stored compacted (one entry per kept weight), which is what
makes a step over a sparse network cheaper than a dense one. ``state_dict()`` always returns
dense state under torch's own keys, so it loads into ``torch.optim.Adam``/``RMSprop`` and back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch
from torch.optim import Optimizer

from lotteryfast._ext import _C
from lotteryfast.masks import MaskCode, check_masks, encode_mask

_SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_ADAM, _RMSPROP = 0, 1


class _MaskedOptimizer(Optimizer):
    """Shared machinery: masks, compacted state, bucketing and the state-dict conversions."""

    _ALGO: int

    def __init__(self, params: Iterable[Any], masks: Sequence[torch.Tensor | None] | None, defaults: dict):
        super().__init__(params, defaults)
        self._codes: dict[torch.Tensor, MaskCode] = {}
        self._plans: dict[int, tuple] = {}
        self.set_masks(masks)

    def _check_dtypes(self, group: dict, g: int) -> None:
        for i, p in enumerate(group["params"]):
            if p.dtype not in _SUPPORTED_DTYPES:
                raise ValueError(
                    f"{type(self).__name__} supports float32, float16 and bfloat16 params; "
                    f"param_groups[{g}]['params'][{i}] (shape {tuple(p.shape)}) is {p.dtype}"
                    + (": convert the model with .float()" if p.dtype == torch.float64 else "")
                )

    # --- what subclasses define -------------------------------------------------------------
    def _state_keys(self, group: dict) -> list[str]:
        raise NotImplementedError

    def _hyper(self, group: dict) -> dict[str, Any]:
        """The kernel's hyper-parameters of a group, by name (see StepPlan.step in csrc/glue/ops.cpp)."""
        raise NotImplementedError

    # --- masks --------------------------------------------------------------------------------
    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    @torch.no_grad()
    def set_masks(self, masks: Sequence[torch.Tensor | None] | None) -> None:
        """Replaces the masks (one bool tensor or None per parameter, in param-group order).

        Pruned weights are set to 0 and the optimizer state of newly pruned entries is dropped
        (it reads as 0); state of entries that stay kept is preserved. ``None`` means dense.
        """
        self._plans.clear()
        params = self._params()
        if masks is None:
            masks = [None] * len(params)
        masks = list(masks)
        check_masks(params, masks, [self._param_label(i) for i in range(len(params))], what="parameters")
        for p, m in zip(params, masks, strict=True):
            state = self.state.get(p)
            dense_state = {k: self._dense(p, v) for k, v in state.items() if k != "step"} if state else {}
            if m is None:
                self._codes.pop(p, None)
            else:
                code = encode_mask(m)
                self._codes[p] = code
                p.masked_fill_(~m, 0)
            for key, dense in dense_state.items():
                state[key] = self._compact(p, dense)

    def masks(self) -> list[torch.Tensor | None]:
        """The current masks, aligned with the parameters (None for dense parameters)."""
        return [self._codes[p].mask.view(p.shape) if p in self._codes else None for p in self._params()]

    def _param_label(self, index: int) -> str:
        for g, group in enumerate(self.param_groups):
            if index < len(group["params"]):
                return f"param_groups[{g}]['params'][{index}]"
            index -= len(group["params"])
        raise IndexError(index)

    def _compact(self, p: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """Dense state (shape of p) -> the stored form: kept entries only for masked params."""
        dense = dense.to(device=p.device, dtype=p.dtype)
        code = self._codes.get(p)
        if code is None:
            return dense.contiguous().clone()
        return dense.reshape(-1)[code.mask].contiguous()

    def _dense(self, p: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
        """Stored state -> dense state shaped like p (zeros at pruned entries)."""
        code = self._codes.get(p)
        if code is None:
            return stored.view(p.shape)
        dense = torch.zeros(p.numel(), dtype=stored.dtype, device=stored.device)
        dense[code.mask] = stored
        return dense.view(p.shape)

    # --- the step -----------------------------------------------------------------------------
    def _init_state(self, p: torch.Tensor, keys: list[str]) -> dict:
        state = self.state[p]
        if "step" not in state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
        code = self._codes.get(p)
        for key in keys:
            if key not in state:
                shape = (code.n_alive,) if code is not None else p.shape
                state[key] = torch.zeros(shape, dtype=p.dtype, device=p.device)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Performs one optimization step (optionally re-evaluating the loss with ``closure``)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            grads = [p.grad for p in group["params"]]
            present = tuple(g is not None for g in grads)
            plan = self._plans.get(index)
            if plan is None or plan[0] != present:
                plan = (present, self._plan(group, present))
                self._plans[index] = plan
            hyper = self._hyper(group)
            for positions, kernel_plan in plan[1]:
                bucket_grads = [grads[i] for i in positions]
                if any(g.is_sparse for g in bucket_grads):
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                kernel_plan.step(bucket_grads, **hyper)
        return loss

    def _plan(self, group: dict, present: tuple[bool, ...]) -> list[tuple]:
        """(positions in the group, kernel plan) per (device, dtype) bucket of the params that
        have a grad. Cached across steps (rebuilt when masks, state or grads-present change):
        assembling and converting the argument lists costs more than the kernels themselves for
        networks of many small tensors."""
        keys = self._state_keys(group)
        buckets: dict[tuple, tuple[list, ...]] = {}
        for i, p in enumerate(group["params"]):
            if not present[i]:
                continue
            state = self._init_state(p, keys)
            code = self._codes.get(p)
            lists = buckets.setdefault((p.device, p.dtype), ([], [], [], [], [], []))
            lists[0].append(i)
            lists[1].append(p)
            lists[2].append([state[k] for k in keys])
            lists[3].append(code.bits if code is not None else None)
            lists[4].append(code.group_base if code is not None else None)
            lists[5].append(state["step"])
        return [(lists[0], _C.StepPlan(self._ALGO, *lists[1:])) for lists in buckets.values()]

    # --- state dicts --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch.optim's state dict with dense state tensors under torch's own keys.

        State-dict post-hooks see (and may replace) this dense form. Unlike torch's, it shares no
        tensor with the live state (the step counters are copied), so loading it into another
        optimizer never couples the two. Entries of ``self.state`` that are not parameters pass
        through unchanged, as in torch.
        """
        post_hooks = self._optimizer_state_dict_post_hooks
        self._optimizer_state_dict_post_hooks = OrderedDict()
        try:
            sd = super().state_dict()
        finally:
            self._optimizer_state_dict_post_hooks = post_hooks
        index = {id(p): i for i, p in enumerate(self._params())}
        for p, s in self.state.items():
            if isinstance(p, torch.Tensor) and id(p) in index and isinstance(s, dict):
                sd["state"][index[id(p)]] = {
                    k: (v.clone() if k == "step" else self._dense(p, v)) if isinstance(v, torch.Tensor) else v
                    for k, v in s.items()
                }
        for hook in post_hooks.values():
            result = hook(self, sd)
            if result is not None:
                sd = result
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads a state dict of this class or of torch.optim.Adam / RMSprop (load post-hooks run
        once the state is in its stored form)."""
        self._plans.clear()
        for g, group in enumerate(state_dict["param_groups"]):
            self._check_group(group, g)
        post_hooks = self._optimizer_load_state_dict_post_hooks
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        try:
            super().load_state_dict(state_dict)
        finally:
            self._optimizer_load_state_dict_post_hooks = post_hooks
        for p in self._params():
            state = self.state.get(p)
            if not state:
                continue
            if "step" in state:
                state["step"] = torch.as_tensor(state["step"], dtype=torch.float32).detach().to("cpu").clone()
            for key, value in list(state.items()):
                if key == "step" or not isinstance(value, torch.Tensor):
                    continue
                if value.shape != p.shape:
                    raise ValueError(f"state '{key}' has shape {tuple(value.shape)}, its param {tuple(p.shape)}")
                state[key] = self._compact(p, value)
        for hook in post_hooks.values():
            hook(self)

    # torch's options that these kernels accept only at their no-op values: option -> allowed.
    _NO_OP_OPTIONS: ClassVar[dict[str, tuple]] = {}

    def _check_group(self, group: dict, index: int | None = None) -> None:
        """Rejects options of torch's optimizers that these kernels do not implement (ValueError
        naming the option and its value) and a multi-element tensor lr."""
        for option, allowed in self._NO_OP_OPTIONS.items():
            if option in group and not any(group[option] is a or group[option] == a for a in allowed):
                raise ValueError(
                    f"{type(self).__name__} does not support {option}={group[option]!r} "
                    f"(accepted: {', '.join(repr(a) for a in allowed)})"
                )
        lr = group.get("lr")
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_codes"] = self._codes
        return state

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """As ``torch.optim.Optimizer.add_param_group`` (new params are dense until ``set_masks``)."""
        getattr(self, "_plans", {}).clear()
        super().add_param_group(param_group)
        index = len(self.param_groups) - 1
        try:
            self._check_group(self.param_groups[index], index)
            self._check_dtypes(self.param_groups[index], index)
        except ValueError:
            self.param_groups.pop()
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        codes = state.pop("_codes", None)
        self._plans = {}
        super().__setstate__(state)
        if codes is not None:
            self._codes = codes
        for group in self.param_groups:
            group.setdefault("maximize", False)


class _DefaultLr(float):
    """The default lr, recognisable by identity: tells ``MaskedAdam(params, 1e-2)`` (torch's
    positional lr) from ``MaskedAdam(params, masks, lr)``."""


_ADAM_LR, _RMSPROP_LR = _DefaultLr(1e-3), _DefaultLr(1e-2)


def _lr_and_masks(cls: str, masks: Any, lr: Any) -> tuple[Any, Any]:
    """torch.optim's ``Opt(params, 0.01)`` puts the lr where our masks go: accept it."""
    is_number = isinstance(masks, int | float) and not isinstance(masks, bool)
    is_number = is_number or (isinstance(masks, torch.Tensor) and masks.dtype != torch.bool and masks.dim() == 0)
    if not is_number:
        return masks, lr
    if not isinstance(lr, _DefaultLr):
        raise ValueError(
            f"{cls}'s second positional argument is masks (a list of bool tensors or None), got {masks!r} and also "
            f"lr={lr!r}: write {cls}(params, masks, lr=..., betas=...) or {cls}(params, lr=...)"
        )
    return None, masks


def _check_lr(lr: Any) -> None:
    if isinstance(lr, torch.Tensor):
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        lr = float(lr)
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


class MaskedAdam(_MaskedOptimizer):
    """Adam (``torch.optim.Adam`` semantics, amsgrad off) that keeps pruned weights at zero.

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        masks: one bool tensor (True = kept) or None per parameter, in param-group order;
            None for all means dense. Change them later with :meth:`set_masks`. (A number here
            is taken as torch's positional lr: ``MaskedAdam(params, 1e-2)``.)
        lr, betas, eps, weight_decay, maximize: as in ``torch.optim.Adam``.
        amsgrad, foreach, fused, capturable, differentiable, decoupled_weight_decay: torch's
            options, accepted at their no-op values (False/None) so that code written for
            torch.optim.Adam runs; other values raise ValueError naming the option.
    """

    _ALGO = _ADAM
    _NO_OP_OPTIONS: ClassVar[dict[str, tuple]] = {
        "amsgrad": (False,),
        "foreach": (None, False),
        "fused": (None, False),
        "capturable": (False,),
        "differentiable": (False,),
        "decoupled_weight_decay": (False,),
    }

    def __init__(
        self,
        params: Iterable[Any],
        masks: Sequence[torch.Tensor | None] | None = None,
        lr: float | torch.Tensor = _ADAM_LR,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ):
        masks, lr = _lr_and_masks("MaskedAdam", masks, lr)
        _check_lr(lr)
        _check_hyper(eps=eps, weight_decay=weight_decay)
        if isinstance(betas[0], torch.Tensor) != isinstance(betas[1], torch.Tensor):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, beta in enumerate(betas):
            if not 0.0 <= float(beta) < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        defaults = dict(
            lr=float(lr) if isinstance(lr, _DefaultLr) else lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, masks, defaults)

    def _state_keys(self, group: dict) -> list[str]:
        return ["exp_avg", "exp_avg_sq"]

    def _hyper(self, group: dict) -> dict[str, Any]:
        beta1, beta2 = group["betas"]
        return dict(
            lr=float(group["lr"]),
            beta1=float(beta1),
            beta2=float(beta2),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            maximize=bool(group["maximize"]),
        )


class MaskedRMSprop(_MaskedOptimizer):
    """RMSprop (``torch.optim.RMSprop`` semantics) that keeps pruned weights at zero.

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        masks: one bool tensor (True = kept) or None per parameter, in param-group order (a
            number here is taken as torch's positional lr).
        lr, alpha, eps, weight_decay, momentum, centered, maximize: as in ``torch.optim.RMSprop``.
        foreach, capturable, differentiable: torch's options, accepted at their no-op values.
    """

    _ALGO = _RMSPROP
    _NO_OP_OPTIONS: ClassVar[dict[str, tuple]] = {
        "foreach": (None, False),
        "capturable": (False,),
        "differentiable": (False,),
    }

    def __init__(
        self,
        params: Iterable[Any],
        masks: Sequence[torch.Tensor | None] | None = None,
        lr: float | torch.Tensor = _RMSPROP_LR,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        masks, lr = _lr_and_masks("MaskedRMSprop", masks, lr)
        _check_lr(lr)
        _check_hyper(eps=eps, weight_decay=weight_decay, momentum=momentum)
        if not alpha >= 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(
            lr=float(lr) if isinstance(lr, _DefaultLr) else lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, masks, defaults)

    def _state_keys(self, group: dict) -> list[str]:
        keys = ["square_avg"]
        if group["momentum"] > 0:
            keys.append("momentum_buffer")
        if group["centered"]:
            keys.append("grad_avg")
        return keys

    def _hyper(self, group: dict) -> dict[str, Any]:
        return dict(
            lr=float(group["lr"]),
            alpha=float(group["alpha"]),
            momentum=float(group["momentum"]),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            maximize=bool(group["maximize"]),
            centered=bool(group["centered"]),
        )


def _check_hyper(**values: float) -> None:
    for name, value in values.items():
        if not value >= 0.0:
            raise ValueError(f"Invalid {name} value: {value}")
