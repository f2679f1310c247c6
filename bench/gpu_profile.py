"""Where does the masked step's time go, and which CUDA kernel variant is fastest?

Times MaskedAdam/MaskedRMSprop on one layout at several mask densities and without masks, for
each kernel variant of csrc/cuda/optim.cu (LOTTERYFAST_CUDA_STEP_VARIANT), with the bytes each
must move and the share of the copy bandwidth measured on a buffer of the same size in the same
run. `--once` runs a single step (for ncu)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from lotteryfast import MaskedAdam, MaskedRMSprop

DENSITIES = (None, 1.0, 0.5, 0.2, 0.05)


def timed(fn, repeats=20):
    """Median wall time of fn (after one warm-up call), synchronizing the GPU around each call."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def copy_bandwidth(numel: int) -> float:
    """Bytes per second (read + write) of a device-to-device copy of numel floats."""
    src = torch.randn(numel, device="cuda")
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / timed(lambda: dst.copy_(src))


def min_bytes(numel: int, kept: int, n_states: int, masked: bool) -> int:
    """p read + write, g read, the kept entries' state read + write, the packed mask + group bases."""
    return 12 * numel + 8 * n_states * kept + (numel * 3 // 16 if masked else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numel", type=int, default=400_000_000)
    ap.add_argument("--tensors", type=int, default=40)
    ap.add_argument("--variants", default="0", help="comma-separated kernel variants to time")
    ap.add_argument("--json", help="write the measurements and the best variant (at density 0.2) here")
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
    bw = copy_bandwidth(per * 4)
    print(f"copy {bw / 1e9:.0f} GB/s; {args.numel / 1e6:.0f}M params in {args.tensors} tensors")
    print("| variant | optimizer | density | ms | GB/s | % copy |")
    print("|---|---|---|---|---|---|")
    masks_at = {d: None if d is None else [torch.rand(per, device="cuda") < d for _ in params] for d in DENSITIES}
    rows = []
    for variant in args.variants.split(","):
        os.environ["LOTTERYFAST_CUDA_STEP_VARIANT"] = variant
        for cls, n_states in ((MaskedAdam, 2), (MaskedRMSprop, 1)):
            for density, masks in masks_at.items():
                opt = cls(params, masks)
                t = timed(opt.step)
                kept = args.numel if masks is None else sum(int(m.sum()) for m in masks)
                share = min_bytes(args.numel, kept, n_states, masks is not None) / t / bw
                rows.append(
                    dict(variant=int(variant), optimizer=cls.__name__, density=density, ms=1e3 * t, share=share)
                )
                print(
                    f"| {variant} | {cls.__name__} | {density if density is not None else 'dense'} | {1e3 * t:.2f} "
                    f"| {share * bw / 1e9:.0f} | {100 * share:.0f} % |",
                    flush=True,
                )
                del opt
    best = {}
    for name in ("MaskedAdam", "MaskedRMSprop"):
        at = [r for r in rows if r["optimizer"] == name and r["density"] == 0.2]
        best[name] = min(at, key=lambda r: r["ms"])["variant"]
        print(f"fastest {name} variant at density 0.2: {best[name]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(copy_gb_s=bw / 1e9, rows=rows, best_variant=best), f, indent=1)


if __name__ == "__main__":
    main()
