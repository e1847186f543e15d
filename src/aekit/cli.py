"""The `aekit` command line: argparse subcommands, each a thin shell over one library function.

Errors that aekit raises on purpose print as one line, ``aekit: error: …``, and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from . import __version__
from .errors import AekitError, ConfigError, DataError
from .kinds import KINDS


def _int_list(text: str) -> tuple[int, ...]:
    """'128,64' or '128 64' → (128, 64); '' → ()."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, like 128,64; got {text!r}") from None


# Parser defaults are wrapped in these marker types so that a kind's presets can tell a flag the user typed
# (a plain value, even if equal to the default) from one left at its default.
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


def add_train_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train an autoencoder and write a run folder",
                       description="Train an autoencoder. With no options: the Keras tutorial "
                       "(MNIST, 784 → 32 → 784, adadelta lr 1.0, BCE, 100 epochs, batch 256).")
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="mnist", help="mnist (bundled) or fashion-mnist (default: mnist)")
    d.add_argument("--data", metavar="FILE", help="train on your own rows: .npy, .csv or .parquet")
    d.add_argument("--val-data", metavar="FILE", help="validation rows for --data (default: hold out --val-split)")
    d.add_argument("--val-split", type=float, default=0.1, help="fraction of --data held out for validation (default 0.1)")
    d.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files (else searched, then downloaded)")
    d.add_argument("--limit", type=int, metavar="N", help="use only the first N training rows (quick runs)")
    m = p.add_argument_group("model")
    m.add_argument("--encoding-dim", type=int, default=32, help="size of the code (default 32)")
    m.add_argument("--hidden", type=_int_list, default=(), metavar="SIZES", help="hidden sizes from input to code, e.g. 128,64")
    m.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    m.add_argument("--code-activation", default="relu", help="code activation (default relu; sigmoid for --kl-beta)")
    m.add_argument("--output-activation", default="sigmoid", help="output activation (default sigmoid)")
    t = p.add_argument_group("training")
    t.add_argument("--recipe", choices=("tutorial", "fast"), default="tutorial",
                   help="starting values for the flags below: tutorial (default) or fast (adam, onecycle, batch 512, 10 epochs; "
                        "the recommended start); explicit flags win")
    t.add_argument("--epochs", type=int, help="default 100 (recipe fast: 10; with --resume: continue the run to N)")
    t.add_argument("--batch-size", type=int, help="default 256 (recipe fast: 512)")
    t.add_argument("--optimizer", help="adadelta (Keras 2: lr 1.0, rho 0.95; the default), adam or sgd")
    t.add_argument("--schedule", help="learning rate schedule: constant (default), onecycle (warm-up, then cosine decay) or cosine (decay to --min-lr)")
    t.add_argument("--lr", type=float, help="learning rate (default: the optimizer's Keras 2 default)")
    t.add_argument("--min-lr", type=float, default=0.0, help="where --schedule cosine ends (default 0)")
    t.add_argument("--loss", default="bce", help="bce or mse (default bce)")
    t.add_argument("--seed", type=int, default=0, help="seeds initialisation, shuffling and noise (default 0)")
    t.add_argument("--shuffle-block", type=int, default=1, metavar="N",
                   help="rows kept together when shuffling (default 1: every row on its own); e.g. 16 reads a "
                        "memory-mapped --data file in runs, faster; shuffle an ordered file once beforehand")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the training step: ~10 s once, then faster epochs (one process; needs a C++ compiler)")
    t.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="keep a moving average of the weights with this decay (e.g. 0.999; default 0: off); "
                        "validation and the saved model use the average")
    t.add_argument("--quick", action="store_true", help="a first look: 5 epochs on 10,000 images")
    k = p.add_argument_group("penalties and corruption (the kinds)")
    k.add_argument("--kind", default="undercomplete", metavar="KIND",
                   help="preset of the options below (explicit flags win): " + ", ".join(KINDS).replace("undercomplete", "undercomplete (default)", 1)
                   + "; deep-hinton also sets the training (Adam, cosine schedule, ema; docs/kinds.md)")
    k.add_argument("--l1", type=float, default=0.0, help="L1 activity penalty on the code (sparse; Keras blog 10e-5)")
    k.add_argument("--kl-beta", type=float, default=0.0, help="weight of the KL sparsity penalty (sparse; UFLDL 3)")
    k.add_argument("--kl-rho", type=float, default=0.05, help="target mean code activation for --kl-beta (UFLDL 0.1)")
    k.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty on the weights (UFLDL 3e-3)")
    k.add_argument("--contractive", type=float, default=0.0, help="weight of the contractive penalty ‖J‖²")
    k.add_argument("--noise", default="none", help="input corruption: none, gaussian, masking, salt_pepper (denoising)")
    k.add_argument("--noise-level", type=float, default=0.0, help="σ for gaussian, fraction for masking / salt_pepper")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", help="run folder (default runs/<dataset>-<time>)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    o.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard event files")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress output (for scripts and CI)")
    o.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="0 quiet, 1 a bar per epoch, 2 a line per epoch")
    add_reliability_options(p)
    p.set_defaults(func=cmd_train)
    mark_defaults(p)
    return p


