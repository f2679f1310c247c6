"""Run directories: the resolved config, atomic writes, resume checks.

A run directory is a pure function of its resolved config: rerunning the same command continues
where it stopped (finished units are read back, never redone); pointing a different config at an
existing run directory is an error, so results of two configs are never mixed.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


class RunConfigMismatchError(ValueError):
    """The run directory holds a run of another config."""


def current_umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes data to path so that readers see the old file or the whole new one, never a part.
    The file gets the mode an ordinary new file would (0666 less the umask), so that others on a
    shared cluster filesystem can read runs as the umask allows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class RunDir:
    """One experiment's directory. With writer=False (ranks > 0 of a data-parallel run) it reads
    but never writes: every write below is a no-op there."""

    def __init__(
        self,
        path: str | Path,
        config: dict[str, Any],
        *,
        writer: bool = True,
        takes_over: Callable[[dict[str, Any]], bool] | None = None,
    ):
        """`takes_over(existing_config)`: whether this config may replace another one found in the
        directory (a figure directory that grows by panels); without it a different config is refused."""
        self.path = Path(path)
        self.config = config
        self.writer = writer
        self.takes_over = takes_over
        self._claim()

    # Keys of config.json that do not name the run (where its data is found): a rerun that gives
    # another value updates them instead of being refused.
    VOLATILE = ("locations", "tensorboard")

    def _claim(self) -> None:
        cfg_path = self.path / "config.json"
        if cfg_path.exists():
            existing = json.loads(cfg_path.read_text())
            mine = json.loads(json.dumps(self.config, sort_keys=True))
            ident = {k: v for k, v in existing.items() if k not in self.VOLATILE}
            wanted = {k: v for k, v in mine.items() if k not in self.VOLATILE}
            if ident != wanted and self.takes_over is not None and self.takes_over(existing):
                if self.writer:
                    atomic_write_json(cfg_path, self.config)
                return
            if ident != wanted:
                diff = sorted(k for k in set(ident) | set(wanted) if ident.get(k) != wanted.get(k))
                raise RunConfigMismatchError(
                    f"{self.path} holds a run with a different config (differs in: {', '.join(diff)}); "
                    "use another --out directory or the same options as that run"
                )
            if existing != mine and self.writer:  # the data moved: remember where it is now
                atomic_write_json(cfg_path, self.config)
            return
        if not self.writer:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            atomic_write_json(cfg_path, self.config)
        except OSError as err:
            raise OSError(f"cannot write the run directory {self.path}: {err.strerror or err}") from err

    def unit(self, seed: int, level: int, kind: str) -> Path:
        """Folder of one (seed, level, ticket kind) unit."""
        return self.path / f"seed{seed}" / f"level{level:02d}" / kind

    def finished(self, seed: int, level: int, kind: str) -> bool:
        return (self.unit(seed, level, kind) / "metrics.json").exists()

    def read_metrics(self, seed: int, level: int, kind: str) -> dict[str, Any]:
        return json.loads((self.unit(seed, level, kind) / "metrics.json").read_text())

    def append_log(self, record: dict[str, Any]) -> None:
        """Appends one line to metrics.jsonl (the unit files are the source of truth)."""
        if self.writer:
            with open(self.path / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    def save_torch(self, path: Path, obj: Any) -> None:
        if self.writer:
            atomic_torch_save(path, obj)

    def save_json(self, path: Path, obj: Any) -> None:
        if self.writer:
            atomic_write_json(path, obj)

    def save_bytes(self, path: Path, data: bytes) -> None:
        if self.writer:
            atomic_write_bytes(path, data)
