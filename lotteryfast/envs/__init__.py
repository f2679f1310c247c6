"""Batched environments: many independent environments stepped as one tensor batch."""

from lotteryfast.envs.classic import CartPoleBatch, GymBatch, make_batch

__all__ = ["CartPoleBatch", "GymBatch", "make_batch"]
