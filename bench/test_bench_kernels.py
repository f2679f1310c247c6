"""Micro-benchmarks (pytest-benchmark) of the kernels against their baselines, same run.

    pytest bench --benchmark-group-by=group            # full sizes (CPU; CUDA too where present)
    LOTTERYFAST_BENCH_SCALE=0.002 pytest bench --benchmark-disable   # smoke (CI)

Compare the rows of one group: each group is one layout and one task.
"""

import pytest
import torch
import workloads
from conftest import problem

CPU_LAYOUTS = ["50M-in-50", "transformer-base"]


def layouts_for(device):
    return ["1B-in-100", "transformer-base"] if device == "cuda" else CPU_LAYOUTS


def run(benchmark, fn, device, rounds=5):
    def timed():
        fn()
        if device == "cuda":
            torch.cuda.synchronize()

    benchmark.pedantic(timed, rounds=rounds, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("layout", ["50M-in-50", "transformer-base", "1B-in-100"])
@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
def test_masked_step(benchmark, device, layout, kind):
    if layout not in layouts_for(device):
        pytest.skip(f"{layout} is not a {device} layout")
    pb = problem(layout, 0.2, device)
    benchmark.group = f"{kind} step, 80% pruned, {layout}, {device}"
    steps = workloads.optimizer_steps(kind, pb)
    name = next(iter(steps))  # ours first; the baselines are separate tests below
    benchmark.name = name
    run(benchmark, steps[name], device)


@pytest.mark.parametrize("layout", ["50M-in-50", "transformer-base", "1B-in-100"])
@pytest.mark.parametrize("kind", ["adam", "rmsprop"])
@pytest.mark.parametrize("baseline", [1, 2, 3])
def test_baseline_step(benchmark, device, layout, kind, baseline):
    if layout not in layouts_for(device):
        pytest.skip(f"{layout} is not a {device} layout")
    pb = problem(layout, 0.2, device)
    steps = list(workloads.optimizer_steps(kind, pb).items())
    if baseline >= len(steps):
        pytest.skip("no such baseline here")
    name, fn = steps[baseline]
    benchmark.group = f"{kind} step, 80% pruned, {layout}, {device}"
    benchmark.name = name
    run(benchmark, fn, device)


@pytest.mark.parametrize("layout", ["50M-in-50", "transformer-base", "1B-in-100"])
@pytest.mark.parametrize(
    "method",
    [
        "lotteryfast kth_smallest_magnitude",
        "lotteryfast global_magnitude_prune",
        "torch.cat + topk",
        "numpy percentile on concat",
    ],
)
def test_threshold(benchmark, device, layout, method):
    if layout not in layouts_for(device):
        pytest.skip(f"{layout} is not a {device} layout")
    pb = problem(layout, 0.8, device)
    fns = workloads.threshold_fns(pb)
    if method not in fns:
        pytest.skip(f"{method} has no {device} version")
    benchmark.group = f"global threshold, 20% of 80% kept, {layout}, {device}"
    benchmark.name = method
    run(benchmark, fns[method], device, rounds=1 if "topk" in method or "numpy" in method else 5)
