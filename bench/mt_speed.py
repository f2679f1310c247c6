"""Training speed of the Transformer, 80 % pruned: lotteryfast (MaskedAdam) against the same
model trained with torch.optim.Adam plus a mask multiply after each step, in the same run on the
same token-based batches (synthetic ids, sentence lengths of a WMT-like distribution).

    python bench/mt_speed.py                           # the quick preset's model (CPU)
    python bench/mt_speed.py --size base --device cuda # Transformer-base (GPU)
    python bench/mt_speed.py --size tiny --steps 1     # smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from lotteryfast.models.transformer import Transformer, TransformerConfig
from lotteryfast.optim import MaskedAdam
from lotteryfast.tickets import prune_masks

SIZES = {
    "tiny": (TransformerConfig(64, 4, 128, 1, 1), 1000, 512),
    "quick": (TransformerConfig(128, 4, 512, 2, 2), 4000, 2048),
    "base": (TransformerConfig(), 32000, 4096),
}


def batches(vocab: int, max_tokens: int, n: int, device: str, seed: int = 0):
    """n batches of (src, decoder input, target) with ~max_tokens target tokens each."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        length = int(torch.randint(15, 40, (1,), generator=g))
        rows = max_tokens // length
        src = torch.randint(4, vocab, (rows, length), generator=g)
        tgt = torch.randint(4, vocab, (rows, length), generator=g)
        t_in = torch.cat([torch.full((rows, 1), 2), tgt[:, :-1]], 1)
        out.append(tuple(x.to(device) for x in (src, t_in, tgt)))
    return out


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_steps(step, data, device) -> float:
    """Median seconds per update over `data` after one warm-up update."""
    step(*data[0])
    times = []
    for b in data[1:]:
        sync(device)
        t0 = time.perf_counter()
        step(*b)
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def model_and_masks(cfg: TransformerConfig, vocab: int, device: str):
    torch.manual_seed(0)
    model = Transformer(vocab, cfg).to(device)
    masks = prune_masks({n: p.detach() for n, p in model.named_parameters()}, None, 0.8)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.mul_(masks[n])
    return model, masks


def loss_of(model, src, t_in, tgt):
    logits = model(src, t_in)
    return F.cross_entropy(logits.view(-1, logits.size(-1)), tgt.reshape(-1), label_smoothing=0.1)


def ours(cfg, vocab, data, device):
    model, masks = model_and_masks(cfg, vocab, device)
    opt = MaskedAdam(model.parameters(), [masks[n] for n, _ in model.named_parameters()], betas=(0.9, 0.98))

    def step(*b):
        opt.zero_grad(set_to_none=True)
        loss_of(model, *b).backward()
        opt.step()

    return timed_steps(step, data, device)


def adam_and_mask_multiply(cfg, vocab, data, device, impl: str):
    model, masks = model_and_masks(cfg, vocab, device)
    params = list(model.parameters())
    fmasks = [masks[n].float() for n, _ in model.named_parameters()]
    opt = torch.optim.Adam(params, betas=(0.9, 0.98), **{impl: True})

    def step(*b):
        opt.zero_grad(set_to_none=True)
        loss_of(model, *b).backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(params, fmasks)

    return timed_steps(step, data, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="quick")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=8, help="timed updates per method")
    args = ap.parse_args()
    cfg, vocab, max_tokens = SIZES[args.size]
    data = batches(vocab, max_tokens, args.steps + 1, args.device)
    tokens = sum(int(b[2].numel()) for b in data[1:]) / args.steps
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.machine()} CPU"
    n_params = sum(p.numel() for p in Transformer(vocab, cfg).parameters())
    print(
        f"Transformer {args.size} ({n_params / 1e6:.1f}M params, vocab {vocab}), ~{tokens:.0f} target tokens "
        f"per update, 80 % pruned; {name}, {torch.get_num_threads()} threads"
    )
    rows = [("lotteryfast MaskedAdam", ours(cfg, vocab, data, args.device))]
    for impl in ("fused", "foreach"):
        rows.append(
            (f"torch Adam({impl}) + mask multiply", adam_and_mask_multiply(cfg, vocab, data, args.device, impl))
        )
    print("| method | s/update | updates/s | ours faster by |\n|---|---|---|---|")
    for label, t in rows:
        speed = "" if label.startswith("lotteryfast") else f"{t / rows[0][1]:.2f}x"
        print(f"| {label} | {t:.4f} | {1 / t:.2f} | {speed} |")


if __name__ == "__main__":
    main()
