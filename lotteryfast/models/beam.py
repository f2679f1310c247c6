"""Batched beam search for the Transformer (length penalty of Wu et al. 2016, as in Vaswani et al.).

A hypothesis' score is its summed log-probability divided by ((5 + length) / 6) ** lenpen, length
counting </s>. A sentence stops once it has `beam` finished hypotheses and no active one can still
beat the worst of them; every sentence stops at max_len = max_len_a * source length + max_len_b.
"""

from __future__ import annotations

import torch

from lotteryfast.data.subword import BOS, EOS, PAD
from lotteryfast.models.transformer import Transformer


def length_penalty(length: torch.Tensor | float, alpha: float):
    """((5 + length) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    model: Transformer,
    src: torch.Tensor,
    beam: int = 4,
    lenpen: float = 0.6,
    max_len_a: float = 1.2,
    max_len_b: int = 10,
) -> list[list[int]]:
    """Best hypothesis (ids, without </s>) per row of src [B, S] (padded with 0)."""
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    model.eval()
    b, device = src.size(0), src.device
    src_len = (src != PAD).sum(1)
    max_len = min(int(max_len_a * int(src_len.max()) + max_len_b), model.cfg.max_positions - 1)
    memory, allowed = model.encode(src)
    order = torch.arange(b, device=device).repeat_interleave(beam)  # row of each (sentence, beam)
    memory_kv = [(k[order], v[order]) for k, v in model.memory_kv(memory)]
    allowed = allowed[order]
    cache: list = [None] * len(model.decoder)
    tokens = torch.full((b * beam, 1), BOS, dtype=torch.long, device=device)
    scores = torch.zeros(b, beam, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first
    fin_scores = torch.full((b, beam), float("-inf"), device=device)
    fin_tokens = torch.full((b, beam, max_len + 1), PAD, dtype=torch.long, device=device)
    rows = torch.arange(b, device=device)[:, None]
    sent_max = (max_len_a * src_len + max_len_b).long().clamp(max=max_len)
    for step in range(max_len + 1):
        logp = model.decode_step(tokens[:, -1], step, cache, memory_kv, allowed)  # [b*beam, V]
        vocab = logp.size(1)
        logp[:, PAD] = float("-inf")
        logp[:, BOS] = float("-inf")
        at_limit = step >= sent_max  # [b]: only </s> may follow
        logp = logp.view(b, beam, vocab)
        logp[at_limit] = torch.where(
            torch.arange(vocab, device=device) == EOS, logp[at_limit], torch.full_like(logp[at_limit], float("-inf"))
        )
        cand = (scores[:, :, None] + logp).view(b, beam * vocab)
        top_scores, top_index = cand.topk(2 * beam, dim=1)
        top_beam, top_token = top_index // vocab, top_index % vocab
        # Finished candidates join the finished set (their normalized score competes there).
        is_eos = (top_token == EOS) & torch.isfinite(top_scores)
        norm = top_scores / length_penalty(step + 1.0, lenpen)
        new_fin = torch.where(is_eos, norm, torch.full_like(norm, float("-inf")))
        merged = torch.cat([fin_scores, new_fin], dim=1)
        keep_scores, keep_index = merged.topk(beam, dim=1)
        hyp = torch.cat([tokens.view(b, beam, -1)[rows, top_beam, 1:], top_token[:, :, None]], dim=2)
        hyp = torch.nn.functional.pad(hyp, (0, max_len + 1 - hyp.size(2)), value=PAD)
        fin_tokens = torch.cat([fin_tokens, hyp], dim=1)[rows, keep_index]
        fin_scores = keep_scores
        # The best 'beam' unfinished candidates continue.
        live = torch.where(is_eos, torch.full_like(top_scores, float("-inf")), top_scores)
        live_scores, live_pos = live.topk(beam, dim=1)
        src_beam = top_beam.gather(1, live_pos)
        origin = (rows * beam + src_beam).view(-1)
        tokens = torch.cat([tokens[origin], top_token.gather(1, live_pos).view(-1, 1)], dim=1)
        scores = live_scores
        cache = [(k[origin], v[origin]) for k, v in cache]
        # Done when no live hypothesis can beat the worst finished one (scores only fall, the
        # penalty grows at most to that of the sentence's maximum length).
        best_live = scores.max(1).values / length_penalty(sent_max.float() + 1.0, lenpen)
        if bool(((fin_scores[:, -1] >= best_live) | ~torch.isfinite(best_live)).all()):
            break
    best = fin_scores.argmax(1)
    out = []
    for i in range(b):
        seq = fin_tokens[i, best[i]].tolist()
        out.append([t for t in seq[: seq.index(EOS)] if t != PAD] if EOS in seq else [t for t in seq if t != PAD])
    return out


@torch.no_grad()
def greedy(model: Transformer, src: torch.Tensor, max_len_a: float = 1.2, max_len_b: int = 10) -> list[list[int]]:
    """Greedy decoding (the highest-probability token at each step, </s> forced at each sentence's
    max_len) written independently of beam_search, as a reference for beam 1."""
    model.eval()
    memory, allowed = model.encode(src)
    memory_kv = model.memory_kv(memory)
    src_len = (src != PAD).sum(1).tolist()
    limits = [min(int(max_len_a * n + max_len_b), model.cfg.max_positions - 1) for n in src_len]
    cache: list = [None] * len(model.decoder)
    token = torch.full((src.size(0),), BOS, dtype=torch.long, device=src.device)
    out: list[list[int]] = [[] for _ in src_len]
    done = [False] * len(src_len)
    for step in range(max(limits) + 1):
        logp = model.decode_step(token, step, cache, memory_kv, allowed)
        logp[:, PAD] = float("-inf")
        logp[:, BOS] = float("-inf")
        token = logp.argmax(1)
        for i, limit in enumerate(limits):
            if done[i]:
                continue
            if step >= limit or int(token[i]) == EOS:
                done[i] = True
            else:
                out[i].append(int(token[i]))
        if all(done):
            break
    return out
