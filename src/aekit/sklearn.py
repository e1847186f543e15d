"""A scikit-learn transformer over aekit: fit, transform to codes, inverse_transform to reconstructions.

It follows scikit-learn's conventions (keyword-only ``__init__`` that only stores parameters, fitted
attributes ending in ``_``, validation with ``validate_data``) so it works in ``Pipeline``,
``ColumnTransformer``, ``GridSearchCV`` and with ``clone``. Training is `aekit.fit`, unchanged.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from aekit.conditioning import count_classes
from aekit.config import ModelConfig, TrainConfig, replace
from aekit.errors import ConfigError
from aekit.models import Autoencoder
from aekit.training.loop import fit

_FLOATS = [np.float64, np.float32]


class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """An autoencoder as a scikit-learn transformer: ``transform`` gives codes, ``inverse_transform`` rows.

    Every option of ``aekit train`` is a parameter; the kinds are parameters too (``l1`` or ``kl_beta``
    for sparse, ``contractive``, ``noise`` + ``noise_level`` for denoising) and combine freely.

    The defaults differ from the Keras tutorial's on purpose: scikit-learn data is usually standardised,
    not in [0, 1], so the loss is ``'mse'`` with a ``'linear'`` output and the optimizer is Adam
    (lr 1e-3). For [0, 1] data such as MNIST, the tutorial is ``loss='bce', output_activation='sigmoid',
    optimizer='adadelta'`` (or put a ``MinMaxScaler`` in front). ``loss='bce'`` on data outside [0, 1]
    raises ``aekit.ConfigError`` (a ``ValueError``) naming that fix; so do ``noise='gaussian'`` and
    ``'salt_pepper'``, whose corrupted values live in [0, 1] (use ``'masking'`` for other data).

    Parameters
    ----------
    encoding_dim : int, default=32
        Size of the code (the number of output features of ``transform``).
    hidden : tuple of int, default=()
        Hidden layer sizes from input to code, mirrored in the decoder; ``(128, 64)`` is a deep autoencoder.
    activation, code_activation, output_activation : str, default='relu', 'relu', 'linear'
        Activations of the hidden layers, the code and the reconstruction: relu, sigmoid, tanh, linear,
        elu, leaky_relu or gelu.
    architecture : str, default='dense'
        The network's architecture, as ``aekit train --architecture``.
    image_shape : tuple of int or None, default=None
        (channels, height, width) of image rows, for image architectures.
    scale : {'none', 'standard', 'minmax'}, default='none'
        Input scaling kept in the model (``aekit.scaling``): fitted on ``X`` in ``fit``; ``transform`` takes and
        ``inverse_transform`` returns rows in ``X``'s units. 'none' leaves the scaling to a scaler in front.
    epochs : int, default=100
        Passes over the training data.
    batch_size : int, default=256
        Rows per gradient step.
    optimizer : {'adam', 'adadelta', 'sgd'}, default='adam'
        The optimizer, with Keras 2 semantics.
    lr : float or None, default=None
        Learning rate; None is the optimizer's Keras default (adam 1e-3, adadelta 1.0, sgd 0.01).
    loss : {'mse', 'bce'}, default='mse'
        Reconstruction loss; 'bce' needs data in [0, 1].
    l1 : float, default=0.0
        L1 activity penalty on the code (a sparse autoencoder).
    kl_beta : float, default=0.0
        Weight of the KL sparsity penalty (a sparse autoencoder; use ``code_activation='sigmoid'``).
    kl_rho : float, default=0.05
        Target mean code activation of the KL penalty.
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    contractive : float, default=0.0
        Weight of the contractive penalty (a contractive autoencoder).
    noise : {'none', 'gaussian', 'masking', 'salt_pepper'}, default='none'
        Input corruption during training (a denoising autoencoder).
    noise_level : float, default=0.0
        sigma of gaussian noise, else the fraction of inputs corrupted.
    ema : float, default=0.0
        Decay of a moving average of the weights (e.g. 0.999; 0 turns it off); the fitted model is the average.
    schedule : {'constant', 'onecycle', 'cosine'}, default='constant'
        The learning rate over the run, as ``aekit train --schedule``.
    min_lr : float, default=0.0
        Where the 'cosine' schedule ends (0: it decays to 0).
    compile : bool, default=False
        ``torch.compile`` the training step (needs a C++ compiler; pays off on long runs).
    precision : {'float32', 'bfloat16'}, default='float32'
        'bfloat16' runs the training step's matrix products in bfloat16 (faster on CPUs with AVX512-BF16 or
        AMX); the weights, losses and ``transform`` stay float32.
    shuffle : bool, default=True
        Reshuffle the rows every epoch.
    device : str or None, default=None
        Where to train and transform: 'auto' (a CUDA GPU, then Apple MPS, then the CPU), 'cpu', 'cuda', 'cuda:N' or
        'mps'; None is the CPU. ``model_`` stays there; ``transform`` takes and returns numpy arrays either way.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, shuffling and noise. An int ``n`` gives the same model as
        ``aekit train --seed n``.
    verbose : int, default=0
        0 quiet, 1 a progress bar per epoch, 2 a line per epoch.
    kind : str or None, default=None
        A kind's presets (``'vae'``, ``'vq-vae'``, …, as ``aekit train --kind``) under the parameters above that
        differ from the configs' defaults; ``kind='vae'`` with the default ``loss='mse'`` has a Gaussian decoder, and
        ``transform`` returns the code's means μ.
    beta : float, default=1.0
        Weight of a VAE's KL term (a β-VAE above 1).

    Attributes
    ----------
    model_ : aekit.Autoencoder
        The trained network (save it with ``aekit.save_model(est.model_, "ae.safetensors")``).
    history_ : dict of str to list of float
        Per-epoch loss terms, as Keras' ``history.history``.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names seen in ``fit``, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from aekit.sklearn import AutoencoderTransformer
    >>> X = np.random.default_rng(0).normal(size=(100, 8))
    >>> ae = AutoencoderTransformer(encoding_dim=3, epochs=10, batch_size=32, random_state=0)
    >>> codes = ae.fit_transform(X)
    >>> codes.shape
    (100, 3)
    >>> ae.inverse_transform(codes).shape
    (100, 8)
    >>> bool(ae.score(X) < 0)  # the negative mean squared reconstruction error
    True
    >>> ae.get_feature_names_out()[:2].tolist()
    ['autoencodertransformer0', 'autoencodertransformer1']
    """

    def __init__(
        self,
        *,
        encoding_dim=32,
        hidden=(),
        activation="relu",
        code_activation="relu",
        output_activation="linear",
        architecture="dense",
        image_shape=None,
        scale="none",
        epochs=100,
        batch_size=256,
        optimizer="adam",
        lr=None,
        loss="mse",
        l1=0.0,
        kl_beta=0.0,
        kl_rho=0.05,
        weight_decay=0.0,
        contractive=0.0,
        noise="none",
        noise_level=0.0,
        ema=0.0,
        schedule="constant",
        min_lr=0.0,
        compile=False,
        precision="float32",
        shuffle=True,
        device=None,
        random_state=None,
        verbose=0,
        kind=None,
        beta=1.0,
    ):
        self.encoding_dim = encoding_dim
        self.hidden = hidden
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.architecture = architecture
        self.image_shape = image_shape
        self.scale = scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.loss = loss
        self.l1 = l1
        self.kl_beta = kl_beta
        self.kl_rho = kl_rho
        self.weight_decay = weight_decay
        self.contractive = contractive
        self.noise = noise
        self.noise_level = noise_level
        self.ema = ema
        self.schedule = schedule
        self.min_lr = min_lr
        self.compile = compile
        self.precision = precision
        self.shuffle = shuffle
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.kind = kind
        self.beta = beta

    # ------------------------------------------------------------------ configs
    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _configs(self, n_features: int, seed: int) -> tuple[ModelConfig, TrainConfig]:
        if self.kind is not None:  # the kind's presets, under every parameter that differs from the configs' defaults
            from dataclasses import fields

            from aekit.kinds import configure

            defaults = {f.name: f.default for c in (ModelConfig, TrainConfig) for f in fields(c)}
            given = {k: v for k, v in self.get_params().items() if k in defaults and v != defaults[k]}
            given["hidden"] = tuple(given["hidden"]) if "hidden" in given else None
            given = {k: v for k, v in given.items() if v is not None and (k != "hidden" or v)}
            given.update(input_dim=n_features, seed=seed, shuffle=bool(self.shuffle))
            return configure(self.kind, **given)
        model = ModelConfig(
            input_dim=n_features,
            encoding_dim=self.encoding_dim,
            hidden=tuple(self.hidden),
            activation=self.activation,
            code_activation=self.code_activation,
            output_activation=self.output_activation,
            architecture=self.architecture,
            image_shape=self.image_shape,
            seed=seed,
            scale=self.scale,
        )
        train = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            loss=self.loss,
            shuffle=bool(self.shuffle),
            seed=seed,
            weight_decay=self.weight_decay,
            l1=self.l1,
            kl_beta=self.kl_beta,
            kl_rho=self.kl_rho,
            contractive=self.contractive,
            noise=self.noise,
            noise_level=self.noise_level,
            ema=self.ema,
            schedule=self.schedule,
            min_lr=self.min_lr,
            compile=self.compile,
            precision=self.precision,
            beta=self.beta,
        )
        return model, train

    # ------------------------------------------------------------------ fit / transform
    def fit(self, X, y=None):
        """Train the autoencoder on the rows of `X` (`y` is ignored, except by ``kind="cvae"``: its class labels).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored; for kind="cvae" the class indices 0…k−1 of the rows (k classes: max(y) + 1)

        Returns
        -------
        self : AutoencoderTransformer
        """
        X = validate_data(self, X, dtype=_FLOATS)
        model_config, train_config = self._configs(X.shape[1], self._seed())
        outside = model_config.scale == "standard" or (model_config.scale == "none" and (X.min() < 0 or X.max() > 1))
        if train_config.loss == "bce" and outside:
            raise ConfigError(
                f"loss='bce' needs data in [0, 1] but X spans [{X.min():.4g}, {X.max():.4g}]; "
                "pass loss='mse', scale='minmax' or put a MinMaxScaler in front"
            )
        if train_config.noise in ("gaussian", "salt_pepper") and outside:
            raise ConfigError(
                f"noise={train_config.noise!r} corrupts toward [0, 1] "
                "(noisy values are clipped to [0, 1], as in the Keras tutorial) "
                f"but X spans [{X.min():.4g}, {X.max():.4g}]; put a MinMaxScaler in front or use noise='masking'"
            )
        labels = None
        if model_config.n_classes:  # a cvae: y holds the labels, their count the classes
            if y is None:
                raise ConfigError("kind='cvae' trains on class labels; pass them as y: fit(X, y)")
            labels = np.asarray(y).reshape(-1)
            model_config = replace(model_config, n_classes=count_classes(labels))
        model = Autoencoder(model_config)
        history = fit(
            model,
            torch.tensor(X, dtype=torch.float32),
            None,
            train_config,
            verbose=self.verbose,
            device="cpu" if self.device is None else self.device,
            labels=labels,
        )
        model.eval()
        self.model_ = model
        self.history_ = {k: list(v) for k, v in history.history.items()}
        self.n_iter_ = len(history.epoch)
        return self

    @torch.no_grad()
    def _run(self, fn, rows: np.ndarray) -> np.ndarray:
        device = next(self.model_.parameters()).device
        out = fn(torch.tensor(rows, dtype=torch.float32, device=device)).cpu().numpy()
        return out.astype(rows.dtype, copy=False)

    def transform(self, X, y=None):
        """The codes of the rows of `X`, shape (n_samples, encoding_dim), in `X`'s float dtype (a cvae: of the rows
        of class labels `y`)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOATS, reset=False)
        with self.model_.conditioned(y):
            return self._run(self.model_.encode, X)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y).transform(X)`` (a cvae's codes with the labels `y`)."""
        return self.fit(X, y, **fit_params).transform(X, y if self.model_.conditional else None)

    def inverse_transform(self, X):
        """Reconstructions of the codes `X` (shape (n_samples, encoding_dim)), shape (n_samples, n_features_in_)."""
        check_is_fitted(self)
        Z = check_array(X, dtype=_FLOATS)
        if Z.shape[1] != self.model_.config.encoding_dim:
            raise ValueError(
                f"X has {Z.shape[1]} features, "
                f"but inverse_transform expects codes of {self.model_.config.encoding_dim}; "
                "pass the output of transform"
            )
        return self._run(self.model_.decode, Z)

    def reconstruct(self, X):
        """The model's reconstructions of the rows of `X` (``inverse_transform(transform(X))`` in one pass)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOATS, reset=False)
        return self._run(self.model_, X)

    def score_samples(self, X):
        """The negative mean squared reconstruction error of each row (higher is more typical)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOATS, reset=False)
        return -((self._run(self.model_, X) - X) ** 2).mean(axis=1)

    def score(self, X, y=None):
        """The negative mean squared reconstruction error over all of `X` (higher is better, as GridSearchCV wants).

        It is MSE whatever the training loss, so models trained with different losses compare fairly.
        """
        return float(self.score_samples(X).mean())

    @property
    def _n_features_out(self):
        return self.model_.config.encoding_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = self.random_state is None
        return tags


__all__ = ["AutoencoderTransformer"]
