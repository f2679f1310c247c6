"""Training curves of every finished unit as TensorBoard event files in the run directory:

    tensorboard --logdir RUN_DIR/tensorboard

One TensorBoard run per unit (`seed<S>/level<LL>/<kind>`): per epoch the task's metric
(`metric/<name>`) and its training statistics (`train/<stat>`: A2C loss, entropy, value loss;
LSTM loss and perplexity; Transformer loss, ...), the final metric, and the run's hyper-parameters
with the unit's seed, level, ticket kind and fraction pruned (the HPARAMS tab)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any


def available() -> bool:
    """Whether the tensorboard package (which torch's SummaryWriter needs) is installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}{k}." if prefix or k else k, v, out)
        return
    key = prefix.rstrip(".")
    if isinstance(value, bool | int | float | str):
        out[key] = value
    elif value is not None:
        out[key] = str(value)


def write_unit(
    directory: Path,
    identity: dict[str, Any],
    record: dict[str, Any],
    history: list[dict[str, float]],
) -> None:
    """Writes (replacing whatever a killed earlier attempt left) the event files of one unit."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    name = record["metric_name"]
    with SummaryWriter(log_dir=str(directory)) as w:
        for epoch, value in enumerate(record.get("curve") or [], start=1):
            if value is not None and math.isfinite(value):
                w.add_scalar(f"metric/{name}", value, epoch)
        for epoch, stats in enumerate(history, start=1):
            for key, value in stats.items():
                if value is not None and math.isfinite(float(value)):
                    w.add_scalar(f"train/{key}", float(value), epoch)
        w.add_scalar(f"final/{name}", record["metric"], 0)
        params: dict[str, Any] = {}
        _flat("", {k: v for k, v in identity.items() if k not in ("locations",)}, params)
        params.update(
            seed=record["seed"], level=record["level"], kind=record["kind"], fraction_pruned=record["fraction_pruned"]
        )
        exp, ssi, sei = hparams(params, {f"hparam/{name}": record["metric"]})
        for summary in (exp, ssi, sei):
            w.file_writer.add_summary(summary)
        w.add_scalar(f"hparam/{name}", record["metric"], 0)
