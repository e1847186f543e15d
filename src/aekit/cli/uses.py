"""The `aekit` subcommands that use a trained model on rows: encode, features, denoise and anomaly (impute is in
`aekit.cli.imputation`; export, report and compare in `aekit.cli.run_folders`). Each ``add_*_parser`` adds one
subcommand to `aekit.cli`'s parser; each ``cmd_*`` is a thin shell over one library function, and checks its output
paths before any work.
"""

from __future__ import annotations

import argparse

from aekit.cli.args import (
    add_device_arg,
    add_image_options,
    add_output,
    add_row_options,
    check_outputs,
    given_inputs,
)
from aekit.errors import ConfigError, DataError


def _label_list(text: str) -> tuple[str, ...]:
    """'3,5' or 'cat,dog' -> ('3', '5') / ('cat', 'dog'): label numbers, or an image folder's class names."""
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if not parts:
        raise argparse.ArgumentTypeError(f"expected labels separated by commas, like 3,5 or cat,dog; got {text!r}")
    return parts


# --------------------------------------------------------------------------- uses: encode, features, denoise, anomaly
_INPUT_HELP = (
    "rows to use: mnist or fashion-mnist (their test split; add :train for the training split), "
    "a .npy, .csv or .parquet file, or images: a folder (sub-folders are the labels) or a .txt list of "
    "paths"
)


def _add_input_args(p, labels: bool = True) -> None:
    p.add_argument("run", metavar="RUN", help="run folder (from `aekit train`) or .safetensors file")
    p.add_argument("input", metavar="INPUT", help=_INPUT_HELP)
    if labels:
        p.add_argument(
            "--labels", metavar="FILE", help="one label per row (.npy/.csv/.parquet); a dataset brings its own"
        )
    add_row_options(p)
    add_image_options(p.add_argument_group("images (INPUT a folder or a .txt list)"), for_model=True)
    add_device_arg(p)


def _rows(args, labels: bool = True, model=None, config=None, whole: bool = False):
    """INPUT's rows; a folder of images is decoded at the model's size and colour, resized as the run was (with
    `whole`, for a full-resolution model, each image at its own size unless --image-size is given)."""
    import os

    from aekit.data.image_files import is_image_source
    from aekit.uses.inputs import check_columns, load_any_model, load_rows

    images = {}
    if config is None and args.input and os.path.isfile(args.input) and os.path.isdir(args.run):
        from pathlib import Path

        from aekit.runfolder import read_optional_json

        config = read_optional_json(Path(args.run, "config.json"))  # a damaged one: load_any_model says so
    check_columns(args.input, config if isinstance(config, dict) else None)  # a header of other columns
    if is_image_source(args.input):
        if model is None:
            model, config = load_any_model(args.run)
        data = (config or {}).get("data") or {}
        images = dict(
            like=model,
            image_size=getattr(args, "image_size", None),
            color=getattr(args, "color", None),
            resize=getattr(args, "resize", None) or data.get("resize"),
            skip_bad_images=getattr(args, "skip_bad_images", False),
            whole=whole,
        )
    return load_rows(
        args.input,
        labels=getattr(args, "labels", None) if labels else None,
        limit=args.limit,
        data_dir=args.data_dir,
        **images,
    )


def add_encode_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "encode",
        help="write the code of every row (dimension reduction)",
        description="Write the code of every row of INPUT; --plot draws a 2-D map of the codes.",
    )
    _add_input_args(p)
    add_output(p, "codes.npy, codes.csv or codes.parquet (for images, .csv and .parquet start with each file's path)")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="(.png, .svg or .pdf) also draw a 2-D map of the codes, coloured by label when known",
    )
    p.add_argument(
        "--method",
        choices=("auto", "pca", "tsne"),
        default="auto",
        help="map: auto (2-unit codes as they are, else PCA), pca or tsne (default auto)",
    )
    p.add_argument("--plot-limit", type=int, default=5000, metavar="N", help="draw at most N points (default 5000)")
    p.set_defaults(func=cmd_encode)
    return p


