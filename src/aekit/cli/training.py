"""The `aekit train` subcommand: its options, the configs they give (a kind's presets, a recipe, explicit flags),
and `--resume`. A thin shell over `aekit.train` / `aekit.resume`."""

from __future__ import annotations

import argparse

from aekit.cli.args import (
    Parser,
    _int_list,
    add_device_arg,
    add_image_options,
    choice,
    explicit_args,
    image_args,
    mark_defaults,
)
from aekit.errors import ConfigError
from aekit.kinds import KINDS, USE_RECIPES


def add_train_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train an autoencoder and write a run folder",
        description="Train an autoencoder. With no options: the Keras tutorial "
        "(MNIST, 784 → 32 → 784, adadelta lr 1.0, BCE, 100 epochs, batch 256).",
    )
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="mnist", help="mnist (bundled) or fashion-mnist (default: mnist)")
    d.add_argument(
        "--data",
        metavar="FILE",
        help="train on your own rows (.npy, .csv or .parquet) or images: a folder "
        "(searched recursively; sub-folders are the labels) or a .txt list of image paths",
    )
    d.add_argument("--val-data", metavar="FILE", help="validation rows for --data (default: hold out --val-split)")
    d.add_argument(
        "--val-split", type=float, default=0.1, help="fraction of --data held out for validation (default 0.1)"
    )
    d.add_argument(
        "--data-dir", metavar="DIR", help="folder holding the dataset's IDX files (else searched, then downloaded)"
    )
    d.add_argument("--limit", type=int, metavar="N", help="use only the first N training rows (quick runs)")
    d.add_argument(
        "--scale",
        dest="scale_mode",
        default="auto",
        metavar="HOW",
        help="scaling of --data kept in the model: auto (default: rows in [0, 1] as they are, other tables "
        "standardised, with mse and a linear output unless given), standard, minmax or none",
    )
    add_image_options(d)
    m = p.add_argument_group("model")
    m.add_argument("--encoding-dim", type=int, default=32, help="size of the code (default 32)")
    m.add_argument(
        "--hidden", type=_int_list, default=(), metavar="SIZES", help="hidden sizes from input to code, e.g. 128,64"
    )
    m.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    m.add_argument("--code-activation", default="relu", help="code activation (default relu; sigmoid for --kl-beta)")
    m.add_argument(
        "--output-activation",
        default="sigmoid",
        help="output activation (default sigmoid; linear for data scaled outside [0, 1])",
    )
    t = p.add_argument_group("training")
    t.add_argument(
        "--recipe",
        choices=("tutorial", "fast", *USE_RECIPES),
        default="tutorial",
        help="starting values for the flags below: tutorial (default) or fast (adam, onecycle, batch 512, 10 epochs; "
        "the recommended start); denoise: the image denoising recipe (the kind denoising-conv, "
        "for `aekit denoise`); explicit flags win",
    )
    t.add_argument("--epochs", type=int, help="default 100 (recipe fast: 10; with --resume: continue the run to N)")
    t.add_argument("--batch-size", type=int, help="default 256 (recipe fast: 512)")
    t.add_argument("--optimizer", help="adadelta (Keras 2: lr 1.0, rho 0.95; the default), adam or sgd")
    t.add_argument(
        "--schedule",
        help="learning rate schedule: constant (default), onecycle (warm-up, then cosine decay) "
        "or cosine (decay to --min-lr)",
    )
    t.add_argument("--lr", type=float, help="learning rate (default: the optimizer's Keras 2 default)")
    t.add_argument("--min-lr", type=float, default=0.0, help="where --schedule cosine ends (default 0)")
    t.add_argument("--loss", default="bce", help="bce or mse (default bce; mse for data scaled outside [0, 1])")
    t.add_argument("--seed", type=int, default=0, help="seeds initialisation, shuffling and noise (default 0)")
    t.add_argument(
        "--shuffle-block",
        type=int,
        default=1,
        metavar="N",
        help="rows kept together when shuffling (default 1: every row on its own); e.g. 64 reads a memory-mapped "
        "--data file in runs, as fast as from memory; shuffle an ordered file once beforehand",
    )
    t.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the training step: ~10 s once, then faster epochs (one process; needs a C++ compiler)",
    )
    t.add_argument(
        "--precision",
        default="float32",
        help="float32 (default) or bfloat16: the training step's matrix products in bfloat16 (autocast), "
        "faster on CPUs with AVX512-BF16 or AMX; weights, losses and validation stay float32",
    )
    t.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="keep a moving average of the weights with this decay (e.g. 0.999; default 0: off); "
        "validation and the saved model use the average",
    )
    t.add_argument(
        "--no-analytic-grad",
        dest="analytic_grad",
        action="store_false",
        help="take every step's gradients by autograd, also where aekit has them in closed form (debugging)",
    )
    t.add_argument("--quick", action="store_true", help="a first look: 5 epochs on 10,000 images")
    add_device_arg(t, "; config.json records it; with --resume the run may go on on another device")
    k = p.add_argument_group("penalties and corruption (the kinds)")
    k.add_argument(
        "--kind",
        default="undercomplete",
        metavar="KIND",
        type=choice("kind", tuple(KINDS)),
        help="preset of the options below (explicit flags win): "
        + ", ".join(KINDS).replace("undercomplete", "undercomplete (default)", 1)
        + "; deep-hinton also sets the training (Adam, cosine schedule, ema; docs/kinds.md); "
        "`aekit kinds` lists them",
    )
    k.add_argument("--l1", type=float, default=0.0, help="L1 activity penalty on the code (sparse; Keras blog 10e-5)")
    k.add_argument("--kl-beta", type=float, default=0.0, help="weight of the KL sparsity penalty (sparse; UFLDL 3)")
    k.add_argument("--kl-rho", type=float, default=0.05, help="target mean code activation for --kl-beta (UFLDL 0.1)")
    k.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty on the weights (UFLDL 3e-3)")
    k.add_argument("--contractive", type=float, default=0.0, help="weight of the contractive penalty ‖J‖²")
    k.add_argument("--noise", default="none", help="input corruption: none, gaussian, masking, salt_pepper (denoising)")
    k.add_argument("--noise-level", type=float, default=0.0, help="σ for gaussian, fraction for masking / salt_pepper")
    g = p.add_argument_group("generative kinds (vae, beta-vae, vq-vae)")
    g.add_argument("--architecture", default="dense", help="dense (default) or conv (e.g. with --kind vae)")
    g.add_argument("--code", default="deterministic", help="deterministic, gaussian (VAE) or categorical (VQ-VAE)")
    g.add_argument("--likelihood", help="decoder: bernoulli ([0, 1] data) or gaussian; recon in nats per row")
    g.add_argument("--beta", type=float, default=1.0, help="weight of the VAE's KL term (β-VAE: > 1; default 1)")
    g.add_argument("--kl-warmup", type=int, default=0, metavar="N", help="ramp the KL weight up over N epochs")
    g.add_argument("--iw-samples", type=int, default=1, metavar="K", help="train on the IWAE bound with K samples")
    g.add_argument("--binarize", default="none", help="dynamic: pixels drawn as Bernoulli of their intensity")
    g.add_argument("--codebook-size", type=int, default=512, help="VQ-VAE: code vectors in the codebook (default 512)")
    g.add_argument("--codebook-dim", type=int, default=0, help="VQ-VAE: values per code vector (0: auto)")
    g.add_argument("--codebook-decay", type=float, default=0.99, help="VQ-VAE: EMA decay of the codebook")
    g.add_argument("--commitment", type=float, default=0.25, help="VQ-VAE: weight of the commitment loss")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", help="run folder (default runs/<dataset>-<time>)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    o.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard event files")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress output (for scripts and CI)")
    o.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1, help="0 quiet, 1 a bar per epoch, 2 a line per epoch"
    )
    o.add_argument(
        "--mlflow",
        nargs="?",
        const="mlruns",
        metavar="URI",
        help="log the run to MLflow: configs, every loss term per epoch, final metrics, report, figures and "
        "model; URI a tracking URI or a folder for a local store (default mlruns/); "
        "needs pip install 'aekit[mlflow]'",
    )
    add_reliability_options(p)
    p.set_defaults(func=cmd_train)
    mark_defaults(p)
    return p


