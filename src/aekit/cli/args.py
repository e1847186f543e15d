"""Argument helpers shared by the CLI's command families."""

from __future__ import annotations

import argparse

from aekit.errors import DataError


def _int_list(text: str) -> tuple[int, ...]:
    """'128,64' or '128 64' → (128, 64); '' → ()."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, like 128,64; got {text!r}") from None


class _DefaultInt(int): ...


class _DefaultFloat(float): ...


class _DefaultStr(str): ...


class _DefaultTuple(tuple): ...


_DEFAULT_TYPES = {int: _DefaultInt, float: _DefaultFloat, str: _DefaultStr, tuple: _DefaultTuple}


def mark_defaults(parser: argparse.ArgumentParser) -> None:
    """Wrap every int/float/str/tuple default of `parser` in a marker type (values and validation unchanged)."""
    for action in parser._actions:
        marker = _DEFAULT_TYPES.get(type(action.default))
        if marker is not None:
            action.default = marker(action.default)


def explicit_args(args: argparse.Namespace) -> set[str]:
    """The names of the options given on the command line (or set by code such as --quick), not defaults."""
    return {k for k, v in vars(args).items() if v is not None and not isinstance(v, tuple(_DEFAULT_TYPES.values()))}


DEVICE_HELP = ("where to run: auto (a CUDA GPU, then Apple MPS, then the CPU; the default), cpu, cuda, cuda:N or mps; "
               "a device that is not there is refused")


def add_device_arg(p: argparse.ArgumentParser, what: str = "") -> None:
    """``--device``, default auto (checked when the command runs, so that ``--help`` needs no torch)."""
    p.add_argument("--device", default="auto", metavar="DEVICE", help=DEVICE_HELP + what)


def check_outputs(*files, folders=()) -> None:
    """Refuse, before any work is done, an output that cannot be written: a file or folder under an existing file,
    a folder where a file goes or a file where a folder goes, or a place without write permission. Creates nothing."""
    import os
    from pathlib import Path

    for given, is_folder in [(f, False) for f in files if f] + [(f, True) for f in folders if f]:
        path = Path(given)
        if path.exists() and path.is_dir() != is_folder:
            raise DataError(f"{path}: cannot write here (it is {'a file' if is_folder else 'a folder'}); choose another path")
        place = path if is_folder else path.parent
        while not place.exists() and place != place.parent:
            place = place.parent
        if not place.is_dir():
            raise DataError(f"{path}: cannot write here ({place} is a file); choose a writable folder")
        if not os.access(place, os.W_OK | os.X_OK):
            raise DataError(f"{path}: cannot write here (no write permission in {place}); choose a writable folder")
