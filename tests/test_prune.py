"""kth_smallest_magnitude / global_magnitude_prune against a float64 NumPy stable argsort."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from reference import reference_kth, reference_prune

from lotteryfast import global_magnitude_prune, kth_smallest_magnitude

# Several 64K-element CPU chunks, ragged sizes, empty and one-element tensors.
SHAPES = [(0,), (1,), (5, 7), (1000,), (3, 0, 2), (300, 700), (17,), (64 * 1024 + 3,)]


def random_tensors(shapes, dtype, device, seed, density=0.7):
    gen = torch.Generator().manual_seed(seed)
    tensors = [(torch.randn(s, generator=gen) * 0.05).to(dtype=dtype, device=device) for s in shapes]
    masks = [(torch.rand(s, generator=gen) < density).to(device) for s in shapes]
    return tensors, masks


def assert_masks_equal(got, expected):
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g.dtype == torch.bool and g.shape == e.shape, f"mask {i}: {g.dtype} {tuple(g.shape)}"
        assert torch.equal(g.cpu(), e), f"mask {i} differs in {int((g.cpu() != e).sum())} entries"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_kth_matches_sorted_float64(dtype, device, isa):
    tensors, masks = random_tensors(SHAPES, dtype, device, seed=1)
    n_alive = int(sum(int(m.sum()) for m in masks))
    for k in [1, 2, n_alive // 3, n_alive // 2 + 1, n_alive - 1, n_alive]:
        assert kth_smallest_magnitude(tensors, k, masks) == reference_kth(tensors, k, masks)
    n = sum(t.numel() for t in tensors)
    assert kth_smallest_magnitude(tensors, n) == reference_kth(tensors, n)


def test_kth_mixed_dtypes_and_special_values(device, isa):
    a = torch.tensor([0.5, -0.0, 0.0, -3.0, float("inf")], device=device)
    b = torch.tensor([-float("inf"), 1e-30, -2.5], dtype=torch.float64, device=device)
    c = torch.tensor([0.25, -6e-5, 65504.0], dtype=torch.float16, device=device)  # subnormal-ish, max half
    d = torch.tensor([1e-40, -0.125], dtype=torch.bfloat16, device=device)
    tensors = [a, b, c, d]
    n = sum(t.numel() for t in tensors)
    for k in range(1, n + 1):
        assert kth_smallest_magnitude(tensors, k) == reference_kth(tensors, k), k
    assert kth_smallest_magnitude(tensors, n) == math.inf


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.87, 0.999999])
def test_prune_matches_stable_argsort(dtype, fraction, device, isa):
    tensors, masks = random_tensors(SHAPES, dtype, device, seed=2)
    got = global_magnitude_prune(tensors, masks, fraction)
    assert_masks_equal(got, reference_prune(tensors, masks, fraction))
    alive = sum(int(m.sum()) for m in masks)
    assert alive - sum(int(g.sum()) for g in got) == round(fraction * alive)
    assert all(g.device == t.device for g, t in zip(got, tensors, strict=True))


def test_ties_are_broken_by_tensor_then_index(device, isa):
    # Integer-valued weights: huge tie groups, spread over tensors and over CPU chunks.
    gen = torch.Generator().manual_seed(3)
    tensors = [torch.randint(-3, 4, s, generator=gen).float().to(device) for s in [(70000,), (11,), (200, 700)]]
    masks = [(torch.rand(t.shape, generator=gen) < 0.8).to(device) for t in tensors]
    for fraction in [0.1, 0.33, 0.5, 0.61, 0.9]:
        assert_masks_equal(global_magnitude_prune(tensors, masks, fraction), reference_prune(tensors, masks, fraction))
    zeros = [torch.zeros(100, device=device), torch.zeros(4, device=device)]
    got = global_magnitude_prune(zeros, None, 0.5)  # 52 of 104 equal magnitudes: the first 52
    assert not got[0][:52].any() and got[0][52:].all() and got[1].all()


def test_iterative_pruning_reaches_the_paper_fractions(device):
    """20 levels at rate 0.2: each level prunes round(0.2 * alive) of the survivors."""
    tensors, _ = random_tensors([(128, 4), (128,), (128, 128), (2, 128)], torch.float32, device, seed=4)
    masks = None
    alive = sum(t.numel() for t in tensors)
    for _ in range(20):
        expected = reference_prune(tensors, masks, 0.2)
        masks = global_magnitude_prune(tensors, masks, 0.2)
        assert_masks_equal(masks, expected)
        alive -= round(0.2 * alive)
        assert sum(int(m.sum()) for m in masks) == alive
    total = sum(t.numel() for t in tensors)
    assert abs((1 - alive / total) - (1 - 0.8**20)) < 1e-3


def test_edge_cases(device):
    empty = [torch.zeros(0, device=device)]
    assert [m.shape for m in global_magnitude_prune(empty, None, 0.5)] == [(0,)]
    assert global_magnitude_prune([], None, 0.3) == []
    one = [torch.tensor([2.0], device=device)]
    assert global_magnitude_prune(one, None, 0.4)[0].item() is True  # round(0.4) = 0
    assert global_magnitude_prune(one, None, 0.6)[0].item() is False  # round(0.6) = 1
    t = [torch.randn(10, device=device)]
    all_pruned = [torch.zeros(10, dtype=torch.bool, device=device)]
    assert not global_magnitude_prune(t, all_pruned, 0.5)[0].any()
    with pytest.raises(ValueError, match="there are 0 unpruned entries"):
        kth_smallest_magnitude(t, 1, all_pruned)
    kept = global_magnitude_prune(t, None, 0.0)[0]
    assert kept.all()
    half = [torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], device=device)]
    assert global_magnitude_prune(half, None, 0.5)[0].sum().item() == 3  # round(2.5) = 2, half to even


def test_non_contiguous_and_named_inputs(device):
    base = torch.randn(300, 200, device=device)
    view = base.t()[::2]
    mask = torch.rand(view.shape, device=device) < 0.5
    assert not view.is_contiguous()
    got = global_magnitude_prune({"w": view, "b": base[0]}, [mask, None], 0.3)
    assert_masks_equal(got, reference_prune([view, base[0]], [mask, None], 0.3))
    assert kth_smallest_magnitude({"w": view}, 7, [mask]) == reference_kth([view], 7, [mask])


def test_deterministic(device):
    tensors, masks = random_tensors(SHAPES, torch.float32, device, seed=5)
    a = global_magnitude_prune(tensors, masks, 0.4)
    b = global_magnitude_prune(tensors, masks, 0.4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        global_magnitude_prune([torch.randn(4)], None, fraction)


def test_nan_names_the_tensor(device, isa):
    a, b = torch.randn(10, device=device), torch.randn(20, device=device)
    b[7] = float("nan")
    with pytest.raises(ValueError, match=r"tensor 1 \(shape \(20,\)"):
        global_magnitude_prune([a, b], None, 0.5)
    with pytest.raises(ValueError, match="'fc.bias'"):
        kth_smallest_magnitude({"fc.weight": a, "fc.bias": b}, 3)
    pruned_nan = torch.ones(20, dtype=torch.bool, device=device)
    pruned_nan[7] = False  # a NaN at a pruned entry does not take part
    assert global_magnitude_prune([a, b], [None, pruned_nan], 0.5)[1][7].item() is False


def test_bad_inputs():
    t = [torch.randn(4), torch.randn(2, 2)]
    with pytest.raises(ValueError, match="got 1 masks for 2 tensors"):
        global_magnitude_prune(t, [None], 0.5)
    with pytest.raises(ValueError, match=r"mask for tensor 1 .* has shape \(4,\), expected \(2, 2\)"):
        global_magnitude_prune(t, [None, torch.ones(4, dtype=torch.bool)], 0.5)
    with pytest.raises(ValueError, match="dtype torch.uint8, expected torch.bool"):
        global_magnitude_prune(t, [torch.ones(4, dtype=torch.uint8), None], 0.5)
    with pytest.raises(ValueError, match="unsupported dtype torch.int64"):
        global_magnitude_prune([torch.arange(4)], None, 0.5)
    with pytest.raises(ValueError, match="k=0 is out of range"):
        kth_smallest_magnitude(t, 0)
    with pytest.raises(ValueError, match="k=9 is out of range: there are 8"):
        kth_smallest_magnitude(t, 9)
    with pytest.raises(ValueError, match="not a single tensor"):
        kth_smallest_magnitude(torch.randn(3), 1)
    with pytest.raises(ValueError, match="all tensors of a global selection must be on one device"):
        global_magnitude_prune([torch.randn(3), torch.randn(3, device="meta")], None, 0.5)


def test_large_random_against_numpy_percentile_rank():
    """A few million values: the threshold equals NumPy's k-th order statistic."""
    gen = torch.Generator().manual_seed(6)
    tensors = [torch.randn(n, generator=gen) for n in (1_000_003, 2_500_000, 77)]
    vals = np.abs(np.concatenate([t.numpy() for t in tensors]).astype(np.float64))
    k = 1_234_567
    assert kth_smallest_magnitude(tensors, k) == np.partition(vals, k - 1)[k - 1]
