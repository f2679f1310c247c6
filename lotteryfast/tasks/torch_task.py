"""Your own model as a lottery task, without editing lotteryfast.

    task = TorchTask(
        "lenet-digits",
        model=lambda: LeNet300100(),                     # a fresh network (seeded by the engine)
        train_epoch=train_one_epoch,                     # (model, optimizer, epoch, generator) -> loss
        evaluate=test_accuracy,                          # (model) -> the ticket's metric
        epochs=10,
        optimizer=AdamConfig(lr=1.2e-3),
        metric_name="test accuracy",
    )

The library builds each member's network and its masked optimizer (pruned weights stay exactly 0
through ``optimizer.step()``), seeds torch's RNG and a generator per member, and takes the
late-resetting snapshot itself: after the epoch, or after the optimizer update (counted by a
step hook), that the experiment's ``--reset-to`` names. Random tickets are fresh draws of
``model()``; a factory that loads pretrained weights must pass ``random_init`` (see
:class:`lotteryfast.tasks.base.Task`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lotteryfast.tasks.base import Member, MemberResult, ModelTask, Params
from lotteryfast.tasks.optimizers import AdamConfig, OptimizerConfig

TrainEpoch = Callable[[nn.Module, torch.optim.Optimizer, int, torch.Generator], Any]
Evaluate = Callable[[nn.Module], float]


class TorchTask(ModelTask):
    """A lottery task from a model factory and train/evaluate functions.

    Args:
        name: the task's name (plots, logs).
        model: returns a freshly initialized ``nn.Module``; called with torch's RNG seeded, so
            the same seed gives the same weights.
        train_epoch: trains the model for one epoch: ``train_epoch(model, optimizer, epoch,
            generator)``; call ``optimizer.step()`` per batch (the library counts updates); use
            ``generator`` (seeded per member) for data order. May return the epoch's training
            loss (a float) or a dict of floats; they go into the ticket's stats.
        evaluate: the ticket's metric of a trained model (called after every epoch for the
            curve; the last value is the ticket's metric). Runs under ``torch.no_grad()`` with
            the model in eval mode.
        epochs: epochs per ticket.
        optimizer: an AdamConfig or RMSpropConfig (built as MaskedAdam / MaskedRMSprop).
        metric_name, higher_is_better: what the metric is.
        device: where the members train.
        random_init: for pretrained factories: re-initializes a model in place with fresh random
            weights; random tickets are then drawn with it (otherwise from ``model()``).
        config: the typed config the task was built from (it names the run directory).
    """

    def __init__(
        self,
        name: str,
        model: Callable[[], nn.Module],
        train_epoch: TrainEpoch,
        evaluate: Evaluate,
        *,
        epochs: int,
        optimizer: OptimizerConfig | None = None,
        metric_name: str = "metric",
        higher_is_better: bool = True,
        device: str | torch.device = "cpu",
        random_init: Callable[[nn.Module], None] | None = None,
        config: Any = None,
    ):
        if not (isinstance(epochs, int) and epochs >= 1):
            raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
        if not callable(model) or not callable(train_epoch) or not callable(evaluate):
            raise ValueError("model, train_epoch and evaluate must be callables")
        self.name = name
        self.metric_name = metric_name
        self.higher_is_better = higher_is_better
        self.device = torch.device(device)
        self._factory, self._train_epoch, self._evaluate = model, train_epoch, evaluate
        self.epochs = epochs
        self._random_init = random_init
        self.progress_units = epochs
        self.cfg = config
        self.optim = optimizer or getattr(config, "optim", None) or AdamConfig()
        if not hasattr(self.optim, "build"):
            raise ValueError(f"optimizer must be an AdamConfig or RMSpropConfig, got {self.optim!r}")

    def optimizer_config(self) -> OptimizerConfig:
        """The members' optimizer."""
        return self.optim

    def new_model(self) -> nn.Module:
        """A fresh network from the factory (on the CPU)."""
        return self._factory().cpu()

    def random_params(self, seed: int) -> Params:
        """A random ticket's weights: ``random_init`` applied to a new model, else ``init_params``."""
        if self._random_init is None:
            return self.init_params(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = self.new_model()
            self._random_init(model)
        return self.snapshot(model)

    def _train_one(self, member: Member, progress: Any) -> MemberResult:
        model, opt = self.model_and_optimizer(member)
        reset = member.late_reset(lambda: self.snapshot(model))
        updates = 0

        def count(*_: Any) -> None:
            nonlocal updates
            updates += 1
            reset.progress(updates=updates)

        hook = opt.register_step_post_hook(count)
        generator = torch.Generator().manual_seed(int(member.seed))
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        curve: list[float] = []
        stats: dict[str, float] = {}
        history: list[dict[str, float]] = []
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(int(member.seed))  # dropout and any code on torch's global RNG
                for epoch in range(self.epochs):
                    model.train()
                    out = self._train_epoch(model, opt, epoch, generator)
                    epoch_stats = (
                        {k: float(v) for k, v in out.items()}
                        if isinstance(out, dict)
                        else ({} if out is None else {"loss": float(out)})
                    )
                    history.append(epoch_stats)
                    stats.update({f"train_{k}": v for k, v in epoch_stats.items()})
                    reset.progress(epochs=epoch + 1, updates=updates)
                    curve.append(self._metric(model))
                    if progress is not None:
                        progress.update(1)
        finally:
            hook.remove()
        stats["updates"] = updates
        return MemberResult(
            metric=curve[-1],
            trained=self.snapshot(model),
            rewind=reset.weights,
            curve=curve,
            stats=stats,
            history=history,
        )

    def _metric(self, model: nn.Module) -> float:
        model.eval()
        with torch.no_grad():
            value = float(self._evaluate(model))
        if math.isnan(value):
            raise ValueError(f"{self.name}: evaluate() returned NaN")
        return value
