"""The `aekit impute` subcommand: fill the empty cells of a table, or predict missing ratings; a thin shell over
`aekit.uses.imputation` that checks its output paths before any work."""

from __future__ import annotations

import argparse
import math

from aekit.cli.args import _int_list, add_device_arg, add_output, check_outputs, given_inputs
from aekit.errors import ConfigError, DataError


def add_impute_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "impute",
        help="fill the empty cells of a numeric table (or predict missing ratings)",
        description="Fill the empty cells of a numeric table (.csv, .parquet, .npy) with an autoencoder "
        "trained on the observed cells with input dropout (MIDA / AutoRec). Observed cells are kept "
        "exactly. With --ratings, read a MovieLens ratings file (u.data, ratings.csv, ratings.dat) and "
        "write the user × item matrix with every missing rating predicted.",
    )
    p.add_argument("input", nargs="?", metavar="INPUT", help="table with empty cells (.csv, .parquet or .npy)")
    p.add_argument(
        "--ratings", metavar="FILE", help="MovieLens ratings file instead of INPUT (u.data, ratings.csv, ratings.dat)"
    )
    add_output(p, "where to write the filled table (.csv, .parquet, .npy)")
    p.add_argument(
        "--epochs", type=int, help="most epochs a phase; early stopping on held-out cells ends sooner (default 600)"
    )
    p.add_argument(
        "--hidden",
        type=_int_list,
        default=None,
        metavar="SIZES",
        help="layer sizes from input to code, e.g. 64,32 (default: 6×columns up to 192, a second such layer from "
        "1,000 rows, then a code of half that)",
    )
    p.add_argument(
        "--dropout", type=float, help="fraction of observed cells hidden from the input per batch (default 0.3)"
    )
    p.add_argument(
        "--members",
        type=int,
        help="networks trained and averaged, each holding out its own cells (default 5; 15 under 100 rows)",
    )
    p.add_argument(
        "--refeed", type=int, help="rounds in which each network fills again from its own fills (default 1; 0: off)"
    )
    p.add_argument(
        "--no-self-train",
        dest="self_train",
        action="store_false",
        help="one training phase (default: each network then learns from the rows it completed, its fills as seen)",
    )
    p.add_argument(
        "--no-refit",
        dest="refit",
        action="store_false",
        help="the held-out networks fill the gaps (default: each is trained again on every observed cell, the "
        "held-out ones too, for its best epochs, and that network fills; 1.6-1.9x the time)",
    )
    p.add_argument(
        "--self-masking",
        dest="self_masking",
        action=argparse.BooleanOptionalAction,
        help="shift the fills where the gaps are clearly likelier at high or low values (missing not at random), as "
        "a logistic regression of the gaps on the fills finds (default: on; --no-self-masking: never shift)",
    )
    p.add_argument(
        "--no-linear",
        dest="linear",
        action="store_false",
        help="no linear autoencoder blended in per column (the networks' fills alone)",
    )
    p.add_argument(
        "--no-clip",
        dest="clip",
        action="store_false",
        help="fills may leave each column's observed range (default: clipped to its observed minimum and maximum)",
    )
    p.add_argument(
        "--variational",
        action="store_true",
        help="also train a MIWAE (an importance-weighted VAE) and blend it in per column where held-out cells prefer "
        "it (about 2.5x the time; docs/impute.md, round 6)",
    )
    p.add_argument(
        "--method",
        choices=("autoencoder", "auto"),
        help="autoencoder (default) or auto: also fit MissForest (extra trees, scikit-learn) and blend its fills in "
        "per column where held-out cells prefer them (the report's forest_weights)",
    )
    p.add_argument("--lr", type=float, help="Adam learning rate (default 0.001)")
    p.add_argument("--weight-decay", type=float, help="L2 penalty on the weights (default 0)")
    p.add_argument("--seed", type=int, help="seeds the model, the dropout and the held-out cells (default 0)")
    p.add_argument(
        "--report", metavar="FILE", help="also write a JSON report (cells filled, held-out RMSE, epochs, history)"
    )
    add_device_arg(p)
    p.set_defaults(func=cmd_impute)
    return p


def cmd_impute(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    import numpy as np

    from aekit.data.arrays import TABLE_SUFFIXES, read_table, write_table
    from aekit.io import write_json
    from aekit.uses.imputation import impute, read_ratings

    if (args.input is None) == (args.ratings is None):
        raise ConfigError("pass either INPUT (a table with empty cells) or --ratings FILE, not both or neither")
    if os.path.splitext(args.output)[1].lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"{args.output}: the output must end with one of {', '.join(TABLE_SUFFIXES)}")
    check_outputs(args.output, args.report, inputs=given_inputs(args))
    if args.ratings:
        table, users, items = read_ratings(args.ratings)
        if users.dtype.kind not in "iuf":
            raise DataError(f"{args.ratings}: user ids must be numbers to be written in a table (first: {users[0]!r})")
        columns, bounds = [f"item_{i}" for i in items], (float(np.nanmin(table)), float(np.nanmax(table)))
    else:
        table, columns = read_table(args.input, allow_nan=True, exact=True)  # observed cells kept exactly
        bounds = None
    if table.shape[1] <= 256:  # a small network: one thread beats several contending for the cores
        import torch

        torch.set_num_threads(1)
    options = dict(
        hidden=args.hidden,
        epochs=args.epochs,
        dropout=args.dropout,
        members=args.members,
        refeed=args.refeed,
        self_train=args.self_train,
        refit=args.refit,
        self_masking=args.self_masking,
        linear=args.linear,
        clip=args.clip,
        variational=args.variational,
        method=args.method,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
        device=args.device,
    )  # options left out take the library's defaults
    filled, info = impute(
        table, bounds=bounds, columns=columns, return_info=True, **{k: v for k, v in options.items() if v is not None}
    )
    if args.ratings:  # one row per user: the user id, then a rating for every item (observed or predicted)
        filled, columns = np.column_stack([users, filled]), ["user", *columns]
    write_table(args.output, filled, columns)
    if args.report:
        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731  (strict JSON: no NaN)
        report = {k: clean(v) for k, v in dataclasses.asdict(info).items()}
        report["history"] = {k: [clean(v) for v in vs] for k, vs in info.history.items()}
        write_json(args.report, {**report, "hidden": list(info.hidden), "member_rmse": list(info.member_rmse)})
    if info.cells_filled == 0:
        print(f"{args.output}: nothing to fill (no empty cells); wrote the table unchanged")
    else:
        error = (  # nan: a table this small left no observed cell to hold out
            "no held-out estimate of the error (too few observed cells to hold some out)"
            if math.isnan(info.holdout_rmse)
            else f"held-out RMSE {info.holdout_rmse:.3f} standard deviations"
        )
        print(
            f"{args.output}: filled {info.cells_filled:,} of {table.size:,} cells; {error} ({info.members} "
            f"network{'s' * (info.members > 1)}; the first: {info.epochs} epochs, best {info.best_epoch})"
        )
        if info.self_masking_slope:  # say so: a model of the gaps moved the fills (wrong where other columns drive it)
            spread = np.nanstd(table, axis=0)
            moved = np.abs(np.asarray(info.self_masking_shift)) / np.where(spread > 0, spread, 1.0)
            side = "high" if info.self_masking_slope > 0 else "low"
            print(
                f"{args.output}: the gaps are likelier at {side} values (self-masking slope "
                f"{info.self_masking_slope:+.2f} per standard deviation): fills moved by up to {moved.max():.2f} "
                "standard deviations (--no-self-masking: leave them where other columns' values drive the gaps)"
            )
    return 0