def kind_configs_from_args(args: argparse.Namespace):
    """The configs of `args.kind`: its presets, overridden by every flag given explicitly."""
    from dataclasses import fields

    from .config import RECIPES, ModelConfig, TrainConfig, recipe
    from .kinds import configure

    given = explicit_args(args)  # flags are named as the config fields they set
    explicit = {f.name: getattr(args, f.name) for cfg in (ModelConfig, TrainConfig) for f in fields(cfg) if f.name in given}
    name = getattr(args, "recipe", None)
    keys = set().union(*RECIPES.values())
    own = sorted(keys & set(KINDS.get(args.kind, {})))  # training values the kind sets itself (deep-hinton)
    if own and "recipe" in given:
        raise ConfigError(f"--kind {args.kind} sets its own {', '.join(own)}, which --recipe {name} sets too; drop --recipe "
                          "(explicit flags such as --epochs still win over the kind's values)")
    if name and not own:  # the recipe's training values sit above the kind's presets, below explicit flags (recipe() decides)
        rc = recipe(name, **{k: explicit[k] for k in keys if k in explicit})
        explicit.update({k: getattr(rc, k) for k in keys})
    input_dim = 784  # the image datasets; for --data, read it only when the preset depends on it
    if args.data and any(callable(v) for v in KINDS.get(args.kind, {}).values()):
        from .data import load_array

        input_dim = int(load_array(args.data)[:1].reshape(1, -1).shape[1])
    return configure(args.kind, input_dim=input_dim, **explicit)


def add_reliability_options(p: argparse.ArgumentParser) -> None:
    r = p.add_argument_group("early stopping and resuming")
    r.add_argument("--patience", type=int, default=0, help="stop after N epochs without val_loss improvement (default 0: off)")
    r.add_argument("--min-delta", type=float, default=0.0, help="the smallest val_loss decrease that counts as improvement")
    r.add_argument("--no-restore-best", action="store_true", help="with --patience: keep the last weights, not the best epoch's")
    r.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint, with its own options "
                   "(only --epochs, --quiet, --verbose and --no-tensorboard may be given)")


# with --resume, the options come from the run's config.json; these may still be given
RESUME_OPTIONS = {"resume", "epochs", "quiet", "verbose", "no_tensorboard", "func", "command"}


def resume_from_args(args: argparse.Namespace):
    from .errors import ConfigError
    from .runs import resume

    defaults = vars(build_parser().parse_args(["train"]))
    given = sorted(k for k, v in vars(args).items() if k not in RESUME_OPTIONS and v != defaults.get(k))
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"--resume continues {args.resume} with the options in its config.json; drop {names} "
                          "(only --epochs, --quiet, --verbose and --no-tensorboard may be given)")
    return resume(args.resume, epochs=args.epochs, tensorboard=False if args.no_tensorboard else None,
                  verbose=0 if args.quiet else args.verbose)


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import signals_interrupt
    from .config import replace
    from .runs import train

    if args.resume:
        with signals_interrupt():
            result = resume_from_args(args)
        return _report_run(result)
    if args.quick:
        args.epochs = min(args.epochs or 5, 5)
        args.limit = args.limit or 10000
    model_cfg, train_cfg = kind_configs_from_args(args)
    train_cfg = replace(train_cfg, patience=args.patience, min_delta=args.min_delta, restore_best=not args.no_restore_best)
    verbose = 0 if args.quiet else args.verbose
    with signals_interrupt():
        result = train(model_cfg, train_cfg, kind=args.kind, dataset=args.dataset, data=args.data, val_data=args.val_data, data_dir=args.data_dir,
                       limit=args.limit, val_split=args.val_split, out=args.out, overwrite=args.overwrite,
                       tensorboard=not args.no_tensorboard, verbose=verbose)
    return _report_run(result)


