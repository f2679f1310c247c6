"""SHA256SUMS verification of data files, shared by the dataset loaders."""

from __future__ import annotations

import hashlib
from pathlib import Path


class DataError(ValueError):
    """A data file is missing or corrupt."""


def sha256(path: Path) -> str:
    """Hex SHA256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sums(sums: Path, files: list[Path]) -> None:
    """Raises DataError naming the file if one of `files` listed in `sums` has another SHA256.

    Entries are resolved relative to the directory of `sums`; files it does not list pass.
    """
    if not sums.is_file():
        return
    wanted = {p.resolve() for p in files}
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split()[0], line.split()[-1].lstrip("*")
        path = (sums.parent / name).resolve()
        if path in wanted and path.is_file() and sha256(path) != digest:
            raise DataError(f"{path} does not match its SHA256 in {sums} (corrupt or different version)")


def verify_known(files: dict[str, Path]) -> None:
    """Checks files against the SHA-256 sums this package keeps (lotteryfast.data.fetch), by their
    path in the data layout (e.g. 'wikitext-2/wiki.train.tokens'); unknown paths pass."""
    from lotteryfast.data.fetch import known_sums

    sums = known_sums()
    for rel, path in files.items():
        if rel in sums and sha256(path) != sums[rel]:
            raise DataError(f"{path} does not match the SHA-256 of {rel} (corrupt or a different version)")
