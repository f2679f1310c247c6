"""Typed configs whose fields carry their help text and bounds, and the CLI flags made from them.

A config is a frozen dataclass deriving from :class:`Config`; each field is declared with
:func:`option` (default, help text, optional bounds/choices/flag name). Then

* ``Config.__post_init__`` checks every field (type, bounds, choices) and names the field and the
  value in its ``ValueError``; a subclass adds rules between fields in ``check()``;
* :func:`add_flags` turns the fields into argparse flags (``hidden_size`` -> ``--hidden-size``,
  bools -> ``--x/--no-x``, tuples -> comma lists, nested configs flattened), and
  :func:`apply_flags` builds the config back from the parsed flags — a new field is a new flag
  with no other edit (open_lth's hparams, CleanRL's ``Args``);
* :meth:`Config.to_dict` / :meth:`Config.from_dict` give the JSON form stored in run directories.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

C = TypeVar("C", bound="Config")


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    off_flag: str | None = None,
    min: float | None = None,
    max: float | None = None,
    below: float | None = None,
    choices: Sequence[Any] | None = None,
    cli: bool = True,
    location: bool = False,
) -> Any:
    """A config field: its default, its help text, and what the checks and the CLI need.

    flag: the CLI flag when it is not ``--field-name``; off_flag: an extra flag that sets a bool
    field to False (e.g. ``--exclude-biases``); min/max: inclusive bounds, below: exclusive
    upper bound (numbers, and each element of a tuple); choices: the allowed values; cli=False
    keeps the field off the command line; location=True marks where something is found (a data
    directory): not part of a run's identity (the data's content is).
    """
    meta = dict(
        help=help,
        flag=flag,
        off_flag=off_flag,
        min=min,
        max=max,
        below=below,
        choices=choices,
        cli=cli,
        location=location,
    )
    return dataclasses.field(default=default, metadata=meta)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base(tp: Any) -> tuple[type, type | None]:
    """(outer type, element type of a homogeneous tuple or None); Optional[X] -> X."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base(args[0])
    if origin is tuple:
        args = typing.get_args(tp)
        return tuple, (args[0] if args else str)
    return tp, None


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Config)