def _report_run(result) -> int:
    from .distributed import is_main

    m = result.metrics
    figures = " ".join(f"{k}={m[k]:.4f}" for k in ("loss", "val_loss") if k in m)
    if is_main():  # under torchrun only rank 0 reports
        print(f"{result.path}: {m['epochs']} epochs, {figures}, {m['seconds_per_epoch']:.2f} s/epoch")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from .io import load_model

    print(load_model(args.run).summary())
    return 0


def add_summary_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("summary", help="print a model's layers, output shapes and parameter counts")
    p.add_argument("run", help="run folder or .safetensors file")
    p.set_defaults(func=cmd_summary)
    return p


def add_impute_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("impute", help="fill the empty cells of a numeric table (or predict missing ratings)",
                       description="Fill the empty cells of a numeric table (.csv, .parquet, .npy) with an autoencoder "
                       "trained on the observed cells with input dropout (MIDA / AutoRec). Observed cells are kept "
                       "exactly. With --ratings, read a MovieLens ratings file (u.data, ratings.csv, ratings.dat) and "
                       "write the user × item matrix with every missing rating predicted.")
    p.add_argument("input", nargs="?", metavar="INPUT", help="table with empty cells (.csv, .parquet or .npy)")
    p.add_argument("--ratings", metavar="FILE", help="MovieLens ratings file instead of INPUT (u.data, ratings.csv, ratings.dat)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the filled table (.csv, .parquet, .npy)")
    p.add_argument("--epochs", type=int, help="most epochs; early stopping on held-out cells ends sooner (default 300)")
    p.add_argument("--hidden", type=_int_list, default=None, metavar="SIZES",
                   help="layer sizes from input to code, e.g. 64,32 (default: 6×columns, then 3×columns)")
    p.add_argument("--dropout", type=float, help="fraction of observed cells hidden from the input per batch (default 0.3)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 0.002)")
    p.add_argument("--weight-decay", type=float, help="L2 penalty on the weights (default 0)")
    p.add_argument("--seed", type=int, help="seeds the model, the dropout and the held-out cells (default 0)")
    p.add_argument("--report", metavar="FILE", help="also write a JSON report (cells filled, held-out RMSE, epochs, history)")
    p.set_defaults(func=cmd_impute)
    return p


def cmd_impute(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    import numpy as np

    from .data import TABLE_SUFFIXES, read_table, write_table
    from .impute import impute, read_ratings
    from .io import write_json

    if (args.input is None) == (args.ratings is None):
        raise ConfigError("pass either INPUT (a table with empty cells) or --ratings FILE, not both or neither")
    if os.path.splitext(args.output)[1].lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"{args.output}: the output must end with one of {', '.join(TABLE_SUFFIXES)}")
    check_outputs(args.output, args.report)
    if args.ratings:
        table, users, items = read_ratings(args.ratings)
        if users.dtype.kind not in "iuf":
            raise DataError(f"{args.ratings}: user ids must be numbers to be written in a table (first: {users[0]!r})")
        columns, bounds = [f"item_{i}" for i in items], (float(np.nanmin(table)), float(np.nanmax(table)))
    else:
        table, columns = read_table(args.input, allow_nan=True)
        bounds = None
    if table.shape[1] <= 256:  # a small network: one thread beats several contending for the cores
        import torch

        torch.set_num_threads(1)
    options = dict(hidden=args.hidden, epochs=args.epochs, dropout=args.dropout, lr=args.lr, weight_decay=args.weight_decay,
                   seed=args.seed)  # options left out take the library's defaults
    filled, info = impute(table, bounds=bounds, columns=columns, return_info=True,
                          **{k: v for k, v in options.items() if v is not None})
    if args.ratings:  # one row per user: the user id, then a rating for every item (observed or predicted)
        filled, columns = np.column_stack([users, filled]), ["user", *columns]
    write_table(args.output, filled, columns)
    if args.report:
        import math

        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731  (strict JSON: no NaN)
        report = {k: clean(v) for k, v in dataclasses.asdict(info).items()}
        report["history"] = {k: [clean(v) for v in vs] for k, vs in info.history.items()}
        write_json(args.report, {**report, "hidden": list(info.hidden)})
    if info.cells_filled == 0:
        print(f"{args.output}: nothing to fill (no empty cells); wrote the table unchanged")
    else:
        print(f"{args.output}: filled {info.cells_filled:,} of {table.size:,} cells; held-out RMSE "
              f"{info.holdout_rmse:.3f} standard deviations ({info.epochs} epochs, best {info.best_epoch})")
    return 0


