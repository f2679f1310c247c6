"""Masks: validation against parameters, and the packed code the kernels read.

A mask is a bool tensor shaped like its parameter, True where the weight is kept. The optimizer
kernels read a packed form (:class:`MaskCode`): one bit per element plus the number of kept
elements before each group of 128, which lets them keep optimizer state only for kept weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lotteryfast._ext import _C

GROUP: int = _C.MASK_GROUP  # elements per group_base entry (kMaskGroup in csrc/common/types.h)


@dataclass(frozen=True)
class MaskCode:
    """Packed mask of one tensor: ``bits`` (int32 words, four per group of 128 elements, bit i%32
    of word i//32 for element i, padding bits 0), ``group_base`` (int64, kept elements before each
    group) and the kept count."""

    bits: torch.Tensor
    group_base: torch.Tensor
    n_alive: int
    mask: torch.Tensor  # the flat bool mask it was built from (for state compaction)


def encode_mask(mask: torch.Tensor) -> MaskCode:
    """Packs a bool mask into bit words and per-group kept counts, on the mask's device."""
    flat = mask.detach().reshape(-1)
    n = flat.numel()
    padded = torch.zeros(-(-n // GROUP) * GROUP, dtype=torch.uint8, device=flat.device)
    padded[:n] = flat
    bit_values = (1 << torch.arange(8, device=flat.device, dtype=torch.uint8)).view(1, 8)
    packed = (padded.view(-1, 8) * bit_values).sum(dim=1, dtype=torch.uint8)
    counts = padded.view(-1, GROUP).sum(dim=1, dtype=torch.int64)
    group_base = torch.cumsum(counts, 0) - counts
    n_alive = int(counts.sum()) if n else 0
    # Whole groups of four words: the CUDA kernel reads a group's words as one 16-byte load.
    return MaskCode(packed.view(torch.int32), group_base, n_alive, flat.clone())


def describe(index: int, tensor: torch.Tensor, name: str | None = None) -> str:
    """How error messages name a tensor: its name if known, else its position, with its shape."""
    label = repr(name) if name is not None else f"tensor {index}"
    return f"{label} (shape {tuple(tensor.shape)}, {tensor.dtype}, {tensor.device})"


def check_masks(
    tensors: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor | None],
    names: Sequence[str] | None = None,
    what: str = "tensors",
) -> None:
    """Raises ValueError naming the first mask that does not fit its tensor."""
    if len(masks) != len(tensors):
        raise ValueError(f"got {len(masks)} masks for {len(tensors)} {what}")
    for i, (t, m) in enumerate(zip(tensors, masks, strict=True)):
        if m is None:
            continue
        who = describe(i, t, names[i] if names else None)
        if not isinstance(m, torch.Tensor):
            raise ValueError(f"mask for {who} is a {type(m).__name__}, not a bool tensor")
        if m.dtype != torch.bool:
            raise ValueError(f"mask for {who} has dtype {m.dtype}, expected torch.bool")
        if m.shape != t.shape:
            raise ValueError(f"mask for {who} has shape {tuple(m.shape)}, expected {tuple(t.shape)}")
        if m.device != t.device:
            raise ValueError(f"mask for {who} is on {m.device}, expected {t.device}")
