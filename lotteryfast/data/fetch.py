"""Fetching the data sets the tasks read, from their public sources, checked against SHA-256 sums
kept in this package.

    python -m lotteryfast.data fetch wikitext-2|multi30k|wmt14-sample|wmt14 [--dir DIR] [--mirror URL]
    python -m lotteryfast.data where            # where the tasks look for data

Files are stored under the data directory ($LOTTERYFAST_DATA, else the user's cache directory,
~/.cache/lotteryfast/data) in the layout the tasks read (wikitext-2/, mt/...). A download goes to
`<name>.part`, resumes from there when interrupted (HTTP range requests; a server without them
starts over) and is renamed into place only once its SHA-256 matches; a mismatch deletes it.
`--mirror URL` (or $LOTTERYFAST_DATA_MIRROR) fetches every file from URL/<its path in the layout>.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lotteryfast.data.checksums import DataError, sha256

GITHUB = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Remote:
    """One file of a data set: where it goes (relative to the data directory), where it comes from
    (mirrors tried in order), its SHA-256 as stored (None: not known to this package), and an
    optional transformation applied before the check ("strip_cr": CRLF -> LF)."""

    dest: str
    urls: tuple[str, ...]
    sha256: str | None
    transform: str = ""


_WT = f"{GITHUB}/pytorch/examples/main/word_language_model/data/wikitext-2"
_M30K = f"{GITHUB}/multi30k/dataset/master/data/task1/raw"
_ONMT = f"{GITHUB}/OpenNMT/OpenNMT-py/v2.3.0/data"
_NEWSTEST = f"{GITHUB}/tensorflow/models/v2.0/official/transformer/test_data"

DATASETS: dict[str, tuple[Remote, ...]] = {
    # WikiText-2 v1 (Merity et al. 2016), the files of pytorch/examples' word_language_model; the
    # original archive was wikitext-2-v1.zip on research.metamind.io.
    "wikitext-2": (
        Remote(
            "wikitext-2/wiki.train.tokens",
            (f"{_WT}/train.txt",),
            "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
        ),
        Remote(
            "wikitext-2/wiki.valid.tokens",
            (f"{_WT}/valid.txt",),
            "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
        ),
        Remote(
            "wikitext-2/wiki.test.tokens",
            (f"{_WT}/test.txt",),
            "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
        ),
    ),
    # Multi30k task 1 (Elliott et al. 2016), raw gzipped text.
    "multi30k": tuple(
        Remote(f"mt/multi30k/{name}", (f"{_M30K}/{name}",), digest)
        for name, digest in (
            ("train.en.gz", "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
            ("train.de.gz", "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
            ("val.en.gz", "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
            ("val.de.gz", "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
            ("test_2016_flickr.en.gz", "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9"),
            ("test_2016_flickr.de.gz", "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8"),
        )
    ),
    # OpenNMT-py's 10k-pair sample of the WMT'14 En-De training data, and newstest2014.
    "wmt14-sample": (
        *(
            Remote(f"mt/opennmt_wmt_sample/{name}", (f"{_ONMT}/{name}",), digest)
            for name, digest in (
                ("src-train.txt", "a4deafe1eb225d98f196ad87e90eec8494a729690c06e0186ee9d2793667a0d2"),
                ("tgt-train.txt", "fe1f824a189baa650eec46269e66eef07f7304ba7572598ebbe61c55eeff7d01"),
                ("src-val.txt", "85704d386b7acc53956d1c12acae707834895735801ed4e827e778648114d62a"),
                ("tgt-val.txt", "22c0153b1d9ed72abe24bcacd0100d22f89559b88e1c059bf8b7be9572649171"),
                ("src-test.txt", "5fde93388f630f7afd3208f24b4c68d3f992ddb15e0bc2491ee3b4f9ea44845b"),
            )
        ),
        Remote(
            "mt/wmt14_newstest2014/newstest2014.en",
            (f"{_NEWSTEST}/newstest2014.en",),
            "7294bccf2879a97b3706b95c9595f1459617a8ee7130d5d8581c910e69736971",
            "strip_cr",
        ),
        Remote(
            "mt/wmt14_newstest2014/newstest2014.de",
            (f"{_NEWSTEST}/newstest2014.de",),
            "ae5d110486bc33d7175e9e28c7d0051eb3e5fcd2166dd93371089852c091a20e",
            "strip_cr",
        ),
    ),
}

# The full WMT'14 En-De data (statmt.org): archives whose checksums this package does not know,
# built into mt/wmt14/{train,valid,test}.{en,de}.gz by lotteryfast.data.wmt14.
WMT14_ARCHIVES: tuple[Remote, ...] = (
    Remote(
        "mt/wmt14/raw/training-parallel-europarl-v7.tgz",
        ("https://www.statmt.org/wmt13/training-parallel-europarl-v7.tgz",),
        None,
    ),
    Remote(
        "mt/wmt14/raw/training-parallel-commoncrawl.tgz",
        ("https://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz",),
        None,
    ),
    Remote(
        "mt/wmt14/raw/training-parallel-nc-v9.tgz", ("https://www.statmt.org/wmt14/training-parallel-nc-v9.tgz",), None
    ),
    Remote("mt/wmt14/raw/dev.tgz", ("https://www.statmt.org/wmt14/dev.tgz",), None),
    Remote("mt/wmt14/raw/test-full.tgz", ("https://www.statmt.org/wmt14/test-full.tgz",), None),
)

NAMES = (*DATASETS, "wmt14")


def default_data_dir() -> Path:
    """$LOTTERYFAST_DATA, else the user's cache directory (XDG_CACHE_HOME or ~/.cache)/lotteryfast/data."""
    if os.environ.get("LOTTERYFAST_DATA"):
        return Path(os.environ["LOTTERYFAST_DATA"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lotteryfast" / "data"


def known_sums() -> dict[str, str]:
    """Relative path in the layout -> SHA-256, for every file whose sum the package keeps."""
    return {r.dest: r.sha256 for files in DATASETS.values() for r in files if r.sha256}


def _urls(remote: Remote, mirror: str | None) -> tuple[str, ...]:
    return (f"{mirror.rstrip('/')}/{remote.dest}",) if mirror else remote.urls


def _download(url: str, part: Path, timeout: float) -> None:
    """Appends what is missing of `url` to `part` (a range request when part has bytes)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to fetch
            return
        raise
    with response:
        resumed = have and response.status == 206
        length = response.headers.get("Content-Length")
        expected = (have if resumed else 0) + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as f:
            while block := response.read(1 << 20):
                f.write(block)
    got = part.stat().st_size
    if expected is not None and got < expected:
        raise OSError(f"the connection closed after {got} of {expected} bytes")


def _transform(path: Path, how: str) -> None:
    if how == "strip_cr":
        data = path.read_bytes()
        if b"\r" in data:
            path.write_bytes(data.replace(b"\r\n", b"\n").replace(b"\r", b""))


def fetch_file(
    remote: Remote,
    root: Path,
    *,
    mirror: str | None = None,
    timeout: float = 60.0,
    allow_unverified: bool = False,
    say: Callable[[str], None] = print,
) -> Path:
    """One file into root/remote.dest: skipped when it is there and matches; else downloaded to a
    .part file (resumed if one is there), checked, renamed. Raises DataError (one line)."""
    dest = root / remote.dest
    if dest.is_file() and (remote.sha256 is None or sha256(dest) == remote.sha256):
        say(f"ok      {remote.dest}")
        return dest
    if remote.sha256 is None and not allow_unverified:
        raise DataError(f"{remote.dest}: this package keeps no SHA-256 for it; pass --allow-unverified to fetch it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in _urls(remote, mirror):
        try:
            say(f"fetch   {url}")
            _download(url, part, timeout)
            break
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as err:
            reason = getattr(err, "reason", None) or err
            errors.append(f"{url}: {reason}")
    else:
        raise DataError(
            f"cannot download {remote.dest} ({'; '.join(errors)}); no network? the partial file is kept "
            "and a rerun resumes it"
        )
    _transform(part, remote.transform)
    digest = sha256(part)
    if remote.sha256 is not None and digest != remote.sha256:
        part.unlink(missing_ok=True)
        raise DataError(
            f"{remote.dest}: SHA-256 {digest} does not match the expected {remote.sha256}; the download was deleted"
        )
    os.replace(part, dest)
    return dest


def write_sums(root: Path, files: list[Path]) -> None:
    """Adds the files' sums to the SHA256SUMS of their data set directory (wikitext-2/ or mt/)."""
    from lotteryfast.runs import atomic_write_bytes

    by_dir: dict[Path, dict[str, str]] = {}
    for f in files:
        top = root / f.relative_to(root).parts[0]
        by_dir.setdefault(top, {})[f"./{f.relative_to(top).as_posix()}"] = sha256(f)
    for top, entries in by_dir.items():
        sums = top / "SHA256SUMS"
        existing = {}
        if sums.is_file():
            for line in sums.read_text().splitlines():
                if line.strip():
                    digest, name = line.split()[0], line.split()[-1]
                    existing[name if name.startswith("./") else f"./{name}"] = digest
        existing.update(entries)
        text = "".join(f"{d}  {n}\n" for n, d in sorted(existing.items()))
        atomic_write_bytes(sums, text.encode())


def fetch(name: str, root: Path | None = None, **kw) -> list[Path]:
    """Fetches data set `name` into `root` (default: default_data_dir()); returns the files."""
    root = Path(root) if root else default_data_dir()
    if name == "wmt14":
        from lotteryfast.data.wmt14 import build

        raws = [fetch_file(r, root, **kw) for r in WMT14_ARCHIVES]
        files = build(raws, root / "mt" / "wmt14")
    elif name in DATASETS:
        files = [fetch_file(r, root, **kw) for r in DATASETS[name]]
    else:
        raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(NAMES)}")
    write_sums(root, files)
    return files
