"""The `aekit` command line: argparse subcommands, each a thin shell over one library function. This module holds
the entry point, the parser and the `kinds` and `summary` commands; `train` is in `aekit.cli.training`, the commands
that use a model in `aekit.cli.uses`, `aekit.cli.imputation`, `aekit.cli.generative` and `aekit.cli.run_folders`,
the argument helpers they share in `aekit.cli.args`.

Errors that aekit raises on purpose print as one line, ``aekit: error: …``, and exit with code 2.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings

from aekit import __version__
from aekit.cli import generative, imputation, run_folders, training, uses
from aekit.cli.args import Parser
from aekit.errors import AekitError, cli_text, render


def cmd_summary(args: argparse.Namespace) -> int:
    from aekit.io import load_model

    load_model(args.run).summary()
    return 0


def add_summary_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("summary", help="print a model's layers, output shapes and parameter counts")
    p.add_argument("run", help="run folder or .safetensors file")
    p.set_defaults(func=cmd_summary)
    return p


def cmd_kinds(args: argparse.Namespace) -> int:
    from aekit.kinds import kinds_table

    print(kinds_table())
    return 0


def add_kinds_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("kinds", help="list the kinds of autoencoder (--kind): what each does, the options it presets")
    p.set_defaults(func=cmd_kinds)
    return p


def commands() -> list:
    """The ``add_*_parser`` functions, one per subcommand, in the order `aekit --help` lists them."""
    return [
        training.add_train_parser,
        add_kinds_parser,
        add_summary_parser,
        imputation.add_impute_parser,
        uses.add_encode_parser,
        uses.add_features_parser,
        uses.add_denoise_parser,
        uses.add_anomaly_parser,
        generative.add_sample_parser,
        generative.add_interpolate_parser,
        generative.add_evaluate_parser,
        run_folders.add_export_parser,
        run_folders.add_report_parser,
        run_folders.add_compare_parser,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="aekit", description="Train, inspect and use autoencoders.")
    parser.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in commands():
        add(sub)
    parser.commands = dict(sub.choices)  # the name of each subcommand → its parser (whose flags errors may name)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None, *, flags=None) -> None:
    # any warning's options as flags (those among `flags`): aekit's own, and a plain warning whose text holds
    # aekit's option marks
    text = cli_text(message, flags) if isinstance(message, Warning) else render(str(message), cli=True, flags=flags)
    print(f"aekit: warning: {text}", file=sys.stderr)


def _close_progress_bars() -> None:
    """Close progress bars left open by an error, so that the error line comes last on stderr."""
    std = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ())):
        bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # a message names an option as a flag where some command takes it (a hint may point at `aekit train`'s --kind
    # from `aekit sample`), and as the library's argument where none does (a field only a kind's presets set)
    flags = frozenset().union(*(p.flags for p in parser.commands.values()))
    warnings.showwarning = functools.partial(_show_warning, flags=flags)  # one line per warning, like the errors
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AekitError as exc:
        _close_progress_bars()
        print(f"aekit: error: {cli_text(exc, flags)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write that failed past the up-front checks (disk full, permissions changed …)
        _close_progress_bars()
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"aekit: error: {where}{exc.strerror or exc}; check the path, its permissions and the free disk space",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM during training (aekit.training.checkpoint.Interrupted)
        _close_progress_bars()
        print(f"aekit: interrupted{'; ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 128 + getattr(exc, "signum", 2)


if __name__ == "__main__":
    sys.exit(main())
