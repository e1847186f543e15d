"""aekit: autoencoders for people who learned them from the Keras tutorial.

Its names are imported on first use (PEP 562), so that ``aekit --help`` and the CLI's argument errors do not wait
for torch (~1 s): ``aekit.fit`` imports `aekit.train` when it is first looked up. As before, the names of the
public API win over submodules of the same name: ``aekit.train`` is the function `aekit.runs.train` (the module:
``importlib.import_module("aekit.train")``), and so are ``encode``, ``features``, ``denoise``, ``anomaly``,
``report``, ``compare`` and ``impute``.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

_HOME = {  # each public name -> the module that defines it
    "ModelConfig": "config", "TrainConfig": "config",
    "AekitError": "errors", "ConfigError": "errors", "DataError": "errors", "ModelFileError": "errors",
    "TrainingError": "errors",
    "Autoencoder": "models", "summary": "models",
    "Callback": "train", "History": "train", "evaluate": "train", "fit": "train",
    "ProgressBar": "callbacks", "TensorBoard": "callbacks",
    "load_model": "io", "save_model": "io",
    "load_dataset": "data", "load_array": "data", "read_idx": "data",
    "train": "runs", "load_run": "runs", "resume": "runs",
    "KINDS": "kinds", "configure": "kinds",
    "jacobian_norm": "objectives", "psnr": "objectives",
    "encode": "encode", "features": "features", "denoise": "denoise", "anomaly": "anomaly",
    "export_onnx": "export", "report": "report", "compare": "compare",
    "Checkpoint": "checkpoint", "EarlyStopping": "checkpoint", "load_checkpoint": "checkpoint",
    "impute": "impute", "read_ratings": "impute",
}
_ALIASES = {"load": "load_model"}

__all__ = ["__version__", *_HOME, *_ALIASES]


def __getattr__(name: str):
    """A public name, imported from its module on first use; else a submodule (``aekit.rows``) imported."""
    real = _ALIASES.get(name, name)
    if real in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[real]}", __name__), real)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # a submodule that exists but fails to import: its own error
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package, which keeps a public function where importing a submodule of its name would set the module
    (``import aekit.train`` sets ``aekit.train``): the function stays what ``aekit.train`` names."""

    def __setattr__(self, name: str, value) -> None:
        if name in _HOME and isinstance(value, types.ModuleType):
            return  # no public name is a module
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
