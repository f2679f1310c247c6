"""Tickets: masks over a chosen set of parameters, the pruning schedule, and compact storage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lotteryfast.prune import global_magnitude_prune

Masks = dict[str, torch.Tensor]


def fraction_pruned(rate: float, level: int) -> float:
    """r_k = 1 - (1 - p)^k: the fraction pruned at level k of iterative pruning with rate p."""
    return 1.0 - (1.0 - rate) ** level


def select_prunable(
    names: Sequence[str], *, biases: bool = True, embeddings: bool = True, exclude: Sequence[str] = ()
) -> list[str]:
    """The parameters a ticket covers: all weights and biases by default (the paper's choice)."""
    keep = []
    for name in names:
        if not biases and name.endswith("bias"):
            continue
        if not embeddings and ("embed" in name or "emb." in name):
            continue
        if any(name == e or name.startswith(e + ".") for e in exclude):
            continue
        keep.append(name)
    return keep


def prune_masks(
    weights: dict[str, torch.Tensor], masks: Masks | None, fraction: float, *, layerwise: bool = False
) -> Masks:
    """Prunes `fraction` of the unpruned entries by magnitude: pooled over all tensors (global, the
    paper's rule) or tensor by tensor (layerwise)."""
    names = list(weights)
    current = [masks.get(n) if masks is not None else None for n in names]
    if layerwise:
        out = [global_magnitude_prune([weights[n]], [m], fraction)[0] for n, m in zip(names, current, strict=True)]
    else:
        out = global_magnitude_prune({n: weights[n] for n in names}, current, fraction)
    return dict(zip(names, out, strict=True))


def random_masks_like(masks: Masks, seed: int) -> Masks:
    """Random masks keeping exactly as many entries of each tensor as `masks` do (the random
    pruning control: which weights survive is random, how many per tensor is the winning ticket's)."""
    gen = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, m in masks.items():
        flat = torch.zeros(m.numel(), dtype=torch.bool)
        flat[torch.randperm(m.numel(), generator=gen)[: int(m.sum())]] = True
        out[name] = flat.view(m.shape)
    return out


def pack_masks(masks: Masks) -> dict[str, dict]:
    """Bit-packed masks (8 entries per byte) for storage."""
    return {
        name: {"shape": list(m.shape), "bits": torch.from_numpy(np.packbits(m.detach().cpu().numpy().reshape(-1)))}
        for name, m in masks.items()
    }


def unpack_masks(packed: dict[str, dict]) -> Masks:
    """Inverse of :func:`pack_masks`."""
    out = {}
    for name, entry in packed.items():
        n = int(np.prod(entry["shape"])) if entry["shape"] else 1
        bits = np.unpackbits(entry["bits"].numpy(), count=n).astype(bool)
        out[name] = torch.from_numpy(bits).view(entry["shape"])
    return out


def density(masks: Masks | None, weights: dict[str, torch.Tensor]) -> float:
    """Fraction of the covered weights that are kept."""
    if masks is None:
        return 1.0
    total = sum(weights[n].numel() for n in masks)
    return sum(int(m.sum()) for m in masks.values()) / max(total, 1)
