"""masked_linear (the decoder over its kept weights only) against F.linear in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lotteryfast._ext import _C
from lotteryfast.masked_linear import RowPattern, masked_linear
from lotteryfast.tasks.lstm import LSTMConfig, LSTMLanguageModel

NAMES = ("y", "gx", "gw", "gb")


def reference(x, w, b, mask, g):
    """Output and gradients of F.linear on the masked weight in float64; the weight gradient
    masked as the optimizers use it."""
    x64 = x.detach().double().requires_grad_()
    w64 = (w.detach().double() * mask).requires_grad_()
    b64 = None if b is None else b.detach().double().requires_grad_()
    y = F.linear(x64, w64, b64)
    y.backward(g.double())
    return y, x64.grad, w64.grad * mask, None if b is None else b64.grad


def run(x, w, b, mask, g):
    x = x.detach().clone().requires_grad_()
    w = w.detach().clone().requires_grad_()
    b = None if b is None else b.detach().clone().requires_grad_()
    y = masked_linear(x, w, b, RowPattern.from_mask(mask))
    y.backward(g)
    return y, x.grad, w.grad, None if b is None else b.grad


def assert_close(actual, expected, what):
    expected = expected.detach()
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    torch.testing.assert_close(actual.double(), expected, rtol=0, atol=2e-5 * scale, msg=what)


@pytest.mark.parametrize(
    ("rows", "cols", "n", "density", "bias"),
    [
        (300, 70, 37, 0.2, True),  # rows across work blocks, a padded token tile
        (2500, 40, 70, 0.1, True),  # several row blocks of the input gradient's lists
        (40, 33, 300, 0.5, True),  # several token tiles, the last one partial
        (17, 5, 1, 0.3, False),  # one token
        (9, 16, 256, 1.0, True),  # nothing pruned
        (9, 16, 20, 0.0, True),  # everything pruned: bias only, zero gradients
        (1, 1, 3, 1.0, False),
    ],
)
def test_matches_dense_linear_on_the_masked_weight(isa, rows, cols, n, density, bias):
    g = torch.Generator().manual_seed(rows * 1000 + n)
    w = torch.randn(rows, cols, generator=g)
    mask = torch.rand(rows, cols, generator=g) < density
    mask[rows // 2] = False  # an empty row
    w = w * mask
    b = torch.randn(rows, generator=g) if bias else None
    x = torch.randn(n, cols, generator=g)
    grad = torch.randn(n, rows, generator=g)
    for got, want, what in zip(run(x, w, b, mask, grad), reference(x, w, b, mask, grad), NAMES, strict=True):
        if want is None:
            assert got is None
        else:
            assert_close(got, want, what)


def test_leading_dims_non_contiguous_input_and_no_tokens(isa):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(50, 24, generator=g)
    mask = torch.rand(50, 24, generator=g) < 0.3
    w = w * mask
    b = torch.randn(50, generator=g)
    x = torch.randn(24, 7, 5, generator=g).permute(2, 1, 0)  # [5, 7, 24], not contiguous
    grad = torch.randn(5, 7, 50, generator=g)
    got, want = run(x, w, b, mask, grad), reference(x, w, b, mask, grad)
    assert got[0].shape == (5, 7, 50) and got[1].shape == x.shape
    for a, e, what in zip(got, want, NAMES, strict=True):
        assert_close(a, e, what)
    empty = run(torch.zeros(0, 24), w, b, mask, torch.zeros(0, 50))
    assert empty[0].shape == (0, 50) and empty[1].shape == (0, 24)
    assert not empty[2].any() and not empty[3].any()


def test_pruned_weights_get_exactly_zero_gradient():
    w = torch.randn(64, 32)
    mask = torch.rand(64, 32) < 0.25
    _, _, gw, _ = run(torch.randn(10, 32), w * mask, None, mask, torch.randn(10, 64))
    assert torch.all(gw[~mask] == 0) and torch.any(gw[mask] != 0)


@pytest.mark.parametrize(("rows", "cols", "pad"), [(1, 1, 0), (70, 130, 0), (300, 5, 256), (0, 4, 256), (65, 64, 64)])
def test_transpose_pad(rows, cols, pad):
    x = torch.randn(rows, cols + 3)[:, :cols]  # strided rows
    out = _C.transpose_pad(x, pad)
    n_pad = -(-rows // pad) * pad if pad else rows
    assert out.shape == (cols, n_pad)
    assert torch.equal(out[:, :rows], x.t()) and not out[:, rows:].any()


def test_bad_input_is_named():
    mask = torch.rand(8, 4) < 0.5
    p = RowPattern.from_mask(mask)
    with pytest.raises(ValueError, match=r"weight has shape \(8, 5\)"):
        masked_linear(torch.randn(3, 4), torch.randn(8, 5), None, p)
    with pytest.raises(ValueError, match="x has 6 features"):
        masked_linear(torch.randn(3, 6), torch.randn(8, 4), None, p)
    with pytest.raises(ValueError, match="x must be a float32 CPU tensor, got torch.float64"):
        masked_linear(torch.randn(3, 4, dtype=torch.float64), torch.randn(8, 4), None, p)
    with pytest.raises(ValueError, match="mask must be a 2-D bool tensor"):
        RowPattern.from_mask(torch.ones(8, 4))


def test_lstm_decoder_switches_to_the_masked_product_and_matches_dense():
    torch.manual_seed(0)
    model = LSTMLanguageModel(300, LSTMConfig(emb=16, hidden=16, dropout=0.0))
    mask = torch.rand(300, 16) < 0.2
    with torch.no_grad():
        model.decoder.weight.mul_(mask)
    x = torch.randint(300, (7, 3))
    dense, _ = model(x, None)
    dense.sum().backward()
    dense_grad = model.decoder.weight.grad.clone() * mask
    model.zero_grad()
    model.set_decoder_mask(mask)
    assert model.decoder_pattern is not None
    sparse, _ = model(x, None)
    sparse.sum().backward()
    torch.testing.assert_close(sparse, dense, rtol=0, atol=1e-5)
    torch.testing.assert_close(model.decoder.weight.grad, dense_grad, rtol=0, atol=1e-4)
    model.set_decoder_mask(torch.rand(300, 16) < 0.9)  # dense enough: the dense product is faster
    assert model.decoder_pattern is None
