"""aekit's own error types: every one carries a message that names the problem and the fix.

A message names an option with `option` (``option("loss", "mse")``): the library's callers read it as the Python
argument, ``loss="mse"``; the command line prints it as its flag, ``--loss mse`` (`cli_text`), where a command has
that flag, and as the Python argument where none has (a field set only by a kind's presets or a run's config.json).
"""

import re

_OPTION = re.compile(r"⟦([A-Za-z_][A-Za-z0-9_]*)(?:=(.*?))?⟧")
_FLAGS = {"validation_split": "val-split"}  # Python names whose flag is not the name with dashes


def option(name: str, value=None) -> str:
    """An option in a message: `name="value"` for the library, `--name value` on the command line."""
    if value is None:
        return f"⟦{name}⟧"
    return f"⟦{name}={chr(34) + value + chr(34) if isinstance(value, str) else repr(value)}⟧"


def render(text: str, cli: bool = False, flags=None) -> str:
    """`text` with each `option` written as the library's argument, or with `cli` as the command line's flag; with
    `flags` (the option strings the command line takes), only a flag among them, and the argument otherwise."""

    def one(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        flag = "--" + _FLAGS.get(name, name.replace("_", "-"))
        if value == "False":
            flag = "--no-" + flag[2:]
        if not cli or (flags is not None and flag not in flags):
            return name if value is None else f"{name}={value}"
        if value in (None, "True", "False"):
            return flag
        return f"{flag} {value.strip(chr(34))}"

    return _OPTION.sub(one, text)


def cli_text(exc: BaseException, flags=None) -> str:
    """The message of `exc` as the command line prints it (options as flags; with `flags`, only those flags)."""
    return render(str(exc.args[0]) if exc.args else "", cli=True, flags=flags)


class AekitError(Exception):
    """Base of all errors aekit raises on purpose; the CLI prints them as one line and exits 2."""

    def __str__(self) -> str:
        return render(super().__str__())


class DataError(AekitError):
    """Input data is missing, unreadable, malformed, or unfit for the model (say which and how to fix)."""


class ConfigError(AekitError, ValueError):
    """A configuration value is invalid (unknown name, out-of-range size, conflicting options)."""


class ModelFileError(AekitError):
    """A saved model file or run folder is missing, truncated, tampered with or inconsistent."""


class TrainingError(AekitError):
    """Training cannot go on (a NaN or inf loss, an interrupted run that cannot resume)."""


class AekitWarning(UserWarning):
    """Base of aekit's warnings; its options read as `option` renders them (the CLI prints them as flags)."""

    def __str__(self) -> str:
        return render(super().__str__())
