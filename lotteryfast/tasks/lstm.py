"""Word-level language modelling on WikiText-2 with a 2-layer LSTM (paper §3.3, §4.2.1).

Embeddings 650, hidden 650, dropout 0.5 between the LSTM layers, truncated BPTT of 50 steps,
batch 30, Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-3) through MaskedAdam, 10 epochs per ticket;
the metric is the test log perplexity (mean cross-entropy in nats, lower is better).

Data parallel: under torchrun (torch.distributed initialized) each rank takes an equal share of
the batch's streams and DistributedDataParallel averages the gradients, so N ranks compute the
same update as one process with the whole batch.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from lotteryfast import distributed
from lotteryfast.config import Config, option
from lotteryfast.data import wikitext
from lotteryfast.lottery import LotteryConfig
from lotteryfast.masked_linear import RowPattern, masked_linear
from lotteryfast.tasks.base import Member, MemberResult, ModelTask
from lotteryfast.tasks.optimizers import AdamConfig
from lotteryfast.tasks.spec import Preset


@dataclass(frozen=True)
class LSTMConfig(Config):
    """Hyper-parameters (defaults: the paper's)."""

    data: str = option(
        "",
        "WikiText-2 directory (default: $LOTTERYFAST_DATA/wikitext-2, else ../shared/data, else the cache)",
        location=True,
    )
    emb: int = option(650, "embedding size", min=1)
    hidden: int = option(650, "LSTM hidden size", min=1)
    layers: int = option(2, "LSTM layers", min=1)
    dropout: float = option(0.5, "dropout between the LSTM layers", min=0.0, below=1.0)
    bptt: int = option(50, "truncated backpropagation length (tokens)", min=1)
    batch: int = option(30, "streams per batch", min=1)
    epochs: int = option(10, "training epochs per ticket", min=1)
    batches_per_epoch: int = option(0, "batches per epoch (0: the whole training split)", min=0)
    eval_tokens: int = option(0, "evaluate on the first N valid/test tokens (0: the whole split)", min=0)
    eval_batch: int = option(10, "streams when evaluating", min=1)
    optim: AdamConfig = option(AdamConfig(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-3), "Adam (paper: lr 1e-3, eps 1e-3)")


# The quick preset: a real but reduced run for a CPU — a smaller LSTM (128), epochs of 50 batches,
# validation/test log perplexity over the first 20k tokens, reset after 20 updates; 2 seeds, 2 levels.
PRESETS: dict[str, Preset] = {
    "paper": Preset(LSTMConfig(), LotteryConfig(seeds=3, levels=20, rate=0.2, reset="epoch:1")),
    "quick": Preset(
        replace(LSTMConfig(), emb=128, hidden=128, bptt=35, epochs=2, batches_per_epoch=50, eval_tokens=20_000),
        LotteryConfig(seeds=2, levels=2, rate=0.6, reset="update:20"),
    ),
}


# Above this fraction of kept decoder weights the dense matrix product is as fast (bench/RESULTS.md).
SPARSE_DECODER_MAX_DENSITY = 0.4


class LSTMLanguageModel(nn.Module):
    """Embedding -> 2-layer LSTM (dropout between layers) -> linear decoder over the vocabulary."""

    def __init__(self, n_tokens: int, cfg: LSTMConfig):
        super().__init__()
        self.encoder = nn.Embedding(n_tokens, cfg.emb)
        self.rnn = nn.LSTM(cfg.emb, cfg.hidden, cfg.layers, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.decoder = nn.Linear(cfg.hidden, n_tokens)
        # pytorch/examples' word_language_model initialization (the LSTM keeps torch's default).
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        self.decoder_pattern: RowPattern | None = None

    def set_decoder_mask(self, mask: torch.Tensor | None) -> None:
        """Computes the decoder with its kept weights only (``lotteryfast.masked_linear``) when
        the mask keeps at most SPARSE_DECODER_MAX_DENSITY of them and the model runs in float32
        on CPU; ``None`` (or a denser mask) goes back to the dense product. The decoder is ~75 %
        of the model's multiply-adds (650 x 33,278 per token)."""
        w = self.decoder.weight
        use = (
            mask is not None
            and w.device.type == "cpu"
            and w.dtype == torch.float32
            and float(mask.float().mean()) <= SPARSE_DECODER_MAX_DENSITY
        )
        self.decoder_pattern = RowPattern.from_mask(mask) if use else None

    def forward(self, x: torch.Tensor, hidden):
        out, hidden = self.rnn(self.encoder(x), hidden)
        if self.decoder_pattern is not None:
            return masked_linear(out, self.decoder.weight, self.decoder.bias, self.decoder_pattern), hidden
        return self.decoder(out), hidden


class LSTMLanguageModelTask(ModelTask):
    """LSTM LM on WikiText-2; trains the members one after the other."""

    metric_name = "test log perplexity"
    higher_is_better = False

    def __init__(self, cfg: LSTMConfig, device: str = "cpu", corpus: wikitext.Corpus | None = None):
        self.cfg = cfg
        self.device = torch.device(device)
        self.name = "WikiText-2 LSTM"
        self.corpus = corpus or wikitext.load(cfg.data or None)
        rank, world = distributed.rank(), distributed.world_size()
        if cfg.batch % world:
            raise ValueError(f"batch {cfg.batch} does not split over {world} ranks")
        train = wikitext.batchify(self.corpus.train, cfg.batch)
        per = cfg.batch // world
        self.train_data = train[:, rank * per : (rank + 1) * per].contiguous()  # this rank's streams
        n_batches = (self.train_data.size(0) - 1 + cfg.bptt - 1) // cfg.bptt
        self.batches_per_epoch = min(cfg.batches_per_epoch or n_batches, n_batches)
        self.progress_units = cfg.epochs * self.batches_per_epoch  # batches per member, for progress bars

    def data_fingerprint(self) -> str:
        """SHA-256 of the corpus as read (vocabulary and token ids): the data's identity in a run."""
        h = hashlib.sha256("\n".join(self.corpus.vocab).encode())
        for split in (self.corpus.train, self.corpus.valid, self.corpus.test):
            h.update(split.numpy().tobytes())
        return h.hexdigest()

    def new_model(self) -> LSTMLanguageModel:
        return LSTMLanguageModel(self.corpus.n_tokens, self.cfg)

    # --- training -----------------------------------------------------------------------------
    def _train_one(self, member: Member, progress) -> MemberResult:
        cfg = self.cfg
        model, opt = self.model_and_optimizer(member)
        if member.masks is not None:
            model.set_decoder_mask(member.masks.get("decoder.weight"))
        world = distributed.world_size()
        net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
        gen = torch.Generator(device="cpu").manual_seed(int(member.seed))  # dropout masks per member
        reset, updates, curve = member.late_reset(lambda: self.snapshot(model)), 0, []
        history: list[dict[str, float]] = []
        for epoch in range(cfg.epochs):
            model.train()
            hidden = None
            loss_sum = torch.zeros((), device=self.device)
            for b in range(self.batches_per_epoch):
                i = b * cfg.bptt
                seq = min(cfg.bptt, self.train_data.size(0) - 1 - i)
                x = self.train_data[i : i + seq].to(self.device)
                y = self.train_data[i + 1 : i + 1 + seq].to(self.device)
                hidden = None if hidden is None else tuple(h.detach() for h in hidden)
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=gen)))
                    logits, hidden = net(x, hidden)
                    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                opt.step()
                loss_sum += loss.detach()
                updates += 1
                reset.progress(updates=updates)
                if progress is not None:
                    progress.update(1)
            reset.progress(epochs=epoch + 1)
            curve.append(self.evaluate(model, self.corpus.valid))
            train_loss = float(loss_sum) / max(self.batches_per_epoch, 1)
            history.append(
                {
                    "loss": train_loss,
                    "perplexity": math.exp(min(train_loss, 50.0)),
                    "valid_perplexity": math.exp(min(curve[-1], 50.0)),
                }
            )
        test = self.evaluate(model, self.corpus.test)
        return MemberResult(
            metric=test,
            trained=self.snapshot(model),
            rewind=reset.weights,
            curve=curve,
            stats={"updates": updates, "valid_log_ppl": curve[-1] if curve else math.nan},
            history=history,
        )

    @torch.no_grad()
    def evaluate(self, model: LSTMLanguageModel, data: torch.Tensor) -> float:
        """Mean cross-entropy (nats per token) over `data` (or its first eval_tokens)."""
        cfg = self.cfg
        if cfg.eval_tokens:
            data = data[: cfg.eval_tokens + 1]
        streams = wikitext.batchify(data, cfg.eval_batch)
        model.eval()
        hidden, total, count = None, 0.0, 0
        for i in range(0, streams.size(0) - 1, cfg.bptt):
            seq = min(cfg.bptt, streams.size(0) - 1 - i)
            x = streams[i : i + seq].to(self.device)
            y = streams[i + 1 : i + 1 + seq].to(self.device)
            logits, hidden = model(x, hidden)
            total += float(F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1), reduction="sum"))
            count += y.numel()
        return total / max(count, 1)
