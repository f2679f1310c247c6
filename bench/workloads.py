"""Benchmark workloads shared by the pytest-benchmark files and ``bench/run.py``.

Layouts (parameter shapes), sparse problems built from them, and the step / threshold functions
compared: ours and the baselines users write today.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lotteryfast import MaskedAdam, MaskedRMSprop, global_magnitude_prune, kth_smallest_magnitude

SCALE = float(os.environ.get("LOTTERYFAST_BENCH_SCALE", "1.0"))  # CI smoke runs shrink the sizes


def uniform_layout(total: int, n_tensors: int) -> list[tuple[int, ...]]:
    """n_tensors flat tensors of total/n_tensors elements."""
    return [(max(total // n_tensors, 1),)] * n_tensors


def transformer_base_layout(
    vocab: int = 32768, d: int = 512, ffn: int = 2048, layers: int = 6
) -> list[tuple[int, ...]]:
    """Transformer-base (Vaswani et al.) with shared embeddings: 253 tensors, 60.9M params."""
    attn = [(d, d), (d,)] * 4  # q, k, v, out projections with biases
    norm = [(d,), (d,)]
    feed = [(ffn, d), (ffn,), (d, ffn), (d,)]
    encoder = (attn + norm + feed + norm) * layers
    decoder = (attn + norm + attn + norm + feed + norm) * layers
    return [(vocab, d), *encoder, *decoder]


def scaled(shapes: list[tuple[int, ...]], scale: float) -> list[tuple[int, ...]]:
    """Shrinks the first dimension of every shape by `scale` (for smoke runs)."""
    if scale >= 1.0:
        return shapes
    return [(max(int(s[0] * scale), 1), *s[1:]) for s in shapes]


LAYOUTS: dict[str, Callable[[], list[tuple[int, ...]]]] = {
    "50M-in-50": lambda: scaled(uniform_layout(50_000_000, 50), SCALE),
    "transformer-base": lambda: scaled(transformer_base_layout(), SCALE),
    "1B-in-100": lambda: scaled(uniform_layout(1_000_000_000, 100), SCALE),
}


@dataclass
class Problem:
    """Parameters (pruned entries zero), grads and masks on one device."""

    params: list[torch.nn.Parameter]
    masks: list[torch.Tensor]

    @property
    def numel(self) -> int:
        return sum(p.numel() for p in self.params)


def make_problem(shapes, density: float = 0.2, device: str = "cpu", seed: int = 0) -> Problem:
    """Random weights and grads; masks keep `density` of the entries (80 % pruned by default)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    params, masks = [], []
    for shape in shapes:
        m = torch.rand(shape, generator=gen, device=device) < density
        p = torch.nn.Parameter(torch.randn(shape, generator=gen, device=device) * m)
        p.grad = torch.randn(shape, generator=gen, device=device)
        params.append(p)
        masks.append(m)
    return Problem(params, masks)


def optimizer_steps(kind: str, pb: Problem) -> dict[str, Callable[[], None]]:
    """One step of each competitor for `kind` ('adam' or 'rmsprop'), keyed by name, ours first.

    Baselines: the torch optimizer followed by ``torch._foreach_mul_(weights, masks)``, what a
    hand-written lottery loop does to keep pruned weights at zero, with the bool masks themselves
    and with masks pre-converted to the weights' dtype (faster for torch; a user must keep both).
    """
    weights = [p.detach() for p in pb.params]
    fmasks = [m.to(p.dtype) for m, p in zip(pb.masks, weights, strict=True)]

    def with_mask(opt, masks):
        def step():
            opt.step()
            torch._foreach_mul_(weights, masks)

        return step

    if kind == "adam":
        ours = MaskedAdam(pb.params, pb.masks, lr=1e-3)
        fused = torch.optim.Adam(pb.params, lr=1e-3, fused=True)
        return {
            "lotteryfast MaskedAdam": ours.step,
            "torch Adam(fused) + bool mask": with_mask(fused, pb.masks),
            "torch Adam(fused) + float mask": with_mask(fused, fmasks),
            "torch Adam(foreach) + float mask": with_mask(torch.optim.Adam(pb.params, lr=1e-3, foreach=True), fmasks),
        }
    ours = MaskedRMSprop(pb.params, pb.masks, lr=1e-4, alpha=0.99, eps=1e-8)
    plain = torch.optim.RMSprop(pb.params, lr=1e-4, alpha=0.99, eps=1e-8)
    steps = {
        "lotteryfast MaskedRMSprop": ours.step,
        "torch RMSprop + bool mask": with_mask(plain, pb.masks),
        "torch RMSprop + float mask": with_mask(plain, fmasks),
    }
    if pb.params[0].is_cuda:
        foreach = torch.optim.RMSprop(pb.params, lr=1e-4, alpha=0.99, eps=1e-8, foreach=True)
        steps["torch RMSprop(foreach) + float mask"] = with_mask(foreach, fmasks)
    return steps


def threshold_fns(pb: Problem, fraction: float = 0.2) -> dict[str, Callable[[], object]]:
    """Global magnitude threshold / pruning: ours against concatenate-then-select baselines."""
    weights = [p.detach() for p in pb.params]
    alive = sum(int(m.sum()) for m in pb.masks)
    k = max(round(fraction * alive), 1)
    fns: dict[str, Callable[[], object]] = {
        "lotteryfast kth_smallest_magnitude": lambda: kth_smallest_magnitude(weights, k, pb.masks),
        "lotteryfast global_magnitude_prune": lambda: global_magnitude_prune(weights, pb.masks, fraction),
        "torch.cat + topk": lambda: (
            torch.cat([w[m] for w, m in zip(weights, pb.masks, strict=True)])
            .abs()
            .topk(k, largest=False, sorted=False)
            .values.max()
        ),
    }
    if not weights[0].is_cuda:
        fns["numpy percentile on concat"] = lambda: np.percentile(
            np.abs(np.concatenate([w.numpy()[m.numpy()] for w, m in zip(weights, pb.masks, strict=True)])),
            100.0 * fraction,
        )
    return fns
