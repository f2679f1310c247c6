"""Where datasets are looked for when the user names no directory."""

from __future__ import annotations

import os
from pathlib import Path


def default_dir(name: str) -> Path:
    """$LOTTERYFAST_DATA/<name>; else ../shared/data/<name> beside the checkout (or the working
    directory) where it exists; else <the user's cache directory>/lotteryfast/data/<name>, where
    `python -m lotteryfast.data fetch` puts it."""
    if os.environ.get("LOTTERYFAST_DATA"):
        return Path(os.environ["LOTTERYFAST_DATA"]) / name
    for root in (Path(__file__).resolve().parents[3], Path.cwd().resolve().parent):
        if (root / "shared" / "data" / name).is_dir():
            return root / "shared" / "data" / name
    from lotteryfast.data.fetch import default_data_dir

    return default_data_dir() / name


def fetch_hint(dataset: str) -> str:
    """How to get a missing data set."""
    return f"run `python -m lotteryfast.data fetch {dataset}`"
