"""Transformer encoder-decoder for translation (Vaswani et al. 2017; fairseq's transformer-base).

Post-norm layers, sinusoidal positions (a fixed buffer, not a parameter), one embedding matrix
shared by the encoder input, the decoder input and the output projection (joint vocabulary),
embeddings scaled by sqrt(d_model). Separate q/k/v/out projections so each is its own prunable
matrix. Batch-first tensors; incremental decoding with cached keys/values for beam search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lotteryfast.data.subword import PAD


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the network (defaults: Transformer-base)."""

    d_model: int = 512
    heads: int = 8
    ffn: int = 2048
    enc_layers: int = 6
    dec_layers: int = 6
    dropout: float = 0.1
    attn_dropout: float = 0.0
    max_positions: int = 1024

    def __post_init__(self):
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """[n, d]: sin of position * frequencies in the first half of the channels, cos in the second."""
    half = d // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float64) * -(math.log(10000.0) / max(half - 1, 1)))
    angle = torch.arange(n, dtype=torch.float64)[:, None] * freq[None, :]
    table = torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)
    if d % 2:
        table = torch.cat([table, torch.zeros(n, 1, dtype=torch.float64)], dim=1)
    return table.float()


class MultiheadAttention(nn.Module):
    """Scaled dot-product attention over `heads` heads with separate q, k, v, out projections."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))
        for lin in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] -> [B, heads, T, d / heads]."""
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def project_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of `memory`, split into heads."""
        return self.split(self.k_proj(memory)), self.split(self.v_proj(memory))

    def forward(
        self,
        x: torch.Tensor,
        kv: tuple[torch.Tensor, torch.Tensor],
        allowed: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """Attends from x [B, T, d] over the projected kv; `allowed` [B, 1, T|1, S] is True where a
        query may look (None: everywhere); `causal` adds the lower-triangular rule."""
        q = self.split(self.q_proj(x))
        k, v = kv
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )
        b, h, t, dh = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * dh))


class FeedForward(nn.Module):
    """Linear -> ReLU -> Linear."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)
        for lin in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


class EncoderLayer(nn.Module):
    """Self-attention and feed-forward, each followed by dropout, residual and LayerNorm."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiheadAttention(cfg.d_model, cfg.heads, cfg.attn_dropout)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.self_attn(x, self.self_attn.project_kv(x), allowed)))
        return self.norm2(x + self.dropout(self.ffn(x)))


class DecoderLayer(nn.Module):
    """Causal self-attention, attention over the encoder output, feed-forward (post-norm)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiheadAttention(cfg.d_model, cfg.heads, cfg.attn_dropout)
        self.cross_attn = MultiheadAttention(cfg.d_model, cfg.heads, cfg.attn_dropout)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, self_kv, causal: bool, memory_kv, memory_allowed):
        x = self.norm1(x + self.dropout(self.self_attn(x, self_kv, None, causal)))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory_kv, memory_allowed)))
        return self.norm3(x + self.dropout(self.ffn(x)))


class Transformer(nn.Module):
    """Encoder-decoder over a joint vocabulary of `n_tokens` subwords (id 0 = padding)."""

    def __init__(self, n_tokens: int, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(n_tokens, cfg.d_model, padding_idx=PAD)
        nn.init.normal_(self.embed.weight, 0.0, cfg.d_model**-0.5)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.dec_layers))
        self.register_buffer("positions", sinusoidal_positions(cfg.max_positions, cfg.d_model), persistent=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def embed_tokens(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Scaled embeddings plus the positions start, start + 1, ... of each sequence."""
        t = tokens.size(1)
        if start + t > self.cfg.max_positions:
            raise ValueError(f"sequence of {start + t} tokens exceeds max_positions {self.cfg.max_positions}")
        x = self.embed(tokens) * math.sqrt(self.cfg.d_model) + self.positions[start : start + t]
        return self.dropout(x)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src [B, S] -> (encoder output [B, S, d], allowed-key mask [B, 1, 1, S])."""
        allowed = (src != PAD)[:, None, None, :]
        x = self.embed_tokens(src)
        for layer in self.encoder:
            x = layer(x, allowed)
        return x, allowed

    def memory_kv(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each decoder layer's keys and values of the encoder output (computed once per batch)."""
        return [layer.cross_attn.project_kv(memory) for layer in self.decoder]

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder: tgt_in [B, T] (starting with <s>) -> logits [B, T, vocab]."""
        x = self.embed_tokens(tgt_in)
        for layer, mkv in zip(self.decoder, self.memory_kv(memory), strict=True):
            x = layer(x, layer.self_attn.project_kv(x), True, mkv, allowed)
        return x @ self.embed.weight.t()

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, allowed = self.encode(src)
        return self.decode(tgt_in, memory, allowed)

    def decode_step(self, token: torch.Tensor, step: int, cache: list, memory_kv: list, allowed: torch.Tensor):
        """One incremental decoder step: token [B] at position `step` -> log-probs [B, vocab].

        cache[i] holds layer i's self-attention keys/values of the previous steps (extended in
        place of the list entry).
        """
        x = self.embed_tokens(token[:, None], start=step)
        for i, (layer, mkv) in enumerate(zip(self.decoder, memory_kv, strict=True)):
            k, v = layer.self_attn.project_kv(x)
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)
            cache[i] = (k, v)
            x = layer(x, (k, v), False, mkv, allowed)
        return F.log_softmax((x[:, 0] @ self.embed.weight.t()).float(), dim=-1)
