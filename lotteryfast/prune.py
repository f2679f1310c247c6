"""Exact global magnitude pruning over many tensors, without concatenating them.

The paper's rule (Frankle & Carbin; Yu et al. 2020): pool all prunable weights, biases included,
and prune the smallest magnitudes globally. The selection is a radix select on the bit patterns
of |w| running in the compiled extension (OpenMP on CPU, block histograms on CUDA): a few passes
over the data with O(bins + tensors) extra memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from lotteryfast._ext import _C
from lotteryfast.masks import check_masks, describe

Tensors = Sequence[torch.Tensor] | Mapping[str, torch.Tensor]
_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _unpack(tensors: Tensors) -> tuple[list[torch.Tensor], list[str] | None]:
    if isinstance(tensors, Mapping):
        return [t.detach() for t in tensors.values()], [str(k) for k in tensors]
    if isinstance(tensors, torch.Tensor):
        raise ValueError("pass a sequence (or name -> tensor mapping) of tensors, not a single tensor")
    return [t.detach() for t in tensors], None


def _check(tensors: list[torch.Tensor], names: list[str] | None, masks: Sequence[torch.Tensor | None] | None):
    for i, t in enumerate(tensors):
        if t.dtype not in _DTYPES:
            raise ValueError(f"{describe(i, t, names[i] if names else None)}: unsupported dtype {t.dtype}")
    for i, t in enumerate(tensors):
        if t.device != tensors[0].device:
            raise ValueError(
                f"{describe(i, t, names[i] if names else None)} is on {t.device} but tensor 0 is on "
                f"{tensors[0].device}: all tensors of a global selection must be on one device"
            )
    masks = [None] * len(tensors) if masks is None else list(masks)
    check_masks(tensors, masks, names)
    return masks


def _nan_error(index: int, tensors: list[torch.Tensor], names: list[str] | None) -> ValueError:
    who = describe(index, tensors[index], names[index] if names else None)
    return ValueError(f"{who} contains NaN among its unpruned entries; magnitudes cannot be ordered")


@torch.no_grad()
def kth_smallest_magnitude(tensors: Tensors, k: int, masks: Sequence[torch.Tensor | None] | None = None) -> float:
    """The exact k-th smallest |w| (1-based) among the unpruned entries of all ``tensors``.

    ``masks``: one bool tensor (True = unpruned) or None per tensor. Raises ValueError when k is
    not in [1, number of unpruned entries] or an unpruned entry is NaN. ±Inf order as usual.
    """
    ts, names = _unpack(tensors)
    masks = _check(ts, names, masks)
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"k must be an int, got {k!r}")
    n_alive, selected, value, nan_source = _C.kth_smallest(ts, masks, max(k, 0))
    if nan_source >= 0:
        raise _nan_error(nan_source, ts, names)
    if not 1 <= k <= n_alive:
        raise ValueError(f"k={k} is out of range: there are {n_alive} unpruned entries (k must be in [1, {n_alive}])")
    assert selected == k
    return value


@torch.no_grad()
def global_magnitude_prune(
    tensors: Tensors, masks: Sequence[torch.Tensor | None] | None, fraction: float
) -> list[torch.Tensor]:
    """Prunes ``round(fraction * n_unpruned)`` of the unpruned entries, smallest |w| first.

    Returns new bool masks (True = kept), one per tensor. Already pruned entries stay pruned.
    Ties at the threshold are broken by (tensor index, flat index): earlier entries go first.
    ``fraction`` must be in [0, 1); a NaN among unpruned entries raises ValueError.
    """
    ts, names = _unpack(tensors)
    masks = _check(ts, names, masks)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or math.isnan(fraction):
        raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    new_masks, _, _, _, nan_source = _C.prune(ts, masks, float(fraction))
    if nan_source >= 0:
        raise _nan_error(nan_source, ts, names)
    return new_masks