def cmd_encode(args: argparse.Namespace) -> int:
    from aekit.config_checks import positive_int
    from aekit.data.arrays import write_table
    from aekit.uses.encoding import code_plot, encode, write_codes
    from aekit.uses.inputs import class_names, load_any_model

    positive_int("plot_limit", args.plot_limit)  # before the codes are written: not after, with them left behind
    check_outputs(args.output, inputs=given_inputs(args), figures=[args.plot])
    model, config = load_any_model(args.run, args.device)
    rows = _rows(args, model=model, config=config)
    codes = encode(model, rows.x, labels=rows.y if model.conditional else None)  # a cvae: the rows' labels
    columns = [f"code_{j}" for j in range(codes.shape[1])]
    labels, title = None if rows.y is None else class_names(rows), f"codes of {rows.name}"  # map before codes file
    fig = code_plot(codes, labels, method=args.method, limit=args.plot_limit, title=title) if args.plot else None
    if rows.names is not None and not args.output.lower().endswith(".npy"):
        write_codes(args.output, codes, columns, rows.names, labels)
    else:
        write_table(args.output, codes, columns=columns)
    print(f"{args.output}: {codes.shape[0]} rows × {codes.shape[1]} code units")
    if fig is not None:
        from aekit.reporting.rendering import save_figure  # matplotlib (~0.3 s) only for a plot

        print(save_figure(fig, args.plot))
    return 0


def add_features_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "features",
        help="pictures of what the units learned",
        description="Draw the first encoder layer's weights (weights.png), each code unit decoded "
        "alone (decoded.png) and the INPUT rows that most activate each code unit (top_inputs.png/.csv).",
    )
    p.add_argument("run", metavar="RUN", help="run folder (from `aekit train`) or .safetensors file")
    p.add_argument(
        "--input",
        metavar="INPUT",
        help="rows searched for the most-activating inputs: a dataset (mnist, mnist:train …) or a file; "
        "default: the run's dataset's test split, else its validation rows; 'none' to skip",
    )
    add_row_options(p, "search only the first N rows")
    p.add_argument("--top", type=int, default=8, help="inputs shown per unit (default 8)")
    p.add_argument("--max-units", type=int, default=64, help="units drawn at most (default 64)")
    p.add_argument("-o", "--out", metavar="DIR", help="folder for the pictures (default RUN/features)")
    add_device_arg(p)
    p.set_defaults(func=cmd_features)
    return p


def cmd_features(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aekit.config_checks import positive_int
    from aekit.uses.inputs import load_any_model
    from aekit.uses.units import features, write_features

    positive_int("max_units", args.max_units)
    run = Path(args.run)
    out = args.out or (run / "features" if run.is_dir() else run.with_name(run.stem + "-features"))
    check_outputs(folders=[out], inputs=given_inputs(args))
    model, config = load_any_model(args.run, args.device)
    data = config.get("data") or {}
    if args.input is None and data.get("dataset"):
        args.input = f"{data['dataset']}:test"
    if args.input is not None:
        x = None if args.input.lower() == "none" else _rows(args, labels=False, model=model, config=config).x
    else:  # a run on a user file: its validation rows; a lone model file: none
        from aekit.uses.anomalies import validation_rows

        x = validation_rows(config) if data else None
        x = x[: args.limit] if x is not None and args.limit else x
    f = features(model, x, top=args.top)
    for path in write_features(f, out, x, max_units=args.max_units):
        print(path)
    return 0


def add_denoise_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "denoise",
        help="denoise images with a denoising run",
        description="Corrupt clean INPUT rows with the run's own noise (or --noise/--noise-level) and "
        "denoise them, reporting PSNR; with --noisy, INPUT is already noisy and is only denoised. For "
        "images, train RUN with `aekit train --recipe denoise`: one run for gaussian, masking and "
        "salt-and-pepper noise (docs/uses.md). A full-resolution run (--kind denoising-photo) denoises "
        "images of any size whole, each at its own size.",
    )
    _add_input_args(p, labels=False)
    add_output(p, "denoised rows: .npy, .csv or .parquet; for images a folder: the same names and formats")
    p.add_argument("--noisy", action="store_true", help="INPUT is already noisy: denoise it as it is (no PSNR)")
    p.add_argument(
        "--noise",
        choices=("gaussian", "masking", "salt_pepper"),
        help="corruption of clean INPUT (default: the run's training noise)",
    )
    p.add_argument(
        "--noise-level", type=float, help="σ for gaussian, fraction for masking / salt_pepper (default: the run's)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--save-noisy", metavar="FILE", help="also write the noisy rows (for images: a folder)")
    p.add_argument("--plot", metavar="FIGURE", help="also draw a grid: noisy / denoised / clean (.png, .svg or .pdf)")
    p.set_defaults(func=cmd_denoise)
    return p