# --------------------------------------------------------------------------- uses: encode, features, denoise, anomaly
_INPUT_HELP = ("rows to use: mnist or fashion-mnist (their test split; add :train for the training split), "
               "or a .npy, .csv or .parquet file")


def _add_input_args(p, labels: bool = True) -> None:
    p.add_argument("run", metavar="RUN", help="run folder (from `aekit train`) or .safetensors file")
    p.add_argument("input", metavar="INPUT", help=_INPUT_HELP)
    if labels:
        p.add_argument("--labels", metavar="FILE", help="one label per row (.npy/.csv/.parquet); a dataset brings its own")
    p.add_argument("--limit", type=int, metavar="N", help="use only the first N rows")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files")


def _rows(args, labels: bool = True):
    from .inputs import load_rows

    return load_rows(args.input, labels=getattr(args, "labels", None) if labels else None, limit=args.limit,
                     data_dir=args.data_dir)


def add_encode_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("encode", help="write the code of every row (dimension reduction)",
                       description="Write the code of every row of INPUT; --plot draws a 2-D map of the codes.")
    _add_input_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="codes.npy, codes.csv or codes.parquet")
    p.add_argument("--plot", metavar="PNG", help="also draw a 2-D map of the codes, coloured by label when known")
    p.add_argument("--method", choices=("auto", "pca", "tsne"), default="auto",
                   help="map: auto (2-unit codes as they are, else PCA), pca or tsne (default auto)")
    p.add_argument("--plot-limit", type=int, default=5000, metavar="N", help="draw at most N points (default 5000)")
    p.set_defaults(func=cmd_encode)
    return p


def cmd_encode(args: argparse.Namespace) -> int:
    from .data import write_table
    from .encode import code_plot, encode
    from .inputs import load_any_model
    from .plots import save_figure

    check_outputs(args.output, args.plot)
    model, _ = load_any_model(args.run)
    rows = _rows(args)
    codes = encode(model, rows.x)
    write_table(args.output, codes, columns=[f"code_{j}" for j in range(codes.shape[1])])
    print(f"{args.output}: {codes.shape[0]} rows × {codes.shape[1]} code units")
    if args.plot:
        fig = code_plot(codes, rows.y, method=args.method, limit=args.plot_limit, title=f"codes of {rows.name}")
        print(save_figure(fig, args.plot))
    return 0


def add_features_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("features", help="pictures of what the units learned",
                       description="Draw the first encoder layer's weights (weights.png), each code unit decoded "
                       "alone (decoded.png) and the INPUT rows that most activate each code unit (top_inputs.png/.csv).")
    p.add_argument("run", metavar="RUN", help="run folder (from `aekit train`) or .safetensors file")
    p.add_argument("--input", metavar="INPUT",
                   help="rows searched for the most-activating inputs: a dataset (mnist, mnist:train …) or a file; "
                   "default: the run's dataset's test split, else its validation rows; 'none' to skip")
    p.add_argument("--limit", type=int, metavar="N", help="search only the first N rows")
    p.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files")
    p.add_argument("--top", type=int, default=8, help="inputs shown per unit (default 8)")
    p.add_argument("--max-units", type=int, default=64, help="units drawn at most (default 64)")
    p.add_argument("-o", "--out", metavar="DIR", help="folder for the pictures (default RUN/features)")
    p.set_defaults(func=cmd_features)
    return p


