"""Python replica of csrc/common/splitmix.h (SplitMix64 and mix), the generator every C++
environment pool draws from: the Atari and LunarLander references replay its streams."""

from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1
GOLDEN, C1, C2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


class SplitMix64:
    """SplitMix64 over Python ints; `uniform` has numpy Generator.uniform's signature and formula,
    so it can stand in for an environment's ``np_random``."""

    def __init__(self, state: int):
        self.state = state & M64

    def next(self) -> int:
        self.state = (self.state + GOLDEN) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * C1) & M64
        z = ((z ^ (z >> 27)) * C2) & M64
        return z ^ (z >> 31)

    def uniform(self, low: float = 0.0, high: float = 1.0, size=None):
        """low + (high - low) * u, with u from the top 53 bits of next()."""
        draw = lambda: low + (high - low) * ((self.next() >> 11) * 2.0**-53)  # noqa: E731
        if size is None:
            return draw()
        return np.array([draw() for _ in range(int(np.prod(size)))]).reshape(size)


def mix(seed: int, i: int) -> int:
    """The seed of stream `i` of a generator family seeded `seed`."""
    return SplitMix64(seed + GOLDEN * i).next()
