"""ONNX export: the encoder, the decoder and the whole autoencoder as three ONNX graphs (a VAE adds posterior.onnx,
x → μ and log σ² side by side, 2 × encoding_dim values; its encoder graph gives μ).

Each graph has a dynamic batch axis (``x`` → ``code``, ``code`` → ``reconstruction``,
``x`` → ``reconstruction``) and carries the aekit version and the model config in its metadata.
The export uses PyTorch's own exporter (``torch.onnx.export(dynamo=True)``, offline; torch < 2.5, which has no
``dynamo``: its TorchScript exporter); before a file is written, onnxruntime runs it and its outputs are compared
with PyTorch's. A graph holds no device: it is traced from the model on the CPU; ``device`` runs PyTorch's side of
the comparison (in float32, no TF32).
"""

from __future__ import annotations

import copy
import inspect
import io
import json
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from aekit import __version__
from aekit.config import to_dict
from aekit.devices import device_of, model_device
from aekit.errors import ConfigError, ModelFileError, option
from aekit.io import atomic_write_bytes, load_model
from aekit.models import Autoencoder

ATOL = 1e-5  # verification accepts |onnx − torch| ≤ ATOL + ATOL·|torch| (float32 rounding of large values)
PARTS = ("encoder", "decoder", "autoencoder")