def cmd_features(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .features import features, write_features
    from .inputs import load_any_model

    run = Path(args.run)
    out = args.out or (run / "features" if run.is_dir() else run.with_name(run.stem + "-features"))
    check_outputs(folders=[out])
    model, config = load_any_model(args.run)
    data = config.get("data") or {}
    if args.input is None and data.get("dataset"):
        args.input = f"{data['dataset']}:test"
    if args.input is not None:
        x = None if args.input.lower() == "none" else _rows(args, labels=False).x
    else:  # a run on a user file: its validation rows; a lone model file: none
        from .anomaly import validation_rows

        x = validation_rows(config) if data else None
        x = x[:args.limit] if x is not None and args.limit else x
    f = features(model, x, top=args.top)
    for path in write_features(f, out, x, max_units=args.max_units):
        print(path)
    return 0


def add_denoise_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("denoise", help="denoise images with a denoising run",
                       description="Corrupt clean INPUT rows with the run's own noise (or --noise/--noise-level) and "
                       "denoise them, reporting PSNR; with --noisy, INPUT is already noisy and is only denoised.")
    _add_input_args(p, labels=False)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="denoised rows: .npy, .csv or .parquet")
    p.add_argument("--noisy", action="store_true", help="INPUT is already noisy: denoise it as it is (no PSNR)")
    p.add_argument("--noise", choices=("gaussian", "masking", "salt_pepper"),
                   help="corruption of clean INPUT (default: the run's training noise)")
    p.add_argument("--noise-level", type=float, help="σ for gaussian, fraction for masking / salt_pepper (default: the run's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--save-noisy", metavar="FILE", help="also write the noisy rows")
    p.add_argument("--plot", metavar="PNG", help="also draw a grid: noisy / denoised / clean")
    p.set_defaults(func=cmd_denoise)
    return p


def cmd_denoise(args: argparse.Namespace) -> int:
    from .data import write_table
    from .denoise import denoise, denoise_figure
    from .errors import DataError
    from .inputs import image_shape_of, load_any_model
    from .plots import save_figure

    check_outputs(args.output, args.save_noisy, args.plot)
    model, config = load_any_model(args.run)
    rows = _rows(args, labels=False)
    res = denoise(args.run, rows.x, noise=args.noise, noise_level=args.noise_level,
                  noisy_input=args.noisy, seed=args.seed)
    shape = image_shape_of(model, rows)
    if args.plot and shape is None:
        raise DataError("--plot needs image rows (a dataset, or a model with an image shape); drop --plot")
    write_table(args.output, res.denoised)
    if args.save_noisy:
        write_table(args.save_noisy, res.noisy)
    if res.clean is None:
        print(f"{args.output}: {len(res.denoised)} rows denoised")
    else:
        print(f"{args.output}: {len(res.denoised)} rows, {res.noise} noise {res.noise_level:g}: "
              f"PSNR noisy {res.psnr_noisy:.2f} dB, denoised {res.psnr_denoised:.2f} dB")
    if args.plot:
        print(save_figure(denoise_figure(res, image_shape=shape), args.plot))
    return 0


def add_anomaly_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("anomaly", help="score rows by reconstruction error and flag anomalies",
                       description="Score each INPUT row by its reconstruction error, flag rows above a threshold "
                       "(by --contamination, or by --quantile of reference scores: the run's validation rows or "
                       "--reference FILE; default quantile 0.99), and report ROC-AUC when labels are known.")
    _add_input_args(p)
    p.add_argument("-o", "--output", default="scores.csv", metavar="CSV",
                   help="scores with an anomaly flag column (default scores.csv)")
    t = p.add_mutually_exclusive_group()
    t.add_argument("--contamination", type=float, metavar="RATE", help="flag this fraction of the rows, e.g. 0.05")
    t.add_argument("--quantile", type=float, metavar="Q", help="flag rows above this quantile of the reference scores")
    p.add_argument("--reference", metavar="FILE", help="normal rows for --quantile (default: the run's validation rows)")
    p.add_argument("--normal", type=_int_list, metavar="LABELS",
                   help="labels of the normal rows, e.g. 3 or 3,5; other labels are anomalies (else labels must be 0/1)")
    p.add_argument("--score", choices=("mse", "bce"), default="mse", help="per-row error: mse (default) or bce")
    p.add_argument("--plot", metavar="PNG", help="also draw a histogram of the scores with the threshold")
    p.set_defaults(func=cmd_anomaly)
    return p


