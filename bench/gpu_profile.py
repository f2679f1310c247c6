"""Where does the masked step's time go? Times MaskedAdam/MaskedRMSprop on one layout at several
mask densities and without masks, with the bytes each must move, so a run shows whether the
state indexing or the streaming of p and g is the limit. `--once` runs a single step (for ncu)."""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lotteryfast import MaskedAdam, MaskedRMSprop


def timed(fn, repeats=20):
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numel", type=int, default=400_000_000)
    ap.add_argument("--tensors", type=int, default=40)
    ap.add_argument("--once", action="store_true")
    ap.add_argument("--density", type=float, default=0.2, help="mask density of the --once step")
    args = ap.parse_args()
    per = args.numel // args.tensors
    params = [torch.nn.Parameter(torch.randn(per, device="cuda")) for _ in range(args.tensors)]
    for p in params:
        p.grad = torch.randn_like(p)
    if args.once:
        masks = [torch.rand(per, device="cuda") < args.density for _ in params]
        opt = MaskedAdam(params, masks)
        opt.step()
        torch.cuda.synchronize()
        opt.step()
        torch.cuda.synchronize()
        return
    src = torch.randn(per * 4, device="cuda")
    dst = torch.empty_like(src)
    bw = 2 * src.numel() * 4 / timed(lambda: dst.copy_(src))
    print(f"copy {bw / 1e9:.0f} GB/s; {args.numel / 1e6:.0f}M params in {args.tensors} tensors")
    print("| optimizer | density | ms | GB/s | % copy |")
    for cls, n_states in ((MaskedAdam, 2), (MaskedRMSprop, 1)):
        for density in (None, 1.0, 0.5, 0.2, 0.05):
            masks = None if density is None else [torch.rand(per, device="cuda") < density for _ in params]
            opt = cls(params, masks)
            t = timed(opt.step)
            kept = args.numel if density is None else sum(int(m.sum()) for m in masks)
            moved = 12 * args.numel + 8 * n_states * kept + (0 if density is None else args.numel * 3 // 16)
            print(
                f"| {cls.__name__} | {density if density is not None else 'dense'} | {1e3 * t:.2f} "
                f"| {moved / t / 1e9:.0f} | {100 * moved / t / bw:.0f} % |"
            )
            del opt


if __name__ == "__main__":
    main()