def kind_configs_from_args(args: argparse.Namespace):
    """The configs of `args.kind`: its presets, overridden by every flag given explicitly."""
    from dataclasses import fields

    from aekit.config import RECIPES, ModelConfig, TrainConfig, recipe
    from aekit.kinds import configure

    given = explicit_args(args)  # flags are named as the config fields they set
    explicit = {
        f.name: getattr(args, f.name) for cfg in (ModelConfig, TrainConfig) for f in fields(cfg) if f.name in given
    }
    name = getattr(args, "recipe", None)
    if name in USE_RECIPES:  # a use's recipe is a kind with its own training values: --recipe denoise
        if args.kind not in ("undercomplete", USE_RECIPES[name]):
            raise ConfigError(f"--recipe {name} is the kind {USE_RECIPES[name]}; drop --kind {args.kind}")
        args.kind, name = USE_RECIPES[name], None
    keys = set().union(*RECIPES.values())
    own = sorted(keys & set(KINDS.get(args.kind, {})))  # training values the kind sets itself (deep-hinton)
    if own and name and "recipe" in given:
        raise ConfigError(
            f"--kind {args.kind} sets its own {', '.join(own)}, which --recipe {name} sets too; drop --recipe "
            "(explicit flags such as --epochs still win over the kind's values)"
        )
    if (
        name and not own
    ):  # the recipe's training values sit above the kind's presets, below explicit flags (recipe() decides)
        rc = recipe(name, **{k: explicit[k] for k in keys if k in explicit})
        explicit.update({k: getattr(rc, k) for k in keys})
    input_dim = 784  # the image datasets; for --data, read it only when the preset depends on it
    from aekit.data.image_files import is_image_source

    if is_image_source(args.data):  # images: decoded here once (cached), so that every kind knows their shape
        import warnings

        from aekit.data.images import ImageNote, load_images

        with warnings.catch_warnings():  # `train` loads them again from the cache, and says it there
            warnings.simplefilter("ignore", ImageNote)
            shape = load_images(
                args.data,
                image_size=args.image_size,
                resize=args.resize,
                color=args.color,
                skip_bad=args.skip_bad_images,
            ).image_shape
        explicit.setdefault("image_shape", shape)
        return configure(args.kind, input_dim=int(shape[0] * shape[1] * shape[2]), **explicit)
    from aekit.data.npy_images import npy_image_shape

    shape = npy_image_shape(args.data) if args.data else None  # a .npy of images: (n, h, w), 1 or 3 channels
    if shape is not None:
        explicit.setdefault("image_shape", shape)
        return configure(args.kind, input_dim=int(shape[0] * shape[1] * shape[2]), **explicit)
    if args.data and any(callable(v) for v in KINDS.get(args.kind, {}).values()):
        from aekit.data.arrays import load_array
        from aekit.data.scans import known_range

        rows = load_array(args.data)
        input_dim = int(rows[:1].reshape(1, -1).shape[1])
        if args.kind == "anomaly":  # rows outside [0, 1] are a table, not images: 9 columns are not a 3×3 image
            lo, hi = known_range(rows) or (float(rows.min()), float(rows.max()))
            if not (0 <= lo and hi <= 1):
                explicit.setdefault("architecture", "dense")
    return configure(args.kind, input_dim=input_dim, **explicit)


