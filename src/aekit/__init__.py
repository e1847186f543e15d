"""aekit: autoencoders for people who learned them from the Keras tutorial.

Its names are imported on first use (PEP 562), so that ``aekit --help`` and the CLI's argument errors do not wait
for torch: ``aekit.fit`` imports `aekit.training.loop` when it is first looked up.

The package's folders follow the flow of a run: the shared core at the top (configs, kinds, the model, its
objectives, model files, run folders, errors), then ``data/`` (arrays, data sets, rows), ``training/`` (the loop,
callbacks, checkpoints, runs), ``reporting/`` (plots, the run report, comparisons), ``uses/`` (encode, features,
denoise, anomaly, impute, export) and ``cli/`` on top.
"""

import importlib
import sys

__version__ = "0.1.0"

_HOME = {  # each public name -> the module that defines it
    "ModelConfig": "config",
    "TrainConfig": "config",
    "AekitError": "errors",
    "ConfigError": "errors",
    "DataError": "errors",
    "ModelFileError": "errors",
    "TrainingError": "errors",
    "Autoencoder": "models",
    "summary": "models",
    "History": "history",
    "load_run": "runfolder",
    "load_model": "io",
    "save_model": "io",
    "KINDS": "kinds",
    "configure": "kinds",
    "jacobian_norm": "jacobians",
    "psnr": "objectives",
    "load_dataset": "data.datasets",
    "load_array": "data.arrays",
    "read_idx": "data.idx",
    "load_images": "data.images",
    "Callback": "training.callbacks.base",
    "ProgressBar": "training.callbacks.progress",
    "TensorBoard": "training.callbacks.events",
    "MLflowLogger": "training.callbacks.mlflow",
    "Checkpoint": "training.callbacks.stopping",
    "EarlyStopping": "training.callbacks.stopping",
    "evaluate": "training.loop",
    "fit": "training.loop",
    "load_checkpoint": "training.checkpoint",
    "train": "training.runs",
    "resume": "training.runs",
    "report": "reporting.run_report",
    "compare": "reporting.comparison",
    "encode": "uses.encoding",
    "decode": "uses.encoding",
    "reconstruct": "uses.encoding",
    "features": "uses.units",
    "denoise": "uses.denoising",
    "anomaly": "uses.anomalies",
    "export_onnx": "uses.onnx",
    "impute": "uses.imputation",
    "read_ratings": "uses.ratings",
}
_ALIASES = {"load": "load_model"}

__all__ = ["__version__", *_HOME, *_ALIASES]


def __getattr__(name: str):
    """A public name, imported from its module on first use; else a submodule (``aekit.sklearn``) imported."""
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


if "IPython" in sys.modules:  # a notebook: the figures that aekit returns show inline (aekit.display)
    from aekit.display import show_figures_inline

    show_figures_inline()
    del show_figures_inline


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
