"""pytest-benchmark setup: problems are built once per layout and device and shared."""

import functools
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@functools.cache
def problem(layout: str, density: float, device: str) -> workloads.Problem:
    return workloads.make_problem(workloads.LAYOUTS[layout](), density, device)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param
