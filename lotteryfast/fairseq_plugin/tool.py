"""Prune and rewind between fairseq runs: one lottery level of the paper's recipe.

From the trained checkpoint of this level, prune `rate` of the remaining weights by global
magnitude (all weights, or only the Transformer layers' attention and feed-forward weights), then
write the masks file and a copy of the rewind checkpoint (late resetting: e.g. the checkpoint
after 1000 updates; for a random ticket, a checkpoint of another initialization) with the pruned
weights set to zero and no optimizer state.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from lotteryfast.config import OneLineParser
from lotteryfast.fairseq_plugin import masks_file
from lotteryfast.runs import atomic_torch_save
from lotteryfast.tickets import prune_masks

SCOPES = ("all", "layers")


def in_scope(name: str, scope: str) -> bool:
    """Whether a fairseq parameter is prunable: every one, or for 'layers' the attention and
    feed-forward weights and biases of the encoder/decoder layers (not embeddings, not LayerNorms)."""
    if scope == "all":
        return True
    return ".layers." in name and ("_attn." in name or ".fc1." in name or ".fc2." in name)


def load_checkpoint(path: Path, what: str) -> dict:
    """A fairseq checkpoint (its 'model' entry is the state dict); ValueError naming `what`."""
    if not path.is_file():
        raise ValueError(f"{what} {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # not a torch file at all
        raise ValueError(f"{what} {path} is not a fairseq checkpoint ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        hint = " (a masks file?)" if isinstance(ckpt, dict) and ckpt.get("format") == masks_file.FORMAT else ""
        raise ValueError(f"{what} {path} is not a fairseq checkpoint (no 'model' entry){hint}")
    return ckpt


def _writable(path: Path, flag: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{flag} {path}: directory {parent} is not writable")


def prune_level(
    trained: Path,
    rewind: Path,
    rate: float,
    out_masks: Path,
    out_checkpoint: Path,
    previous: Path | None = None,
    scope: str = "all",
) -> dict[str, float]:
    """Writes the next level's masks and rewound checkpoint; returns counts for the log. Every
    input is checked before anything is written (ValueError, one line). Weights pruned at earlier
    levels stay pruned whatever `scope` this level prunes in."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    state = load_checkpoint(trained, "--trained")["model"]
    names = masks_file.parameter_entries(state)
    prunable = [n for n in names if in_scope(n, scope)]
    if not prunable:
        raise ValueError(f"no parameter of {trained} is in scope {scope!r}")
    current: dict[str, torch.Tensor] = {}
    if previous is not None:
        blob = masks_file.read(previous)
        if blob["names"] != names:
            raise ValueError(f"--masks {previous} was made for another model than --trained {trained}")
        current = {n: m.bool() for n, m in blob["masks"].items()}
        for n, m in current.items():
            if tuple(m.shape) != tuple(state[n].shape):
                raise ValueError(
                    f"--masks {previous}: mask of {n} has shape {tuple(m.shape)}, the model {tuple(state[n].shape)}"
                )
    ckpt = load_checkpoint(rewind, "--rewind")
    rstate = ckpt["model"]
    if masks_file.parameter_entries(rstate) != names:
        raise ValueError(f"--rewind {rewind} holds another model than --trained {trained}")
    for n in names:
        if tuple(rstate[n].shape) != tuple(state[n].shape):
            raise ValueError(
                f"--rewind {rewind}: {n} has shape {tuple(rstate[n].shape)}, --trained {tuple(state[n].shape)}"
            )
    _writable(out_masks, "--out-masks")
    _writable(out_checkpoint, "--out-checkpoint")
    pruned_now = prune_masks({n: state[n].float() for n in prunable}, current, rate)
    masks = {**{n: m for n, m in current.items() if n not in pruned_now}, **pruned_now}
    with torch.no_grad():
        for n, m in masks.items():
            for alias in masks_file.aliases(rstate, n):
                rstate[alias].mul_(m.to(rstate[alias].dtype))
    ckpt["last_optimizer_state"] = None  # the next run resets the optimizer (--reset-optimizer)
    atomic_torch_save(out_checkpoint, ckpt)
    try:
        masks_file.save(out_masks, names, [tuple(state[n].shape) for n in names], masks)
    except BaseException:
        out_checkpoint.unlink(missing_ok=True)  # both or neither
        raise
    total = sum(state[n].numel() for n in names)
    kept = sum(int(m.sum()) for m in masks.values()) + sum(state[n].numel() for n in names if n not in masks)
    in_scope_total = sum(state[n].numel() for n in prunable)
    in_scope_kept = sum(int(masks[n].sum()) for n in prunable)
    return {
        "parameters": total,
        "kept": kept,
        "fraction_pruned": 1 - kept / total,
        "scope_parameters": in_scope_total,
        "scope_fraction_pruned": 1 - in_scope_kept / in_scope_total,
    }


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="python -m lotteryfast.fairseq_plugin", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prune", help="prune a trained checkpoint and rewind")
    p.add_argument("--trained", type=Path, required=True, help="checkpoint at the end of this level's training")
    p.add_argument("--rewind", type=Path, required=True, help="checkpoint to reset to (e.g. after 1000 updates)")
    p.add_argument("--masks", type=Path, help="this level's masks file (none for the dense level 0)")
    p.add_argument("--rate", type=float, default=0.2, help="fraction of the remaining weights to prune (paper: 0.2)")
    p.add_argument("--scope", default="all", help="all or layers (attention + feed-forward only)")
    p.add_argument("--out-masks", type=Path, required=True)
    p.add_argument("--out-checkpoint", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        info = prune_level(
            args.trained, args.rewind, args.rate, args.out_masks, args.out_checkpoint, args.masks, args.scope
        )
    except (ValueError, OSError) as err:
        print(f"lotteryfast.fairseq_plugin: error: {err}", file=sys.stderr)
        return 2
    scope = (
        ""
        if args.scope == "all"
        else f"; {100 * info['scope_fraction_pruned']:.2f} % of the {info['scope_parameters']:,} weights in scope "
        f"{args.scope}"
    )
    print(
        f"{100 * info['fraction_pruned']:.2f} % of the model pruned ({info['kept']:,} of {info['parameters']:,} "
        f"weights kept){scope} -> {args.out_masks}, {args.out_checkpoint}"
    )
    return 0
