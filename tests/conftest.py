"""Shared fixtures: the devices to test on (CUDA only where a GPU is present)."""

import pytest
import torch

from lotteryfast._ext import _C

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def cuda_params():
    """pytest params for the device axis; the CUDA one is marked and skipped without a GPU."""
    return [
        pytest.param("cpu", id="cpu"),
        pytest.param(
            "cuda",
            id="cuda",
            marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")],
        ),
    ]


@pytest.fixture(params=cuda_params())
def device(request):
    return request.param


ISAS = ["generic"] + (["avx512"] if _C.best_cpu_isa() == "avx512" else [])


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs a test with each CPU instruction set the kernels have on this machine."""
    previous = _C.cpu_isa()
    _C.set_cpu_isa(request.param)
    yield request.param
    _C.set_cpu_isa(previous)
