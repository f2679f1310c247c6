"""Training speed of the paper's WikiText-2 LSTM (2 x 650, vocabulary 33,278, batch 30 x BPTT 50),
80 % pruned: lotteryfast (MaskedAdam) against the two ways users keep pruned weights at zero today,
measured in the same run on the same batches.

    python bench/lstm_speed.py                     # paper model, a few batches each
    python bench/lstm_speed.py --hidden 128 --steps 2   # smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.utils import prune

from lotteryfast.optim import MaskedAdam
from lotteryfast.runtime import keep_freed_memory
from lotteryfast.tasks.lstm import LSTMConfig, LSTMLanguageModel
from lotteryfast.tickets import prune_masks

VOCAB = 33278


DEVICE = "cpu"


def batches(cfg: LSTMConfig, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randint(VOCAB, (cfg.bptt, cfg.batch), generator=g).to(DEVICE),
            torch.randint(VOCAB, (cfg.bptt, cfg.batch), generator=g).to(DEVICE),
        )
        for _ in range(n)
    ]


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed_steps(step, data) -> float:
    """Median seconds per training step over `data` after one warm-up step."""
    step(*data[0])
    times = []
    for x, y in data[1:]:
        sync()
        t0 = time.perf_counter()
        step(x, y)
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def model_and_masks(cfg: LSTMConfig):
    torch.manual_seed(0)
    model = LSTMLanguageModel(VOCAB, cfg).to(DEVICE)
    masks = prune_masks({n: p.detach() for n, p in model.named_parameters()}, None, 0.8)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.mul_(masks[n])
    return model, masks


def loss_of(model, x, y):
    logits, _ = model(x, None)
    return F.cross_entropy(logits.view(-1, VOCAB), y.reshape(-1))


def ours(cfg, data, sparse_decoder: bool = True):
    """The task's loop: MaskedAdam, and the decoder over its kept weights only (CPU)."""
    model, masks = model_and_masks(cfg)
    if sparse_decoder:
        model.set_decoder_mask(masks["decoder.weight"])
    opt = MaskedAdam(model.parameters(), [masks[n] for n, _ in model.named_parameters()], lr=1e-3, eps=1e-3)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss_of(model, x, y).backward()
        opt.step()

    return timed_steps(step, data)


def adam_and_mask_multiply(cfg, data):
    model, masks = model_and_masks(cfg)
    params = list(model.parameters())
    fmasks = [masks[n].float() for n, _ in model.named_parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-3, fused=True)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss_of(model, x, y).backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(params, fmasks)

    return timed_steps(step, data)


def torch_prune_hooks(cfg, data):
    model, masks = model_and_masks(cfg)
    for name, _ in list(model.named_parameters()):
        module_name, _, param = name.rpartition(".")
        prune.custom_from_mask(model.get_submodule(module_name), param, masks[name])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-3, fused=True)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss_of(model, x, y).backward()
        opt.step()

    return timed_steps(step, data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=650, help="embedding and hidden size (paper: 650)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per method")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--fresh-pages", action="store_true", help="leave glibc's malloc as it is (every method)")
    args = ap.parse_args()
    kept = False if args.fresh_pages else keep_freed_memory()  # as python -m lotteryfast.run does
    global DEVICE
    DEVICE = args.device
    cfg = LSTMConfig(emb=args.hidden, hidden=args.hidden)
    data = batches(cfg, args.steps + 1)
    tokens = cfg.bptt * cfg.batch
    where = (
        torch.cuda.get_device_name() if DEVICE == "cuda" else f"{platform.machine()}, {torch.get_num_threads()} threads"
    )
    _, masks = model_and_masks(cfg)
    density = masks["decoder.weight"].float().mean().item()
    print(
        f"WikiText-2 LSTM {args.hidden}x2, vocab {VOCAB}, batch {cfg.batch} x {cfg.bptt}, 80 % pruned "
        f"(decoder keeps {100 * density:.1f} %); {where}; freed memory reused: {kept}"
    )
    rows = [
        ("lotteryfast (MaskedAdam + masked decoder)", ours(cfg, data)),
        ("torch Adam(fused) + mask multiply", adam_and_mask_multiply(cfg, data)),
        ("torch.nn.utils.prune masks + Adam(fused)", torch_prune_hooks(cfg, data)),
        ("lotteryfast MaskedAdam, dense decoder", ours(cfg, data, sparse_decoder=False)),
    ]
    best_baseline = min(t for _, t in rows[1:3])
    print("| method | s/step | tokens/s | ours faster by |\n|---|---|---|---|")
    for name, t in rows:
        speed = "" if name == rows[0][0] else f"{t / rows[0][1]:.2f}x"
        print(f"| {name} | {t:.3f} | {tokens / t:,.0f} | {speed} |")
    print(f"vs the faster baseline: {best_baseline / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