class _Graph(nn.Module):
    """One of the model's functions (encode, decode, forward) as a module to export."""

    def __init__(self, model: Autoencoder, fn: Callable[[Autoencoder, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.model, x)


def _reconstruct(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    """The reconstruction; a decoder that also sees the input (skip, full resolution) gets it, as `forward`."""
    return model.decode_rows(model.encode_rows(x), model.scale_rows(x))


def _graphs(model: Autoencoder):
    """(name, module, input name, output name, input width) of the three graphs."""
    d_in, d_code = model.config.input_dim, model.config.encoding_dim
    graphs = [
        ("encoder", _Graph(model, Autoencoder.encode_rows), "x", "code", d_in),
        ("decoder", _Graph(model, Autoencoder.decode_rows), "code", "reconstruction", d_code),
        ("autoencoder", _Graph(model, _reconstruct), "x", "reconstruction", d_in),
    ]
    if model.config.code == "gaussian":  # a VAE's q(z|x): μ then log σ² in one row (the encoder graph gives μ)
        graphs.append(("posterior", _Graph(model, _posterior), "x", "mu_logvar", d_in))
    return graphs


def _posterior(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    return torch.cat(model.latent.stats(model.encoder(model.scale_rows(x))), dim=1)


@contextmanager
def _quiet():
    """The exporter's own warnings and log lines (e.g. 'torchvision is not installed') stay out of the user's way."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # a failed opset conversion logs a traceback; `to_onnx_bytes` says it in one line
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _check_dependencies() -> None:
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(f"ONNX export needs {', '.join(missing)}; install them with: pip install 'aekit[onnx]'")


def to_onnx_bytes(
    module: nn.Module, input_name: str, output_name: str, width: int, metadata: dict[str, str], opset: int | None = None
) -> bytes:
    """One module as a serialized ONNX model with a dynamic batch axis and `metadata` in its metadata_props."""
    example = torch.rand(2, width, generator=torch.Generator().manual_seed(0))
    kwargs = {} if opset is None else {"opset_version": opset}
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:  # torch < 2.5
        proto = _torchscript_export(module, example, input_name, output_name, opset)
    else:
        with _quiet():
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                verbose=False,
                **kwargs,
            )
        proto = program.model_proto
    wrote = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and wrote != opset:  # the exporter falls back to its own opset when it cannot convert
        raise ConfigError(
            f"the ONNX exporter cannot write this model at opset {opset} (it wrote opset {wrote}); pass "
            f"{option('opset', wrote)} (the exporter's own), or leave {option('opset')} out"
        )
    for key, value in metadata.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    return proto.SerializeToString()


def _torchscript_export(module: nn.Module, example: torch.Tensor, input_name: str, output_name: str, opset):
    """The graph by torch < 2.5's exporter (TorchScript tracing; it has no ``dynamo``), with the same dynamic axis."""
    import onnx
    from torch.onnx._constants import ONNX_DEFAULT_OPSET, ONNX_MAX_OPSET, ONNX_MIN_OPSET

    if opset is not None and not ONNX_MIN_OPSET <= opset <= ONNX_MAX_OPSET:
        raise ConfigError(
            f"the ONNX exporter cannot write this model at opset {opset} (torch {torch.__version__} writes opsets "
            f"{ONNX_MIN_OPSET} to {ONNX_MAX_OPSET}); pass {option('opset', ONNX_DEFAULT_OPSET)} (the exporter's "
            f"own), or leave {option('opset')} out"
        )
    buffer = io.BytesIO()
    with _quiet():
        torch.onnx.export(
            module,
            (example,),
            buffer,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            **({} if opset is None else {"opset_version": opset}),
        )
    return onnx.load_from_string(buffer.getvalue())


def verify_onnx(data: bytes, module: nn.Module, input_name: str, width: int, *, rows: int = 5) -> float:
    """Run the ONNX model in onnxruntime on `rows` random rows; the largest |difference| / (1 + |PyTorch's value|)."""
    import onnxruntime as ort

    x = torch.rand(rows, width, generator=torch.Generator().manual_seed(1))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {input_name: x.numpy()})
    with torch.no_grad(), _float32_products():
        want = module(x.to(device_of(module))).cpu().numpy()
    if got.shape != want.shape:
        return float("inf")
    return float((np.abs(got - want) / (1 + np.abs(want))).max())


@contextmanager
def _float32_products():
    """Matrix products and convolutions in full float32 on a GPU (no TF32), as onnxruntime computes them on the CPU."""
    matmul, conv = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, conv


def export_onnx(
    model: Autoencoder,
    out_dir: str | os.PathLike,
    *,
    opset: int | None = None,
    verify: bool = True,
    device: str | torch.device | None = None,
) -> dict[str, Path]:
    """Write ``encoder.onnx``, ``decoder.onnx`` and ``autoencoder.onnx`` of `model` into `out_dir`.

    Every graph takes float32 rows with any batch size. With `verify` (the default), each graph is run
    in onnxruntime and compared with PyTorch on `device` (default None: where the model is; the model moves
    there) before any file is written; a difference above 1e-5 (relative to 1 + |value|) raises ModelFileError.
    Returns the paths by part name.
    """
    if model.conditional:
        raise ConfigError(
            "ONNX export of a label-conditioned model (cvae) is not supported: its graphs would need the label as a "
            "second input; use the model from Python (aekit.load_model), or export a vae"
        )
    _check_dependencies()
    model._check_scaler()  # a model with an input scaler exports it: rows in and out in the user's units
    device = model_device(model, device)
    was_training = model.training
    model.eval()
    traced = model if device.type == "cpu" else copy.deepcopy(model).cpu()  # a graph holds no device
    metadata = {"aekit_version": __version__, "model_config": json.dumps(to_dict(model.config))}
    blobs: dict[str, bytes] = {}
    try:
        for (name, module, input_name, output_name, width), (_, check, *_) in zip(_graphs(traced), _graphs(model)):
            data = to_onnx_bytes(module, input_name, output_name, width, {**metadata, "part": name}, opset)
            if verify:
                diff = verify_onnx(data, check, input_name, width)
                if not diff <= ATOL:
                    raise ModelFileError(
                        f"the exported {name} differs from PyTorch by {diff:.3g} "
                        f"(relative to 1 + |value|; more than {ATOL:g}) in onnxruntime; "
                        f"report it, or pass {option('verify', False)} to keep the export anyway"
                    )
            blobs[name] = data
    finally:
        model.train(was_training)
    out_dir = Path(out_dir)
    return {name: atomic_write_bytes(out_dir / f"{name}.onnx", data) for name, data in blobs.items()}


def default_out(run: str | os.PathLike) -> Path:
    """Where `aekit export RUN` writes: ``RUN/onnx`` for a run folder, ``NAME-onnx/`` beside a ``.safetensors`` file."""
    run = Path(run)
    return run / "onnx" if run.is_dir() else run.with_name(f"{run.stem}-onnx")


def export(
    run: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    opset: int | None = None,
    verify: bool = True,
    device: str | torch.device | None = None,
) -> dict[str, Path]:
    """The library side of `aekit export`: the ONNX graphs of a run folder's (or a ``.safetensors`` file's) model;
    `device` (default None: the CPU) runs PyTorch's side of the check."""
    _check_dependencies()
    model = load_model(run, device=device)
    return export_onnx(model, default_out(run) if out is None else out, opset=opset, verify=verify)


__all__ = ["export", "export_onnx", "verify_onnx", "default_out", "PARTS", "ATOL"]
