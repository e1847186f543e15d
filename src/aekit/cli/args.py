"""Argument helpers shared by the CLI's command families."""

from __future__ import annotations

import argparse
import re
from typing import Callable

from aekit.errors import DataError


def _int_list(text: str) -> tuple[int, ...]:
    """'128,64' or '128 64' → (128, 64); '' → (). An empty place between commas ('128,,64', '128,') is an error."""
    if not text.strip():
        return ()
    pieces = [piece.split() for piece in text.split(",")]
    if any(not piece for piece in pieces):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty place between commas; write the sizes like 128,64")
    try:
        return tuple(int(p) for piece in pieces for p in piece)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas, like 128,64; got {text!r}"
        ) from None


class Parser(argparse.ArgumentParser):
    """argparse's parser, but an argument error is one line (``aekit: error: …``, a pointer to ``--help``) and exit
    code 2, as every other error of aekit, instead of the whole usage before it."""

    def error(self, message: str):
        message = " ".join(message.split())
        wrong = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)$", message)  # a mistyped command or choice
        if wrong:
            import difflib

            close = difflib.get_close_matches(wrong[1], re.findall(r"'(.*?)'", wrong[2]), n=1, cutoff=0.6)
            message += f" (did you mean {close[0]!r}?)" if close else ""
        self.exit(2, f"aekit: error: {message}; see `{self.prog} --help`\n")

    @property
    def flags(self) -> frozenset[str]:
        """The option strings this parser takes (``--epochs``, ``-q`` …), its argument groups' included: the flags
        an error message may name (`aekit.errors.render`)."""
        return frozenset(s for action in self._actions for s in action.option_strings)  # groups share _actions


def choice(name: str, allowed) -> "Callable[[str], str]":
    """An argparse `type` that accepts one of `allowed` and refuses any other value in one line, with the closest
    allowed value as a "did you mean" (checked while parsing: nothing heavy is imported yet)."""

    def check(text: str) -> str:
        if text in allowed:
            return text
        import difflib

        close = difflib.get_close_matches(text, list(allowed), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise argparse.ArgumentTypeError(f"unknown {name} {text!r}{hint}; choose one of: {', '.join(allowed)}")

    check.__name__ = name  # argparse names the type in some messages
    return check


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


DEVICE_HELP = (
    "where to run: auto (a CUDA GPU, then Apple MPS, then the CPU; the default), cpu, cuda, cuda:N or mps; "
    "a device that is not there is refused"
)


def add_device_arg(p: argparse.ArgumentParser, what: str = "") -> None:
    """``--device``, default auto (checked when the command runs, so that ``--help`` needs no torch)."""
    p.add_argument("--device", default="auto", metavar="DEVICE", help=DEVICE_HELP + what)


def add_output(p: argparse.ArgumentParser, help: str, *, default: str | None = None, metavar: str = "FILE") -> None:
    """``-o/--output``: where the command writes its result; required unless it has a `default`."""
    p.add_argument("-o", "--output", required=default is None, default=default, metavar=metavar, help=help)


def add_row_options(p: argparse.ArgumentParser, limit_help: str = "use only the first N rows") -> None:
    """``--limit N`` and ``--data-dir DIR``: how many of INPUT's rows to use, and where a named dataset's files are."""
    p.add_argument("--limit", type=int, metavar="N", help=limit_help)
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files")


# the options that name something a command reads, and the files of a run folder that its uses read back
INPUT_ARGS = ("run", "runs", "input", "labels", "reference", "ratings", "data", "val_data")
RUN_FILES = ("config.json", "model.safetensors", "metrics.json", "history.csv", "history.json")


def given_inputs(args: argparse.Namespace) -> list:
    """The existing files and folders that `args` names as something to read (INPUT, RUN, --labels …)."""
    import os

    paths = []
    for name in INPUT_ARGS:
        value = getattr(args, name, None)
        paths += [
            p for p in (value if isinstance(value, list) else [value]) if isinstance(p, str) and os.path.exists(p)
        ]
    return paths


def _overwritten_input(path, inputs) -> str | None:
    """What writing `path` would destroy of `inputs`: an input itself, or a run folder's own files."""
    import os

    if not path.exists():
        return None
    for given in inputs:
        if os.path.samefile(path, given):
            return "the input folder itself" if path.is_dir() else "the input itself"
        if path.is_file() and os.path.isdir(given) and path.name in RUN_FILES and path.parent.samefile(given):
            return f"the {path.name} of the run folder {given}"
    return None


def check_outputs(*files, folders=(), inputs=(), figures=()) -> None:
    """Refuse, before any work is done, an output that cannot be written: a file or folder under an existing file,
    a folder where a file goes or a file where a folder goes, or a place without write permission, and one that
    would overwrite one of `inputs` (`given_inputs`: a command never replaces what it reads); `figures` are files
    too, named .png, .svg or .pdf. Creates nothing."""
    import os
    from pathlib import Path

    from aekit.files import figure_format

    for figure in filter(None, figures):
        figure_format(figure)
    files = (*files, *figures)
    outputs = [(f, False) for f in files if f] + [(f, True) for f in folders if f]
    seen = set()
    for given, _ in outputs:  # two outputs of one command at one path: the second would replace the first
        where = os.path.realpath(given)
        if where in seen:
            raise DataError(
                f"{given}: named for two outputs of this command, so the second would replace the first; "
                "give each output its own path"
            )
        seen.add(where)
    for given, is_folder in outputs:
        path = Path(given)
        lost = _overwritten_input(path, inputs)
        if lost:
            raise DataError(f"{path}: writing here would replace {lost}; choose another output path")
        if path.exists() and path.is_dir() != is_folder:
            raise DataError(
                f"{path}: cannot write here (it is {'a file' if is_folder else 'a folder'}); choose another path"
            )
        place = path if is_folder else path.parent
        while not place.exists() and place != place.parent:
            place = place.parent
        if not place.is_dir():
            raise DataError(f"{path}: cannot write here ({place} is a file); choose a writable folder")
        if not os.access(place, os.W_OK | os.X_OK):
            raise DataError(f"{path}: cannot write here (no write permission in {place}); choose a writable folder")


def add_image_options(group, *, for_model: bool = False) -> None:
    """--image-size, --resize, --color and --skip-bad-images: how a folder of images is read (`for_model`: a use
    command, whose images take the model's size, colour and resize by default)."""
    group.add_argument(
        "--image-size",
        metavar="SIZE",
        help="images: resize each to SIZE (64) or HEIGHTxWIDTH (64x48); "
        + ("default: the model's" if for_model else "needed when the images differ in size"),
    )
    group.add_argument(
        "--resize",
        choices=("crop", "stretch"),
        default=None if for_model else "crop",
        help="images: keep the aspect ratio and crop the centre"
        + (", or stretch (default: as the run)" if for_model else " (default), or stretch"),
    )
    group.add_argument(
        "--color",
        choices=("gray", "rgb"),
        help="images: read as gray or rgb (default: " + ("the model's)" if for_model else "what the files are)"),
    )
    group.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="images: skip unreadable files (counted in metrics.json) instead of stopping",
    )


def image_args(args: argparse.Namespace) -> dict:
    return {
        "image_size": args.image_size,
        "resize": args.resize,
        "color": args.color,
        "skip_bad_images": args.skip_bad_images,
    }
