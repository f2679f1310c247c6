"""Parallel text for translation (paper §3.3: WMT'14 En->De), read from local files only.

Named datasets under ../shared/data/mt (or $LOTTERYFAST_DATA/mt), verified against its SHA256SUMS:

- ``multi30k``: Multi30k En-De (29,000 / 1,014 / 1,000 pairs; raw text).
- ``wmt14-sample``: 10k WMT'14 En-De training pairs (OpenNMT's sample; Moses-tokenized, its
  ``&apos;``-style escapes undone), its 3k-word validation pairs, and newstest2014 (3,003 raw pairs)
  as the test set.

Any other directory with ``{train,valid,test}.{src,tgt}`` (optionally ``.gz``) works too, e.g. the
full WMT'14 training data where a user has it.
"""

from __future__ import annotations

import gzip
import html
from dataclasses import dataclass
from pathlib import Path

from lotteryfast.data import locations
from lotteryfast.data.checksums import DataError, verify_known, verify_sums

SPLITS = ("train", "valid", "test")


@dataclass
class ParallelCorpus:
    """Sentence pairs of the three splits (plain text, one sentence per entry)."""

    name: str
    src_lang: str
    tgt_lang: str
    splits: dict[str, tuple[list[str], list[str]]]

    def pairs(self, split: str) -> tuple[list[str], list[str]]:
        """(sources, targets) of a split."""
        return self.splits[split]


# name -> (src, tgt language, {split: (src file, tgt file)}, Moses escapes to undo)
NAMED = {
    "multi30k": (
        "en",
        "de",
        {
            "train": ("multi30k/train.en.gz", "multi30k/train.de.gz"),
            "valid": ("multi30k/val.en.gz", "multi30k/val.de.gz"),
            "test": ("multi30k/test_2016_flickr.en.gz", "multi30k/test_2016_flickr.de.gz"),
        },
        False,
    ),
    "wmt14-sample": (
        "en",
        "de",
        {
            "train": ("opennmt_wmt_sample/src-train.txt", "opennmt_wmt_sample/tgt-train.txt"),
            "valid": ("opennmt_wmt_sample/src-val.txt", "opennmt_wmt_sample/tgt-val.txt"),
            "test": ("wmt14_newstest2014/newstest2014.en", "wmt14_newstest2014/newstest2014.de"),
        },
        True,
    ),
    "wmt14": (  # python -m lotteryfast.data fetch wmt14 builds it
        "en",
        "de",
        {split: (f"wmt14/{split}.en.gz", f"wmt14/{split}.de.gz") for split in SPLITS},
        False,
    ),
}


def default_root() -> Path:
    """$LOTTERYFAST_DATA/mt, else ../shared/data/mt."""
    return locations.default_dir("mt")


def read_lines(path: Path, unescape: bool = False) -> list[str]:
    """The lines of a text file (gzip when it ends in .gz), without line ends; Moses' HTML-style
    escapes (&apos; &quot; &amp; ...) undone when `unescape`."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\r\n") for line in f]
    return [html.unescape(line) for line in lines] if unescape else lines


def _read_pairs(files: dict[str, tuple[Path, Path]], unescape: bool) -> dict[str, tuple[list[str], list[str]]]:
    splits = {}
    for split, (src_path, tgt_path) in files.items():
        src, tgt = read_lines(src_path, unescape), read_lines(tgt_path, unescape)
        if len(src) != len(tgt):
            raise DataError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: not parallel")
        if not src:
            raise DataError(f"{src_path} is empty")
        splits[split] = (src, tgt)
    return splits


def load(dataset: str, root: str | Path | None = None) -> ParallelCorpus:
    """Loads a named dataset (from `root`, default ../shared/data/mt) or a directory path.

    A directory must hold train/valid/test .src and .tgt files (each optionally .gz); a missing
    file, a checksum mismatch or splits of unequal length raise DataError naming the file.
    """
    if dataset in NAMED:
        src_lang, tgt_lang, names, unescape = NAMED[dataset]
        base = Path(root) if root else default_root()
        files = {split: (base / s, base / t) for split, (s, t) in names.items()}
        name = dataset
    else:
        base = Path(dataset)
        if not base.is_dir():
            raise DataError(f"unknown dataset {dataset!r}: not one of {', '.join(NAMED)} and not a directory")
        files = {}
        for split in SPLITS:
            pair = []
            for side in ("src", "tgt"):
                plain, gz = base / f"{split}.{side}", base / f"{split}.{side}.gz"
                pair.append(gz if gz.is_file() and not plain.is_file() else plain)
            files[split] = (pair[0], pair[1])
        src_lang, tgt_lang, unescape, name = "src", "tgt", False, base.name
    for pair in files.values():
        for path in pair:
            if not path.is_file():
                hint = locations.fetch_hint(name) if dataset in NAMED else "pass --dataset DIR"
                raise DataError(f"{name}: {path.name} not found in {path.parent}: {hint} (or pass --data ROOT)")
    verify_sums(base / "SHA256SUMS", [p for pair in files.values() for p in pair])
    if dataset in NAMED and not root:  # the default location: the sums this package keeps
        verify_known({f"mt/{rel}": base / rel for pair in NAMED[dataset][2].values() for rel in pair})
    return ParallelCorpus(name, src_lang, tgt_lang, _read_pairs(files, unescape))
