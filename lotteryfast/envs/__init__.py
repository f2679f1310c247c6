"""Batched environments: many independent environments stepped as one tensor batch."""

from lotteryfast.envs.classic import AcrobotBatch, CartPoleBatch, GymBatch, LunarLanderBatch, make_batch

__all__ = ["AcrobotBatch", "CartPoleBatch", "GymBatch", "LunarLanderBatch", "make_batch"]
