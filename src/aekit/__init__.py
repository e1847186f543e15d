"""aekit: autoencoders for people who learned them from the Keras tutorial."""

__version__ = "0.1.0"

from .config import ModelConfig, TrainConfig  # noqa: E402
from .errors import AekitError, ConfigError, DataError, ModelFileError, TrainingError  # noqa: E402
from .models import Autoencoder, summary  # noqa: E402
from .train import Callback, History, evaluate, fit  # noqa: E402
from .callbacks import ProgressBar, TensorBoard  # noqa: E402
from .io import load_model, save_model  # noqa: E402
from .data import load_dataset, load_array, read_idx  # noqa: E402
from .runs import train, load_run  # noqa: E402
from .kinds import KINDS, configure  # noqa: E402
from .objectives import jacobian_norm, psnr  # noqa: E402
from .encode import encode  # noqa: E402
from .features import features  # noqa: E402
from .denoise import denoise  # noqa: E402
from .anomaly import anomaly  # noqa: E402
from .export import export_onnx  # noqa: E402
from .report import report  # noqa: E402
from .compare import compare  # noqa: E402
from .runs import resume  # noqa: E402
from .checkpoint import Checkpoint, EarlyStopping, load_checkpoint  # noqa: E402
from .impute import impute, read_ratings  # noqa: E402

load = load_model

__all__ = [
    "__version__", "ModelConfig", "TrainConfig", "Autoencoder", "summary", "fit", "evaluate", "History",
    "Callback", "ProgressBar", "TensorBoard", "save_model", "load_model", "load", "load_dataset", "load_array", "read_idx",
    "train", "load_run", "AekitError", "ConfigError", "DataError", "ModelFileError", "TrainingError",
    "KINDS", "configure", "jacobian_norm", "psnr",
    "report", "compare", "encode", "features", "denoise", "anomaly", "export_onnx", "impute", "read_ratings",
    "resume", "Checkpoint", "EarlyStopping", "load_checkpoint",
]
