"""The `aekit` command line: argparse subcommands, each a thin shell over one library function.

Errors that aekit raises on purpose print as one line, ``aekit: error: …``, and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from . import __version__
from .errors import AekitError


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
    t.add_argument("--epochs", type=int, default=100, help="default 100")
    t.add_argument("--batch-size", type=int, default=256, help="default 256")
    t.add_argument("--optimizer", default="adadelta", help="adadelta (Keras 2: lr 1.0, rho 0.95), adam or sgd")
    t.add_argument("--lr", type=float, help="learning rate (default: the optimizer's Keras 2 default)")
    t.add_argument("--loss", default="bce", help="bce or mse (default bce)")
    t.add_argument("--seed", type=int, default=0, help="seeds initialisation, shuffling and noise (default 0)")
    t.add_argument("--quick", action="store_true", help="a first look: 5 epochs on 10,000 images")
    k = p.add_argument_group("penalties and corruption (the kinds)")
    k.add_argument("--kind", default="undercomplete", metavar="KIND",
                   help="preset of the options below (explicit flags win): undercomplete (default), complete, overcomplete, "
                   "sparse, sparse-kl, denoising, contractive, deep, conv")
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
    p.set_defaults(func=cmd_train)
    mark_defaults(p)
    return p


def kind_configs_from_args(args: argparse.Namespace):
    """The configs of `args.kind`: its presets, overridden by every flag given explicitly."""
    from dataclasses import fields

    from .kinds import KINDS, configure

    from .config import ModelConfig, TrainConfig

    given = explicit_args(args)  # flags are named as the config fields they set
    explicit = {f.name: getattr(args, f.name) for cfg in (ModelConfig, TrainConfig) for f in fields(cfg) if f.name in given}
    input_dim = 784  # the image datasets; for --data, read it only when the preset depends on it
    if args.data and any(callable(v) for v in KINDS.get(args.kind, {}).values()):
        from .data import load_array

        input_dim = int(load_array(args.data)[:1].reshape(1, -1).shape[1])
    return configure(args.kind, input_dim=input_dim, **explicit)


def configs_from_args(args: argparse.Namespace):
    from .config import ModelConfig, TrainConfig

    model = ModelConfig(encoding_dim=args.encoding_dim, hidden=args.hidden, activation=args.activation,
                        code_activation=args.code_activation, output_activation=args.output_activation, seed=args.seed)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, loss=args.loss,
                        seed=args.seed, l1=args.l1, kl_beta=args.kl_beta, kl_rho=args.kl_rho, weight_decay=args.weight_decay,
                        contractive=args.contractive, noise=args.noise, noise_level=args.noise_level)
    return model, train


def cmd_train(args: argparse.Namespace) -> int:
    from .runs import train

    if args.quick:
        args.epochs = min(args.epochs, 5) if args.epochs != 100 else 5
        args.limit = args.limit or 10000
    model_cfg, train_cfg = kind_configs_from_args(args)
    verbose = 0 if args.quiet else args.verbose
    result = train(model_cfg, train_cfg, kind=args.kind, dataset=args.dataset, data=args.data, val_data=args.val_data, data_dir=args.data_dir,
                   limit=args.limit, val_split=args.val_split, out=args.out, overwrite=args.overwrite,
                   tensorboard=not args.no_tensorboard, verbose=verbose)
    m = result.metrics
    figures = " ".join(f"{k}={m[k]:.4f}" for k in ("loss", "val_loss") if k in m)
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


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

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


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning  # one line per warning, like the errors
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AekitError as exc:
        print(f"aekit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
