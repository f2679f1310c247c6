"""Transformer translation (paper §3.3, §4.2.2): fairseq's transformer-base recipe on our model.

Adam (betas (0.9, 0.98), eps 1e-8) through MaskedAdam, inverse-sqrt learning rate with linear
warmup, label smoothing 0.1, token-based batches, averaging of the last checkpoints, beam search
(beam 4, length penalty 0.6) and BLEU on the test set (metric: sacreBLEU; tokenized BLEU as well).
Late resetting defaults to the weights after 1000 updates, as in the paper.

Data parallel: under torchrun each rank takes every world-th batch and DistributedDataParallel
averages the gradients (an update sees world x max_tokens tokens).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lotteryfast import bleu, distributed
from lotteryfast.config import Config, option
from lotteryfast.data import parallel, subword
from lotteryfast.data.subword import BOS, PAD
from lotteryfast.lottery import LotteryConfig
from lotteryfast.models.beam import beam_search
from lotteryfast.models.transformer import Transformer, TransformerConfig
from lotteryfast.tasks.base import Member, MemberResult, ModelTask, Params
from lotteryfast.tasks.optimizers import AdamConfig
from lotteryfast.tasks.spec import Preset

PRUNE_SCOPES = ("all", "layers")


@dataclass(frozen=True)
class MTConfig(Config):
    """Hyper-parameters (defaults: Transformer-base as trained in the paper, sized per GPU)."""

    dataset: str = option("wmt14-sample", "multi30k, wmt14-sample or a directory of {train,valid,test}.{src,tgt}")
    data: str = option(
        "", "root of the named datasets (default: $LOTTERYFAST_DATA/mt, ../shared/data or the cache)", location=True
    )
    vocab: int = option(32000, "joint BPE vocabulary size", min=1)
    # The network's shape: TransformerConfig's defaults (Transformer-base), flat for the CLI.
    d_model: int = option(TransformerConfig.d_model, "model width", min=1)
    heads: int = option(TransformerConfig.heads, "attention heads", min=1)
    ffn: int = option(TransformerConfig.ffn, "feed-forward width", min=1)
    enc_layers: int = option(TransformerConfig.enc_layers, "encoder layers", min=1)
    dec_layers: int = option(TransformerConfig.dec_layers, "decoder layers", min=1)
    dropout: float = option(TransformerConfig.dropout, "dropout", min=0.0, below=1.0)
    max_tokens: int = option(4096, "tokens per batch and rank (source or target incl. padding, the larger)", min=1)
    max_len: int = option(256, "longer sentences are cut (subword tokens)", min=1)
    updates: int = option(50_000, "training updates per ticket", min=1)
    warmup: int = option(4000, "linear warmup updates of the inverse-sqrt schedule", min=0)
    label_smoothing: float = option(0.1, "label smoothing", min=0.0, below=1.0)
    clip_norm: float = option(0.0, "gradient norm clipping (0: off)", min=0.0)
    average_last: int = option(5, "checkpoints averaged for evaluation", min=1)
    save_every: int = option(1000, "updates between those checkpoints", min=1)
    beam: int = option(4, "beam size", min=1)
    lenpen: float = option(0.6, "length penalty", min=0.0)
    eval_sentences: int = option(0, "test sentences translated (0: the whole test set)", min=0)
    prune_scope: str = option(
        "all", "all weights, or layers: attention and feed-forward weights only", choices=PRUNE_SCOPES
    )
    optim: AdamConfig = option(
        AdamConfig(lr=7e-4, beta1=0.9, beta2=0.98, eps=1e-8), "Adam (fairseq's transformer recipe); lr is the peak"
    )

    @property
    def model(self) -> TransformerConfig:
        """The network's shape."""
        return TransformerConfig(self.d_model, self.heads, self.ffn, self.enc_layers, self.dec_layers, self.dropout)


# The quick preset: a small Transformer (d 128, 2+2 layers, joint BPE 4k) on Multi30k, 600 updates
# of 2,048 tokens per ticket (~2 epochs), the last 3 of the checkpoints every 100 updates averaged,
# beam 4 on the first 500 test sentences; reset after 100 updates; 1 seed, 2 levels at rate 0.6.
PRESETS: dict[str, Preset] = {
    "paper": Preset(MTConfig(), LotteryConfig(seeds=1, levels=20, rate=0.2, reset="update:1000")),
    "quick": Preset(
        replace(
            MTConfig(),
            dataset="multi30k",
            vocab=4000,
            d_model=128,
            heads=4,
            ffn=512,
            enc_layers=2,
            dec_layers=2,
            max_tokens=2048,
            updates=600,
            warmup=150,
            average_last=3,
            save_every=100,
            eval_sentences=500,
            optim=replace(MTConfig().optim, lr=1e-3),
        ),
        LotteryConfig(seeds=1, levels=2, rate=0.6, reset="update:100"),
    ),
}