def cmd_anomaly(args: argparse.Namespace) -> int:
    from .anomaly import anomaly, write_scores
    from .data import load_array
    from .plots import histogram, save_figure

    check_outputs(args.output, args.plot)
    rows = _rows(args)
    reference = None if args.reference is None else load_array(args.reference)
    labels = rows.y
    if labels is not None and args.normal is None and not set(map(int, set(labels.tolist()))) <= {0, 1}:
        print(f"(labels of {rows.name} are not 0/1 and no --normal was given: no ROC-AUC)")
        labels = None
    res = anomaly(args.run, rows.x, reference=reference, contamination=args.contamination, quantile=args.quantile,
                  labels=labels, normal=args.normal, score=args.score)
    write_scores(res, args.output)
    auc = "" if res.roc_auc is None else f", ROC-AUC {res.roc_auc:.4f}"
    print(f"{args.output}: {len(res.scores)} rows, threshold {res.threshold:.6g} ({res.rule}), "
          f"{res.n_flagged} flagged{auc}")
    if args.plot:
        fig = histogram(res.scores, threshold=res.threshold, xlabel=f"reconstruction error ({args.score})",
                        title=f"anomaly scores of {rows.name}")
        print(save_figure(fig, args.plot))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    check_outputs(folders=[args.out])
    paths = export(args.run, args.out, opset=args.opset, verify=not args.no_verify)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def add_export_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="write the encoder, decoder and full model as ONNX graphs",
                       description="Export a model to ONNX: encoder.onnx (x → code), decoder.onnx (code → reconstruction) "
                       "and autoencoder.onnx (x → reconstruction), each with a dynamic batch axis, checked in onnxruntime.")
    p.add_argument("run", help="run folder or .safetensors file")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN/onnx, or NAME-onnx/ beside a .safetensors file)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset version (default: the exporter's)")
    p.add_argument("--no-verify", action="store_true", help="skip running the graphs in onnxruntime against PyTorch")
    p.set_defaults(func=cmd_export)
    return p


def cmd_report(args: argparse.Namespace) -> int:
    from .report import report

    check_outputs(args.out)
    print(report(args.run, args.out))
    return 0


def add_report_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="(re)build a run's self-contained report.html",
                       description="Write RUN/report.html: config, summary, loss curves, reconstructions, the kind's figures, "
                       "final figures and time taken, with every image embedded (no network needed).")
    p.add_argument("run", help="run folder written by `aekit train`")
    p.add_argument("--out", metavar="FILE", help="where to write the report (default RUN/report.html)")
    p.set_defaults(func=cmd_report)
    return p


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare

    check_outputs(args.html)
    print(compare(args.runs, html=args.html))
    if args.html:
        print(f"wrote {args.html}")
    return 0


def add_compare_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="a table of runs side by side (and an HTML page with the curves overlaid)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `aekit train`")
    p.add_argument("--html", metavar="FILE", help="also write an HTML page with the table and the loss curves overlaid")
    p.set_defaults(func=cmd_compare)
    return p


# One entry per subcommand, in the order `aekit --help` lists them.
COMMANDS = [
    add_train_parser,
    add_summary_parser,
    add_impute_parser,
    add_encode_parser,
    add_features_parser,
    add_denoise_parser,
    add_anomaly_parser,
    add_export_parser,
    add_report_parser,
    add_compare_parser,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aekit", description="Train, inspect and use autoencoders.")
    parser.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in COMMANDS:
        add(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"aekit: warning: {message}", file=sys.stderr)


def _close_progress_bars() -> None:
    """Close progress bars left open by an error, so that the error line comes last on stderr."""
    std = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ())):
        bar.close()


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning  # one line per warning, like the errors
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AekitError as exc:
        _close_progress_bars()
        print(f"aekit: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write that failed past the up-front checks (disk full, permissions changed …)
        _close_progress_bars()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"aekit: error: {where}{exc.strerror or exc}; check the path, its permissions and the free disk space", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM during training (aekit.checkpoint.Interrupted)
        _close_progress_bars()
        print(f"aekit: interrupted{'; ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 128 + getattr(exc, "signum", 2)


if __name__ == "__main__":
    sys.exit(main())