def _folder_output(path: str | None, flag: str) -> None:
    """Refuse a file name (rows.npy, grid.png …) where images are written as a folder of files with their names."""
    from pathlib import Path

    from aekit.data.arrays import TABLE_SUFFIXES
    from aekit.data.image_files import IMAGE_SUFFIXES

    if path and Path(path).suffix.lower() in (*TABLE_SUFFIXES, *IMAGE_SUFFIXES, ".txt") and not Path(path).is_dir():
        raise ConfigError(
            f"{path}: images are written as a folder of files with their own names; pass a folder name for {flag}"
        )


def cmd_denoise(args: argparse.Namespace) -> int:
    import math
    from pathlib import Path

    import numpy as np

    from aekit.data.arrays import write_table
    from aekit.data.image_files import is_image_source
    from aekit.data.image_out import image_outputs, save_images
    from aekit.data.npy_images import in_npy_layout
    from aekit.files import atomic_write
    from aekit.uses.denoising import denoise, denoise_figure
    from aekit.uses.inputs import image_shape_of, load_any_model

    as_images = is_image_source(args.input)
    if as_images:
        _folder_output(args.output, "-o")
        _folder_output(args.save_noisy, "--save-noisy")
        check_outputs(folders=[args.output, args.save_noisy], inputs=given_inputs(args), figures=[args.plot])
    else:
        check_outputs(args.output, args.save_noisy, inputs=given_inputs(args), figures=[args.plot])
    model, config = load_any_model(args.run, args.device)
    rows = _rows(args, labels=False, model=model, config=config, whole=True)
    if args.plot and isinstance(rows.x, list) and rows.image_shape is None:
        raise DataError("--plot draws images of one size and these differ; drop --plot, or pass --image-size")
    if as_images:  # every output name checked before any work: none may exist, none may be an input
        outs = [image_outputs(args.output, rows.names, rows.root)]
        outs.append(image_outputs(args.save_noisy, rows.names, rows.root) if args.save_noisy else None)
        if args.save_noisy and Path(args.save_noisy).resolve() == Path(args.output).resolve():
            raise ConfigError("--save-noisy and -o name the same folder; pass two folders")
    batch = not as_images and model.config.full_resolution and rows.image_shape is not None  # .npy images, any size
    res = denoise(
        args.run,
        np.reshape(rows.x, (len(rows.x), *rows.image_shape)) if batch else rows.x,  # a batch keeps their (H, W)
        noise=args.noise,
        noise_level=args.noise_level,
        noisy_input=args.noisy,
        seed=args.seed,
        device=args.device,
    )
    for name in ("noisy", "denoised", "clean") if batch else ():  # rows again, as the other inputs give them
        setattr(res, name, None if getattr(res, name) is None else getattr(res, name).reshape(len(rows.x), -1))
    shape = image_shape_of(model, rows)
    if not (as_images or batch) and res.denoised.shape[1:] != (model.config.input_dim,) and shape is not None:
        shape = (math.isqrt(res.denoised[0].size // model.config.image_shape[0]),) * 2  # rows of another square
    if args.plot and shape is None:
        raise DataError("--plot needs image rows (a dataset, or a model with an image shape); drop --plot")
    if as_images:
        save_images(res.denoised, rows.image_shape, outs[0], args.output)
        if args.save_noisy:
            save_images(res.noisy, rows.image_shape, outs[1], args.save_noisy)
    else:  # rows; a .npy of images as the input's images were laid out (other rows as they are)
        for path, arr in ((args.output, res.denoised), (args.save_noisy, res.noisy)):
            if path and Path(path).suffix.lower() == ".npy":
                laid = in_npy_layout(arr, args.input)
                atomic_write(Path(path), lambda f, a=laid: np.save(f, a, allow_pickle=False))
            elif path:
                write_table(path, arr)
    what = "images" if as_images else "rows"
    if res.clean is None:
        print(f"{args.output}: {len(res.denoised)} {what} denoised")
    else:
        print(
            f"{args.output}: {len(res.denoised)} {what}, {res.noise} noise {res.noise_level:g}: "
            f"PSNR noisy {res.psnr_noisy:.2f} dB, denoised {res.psnr_denoised:.2f} dB"
        )
    if args.plot:
        if isinstance(rows.x, list):  # images of one size, read whole: as rows for the grid
            res.noisy, res.denoised, res.clean = (
                None if a is None else np.stack(a) for a in (res.noisy, res.denoised, res.clean)
            )
        from aekit.reporting.rendering import save_figure  # matplotlib only for a plot

        print(save_figure(denoise_figure(res, image_shape=rows.image_shape or shape), args.plot))
    return 0


def add_anomaly_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "anomaly",
        help="score rows (the anomaly recipe's score, or reconstruction error) and flag anomalies",
        description="Score each INPUT row (--score auto: the anomaly recipe's score for a run trained with "
        "`--recipe anomaly`, else its reconstruction error), flag rows above a threshold (by --contamination, or "
        "by --quantile of reference scores: the run's validation rows or --reference; default quantile 0.99), "
        "and report ROC-AUC when labels are known.",
    )
    _add_input_args(p)
    add_output(p, "scores with an anomaly flag column (default scores.csv)", default="scores.csv", metavar="CSV")
    t = p.add_mutually_exclusive_group()
    t.add_argument("--contamination", type=float, metavar="RATE", help="flag this fraction of the rows, e.g. 0.05")
    t.add_argument("--quantile", type=float, metavar="Q", help="flag rows above this quantile of the reference scores")
    p.add_argument(
        "--reference",
        metavar="ROWS",
        help="normal rows for --quantile: a .npy/.csv/.parquet file, a dataset or an image folder "
        "(default: the run's validation rows)",
    )
    p.add_argument(
        "--normal",
        type=_label_list,
        metavar="LABELS",
        help="labels of the normal rows, e.g. 3 or 3,5 (for images: class folder names, e.g. cat,dog); "
        "other labels are anomalies (else labels must be 0/1)",
    )
    p.add_argument(
        "--score",
        choices=("auto", "recipe", "mse", "bce"),  # aekit.uses.anomalies.SCORE_CHOICES (torch not loaded here)
        default="auto",
        help="auto (default): recipe for a run trained with --recipe anomaly, else mse; recipe: the recipe's "
        "score (images: the local outlier factor of a row's code among the codes of the run's training rows; "
        "tables: the reconstruction error), standardised on the run's validation rows; mse or bce: reconstruction "
        "error",
    )
    p.add_argument(
        "--plot", metavar="FIGURE", help="also draw a histogram of the scores with the threshold (.png, .svg or .pdf)"
    )
    p.set_defaults(func=cmd_anomaly)
    return p


def cmd_anomaly(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aekit.uses.anomalies import anomaly, write_scores
    from aekit.uses.inputs import normal_labels

    if Path(args.output).suffix.lower() != ".csv":  # the scores (and the files' paths) are a CSV table
        raise ConfigError(f"{args.output}: the scores are written as CSV; name the output .csv")
    check_outputs(args.output, inputs=given_inputs(args), figures=[args.plot])
    from aekit.devices import resolve_device

    device = resolve_device(args.device)  # refused before any work
    rows = _rows(args)
    ref = argparse.Namespace(**{**vars(args), "input": args.reference, "limit": None})  # read as INPUT is
    reference = None if args.reference is None else _rows(ref, labels=False).x
    labels = rows.y
    normal = None if args.normal is None else normal_labels(args.normal, rows)
    named = rows.classes and any(c != str(i) for i, c in enumerate(rows.classes))  # 0/1 would be the folders' order
    if labels is not None and args.normal is None and (named or not set(map(int, set(labels.tolist()))) <= {0, 1}):
        what = f"the folders {', '.join(rows.classes)}" if named else "not 0/1"  # (crack, good): good the anomaly
        print(f"(labels of {rows.name} are {what} and no --normal was given: no ROC-AUC)")
        labels = None
    res = anomaly(
        args.run,
        rows.x,
        reference=reference,
        contamination=args.contamination,
        quantile=args.quantile,
        labels=labels,
        normal=normal,
        score=args.score,
        device=device,
    )
    write_scores(res, args.output, names=rows.names)
    auc = "" if res.roc_auc is None else f", ROC-AUC {res.roc_auc:.4f}"
    print(
        f"{args.output}: {len(res.scores)} rows scored by {res.score}, threshold {res.threshold:.6g} ({res.rule}), "
        f"{res.n_flagged} flagged{auc}"
    )
    if args.plot:
        from aekit.reporting.plots import histogram  # matplotlib (~0.3 s) only for a plot
        from aekit.reporting.rendering import save_figure

        fig = histogram(
            res.scores,
            threshold=res.threshold,
            xlabel="score (the anomaly recipe)" if res.score == "recipe" else f"reconstruction error ({res.score})",
            title=f"anomaly scores of {rows.name}",
        )
        print(save_figure(fig, args.plot))
    return 0
