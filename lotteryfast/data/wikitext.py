"""WikiText-2 (word level) as in pytorch/examples' word_language_model: the vocabulary is built
from the training split, every line ends with <eos>; 33,278 types, 2,088,628 training tokens.

Files are checked against the SHA256SUMS shipped beside them (when present) before use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lotteryfast.data import locations
from lotteryfast.data.checksums import DataError, verify_known, verify_sums

__all__ = ["SPLITS", "Corpus", "DataError", "batchify", "default_dir", "load", "verify"]

SPLITS = ("train", "valid", "test")


def default_dir() -> Path:
    """$LOTTERYFAST_DATA/wikitext-2, else ../shared/data/wikitext-2 beside the checkout (or the cwd)."""
    return locations.default_dir("wikitext-2")


def verify(directory: Path, known: bool = False) -> None:
    """Raises DataError naming the file if a split is missing or does not match SHA256SUMS (and,
    with `known`, the sums this package keeps: for the default location)."""
    paths = [directory / f"wiki.{split}.tokens" for split in SPLITS]
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"WikiText-2 file {path.name} not found in {directory}: {locations.fetch_hint('wikitext-2')} "
                "(or pass --data DIR)"
            )
    verify_sums(directory / "SHA256SUMS", paths)
    if known:
        verify_known({f"wikitext-2/{p.name}": p for p in paths})


@dataclass
class Corpus:
    """Token ids of the three splits and the vocabulary."""

    vocab: list[str]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    @property
    def n_tokens(self) -> int:
        return len(self.vocab)


def load(directory: str | Path | None = None) -> Corpus:
    """Reads, verifies and numericalizes WikiText-2 from `directory` (default ../shared/data/wikitext-2)."""
    verify(Path(directory) if directory else default_dir(), known=not directory)
    directory = Path(directory) if directory else default_dir()
    index: dict[str, int] = {}
    vocab: list[str] = []
    splits = {}
    for split in SPLITS:
        ids: list[int] = []
        with open(directory / f"wiki.{split}.tokens", encoding="utf-8") as f:
            for line in f:
                for word in [*line.split(), "<eos>"]:
                    if word not in index:
                        if split != "train":
                            raise DataError(f"word {word!r} of wiki.{split}.tokens is not in the training vocabulary")
                        index[word] = len(vocab)
                        vocab.append(word)
                    ids.append(index[word])
        splits[split] = torch.tensor(ids, dtype=torch.int64)
    return Corpus(vocab, splits["train"], splits["valid"], splits["test"])


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """[n_tokens] -> [n_tokens // batch_size, batch_size]: one contiguous stream per column."""
    n = data.numel() // batch_size
    return data[: n * batch_size].view(batch_size, n).t().contiguous()
