"""Independent references for the tests: optimizer formulas in plain elementwise torch ops and
global pruning by a float64 NumPy stable argsort over the concatenated magnitudes."""

from __future__ import annotations

import numpy as np
import torch


def sqrt(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded float32 square root (torch's CPU sqrt goes through MKL, off by an ulp
    at times; sqrt in float64 rounded once to float32 is exact)."""
    return x.double().sqrt().float()


def lerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """ATen's scalar-weight lerp, without fused multiply-adds."""
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


def adam_update(p, g, m, v, step, lr, beta1, beta2, eps, wd, maximize=False):
    """One Adam step in float32 elementwise ops; returns new (p, m, v) as float32."""
    if maximize:
        g = -g
    if wd != 0:
        g = g + wd * p
    m = lerp(m, g, 1 - beta1)
    v = v * beta2 + (1 - beta2) * g * g
    step_size = lr / (1 - beta1**step)
    bc2_sqrt = (1 - beta2**step) ** 0.5
    # torch divides by a scalar as a multiply by its float32 reciprocal
    inv_bc2_sqrt = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(bc2_sqrt, dtype=torch.float32)
    denom = sqrt(v) * inv_bc2_sqrt + eps
    return p + (torch.tensor(-step_size, dtype=torch.float32) * m) / denom, m, v


def rmsprop_update(p, g, state, lr, alpha, eps, wd, momentum, centered, maximize=False):
    """One RMSprop step in float32 elementwise ops; state is a dict of float32 tensors."""
    if maximize:
        g = -g
    if wd != 0:
        g = g + wd * p
    sq = state["square_avg"] * alpha + (1 - alpha) * g * g
    state["square_avg"] = sq
    if centered:
        ga = lerp(state["grad_avg"], g, 1 - alpha)
        state["grad_avg"] = ga
        avg = sqrt(sq + (-1.0) * ga * ga)
    else:
        avg = sqrt(sq)
    avg = avg + eps
    if momentum > 0:
        buf = state["momentum_buffer"] * momentum + 1.0 * g / avg
        state["momentum_buffer"] = buf
        return p + (-lr) * buf
    return p + ((-lr) * g) / avg


def magnitudes64(tensors, masks):
    """Concatenated float64 |w| and alive flags, in (tensor, flat index) order."""
    vals = [t.detach().double().abs().reshape(-1).cpu().numpy() for t in tensors]
    alive = [
        (m.reshape(-1).cpu().numpy() if m is not None else np.ones(t.numel(), dtype=bool))
        for t, m in zip(tensors, masks or [None] * len(tensors), strict=True)
    ]
    return np.concatenate(vals or [np.zeros(0)]), np.concatenate(alive or [np.zeros(0, dtype=bool)])


def reference_kth(tensors, k, masks=None) -> float:
    vals, alive = magnitudes64(tensors, masks)
    return float(np.sort(vals[alive], kind="stable")[k - 1])


def reference_prune(tensors, masks, fraction):
    """Masks after pruning round(fraction * alive) smallest |w|, ties by (tensor, index)."""
    vals, alive = magnitudes64(tensors, masks)
    idx = np.flatnonzero(alive)
    k = round(fraction * idx.size)
    order = idx[np.argsort(vals[idx], kind="stable")]
    keep = alive.copy()
    keep[order[:k]] = False
    out, start = [], 0
    for t in tensors:
        out.append(torch.from_numpy(keep[start : start + t.numel()].copy()).view(t.shape))
        start += t.numel()
    return out
