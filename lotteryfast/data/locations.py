"""Where datasets are looked for when the user names no directory."""

from __future__ import annotations

import os
from pathlib import Path


def default_dir(name: str) -> Path:
    """$LOTTERYFAST_DATA/<name>, else ../shared/data/<name> beside the checkout (or the cwd)."""
    if os.environ.get("LOTTERYFAST_DATA"):
        return Path(os.environ["LOTTERYFAST_DATA"]) / name
    candidates = [Path(__file__).resolve().parents[3], Path.cwd().resolve().parent]
    for root in candidates:
        if (root / "shared" / "data" / name).is_dir():
            return root / "shared" / "data" / name
    return candidates[0] / "shared" / "data" / name