class Config:
    """Base class of the typed configs (use with ``@dataclass(frozen=True)``)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            _check_field(type(self).__name__, f, hints[f.name], getattr(self, f.name), self)
        self.check()

    def check(self) -> None:
        """Rules between fields (subclasses); raise ValueError naming the fields and values."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists, nested configs as dicts)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Config):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def identity_and_locations(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """to_dict() split into the fields that name a run and the location fields (top level)."""
        full = self.to_dict()
        where = {f.name for f in dataclasses.fields(self) if f.metadata.get("location")}
        return {k: v for k, v in full.items() if k not in where}, {k: v for k, v in full.items() if k in where}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        hints = _hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
        kwargs = {}
        for name, value in data.items():
            outer, _ = _base(hints[name])
            if _is_config(outer) and isinstance(value, dict):
                value = outer.from_dict(value)
            elif outer is tuple and isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)


def _check_field(owner: str, f: dataclasses.Field, tp: Any, value: Any, cfg: Any) -> None:
    meta = f.metadata
    outer, elem = _base(tp)
    where = f"{owner}.{f.name}"
    if value is None and typing.get_origin(tp) in (typing.Union, types.UnionType):
        return
    if _is_config(outer):
        if not isinstance(value, outer):
            raise ValueError(f"{where} must be a {outer.__name__}, got {value!r}")
        return
    items = value if outer is tuple else (value,)
    if outer is tuple and not isinstance(value, tuple):
        raise ValueError(f"{where} must be a tuple, got {value!r}")
    kind = elem if outer is tuple else outer
    for item in items:
        if kind is bool and not isinstance(item, bool):
            raise ValueError(f"{where} must be true or false, got {item!r}")
        if kind is int and (isinstance(item, bool) or not isinstance(item, int)):
            raise ValueError(f"{where} must be an integer, got {item!r}")
        if kind is float:
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise ValueError(f"{where} must be a number, got {item!r}")
            if math.isnan(item):
                raise ValueError(f"{where} must be a number, got nan")
        if kind is str and not isinstance(item, str):
            raise ValueError(f"{where} must be a string, got {item!r}")
        if meta.get("min") is not None and item < meta["min"]:
            raise ValueError(f"{where} must be >= {meta['min']}, got {item!r}")
        if meta.get("max") is not None and item > meta["max"]:
            raise ValueError(f"{where} must be <= {meta['max']}, got {item!r}")
        if meta.get("below") is not None and not item < meta["below"]:
            raise ValueError(f"{where} must be < {meta['below']}, got {item!r}")
        if meta.get("choices") is not None and item not in meta["choices"]:
            allowed = ", ".join(str(c) for c in meta["choices"])
            raise ValueError(f"{where} must be one of {allowed}; got {item!r}")


# --- the command line ---------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr, '<prog>: error: ...', exit code 2."""

    def error(self, message: str) -> None:
        name = (self.prog or "lotteryfast").replace("python -m ", "").split()[0]
        print(f"{name}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _parse_scalar(kind: type, flag: str):
    def parse(text: str) -> Any:
        try:
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} expects {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        return text

    return parse


def _parse_tuple(kind: type, flag: str):
    scalar = _parse_scalar(kind, flag)

    def parse(text: str) -> tuple:
        return tuple(scalar(part.strip()) for part in text.split(",") if part.strip())

    return parse


def add_flags(
    parser: argparse.ArgumentParser | Any, cls: type[Config], dest_prefix: str, *, defaults: Config | None = None
) -> list[str]:
    """Adds one flag per CLI field of `cls` (nested configs flattened) to `parser`; parsed values
    land under ``dest_prefix + field path`` (None when the flag is not given). `defaults` (a
    preset) is shown in the help. Returns the flags added (for collision checks)."""
    added: list[str] = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        outer, elem = _base(hints[f.name])
        dest = dest_prefix + f.name
        shown = getattr(defaults, f.name) if defaults is not None else f.default
        if _is_config(outer):
            added += add_flags(parser, outer, dest + ".", defaults=shown if isinstance(shown, Config) else None)
            continue
        flag = _flag(f)
        text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            text += f" (one of: {', '.join(str(c) for c in f.metadata['choices'])})"
        if isinstance(shown, tuple):
            shown = ",".join(str(s) for s in shown)
        text += f" [default: {shown}]" if shown not in ("", None) else ""
        text = text.replace("%", "%%")
        if outer is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
            if f.metadata.get("off_flag"):
                parser.add_argument(
                    f.metadata["off_flag"], dest=dest, action="store_false", help=f"same as --no-{flag[2:]}"
                )
                added.append(f.metadata["off_flag"])
        elif outer is tuple:
            parser.add_argument(
                flag, dest=dest, type=_parse_tuple(elem, flag), default=None, help=text + " (comma list)"
            )
        else:
            parser.add_argument(
                flag, dest=dest, type=_parse_scalar(outer, flag), default=None, help=text, metavar=f.name.upper()
            )
        added.append(flag)
    return added


def apply_flags(cfg: C, namespace: argparse.Namespace, dest_prefix: str) -> C:
    """`cfg` with every flag given on the command line applied (validated by the config)."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        dest = dest_prefix + f.name
        if isinstance(value, Config):
            new = apply_flags(value, namespace, dest + ".")
            if new is not value:
                changes[f.name] = new
        elif getattr(namespace, dest, None) is not None:
            changes[f.name] = getattr(namespace, dest)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def given_flags(cls: type[Config], namespace: argparse.Namespace, dest_prefix: str) -> list[str]:
    """The flags of `cls` set on the command line."""
    out = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        dest = dest_prefix + f.name
        outer, _ = _base(hints[f.name])
        if _is_config(outer):
            out += given_flags(outer, namespace, dest + ".")
        elif getattr(namespace, dest, None) is not None:
            out.append(_flag(f))
    return out


@dataclasses.dataclass(frozen=True)
class NoConfig(Config):
    """The config of a task that has no options of its own."""


# --- fields by name (sweeps: --vary FIELD=V1,V2, --set FIELD=V) -------------------------------


def leaf_fields(cls: type[Config]) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Every leaf field of `cls` (nested configs flattened, as on the CLI): name -> (path, type)."""
    out: dict[str, tuple[tuple[str, ...], Any]] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        outer, _ = _base(hints[f.name])
        if _is_config(outer):
            for name, (path, tp) in leaf_fields(outer).items():
                out[name] = ((f.name, *path), tp)
        else:
            out[f.name] = ((f.name,), hints[f.name])
    return out


def parse_value(tp: Any, text: str, name: str) -> Any:
    """`text` as a value of type `tp` (bools: true/false, tuples: a comma list); ValueError naming `name`."""
    outer, elem = _base(tp)
    if outer is bool:
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{name} expects true or false, got {text!r}")
    try:
        if outer is tuple:
            return _parse_tuple(elem, name)(text)
        return _parse_scalar(outer, name)(text)
    except argparse.ArgumentTypeError as err:
        raise ValueError(str(err)) from None


def with_field(cfg: C, name: str, value: Any) -> C:
    """`cfg` with its (possibly nested) leaf field `name` set to `value` (validated); KeyError
    when it has no such field."""
    path, _ = leaf_fields(type(cfg))[name]

    def set_path(obj: Any, path: tuple[str, ...]) -> Any:
        head = path[0]
        if len(path) == 1:
            return dataclasses.replace(obj, **{head: value})
        return dataclasses.replace(obj, **{head: set_path(getattr(obj, head), path[1:])})

    return set_path(cfg, path)
