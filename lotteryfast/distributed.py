"""Data-parallel helpers: the engine runs on every rank; rank 0 alone writes the run directory."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_writer() -> bool:
    """Whether this process writes files and prints (rank 0)."""
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (masks, thresholds: identical everywhere by construction)."""
    if not active():
        return obj
    box = [obj if rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def init_from_env(device: str) -> str:
    """Joins the process group torchrun describes (WORLD_SIZE > 1): gloo on CPU, NCCL on CUDA.
    Returns the device this rank uses."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or active():
        return device
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return f"cuda:{local}"
    dist.init_process_group("gloo")
    return device


def shutdown() -> None:
    if active():
        dist.destroy_process_group()
