"""A linear layer over a pruned weight that computes with the kept weights only.

``masked_linear(x, weight, bias, pattern)`` equals ``F.linear(x, weight * mask, bias)`` with the
gradient of ``weight`` masked (0 at pruned entries, as the masked optimizers use it), but its
forward and both backward products skip the pruned weights (C++ kernels, ``csrc/cpu/masked_linear``):
at 80 % pruned a fifth of the multiply-adds. Float32 on CPU; the LSTM language model uses it for
its 650 x 33,278 decoder, the largest product of the paper's NLP models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lotteryfast._ext import _C

TILE = 256  # token padding of the kernels' transposed activations


@dataclass(frozen=True)
class RowPattern:
    """The kept entries of a [rows, in] mask, row by row (CSR without values), and the layer's
    reusable workspaces (a 33k-row decoder's activations are 200 MB: fresh pages every step cost
    as much as a transpose)."""

    rows: int
    cols_in: int
    row_ptr: torch.Tensor  # int64 [rows + 1]
    cols: torch.Tensor  # int32 [nnz], ascending in each row
    # The same entries listed by input within blocks of _C.MASKED_LINEAR_ROW_BLOCK rows (for the
    # input gradient): entry e of that order is entry col_order[e] of the row order.
    col_ptr: torch.Tensor  # int64 [blocks * cols_in + 1]
    col_rows: torch.Tensor  # int32 [nnz]
    col_order: torch.Tensor  # int64 [nnz]
    workspaces: dict = field(default_factory=dict, compare=False, repr=False)

    def workspace(self, name: str, shape: tuple[int, int]) -> torch.Tensor:
        """A float32 buffer kept for the next call of the same shape."""
        buf = self.workspaces.get(name)
        if buf is None or tuple(buf.shape) != shape:
            buf = self.workspaces[name] = torch.empty(shape, dtype=torch.float32)
        return buf

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> RowPattern:
        """The pattern of a 2-D bool mask (True = kept)."""
        if mask.dim() != 2 or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a 2-D bool tensor, got {tuple(mask.shape)} {mask.dtype}")
        mask = mask.detach().cpu()
        counts = mask.sum(1)
        row_ptr = torch.zeros(mask.shape[0] + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=row_ptr[1:])
        nonzero = mask.nonzero()  # row-major order
        rows_of, cols = nonzero[:, 0], nonzero[:, 1]
        block = _C.MASKED_LINEAR_ROW_BLOCK
        n_rows, n_in = mask.shape
        key = rows_of // block * n_in + cols
        col_order = torch.argsort(key, stable=True)  # rows stay ascending within a list
        col_ptr = torch.zeros(max(1, -(-n_rows // block)) * n_in + 1, dtype=torch.int64)
        torch.cumsum(torch.bincount(key, minlength=col_ptr.numel() - 1), 0, out=col_ptr[1:])
        return cls(
            n_rows,
            n_in,
            row_ptr,
            cols.to(torch.int32).contiguous(),
            col_ptr,
            rows_of[col_order].to(torch.int32).contiguous(),
            col_order,
        )


def _padded(n: int) -> int:
    return -(-n // TILE) * TILE


def _padded_transpose(x2d: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """[n, f] -> [f, n rounded up to TILE], zero padding columns."""
    return _C.transpose_pad(x2d if x2d.stride(-1) == 1 else x2d.contiguous(), TILE, out)


class _MaskedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2d, weight, bias, pattern: RowPattern):
        vals = _C.masked_linear_gather(weight.detach(), pattern.row_ptr, pattern.cols)
        n = x2d.shape[0]
        x_t = _padded_transpose(x2d)
        y_t = pattern.workspace("yT", (pattern.rows, _padded(n)))
        _C.masked_linear_forward(vals, pattern.row_ptr, pattern.cols, x_t, bias, y_t)
        ctx.save_for_backward(vals, x_t)
        ctx.pattern, ctx.n, ctx.has_bias = pattern, n, bias is not None
        return _C.transpose_pad(y_t[:, :n])

    @staticmethod
    def backward(ctx, grad):
        vals, x_t = ctx.saved_tensors
        p, n = ctx.pattern, ctx.n
        g_t = _padded_transpose(grad, p.workspace("gT", (p.rows, _padded(n))))
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            col_vals = vals.index_select(0, p.col_order)
            gx_t = _C.masked_linear_grad_input(
                col_vals, p.col_ptr, p.col_rows, p.rows, g_t, p.workspace("gxT", x_t.shape)
            )
            gx = _C.transpose_pad(gx_t[:, :n])
        if ctx.needs_input_grad[1]:
            gw = _C.masked_linear_grad_weight(p.row_ptr, p.cols, g_t, x_t)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g_t.sum(1)
        return gx, gw, gb, None


def masked_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pattern: RowPattern
) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` over the kept entries of ``weight`` only (``pattern``);
    ``weight.grad`` is 0 at the pruned entries. x: [..., in] float32 CPU."""
    if weight.shape != (pattern.rows, pattern.cols_in):
        raise ValueError(f"weight has shape {tuple(weight.shape)}, the pattern {(pattern.rows, pattern.cols_in)}")
    if x.shape[-1] != pattern.cols_in:
        raise ValueError(f"x has {x.shape[-1]} features, the weight takes {pattern.cols_in}")
    for name, t in (("x", x), ("weight", weight), ("bias", bias)):
        if t is not None and (t.dtype != torch.float32 or t.device.type != "cpu"):
            raise ValueError(f"masked_linear: {name} must be a float32 CPU tensor, got {t.dtype} on {t.device}")
    weight_c = weight if weight.is_contiguous() else weight.contiguous()
    lead = x.shape[:-1]
    y = _MaskedLinear.apply(x.reshape(-1, pattern.cols_in), weight_c, bias, pattern)
    return y.reshape(*lead, pattern.rows)
