"""The full WMT'14 En-De data set from statmt.org's archives, in the layout the translation task
reads: mt/wmt14/{train,valid,test}.{en,de}.gz (train: Europarl v7 + Common Crawl + News
Commentary v9, ~4.5M pairs; valid: newstest2013; test: newstest2014, the "full" 3,003 pairs)."""

from __future__ import annotations

import gzip
import html
import io
import os
import re
import tarfile
from pathlib import Path

from lotteryfast.data.checksums import DataError

TRAIN = (  # (archive name, member suffix of the English side, member suffix of the German side)
    ("training-parallel-europarl-v7.tgz", "europarl-v7.de-en.en", "europarl-v7.de-en.de"),
    ("training-parallel-commoncrawl.tgz", "commoncrawl.de-en.en", "commoncrawl.de-en.de"),
    ("training-parallel-nc-v9.tgz", "news-commentary-v9.de-en.en", "news-commentary-v9.de-en.de"),
)
VALID = ("dev.tgz", "newstest2013.en", "newstest2013.de")
TEST = ("test-full.tgz", "newstest2014-deen-src.en.sgm", "newstest2014-deen-ref.de.sgm")
_SEG = re.compile(r"<seg[^>]*>(.*?)</seg>", re.S)


def _member(tar: tarfile.TarFile, suffix: str, archive: str) -> list[str]:
    for m in tar.getmembers():
        if m.isfile() and m.name.endswith(suffix):
            text = tar.extractfile(m).read().decode("utf-8")
            if suffix.endswith(".sgm"):
                return [html.unescape(s.strip()) for s in _SEG.findall(text)]
            return (
                text.replace("\r", "").split("\n")[:-1] if text.endswith("\n") else text.replace("\r", "").split("\n")
            )
    raise DataError(f"{archive} has no file ending in {suffix} (not the expected statmt.org archive)")


def _pairs(raw: dict[str, Path], archive: str, en: str, de: str) -> tuple[list[str], list[str]]:
    with tarfile.open(raw[archive]) as tar:
        src, tgt = _member(tar, en, archive), _member(tar, de, archive)
    if len(src) != len(tgt):
        raise DataError(f"{archive}: {en} has {len(src)} lines, {de} {len(tgt)}: not parallel")
    return src, tgt


def _write(path: Path, lines: list[str]) -> Path:
    tmp = path.with_name(path.name + ".part")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write("".join(line + "\n" for line in lines).encode("utf-8"))
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return path


def build(archives: list[Path], out: Path) -> list[Path]:
    """Builds out/{train,valid,test}.{en,de}.gz from the downloaded archives; returns the files."""
    raw = {p.name: p for p in archives}
    missing = [a for a, _, _ in (*TRAIN, VALID, TEST) if a not in raw]
    if missing:
        raise DataError(f"WMT'14 archives missing: {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    src: list[str] = []
    tgt: list[str] = []
    for archive, en, de in TRAIN:
        s, t = _pairs(raw, archive, en, de)
        keep = [i for i in range(len(s)) if s[i].strip() and t[i].strip()]
        src += [s[i] for i in keep]
        tgt += [t[i] for i in keep]
    files = [_write(out / "train.en.gz", src), _write(out / "train.de.gz", tgt)]
    for split, (archive, en, de) in (("valid", VALID), ("test", TEST)):
        s, t = _pairs(raw, archive, en, de)
        files += [_write(out / f"{split}.en.gz", s), _write(out / f"{split}.de.gz", t)]
    return files