def add_reliability_options(p: argparse.ArgumentParser) -> None:
    r = p.add_argument_group("early stopping and resuming")
    r.add_argument(
        "--patience", type=int, default=0, help="stop after N epochs without val_loss improvement (default 0: off)"
    )
    r.add_argument(
        "--min-delta", type=float, default=0.0, help="the smallest val_loss decrease that counts as improvement"
    )
    r.add_argument(
        "--no-restore-best", action="store_true", help="with --patience: keep the last weights, not the best epoch's"
    )
    r.add_argument(
        "--resume",
        metavar="RUN",
        help="continue RUN from its last checkpoint, with its own options "
        "(only --epochs, --device, --quiet, --verbose, --no-tensorboard and --mlflow may be given)",
    )


# with --resume, the options come from the run's config.json; these may still be given
RESUME_OPTIONS = {"resume", "epochs", "device", "quiet", "verbose", "no_tensorboard", "mlflow", "func", "command"}


def resume_from_args(args: argparse.Namespace):
    from aekit.errors import ConfigError
    from aekit.training.runs import resume

    defaults = _train_defaults()
    given = sorted(k for k, v in vars(args).items() if k not in RESUME_OPTIONS and v != defaults.get(k))
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(
            f"--resume continues {args.resume} with the options in its config.json; drop {names} "
            "(only --epochs, --device, --quiet, --verbose, --no-tensorboard and --mlflow may be given)"
        )
    return resume(
        args.resume,
        epochs=args.epochs,
        tensorboard=False if args.no_tensorboard else None,
        verbose=0 if args.quiet else args.verbose,
        callbacks=tracking_callbacks(args),
        device=args.device,
    )


