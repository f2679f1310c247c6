"""Shared fixtures: the devices to test on (CUDA only where a GPU is present)."""

import pytest
import torch

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
