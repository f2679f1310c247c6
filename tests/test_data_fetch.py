"""python -m lotteryfast.data fetch against a local HTTP server (127.0.0.1) serving files made from
../shared/data: download and use, checksum mismatch, interrupted download (resumed), offline."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from lotteryfast.data import wikitext
from lotteryfast.data.__main__ import main
from lotteryfast.data.checksums import DataError
from lotteryfast.data.fetch import DATASETS, fetch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not (SHARED / "wikitext-2").is_dir(), reason=f"no data at {SHARED}")


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP range support; `cut` bytes: the first full response stops there."""

    cut: ClassVar[dict[str, int]] = {}
    ranges: ClassVar[list[str]] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if "Range" in self.headers:
            self.ranges.append(self.headers["Range"])
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        limit = self.cut.pop(self.path, None)
        if limit is not None and start == 0:
            self.wfile.write(body[:limit])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
            return
        self.wfile.write(body)


@pytest.fixture
def mirror(tmp_path):
    served = tmp_path / "served"
    for r in DATASETS["wikitext-2"]:
        dest = served / r.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((SHARED / "wikitext-2" / Path(r.dest).name).read_bytes())
    Handler.cut, Handler.ranges = {}, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()


def test_fetch_checks_stores_and_the_task_reads_it(mirror, tmp_path, monkeypatch, capsys):
    url, _ = mirror
    data = tmp_path / "data"
    assert main(["fetch", "wikitext-2", "--dir", str(data), "--mirror", url]) == 0
    files = sorted(p.name for p in (data / "wikitext-2").iterdir())
    assert files == ["SHA256SUMS", "wiki.test.tokens", "wiki.train.tokens", "wiki.valid.tokens"]
    monkeypatch.setenv("LOTTERYFAST_DATA", str(data))
    assert wikitext.default_dir() == data / "wikitext-2"
    corpus = wikitext.load()  # the default location, checked against the package's sums
    assert corpus.n_tokens == 33278
    assert main(["fetch", "wikitext-2", "--dir", str(data), "--mirror", url]) == 0  # already there: nothing fetched
    assert capsys.readouterr().out.count("ok      ") >= 3


def test_a_checksum_mismatch_is_refused_and_nothing_is_left(mirror, tmp_path):
    url, served = mirror
    target = served / "wikitext-2" / "wiki.valid.tokens"
    target.write_bytes(target.read_bytes() + b"tampered\n")
    data = tmp_path / "data"
    with pytest.raises(DataError, match="wiki.valid.tokens: SHA-256 .* does not match the expected"):
        fetch("wikitext-2", data, mirror=url, say=lambda s: None)
    left = sorted(p.name for p in (data / "wikitext-2").iterdir())
    assert left == ["wiki.train.tokens"]  # the good file before it; no valid/.part


def test_an_interrupted_download_resumes_and_a_partial_file_is_never_used(mirror, tmp_path):
    url, _ = mirror
    data = tmp_path / "data"
    Handler.cut["/wikitext-2/wiki.train.tokens"] = 1_000_000
    with pytest.raises(DataError, match="cannot download wikitext-2/wiki.train.tokens"):
        fetch("wikitext-2", data, mirror=url, say=lambda s: None)
    part = data / "wikitext-2" / "wiki.train.tokens.part"
    assert part.stat().st_size == 1_000_000 and not (data / "wikitext-2" / "wiki.train.tokens").exists()
    with pytest.raises(DataError, match="not found"):
        wikitext.load(data / "wikitext-2")  # the partial file is not a split
    fetch("wikitext-2", data, mirror=url, say=lambda s: None)
    assert Handler.ranges == ["bytes=1000000-"]  # resumed where it stopped
    assert not part.exists()
    digest = hashlib.sha256((data / "wikitext-2" / "wiki.train.tokens").read_bytes()).hexdigest()
    assert digest == DATASETS["wikitext-2"][0].sha256


def test_offline_is_one_line_exit_2(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    assert main(["fetch", "multi30k", "--dir", str(tmp_path / "d"), "--mirror", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lotteryfast.data: error: cannot download mt/multi30k/train.en.gz")
    assert "no network?" in err and "Traceback" not in err


def test_a_missing_data_set_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERYFAST_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"run `python -m lotteryfast.data fetch wikitext-2`"):
        wikitext.load()
    from lotteryfast.data import parallel

    with pytest.raises(DataError, match=r"run `python -m lotteryfast.data fetch multi30k`"):
        parallel.load("multi30k")