def _train_defaults() -> dict:
    """The options of `aekit train` at their defaults: what --resume tells the given options from."""
    sub = Parser(prog="aekit").add_subparsers(dest="command")
    return {"command": "train", **vars(add_train_parser(sub).parse_args([]))}


def tracking_callbacks(args: argparse.Namespace) -> list:
    """An `MLflowLogger` for --mlflow (none without it); made before training, so a missing MLflow fails first."""
    if args.mlflow is None:
        return []
    from aekit.training.callbacks.mlflow import MLflowLogger

    return [MLflowLogger(args.mlflow)]


def cmd_train(args: argparse.Namespace) -> int:
    from aekit.config import replace

    if args.resume:
        from aekit.training.checkpoint import signals_interrupt

        with signals_interrupt():
            result = resume_from_args(args)
        return _report_run(result)
    if args.quick:
        args.epochs = min(args.epochs or 5, 5)
        args.limit = args.limit or 10000
    model_cfg, train_cfg = kind_configs_from_args(args)  # a bad option is refused here, before torch loads
    train_cfg = replace(
        train_cfg, patience=args.patience, min_delta=args.min_delta, restore_best=not args.no_restore_best
    )
    verbose = 0 if args.quiet else args.verbose
    from aekit.training.checkpoint import signals_interrupt
    from aekit.training.runs import train

    callbacks = tracking_callbacks(args)
    with signals_interrupt():
        result = train(
            model_cfg,
            train_cfg,
            kind=args.kind,
            dataset=args.dataset,
            data=args.data,
            val_data=args.val_data,
            data_dir=args.data_dir,
            limit=args.limit,
            val_split=args.val_split,
            out=args.out,
            overwrite=args.overwrite,
            tensorboard=not args.no_tensorboard,
            verbose=verbose,
            scale=args.scale_mode,
            explicit=explicit_args(args),
            callbacks=callbacks,
            device=args.device,
            **image_args(args),
        )
    return _report_run(result)


def _report_run(result) -> int:
    from aekit.training.distributed import is_main

    m = result.metrics
    figures = " ".join(f"{k}={m[k]:.4f}" for k in ("loss", "val_loss") if k in m)
    if is_main():  # under torchrun only rank 0 reports
        print(f"{result.path}: {m['epochs']} epochs, {figures}, {m['seconds_per_epoch']:.2f} s/epoch")
    return 0
