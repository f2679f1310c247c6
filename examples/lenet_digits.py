"""The original lottery-ticket setting as your own task: LeNet-300-100 on scikit-learn's 8x8 digits.

A complete example of a user task (nothing in lotteryfast is edited): a typed config whose fields
become CLI flags, presets, and a TorchTask built from a model factory and train/evaluate functions.

    pip install scikit-learn          # the digits ship inside it (1,797 images, no download)
    python -m lotteryfast.run examples/lenet_digits.py:spec                  # the quick preset
    python -m lotteryfast.run examples/lenet_digits.py:spec --levels 8 --epochs 20 --lr 2e-3
    python -m lotteryfast.run examples/lenet_digits.py:spec --help           # every option
    python examples/lenet_digits.py                                           # the same from Python

Installed as a package, register it instead under the entry-point group ``lotteryfast.tasks``
(``[project.entry-points."lotteryfast.tasks"] lenet-digits = "mypkg.lenet_digits:spec"``) and run
``python -m lotteryfast.run lenet-digits``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from lotteryfast.config import Config, option
from lotteryfast.lottery import LotteryConfig
from lotteryfast.tasks.optimizers import AdamConfig
from lotteryfast.tasks.spec import BuildContext, Preset, TaskSpec
from lotteryfast.tasks.torch_task import TorchTask


@dataclass(frozen=True)
class DigitsConfig(Config):
    """LeNet-300-100 on the 8x8 digits (Frankle & Carbin's MNIST network, Adam 1.2e-3, batch 60)."""

    hidden: tuple[int, ...] = option((300, 100), "hidden layer widths", min=1)
    epochs: int = option(10, "training epochs per ticket", min=1)
    batch: int = option(60, "images per batch", min=1)
    test_fraction: float = option(0.2, "share of the images held out as the test set", min=0.05, max=0.5)
    optim: AdamConfig = option(AdamConfig(lr=1.2e-3), "Adam")


def load_digits_split(test_fraction: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): pixels scaled to [0, 1], a fixed shuffled split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ValueError("this example needs scikit-learn: pip install scikit-learn") from None
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def lenet(hidden: tuple[int, ...], inputs: int = 64, classes: int = 10) -> nn.Sequential:
    """A fully connected network inputs -> hidden... -> classes with ReLUs (PyTorch's default init)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    layers.append(nn.Linear(inputs, classes))
    return nn.Sequential(*layers)


def build(cfg: DigitsConfig, ctx: BuildContext) -> TorchTask:
    """The task for `cfg`: data loaded once, shared by every ticket."""
    x_train, y_train, x_test, y_test = load_digits_split(cfg.test_fraction)
    device = torch.device(ctx.device)
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))

    def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, gen: torch.Generator) -> float:
        order = torch.randperm(len(y_train), generator=gen).to(device)
        total = 0.0
        for start in range(0, len(order), cfg.batch):
            idx = order[start : start + cfg.batch]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        return total / len(order)

    def accuracy(model: nn.Module) -> float:
        return float((model(x_test).argmax(dim=1) == y_test).float().mean())

    return TorchTask(
        "LeNet-300-100 on 8x8 digits",
        model=lambda: lenet(cfg.hidden),
        train_epoch=train_epoch,
        evaluate=accuracy,
        epochs=cfg.epochs,
        metric_name="test accuracy",
        higher_is_better=True,
        device=device,
        config=cfg,
    )


spec = TaskSpec(
    "lenet-digits",
    {
        # Frankle & Carbin's schedule: 20 % of the weights per level (the output layer at the
        # same rate here: global pruning), reset to initialization.
        "paper": Preset(DigitsConfig(), LotteryConfig(seeds=3, levels=15, rate=0.2, reset="init")),
        "quick": Preset(replace(DigitsConfig(), epochs=5), LotteryConfig(seeds=2, levels=6, rate=0.4, reset="epoch:1")),
    },
    build,
    "LeNet-300-100 on scikit-learn's 8x8 digits (the original lottery-ticket setting)",
)


if __name__ == "__main__":
    from lotteryfast.experiment import run_experiment

    task = build(DigitsConfig(epochs=5), BuildContext())
    rows = run_experiment(task, LotteryConfig(seeds=2, levels=6, rate=0.4), "runs/lenet-digits-example", plot=True)
    for r in rows:
        pruned = 100 * r.fraction_pruned
        print(f"level {r.level:2d} {r.kind:5s} {pruned:6.2f} % pruned: accuracy {r.mean:.4f} ± {r.std:.4f}")
