"""Kernel benchmark table: masked optimizer steps and the global magnitude threshold against the
torch/numpy baselines, all measured in the same run on the same data.

    python bench/run.py                       # CPU, the issue's layouts
    python bench/run.py --device cuda         # GPU layouts (1B params in 100 tensors, Transformer-base)
    LOTTERYFAST_BENCH_SCALE=0.01 python bench/run.py --repeats 1   # smoke run

Prints one markdown table per section; --json writes every figure.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads

from lotteryfast._ext import _C


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn, device: str, repeats: int, warmup: int = 1) -> float:
    """Median wall time of fn over `repeats` runs after `warmup` runs (device synchronized)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rss_peak_extra_bytes(fn) -> int:
    """Peak resident memory fn adds (Linux): free heap memory goes back to the OS first, so reuse
    of freed pages cannot hide allocations; then the high-water mark is reset and read after fn."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    status = Path("/proc/self/status")

    def field(name: str) -> int:
        for line in status.read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) * 1024
        raise RuntimeError(name)

    before = field("VmRSS:")
    Path("/proc/self/clear_refs").write_text("5")
    fn()
    return field("VmHWM:") - before


def cuda_peak_extra_bytes(fn) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def step_bytes(pb: workloads.Problem, n_states: int) -> int:
    """Fewest bytes a masked step must move: p read+write, g read, kept state read+write, mask code."""
    elem = pb.params[0].element_size()
    n = pb.numel
    alive = sum(int(m.sum()) for m in pb.masks)
    return 3 * elem * n + 2 * n_states * elem * alive + n // 8 + n // 16


def stream_ceiling(device: str, repeats: int) -> tuple[float, str]:
    """Bandwidth ceiling in bytes/s and its name. GPU: a device-to-device copy (read + write).
    CPU: ``p.add_(g)`` on 50M floats, the p/g streams of an optimizer step (read p and g, write
    p): torch's CPU copy_ runs below what the memory system gives two cores."""
    n = max(int(50_000_000 * min(1.0, workloads.SCALE * 10)), 1 << 16)
    if device == "cuda":
        src = torch.randn(8 * n, device=device)
        dst = torch.empty_like(src)
        return 2 * src.numel() * 4 / median_seconds(lambda: dst.copy_(src), device, repeats), "copy"
    p, g = torch.randn(n), torch.randn(n)
    return 3 * n * 4 / median_seconds(lambda: p.add_(g), device, repeats), "p.add_(g) stream"


def section_optim(device: str, layouts: list[str], repeats: int, results: dict) -> None:
    bw, ceiling = stream_ceiling(device, repeats)
    results["ceiling"] = {"name": ceiling, "GBps": bw / 1e9}
    print(f"\n### Masked optimizer step, 80 % pruned ({device}; {ceiling} bandwidth {bw / 1e9:.1f} GB/s)\n")
    print(f"| layout | method | ms/step | ours faster by | GB/s (min bytes) | % of {ceiling} BW |")
    print("|---|---|---|---|---|---|")
    for layout in layouts:
        shapes = workloads.LAYOUTS[layout]()
        for kind, n_states in (("adam", 2), ("rmsprop", 1)):
            pb = workloads.make_problem(shapes, 0.2, device)
            steps = workloads.optimizer_steps(kind, pb)
            times = {name: median_seconds(fn, device, repeats) for name, fn in steps.items()}
            ours = next(iter(times))
            moved = step_bytes(pb, n_states)
            for name, t in times.items():
                mine = name == ours
                ratio = "" if mine else f"{t / times[ours]:.2f}x"
                gbps = f"{moved / t / 1e9:.1f}" if mine else ""
                share = f"{100 * moved / t / bw:.0f} %" if mine else ""
                print(
                    f"| {layout} ({pb.numel / 1e6:.1f}M, {len(shapes)} tensors) | {name} | {1e3 * t:.2f} "
                    f"| {ratio} | {gbps} | {share} |"
                )
                results.setdefault("optim", []).append(
                    dict(layout=layout, kind=kind, method=name, ms=1e3 * t, ours_faster_by=t / times[ours])
                )
            del pb, steps
            if device == "cuda":
                torch.cuda.empty_cache()


def section_threshold(device: str, layouts: list[str], repeats: int, results: dict) -> None:
    print(f"\n### Global magnitude threshold over 80 %-pruned masks, pruning 20 % more ({device})\n")
    print("| layout | method | ms | speed-up of kth_smallest_magnitude | peak extra memory |")
    print("|---|---|---|---|---|")
    peak = cuda_peak_extra_bytes if device == "cuda" else rss_peak_extra_bytes
    for layout in layouts:
        shapes = workloads.LAYOUTS[layout]()
        pb = workloads.make_problem(shapes, 0.8, device)
        for p in pb.params:
            p.grad = None
        param_bytes = sum(p.numel() * p.element_size() for p in pb.params)
        fns = workloads.threshold_fns(pb)
        reps = {name: (1 if "topk" in name or "numpy" in name else repeats) for name in fns}
        times = {name: median_seconds(fn, device, reps[name]) for name, fn in fns.items()}
        ours = times["lotteryfast kth_smallest_magnitude"]
        for name, t in times.items():
            extra = peak(fns[name])
            print(
                f"| {layout} ({pb.numel / 1e6:.0f}M) | {name} | {1e3 * t:.1f} | {t / ours:.2f}x "
                f"| {extra / 2**20:.1f} MiB ({100 * extra / param_bytes:.2f} % of params) |"
            )
            results.setdefault("threshold", []).append(
                dict(
                    layout=layout,
                    method=name,
                    ms=1e3 * t,
                    speedup_of_ours=t / ours,
                    peak_extra_bytes=extra,
                    param_bytes=param_bytes,
                )
            )
        del pb, fns
        if device == "cuda":
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--layouts",
        nargs="*",
        help="default: 50M-in-50 and transformer-base (CPU); 1B-in-100 and transformer-base (CUDA)",
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=["optim", "threshold"])
    parser.add_argument("--json", type=Path, help="write all figures here")
    args = parser.parse_args()
    layouts = args.layouts or (
        ["1B-in-100", "transformer-base"] if args.device == "cuda" else ["50M-in-50", "transformer-base"]
    )
    machine = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(
        f"lotteryfast kernel benchmark: {machine}; torch {torch.__version__}; CPU ISA {_C.cpu_isa()}; "
        f"scale {workloads.SCALE}"
    )
    results: dict = {"machine": machine, "torch": torch.__version__, "scale": workloads.SCALE}
    if args.only in (None, "optim"):
        section_optim(args.device, layouts, args.repeats, results)
    if args.only in (None, "threshold"):
        section_threshold(args.device, layouts, args.repeats, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
