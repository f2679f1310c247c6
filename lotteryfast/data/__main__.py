"""python -m lotteryfast.data fetch NAME [--dir DIR] [--mirror URL] | where  (see lotteryfast.data.fetch)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lotteryfast.data.checksums import DataError
from lotteryfast.data.fetch import NAMES, default_data_dir, fetch


def main(argv: list[str] | None = None) -> int:
    """The CLI; errors are one line, exit 2."""
    from lotteryfast.data import fetch as fetch_module

    p = argparse.ArgumentParser(
        prog="python -m lotteryfast.data",
        description=fetch_module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download a data set and check it")
    f.add_argument("name", choices=NAMES)
    f.add_argument("--dir", type=Path, help="data directory (default $LOTTERYFAST_DATA or ~/.cache/lotteryfast/data)")
    f.add_argument("--mirror", help="fetch every file from MIRROR/<path in the layout> ($LOTTERYFAST_DATA_MIRROR)")
    f.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a download fails")
    f.add_argument(
        "--allow-unverified",
        action="store_true",
        help="wmt14: fetch statmt.org archives whose SHA-256 this package does not know",
    )
    sub.add_parser("where", help="print where the tasks look for data")
    args = p.parse_args(argv)
    if args.command == "where":
        from lotteryfast.data import locations

        for name in ("wikitext-2", "mt"):
            print(f"{name}: {locations.default_dir(name)}")
        return 0
    import os

    try:
        files = fetch(
            args.name,
            args.dir or default_data_dir(),
            mirror=args.mirror or os.environ.get("LOTTERYFAST_DATA_MIRROR"),
            timeout=args.timeout,
            allow_unverified=args.allow_unverified,
        )
    except (DataError, OSError) as err:
        print(f"lotteryfast.data: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.name}: {len(files)} file(s) in {args.dir or default_data_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