def make_batches(src: list[torch.Tensor], tgt: list[torch.Tensor], max_tokens: int) -> list[list[int]]:
    """Token-based batches: pairs sorted by (target, source) length and cut so that no batch holds
    more than max_tokens padded tokens on either side (a longer pair is a batch of its own)."""
    order = sorted(range(len(src)), key=lambda i: (len(tgt[i]), len(src[i]), i))
    batches, current, longest = [], [], 0
    for i in order:
        longest_next = max(longest, len(src[i]), len(tgt[i]))
        if current and longest_next * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest_next = [], max(len(src[i]), len(tgt[i]))
        current.append(i)
        longest = longest_next
    if current:
        batches.append(current)
    return batches


def collate(src: list[torch.Tensor], tgt: list[torch.Tensor], index: list[int]):
    """(src [B, S], decoder input [B, T] starting with <s>, target [B, T]) padded with 0."""
    s = nn.utils.rnn.pad_sequence([src[i] for i in index], batch_first=True, padding_value=PAD)
    t = nn.utils.rnn.pad_sequence([tgt[i] for i in index], batch_first=True, padding_value=PAD)
    t_in = torch.cat([torch.full((t.size(0), 1), BOS, dtype=t.dtype), t[:, :-1]], dim=1)
    t_in[t_in == subword.EOS] = PAD  # the </s> of a shorter sentence is not an input
    return s, t_in, t


def inverse_sqrt_lr(update: int, peak: float, warmup: int) -> float:
    """Linear warmup to `peak` over `warmup` updates, then peak * sqrt(warmup / update)."""
    if update <= warmup:
        return peak * update / warmup
    return peak * math.sqrt(warmup / update)


