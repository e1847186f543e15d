"""The `aekit` subcommands of the generative kinds: sample, interpolate and evaluate (`--nll`). Each is a thin shell
over one library function (`aekit.uses.generation`, `aekit.uses.likelihood`) and checks its output before any work.
"""

from __future__ import annotations

import argparse

from aekit.cli.args import add_output, add_row_options, check_outputs, given_inputs
from aekit.errors import ConfigError, DataError

_RUN_HELP = "run folder (from `aekit train --kind vae`) or .safetensors file"
_IMAGE_SUFFIXES = (".png", ".npy")


def _output(path: str, args: argparse.Namespace) -> str:
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix not in _IMAGE_SUFFIXES:
        raise ConfigError(f"{path}: the output must end with .png (a grid of images) or .npy (the rows)")
    check_outputs(path, inputs=given_inputs(args))
    return suffix


def _write(path: str, rows, model, ncols: int) -> None:
    import numpy as np

    from aekit.uses.inputs import image_shape_of

    if path.lower().endswith(".npy"):
        import io

        from aekit.io import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, np.asarray(rows, dtype=np.float32))
        atomic_write_bytes(path, buf.getvalue())
        return
    shape = image_shape_of(model)
    if shape is None:
        raise ConfigError(f"{path}: these rows are not images (no image shape); write them to a .npy file instead")
    from aekit.reporting.rendering import save_figure  # matplotlib only for a picture
    from aekit.uses.generation import grid_figure

    save_figure(grid_figure(rows, shape, ncols=ncols), path)


def add_sample_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sample",
        help="draw new rows from a generative run (a VAE)",
        description="Draw N codes from the prior N(0, I) of a VAE run and decode them: a grid of images "
        "(.png) or the rows (.npy). With --manifold, the decoded grid of a 2-D code instead.",
    )
    p.add_argument("run", metavar="RUN", help=_RUN_HELP)
    p.add_argument("-n", type=int, default=64, help="rows to draw (default 64)")
    add_output(p, "samples.png or samples.npy (default samples.png)", default="samples.png")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--temperature", type=float, default=1.0, help="spread of the prior's draws (default 1)")
    p.add_argument("--label", type=int, help="draw rows of this label (a conditional run)")
    p.add_argument("--manifold", type=int, metavar="N", help="the N × N manifold grid of a 2-D code instead of draws")
    p.set_defaults(func=cmd_sample)
    return p


def cmd_sample(args: argparse.Namespace) -> int:
    import math

    from aekit.uses.generation import manifold, sample
    from aekit.uses.inputs import load_any_model

    _output(args.output, args)
    model, _ = load_any_model(args.run)
    if args.manifold is not None:
        rows, ncols = manifold(model, args.manifold, label=args.label), args.manifold
    else:
        rows = sample(model, args.n, seed=args.seed, temperature=args.temperature, label=args.label)
        ncols = max(1, math.isqrt(args.n - 1) + 1) if args.n > 0 else 1
        if model.conditional and args.label is None:  # the classes in turn: a class per column
            ncols = min(args.n, model.config.n_classes)
    _write(args.output, rows, model, ncols)
    print(f"{args.output}: {len(rows)} rows drawn")
    return 0


def add_interpolate_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "interpolate",
        help="decode the path between the codes of two inputs",
        description="Encode rows A and B of INPUT and decode STEPS codes along the path between them "
        "(linear or spherical), drawn as a strip (.png) or written as rows (.npy).",
    )
    p.add_argument("run", metavar="RUN", help=_RUN_HELP)
    p.add_argument("a", type=int, metavar="A", help="the row number of the first input")
    p.add_argument("b", type=int, metavar="B", help="the row number of the second input")
    p.add_argument(
        "--input",
        default="mnist",
        metavar="INPUT",
        help="rows A and B come from: mnist or fashion-mnist (test split; :train for the other), or a file",
    )
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files")
    p.add_argument("--steps", type=int, default=10, help="codes on the path, both ends included (default 10)")
    p.add_argument("--method", choices=("linear", "spherical"), default="linear", help="the path (default linear)")
    add_output(p, "a .png strip or a .npy file", default="interpolation.png")
    p.set_defaults(func=cmd_interpolate)
    return p


