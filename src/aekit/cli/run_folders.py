"""The `aekit` subcommands that read a finished run folder: export (ONNX), report and compare. Each is a thin shell
over one library function and checks its output paths before any work."""

from __future__ import annotations

import argparse

from aekit.cli.args import add_device_arg, check_outputs, given_inputs


def _run_parser(sub, name: str, help: str, description: str, run_help: str) -> argparse.ArgumentParser:
    """A command's parser with its one positional argument, RUN."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("run", help=run_help)
    return p


def _html(path: str | None) -> None:
    """Refuse a page named other than .html (a report under scores.csv or figure.png is no file anyone can open)."""
    import os

    from aekit.errors import ConfigError

    if path and os.path.splitext(path)[1].lower() not in (".html", ".htm"):
        raise ConfigError(f"{path}: the page is HTML; name the output .html")


def cmd_export(args: argparse.Namespace) -> int:
    from aekit.uses.onnx import export

    check_outputs(folders=[args.out], inputs=given_inputs(args))
    paths = export(args.run, args.out, opset=args.opset, verify=not args.no_verify, device=args.device)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def add_export_parser(sub) -> argparse.ArgumentParser:
    p = _run_parser(
        sub,
        "export",
        "write the encoder, decoder and full model as ONNX graphs",
        "Export a model to ONNX: encoder.onnx (x → code), decoder.onnx (code → reconstruction) and "
        "autoencoder.onnx (x → reconstruction), each with a dynamic batch axis, checked in onnxruntime.",
        "run folder or .safetensors file",
    )
    p.add_argument(
        "--out", metavar="DIR", help="output folder (default RUN/onnx, or NAME-onnx/ beside a .safetensors file)"
    )
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset version (default: the exporter's)")
    p.add_argument("--no-verify", action="store_true", help="skip running the graphs in onnxruntime against PyTorch")
    add_device_arg(p, "; it runs PyTorch's side of the check (a graph holds no device)")
    p.set_defaults(func=cmd_export)
    return p


def cmd_report(args: argparse.Namespace) -> int:
    from aekit.reporting.run_report import report

    check_outputs(args.out, inputs=given_inputs(args))
    _html(args.out)
    print(report(args.run, args.out, device=args.device))
    return 0


def add_report_parser(sub) -> argparse.ArgumentParser:
    p = _run_parser(
        sub,
        "report",
        "(re)build a run's self-contained report.html",
        "Write RUN/report.html: config, summary, loss curves, reconstructions, the kind's figures, final "
        "figures and time taken, with every image embedded (no network needed).",
        "run folder written by `aekit train`",
    )
    p.add_argument("--out", metavar="FILE", help="where to write the report (default RUN/report.html)")
    add_device_arg(p)
    p.set_defaults(func=cmd_report)
    return p


def cmd_compare(args: argparse.Namespace) -> int:
    from aekit.reporting.comparison import compare

    check_outputs(args.html, inputs=given_inputs(args))
    _html(args.html)
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