class TranslationTask(ModelTask):
    """Transformer MT on a parallel corpus; trains the members one after the other."""

    metric_name = "test BLEU (sacreBLEU)"
    higher_is_better = True

    def __init__(
        self,
        cfg: MTConfig,
        device: str = "cpu",
        corpus: parallel.ParallelCorpus | None = None,
        workdir: Path | None = None,
        write_cache: bool = True,
    ):
        self.cfg = cfg
        self.device = torch.device(device)
        self.corpus = corpus or parallel.load(cfg.dataset, cfg.data or None)
        self.name = f"{self.corpus.name} {self.corpus.src_lang}->{self.corpus.tgt_lang} Transformer"
        # Only the writing rank caches the subword model; training it is deterministic.
        self.vocab = subword.joint_vocab(self.corpus, cfg.vocab, workdir if write_cache else None)
        self.splits = {}
        for split in parallel.SPLITS:
            s, t = self.corpus.pairs(split)
            self.splits[split] = (self.vocab.tensors(s, cfg.max_len), self.vocab.tensors(t, cfg.max_len))
        src, tgt = self.splits["train"]
        self.batches = make_batches(src, tgt, cfg.max_tokens)
        self.progress_units = cfg.updates

    def data_fingerprint(self) -> str:
        """SHA-256 of the sentence pairs as read: the data's identity in a run."""
        h = hashlib.sha256()
        for split in ("train", "valid", "test"):
            for side in self.corpus.pairs(split):
                h.update("\n".join(side).encode())
                h.update(b"\0")
        return h.hexdigest()

    def new_model(self) -> Transformer:
        return Transformer(len(self.vocab), self.cfg.model)

    def prunable(self, names: list[str]) -> list[str]:
        """All chosen names, or with prune_scope 'layers' the attention and feed-forward weights
        and biases of the encoder and decoder layers (embeddings and LayerNorms stay dense)."""
        if self.cfg.prune_scope == "all":
            return list(names)
        return [n for n in names if n.startswith(("encoder.", "decoder.")) and ("_attn." in n or ".ffn." in n)]

    # --- training -----------------------------------------------------------------------------
    def epoch_order(self, seed: int, epoch: int, rank: int | None = None, world: int | None = None) -> list[int]:
        """This rank's batches of an epoch: one shuffled order of all batches (the same on every
        rank), rank r taking positions r, r + world, ... of its first multiple of world."""
        if rank is None or world is None:
            rank, world = distributed.rank(), distributed.world_size()
        order = list(range(len(self.batches)))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        usable = len(order) - len(order) % world
        if usable == 0:
            raise ValueError(f"{len(order)} batches per epoch cannot feed {world} ranks: lower max_tokens")
        return order[rank:usable:world]

    def _train_one(self, member: Member, progress) -> MemberResult:
        cfg = self.cfg
        model, opt = self.model_and_optimizer(member)
        world = distributed.world_size()
        net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
        src, tgt = self.splits["train"]
        gen = torch.Generator().manual_seed(int(member.seed))  # dropout per member
        reset, checkpoints, losses = member.late_reset(lambda: self.snapshot(model)), [], []
        epoch, order = 0, self.epoch_order(member.seed, 0)
        position = 0
        model.train()
        for update in range(1, cfg.updates + 1):
            if position == len(order):
                epoch, position = epoch + 1, 0
                order = self.epoch_order(member.seed, epoch)
                reset.progress(epochs=epoch)
            s, t_in, t_out = (x.to(self.device) for x in collate(src, tgt, self.batches[order[position]]))
            position += 1
            for group in opt.param_groups:
                group["lr"] = inverse_sqrt_lr(update, cfg.optim.lr, cfg.warmup)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
                logits = net(s, t_in)
                loss = F.cross_entropy(
                    logits.view(-1, logits.size(-1)),
                    t_out.reshape(-1),
                    ignore_index=PAD,
                    label_smoothing=cfg.label_smoothing,
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
            if cfg.clip_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            opt.step()
            losses.append(float(loss.detach()))
            reset.progress(updates=update)
            if (cfg.updates - update) % cfg.save_every == 0 and (
                cfg.updates - update
            ) // cfg.save_every < cfg.average_last:
                checkpoints.append(self.snapshot(model))
            if progress is not None:
                progress.update(1)
        final = average_checkpoints(checkpoints) if checkpoints else self.snapshot(model)
        model.load_state_dict(final)
        valid_loss = self.loss(model, "valid")
        sacre, tokenized = self.bleu(model, "test")
        tail = losses[-min(len(losses), 100) :]
        return MemberResult(
            metric=sacre,
            trained=final,
            rewind=reset.weights,
            curve=[],
            history=[
                {"loss": sum(chunk) / len(chunk)}
                for chunk in (losses[i : i + cfg.save_every] for i in range(0, len(losses), cfg.save_every))
            ],
            stats={
                "updates": cfg.updates,
                "epochs": epoch + position / max(len(order), 1),
                "train_loss": sum(tail) / len(tail),
                "valid_loss": valid_loss,
                "tokenized_bleu": tokenized,
                "checkpoints_averaged": len(checkpoints),
            },
        )

    # --- evaluation ---------------------------------------------------------------------------
    @torch.no_grad()
    def loss(self, model: Transformer, split: str) -> float:
        """Mean cross-entropy (nats per target token, no smoothing) with teacher forcing."""
        model.eval()
        src, tgt = self.splits[split]
        total, count = 0.0, 0
        for index in make_batches(src, tgt, self.cfg.max_tokens):
            s, t_in, t_out = (x.to(self.device) for x in collate(src, tgt, index))
            logits = model(s, t_in)
            total += float(
                F.cross_entropy(logits.view(-1, logits.size(-1)), t_out.reshape(-1), ignore_index=PAD, reduction="sum")
            )
            count += int((t_out != PAD).sum())
        return total / max(count, 1)

    @torch.no_grad()
    def translate(self, model: Transformer, sources: list[str]) -> list[str]:
        """Beam-search translations of raw source sentences (detokenized text)."""
        ids = self.vocab.tensors(sources, self.cfg.max_len)
        out: list[str | None] = [None] * len(ids)
        for index in make_batches(ids, ids, max(self.cfg.max_tokens // self.cfg.beam, self.cfg.max_len)):
            s = nn.utils.rnn.pad_sequence([ids[i] for i in index], batch_first=True, padding_value=PAD)
            hyps = beam_search(model, s.to(self.device), beam=self.cfg.beam, lenpen=self.cfg.lenpen)
            for i, text in zip(index, self.vocab.decode(hyps), strict=True):
                out[i] = text
        return [o or "" for o in out]

    def bleu(self, model: Transformer, split: str) -> tuple[float, float]:
        """(sacreBLEU, tokenized BLEU) of the beam-search translations of a split."""
        sources, references = self.corpus.pairs(split)
        if self.cfg.eval_sentences:
            sources, references = sources[: self.cfg.eval_sentences], references[: self.cfg.eval_sentences]
        hyps = self.translate(model, sources)
        return bleu.sacre_bleu(hyps, references), bleu.tokenized_bleu(hyps, references)


def average_checkpoints(checkpoints: list[Params]) -> Params:
    """Element-wise mean of the floating-point tensors (others from the last checkpoint)."""
    out = {}
    for name, last in checkpoints[-1].items():
        if last.is_floating_point():
            out[name] = (sum(c[name].double() for c in checkpoints) / len(checkpoints)).to(last.dtype)
        else:
            out[name] = last.clone()
    return out
