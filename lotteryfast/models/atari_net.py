"""The paper's Atari network (Table 1): four Conv-ReLU-MaxPool(2) stages and an MLP
1920-512-512 with a policy head (one logit per action) and a value head.

Conv(w, x, y, z) = filter size w, x channels, stride y, padding z:
Conv(5,64,1,2)-MaxPool(2)-Conv(5,64,1,2)-MaxPool(2)-Conv(3,64,1,1)-MaxPool(2)-Conv(3,64,1,1)-MaxPool(2).
On a 4 x 105 x 80 input: 105x80 -> 52x40 -> 26x20 -> 13x10 -> 6x5, so 64 x 6 x 5 = 1920 features.

The paper does not give the initialisation. The network uses orthogonal weights with gain sqrt(2)
(as the A2C reference implementations, OpenAI baselines and CleanRL, do for their ReLU layers) and
zero biases, for every layer including the two heads. With PyTorch's default initialisation the
activations shrink through the six layers until the policy hardly depends on the frame (on
Breakout the logits varied by 2e-5 across states and the policy stayed uniform for 1.15M agent
steps). The heads get the same gain rather than the references' 0.01 (policy) and 1 (value):
global magnitude pruning compares weights across layers, and with the 0.01 head an 80 % prune
removed every policy weight, leaving winning and random tickets alike with a uniform policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AtariNetConfig:
    """Widths (defaults: Table 1); the input is `stack` frames of height x width."""

    channels: tuple[int, int, int, int] = (64, 64, 64, 64)
    hidden: int = 512
    stack: int = 4
    height: int = 105
    width: int = 80


KERNELS = ((5, 2), (5, 2), (3, 1), (3, 1))  # (filter size, padding); stride 1, then MaxPool(2)


def feature_shape(cfg: AtariNetConfig) -> tuple[int, int, int]:
    """(channels, height, width) after the four conv + pool stages."""
    h, w = cfg.height, cfg.width
    for k, pad in KERNELS:
        h, w = (h + 2 * pad - k + 1) // 2, (w + 2 * pad - k + 1) // 2
    return cfg.channels[-1], h, w


class AtariNet(nn.Module):
    """uint8 frames [B, stack, H, W] -> (policy logits [B, actions], value [B])."""

    def __init__(self, n_actions: int, cfg: AtariNetConfig = AtariNetConfig()):
        super().__init__()
        chans = (cfg.stack, *cfg.channels)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], k, stride=1, padding=pad) for i, (k, pad) in enumerate(KERNELS)
        )
        c, h, w = feature_shape(cfg)
        if h < 1 or w < 1:
            raise ValueError(f"frames of {cfg.height} x {cfg.width} are too small for four conv + pool stages")
        self.fc1 = nn.Linear(c * h * w, cfg.hidden)
        self.fc2 = nn.Linear(cfg.hidden, cfg.hidden)
        self.policy = nn.Linear(cfg.hidden, n_actions)
        self.value = nn.Linear(cfg.hidden, 1)
        for layer in (*self.convs, self.fc1, self.fc2, self.policy, self.value):
            nn.init.orthogonal_(layer.weight, math.sqrt(2.0))
            nn.init.zeros_(layer.bias)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = frames.float() / 255.0
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return self.policy(x), self.value(x).squeeze(-1)