def cmd_interpolate(args: argparse.Namespace) -> int:
    from aekit.errors import DataError
    from aekit.uses.generation import interpolate
    from aekit.uses.inputs import load_any_model, load_rows

    _output(args.output, args)
    model, _ = load_any_model(args.run)
    rows = load_rows(args.input, data_dir=args.data_dir)
    for name, i in (("A", args.a), ("B", args.b)):
        if not 0 <= i < len(rows.x):
            raise DataError(f"row {name} = {i} is outside {rows.name}'s rows 0…{len(rows.x) - 1}; pick a row inside it")
    ends = (int(rows.y[args.a]), int(rows.y[args.b])) if model.conditional and rows.y is not None else None
    path = interpolate(model, rows.x[args.a], rows.x[args.b], steps=args.steps, method=args.method, labels=ends)
    _write(args.output, path, model, ncols=len(path))
    print(f"{args.output}: {len(path)} steps from row {args.a} to row {args.b} ({args.method})")
    return 0


def add_evaluate_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate",
        help="a VAE's negative log-likelihood (importance sampling), in nats",
        description="Estimate −log p(x) of INPUT's rows with K importance samples from the encoder "
        "(the IWAE bound, log-mean-exp of the weights), with its standard error, in nats per row.",
    )
    p.add_argument("run", metavar="RUN", help=_RUN_HELP)
    p.add_argument(
        "input",
        nargs="?",
        default="mnist",
        metavar="INPUT",
        help="rows: mnist (its test split, the default), mnist:train, fashion-mnist, or a file",
    )
    p.add_argument("--nll", action="store_true", help="estimate the negative log-likelihood (the only measure so far)")
    p.add_argument("--samples", type=int, default=5000, metavar="K", help="importance samples per row (default 5000)")
    p.add_argument(
        "--binarize",
        choices=("none", "fixed"),
        default="none",
        help="fixed: each pixel drawn once as Bernoulli of its intensity (seeded), as in the literature",
    )
    p.add_argument(
        "--likelihood", choices=("bernoulli", "gaussian"), help="the decoder's distribution (default: the run's)"
    )
    add_row_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and the binarisation (default 0)")
    p.set_defaults(func=cmd_evaluate)
    return p


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from aekit.uses.inputs import load_rows
    from aekit.uses.likelihood import nll

    if not args.nll:
        raise ConfigError("say what to evaluate: pass --nll (the negative log-likelihood)")
    rows = load_rows(args.input, limit=args.limit, data_dir=args.data_dir)
    x = np.asarray(rows.x, dtype=np.float32)
    if args.binarize == "fixed":
        if x.size and not (x.min() >= 0 and x.max() <= 1):  # a Bernoulli draw of 1000 is always 1: nothing of it kept
            raise DataError(
                f"{rows.name}: --binarize fixed draws each value as a Bernoulli of its intensity in [0, 1], but the "
                f"rows lie in [{x.min():g}, {x.max():g}]; leave --binarize out (a scaled run scales them itself)"
            )
        x = (np.random.default_rng(args.seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)
    r = nll(args.run, x, samples=args.samples, likelihood=args.likelihood, seed=args.seed, labels=_labels(args, rows))
    print(
        f"{rows.name}: NLL {r.nll:.2f} ± {r.stderr:.2f} nats{_units(r)} ({r.n} rows, {r.samples} importance samples, "
        f"{r.likelihood} decoder{', binarised once' if args.binarize == 'fixed' else ''})"
    )
    return 0


def _units(r) -> str:
    """Nothing for a model without an input scaler; for one with, what the figure is a likelihood of."""
    return "" if r.units == "the rows as given" else f" of {r.units}"


def _labels(args: argparse.Namespace, rows):
    """A cvae's labels of the rows (the data set's own); None for a plain model."""
    from aekit.uses.inputs import load_any_model

    return rows.y if load_any_model(args.run)[0].conditional else None


__all__ = ["add_sample_parser", "add_interpolate_parser", "add_evaluate_parser"]
