"""The masks file shared by the prune tool and the ``masked_adam`` optimizer.

fairseq hands an optimizer its parameters without names, in ``model.parameters()`` order; the
file records the names and shapes of the model's parameters in that order (read from a
checkpoint: floating-point entries of the model state dict, buffers and tied duplicates left out)
so the optimizer can check that it is looking at the same model before it applies the masks.
"""

from __future__ import annotations

from pathlib import Path

import torch

FORMAT = "lotteryfast-fairseq-masks/1"
BUFFER_SUFFIXES = (".version", "_float_tensor")


def parameter_entries(model_state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the parameters in a fairseq model state dict, in parameter order: floating-point
    tensors that are not known buffers, each shared (tied) tensor under its first name only."""
    names, seen = [], set()
    for name, value in model_state.items():
        if not torch.is_tensor(value) or not value.is_floating_point() or name.endswith(BUFFER_SUFFIXES):
            continue
        key = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape))
        if key in seen:
            continue
        seen.add(key)
        names.append(name)
    return names


def aliases(model_state: dict[str, torch.Tensor], name: str) -> list[str]:
    """Every key of the state dict that shares `name`'s tensor (tied embeddings)."""
    ref = model_state[name]
    key = (ref.untyped_storage().data_ptr(), ref.storage_offset(), tuple(ref.shape))
    return [
        n
        for n, v in model_state.items()
        if torch.is_tensor(v) and (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape)) == key
    ]


def save(path: Path, names: list[str], shapes: list[tuple[int, ...]], masks: dict[str, torch.Tensor]) -> None:
    """Writes the masks file atomically."""
    from lotteryfast.runs import atomic_torch_save

    atomic_torch_save(path, {"format": FORMAT, "names": names, "shapes": shapes, "masks": masks})


def read(path: str | Path) -> dict:
    """A masks file's content; ValueError (one line) when `path` is missing or not a masks file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"masks file {path} not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a checkpoint (pickled objects) or any other file
        kind = (
            "a fairseq checkpoint, not a masks file" if "model" in str(err) or "Unpickl" in type(err).__name__ else err
        )
        raise ValueError(f"{path} is not a lotteryfast masks file ({kind})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a lotteryfast masks file (expected format {FORMAT})")
    return blob


def masks_for(params: list[torch.Tensor], path: str | Path) -> list[torch.Tensor | None]:
    """The masks of `params` (model.parameters() order) from a masks file; ValueError naming the
    first parameter that does not match the file. One flat parameter holding all of them (fairseq's
    --fp16 master copy) gets one flat mask laid out by the parameters' offsets."""
    blob = read(path)
    names, shapes, masks = blob["names"], [tuple(s) for s in blob["shapes"]], blob["masks"]
    sizes = [int(torch.Size(s).numel()) for s in shapes]
    if len(params) == 1 and len(names) > 1 and params[0].dim() == 1 and params[0].numel() == sum(sizes):
        flat = torch.cat(
            [
                masks[n].reshape(-1).bool() if n in masks else torch.ones(k, dtype=torch.bool)
                for n, k in zip(names, sizes, strict=True)
            ]
        )
        return [flat.to(params[0].device)]
    if len(names) != len(params):
        raise ValueError(f"{path} describes {len(names)} parameters, the optimizer has {len(params)}")
    out: list[torch.Tensor | None] = []
    for i, (p, name, shape) in enumerate(zip(params, names, shapes, strict=True)):
        if tuple(p.shape) != shape:
            raise ValueError(f"parameter {i} ({name}) has shape {tuple(p.shape)}, the masks file says {shape}")
        m = masks.get(name)
        out.append(None if m is None else m.to(device=p.device, dtype=torch.bool))
    return out
