"""The cells of examples/01_keras_tutorial.ipynb (written by make_notebooks.py): the Keras tutorial, cell by cell."""

from __future__ import annotations


def cells(quick: str) -> list[tuple[str, str]]:
    """The notebook's ("md" | "code" | "parameters", source) cells; `quick` opens the parameters cell."""
    return [
        (
            "md",
            """
# The Keras tutorial, with aekit

[Building Autoencoders in Keras](https://blog.keras.io/building-autoencoders-in-keras.html)
(Keras 2 version), its first model step by step: a 784 → 32 → 784 autoencoder on MNIST.
Over each step, the Keras line it replaces.
""",
        ),
        (
            "md",
            """
**Parameters.** The full settings are the tutorial's: 60,000 images, 50 epochs (about a minute on a
2-core CPU). `AEKIT_NOTEBOOK_QUICK=1` shrinks them for the test suite. Raise `EPOCHS` to 100 for
aekit's own default run (val loss 0.0941, against the tutorial's 0.0982). The values go through
aekit's checks: `EPOCHS = 0` stops with one line saying what to pass.
""",
        ),
        (
            "parameters",
            quick
            + """
ROWS = 2000 if QUICK else 60000  # training images; the test images are ROWS // 6, at most 10,000
EPOCHS = 2 if QUICK else 50  # the tutorial's 50
SEED = 0
""",
        ),
        ("md", "Keras: `from keras.layers import Input, Dense` and `from keras.models import Model`"),
        ("code", "import aekit"),
        (
            "md",
            """
Keras: `(x_train, _), (x_test, _) = mnist.load_data()`, then `x_train.astype('float32') / 255.`
and `.reshape((len(x_train), 784))`. aekit's MNIST is bundled (no download), already float32 rows
in [0, 1].
""",
        ),
        (
            "code",
            """
ds = aekit.load_dataset("mnist", limit=ROWS)
x_train, x_test = ds.x_train, ds.x_test
x_train.shape, x_test.shape
""",
        ),
        (
            "md",
            """
Keras: `encoding_dim = 32`, `input_img = Input(shape=(784,))`,
`encoded = Dense(encoding_dim, activation='relu')(input_img)`,
`decoded = Dense(784, activation='sigmoid')(encoded)` and `autoencoder = Model(input_img, decoded)`.
The same model is aekit's default `ModelConfig`, Keras' glorot-uniform weights and zero biases
included.
""",
        ),
        (
            "code",
            """
model_config = aekit.ModelConfig(encoding_dim=32, code_activation="relu",
                                 output_activation="sigmoid", seed=SEED)
model = aekit.Autoencoder(model_config)
""",
        ),
        ("md", "Keras: `autoencoder.summary()`"),
        ("code", "model.summary()"),
        ("md", "A notebook also shows the model itself as its summary table:"),
        ("code", "model"),
        (
            "md",
            """
Keras: `encoder = Model(input_img, encoded)` and
`decoder = Model(encoded_input, autoencoder.layers[-1](encoded_input))`.
In aekit they are parts of the model: `model.encoder` and `model.decoder`.
""",
        ),
        ("code", "model.encoder, model.decoder"),
        (
            "md",
            """
Keras: `autoencoder.compile(optimizer='adadelta', loss='binary_crossentropy')`. The training
settings are a `TrainConfig`, checked when it is made: Keras 2's adadelta, learning rate 1.0.
""",
        ),
        (
            "code",
            """
config = aekit.TrainConfig(optimizer="adadelta", loss="bce", epochs=EPOCHS, batch_size=256,
                           shuffle=True, seed=SEED)
""",
        ),
        (
            "md",
            """
Keras: `autoencoder.fit(x_train, x_train, epochs=50, batch_size=256, shuffle=True,
validation_data=(x_test, x_test), callbacks=[TensorBoard(log_dir='/tmp/autoencoder')])`.
In a notebook the progress is a widget per epoch.
""",
        ),
        (
            "code",
            """
tensorboard = aekit.TensorBoard("runs/notebook-tutorial/tb", images=x_test[:10])
history = aekit.fit(model, x_train, x_train, config, validation_data=(x_test, x_test),
                    callbacks=[tensorboard])
""",
        ),
        (
            "md",
            """
Keras: `history.history['val_loss']`. A notebook shows the History as a table, and
`history.plot()` draws it.
""",
        ),
        ("code", "history"),
        ("code", "history.plot()"),
        (
            "md",
            """
Keras: `encoded_imgs = encoder.predict(x_test)` and `decoded_imgs = decoder.predict(encoded_imgs)`.
The model's `encode` and `decode` take NumPy rows and return NumPy (a tensor for a tensor).
""",
        ),
        (
            "code",
            """
encoded_imgs = model.encode(x_test)
decoded_imgs = model.decode(encoded_imgs)
encoded_imgs.shape, float(encoded_imgs.mean())
""",
        ),
        (
            "md",
            """
Keras: the matplotlib loop that draws 10 test digits above their reconstructions.
`reconstruction_grid` returns a Figure, which the notebook shows.
""",
        ),
        (
            "code",
            """
from aekit.reporting.plots import reconstruction_grid

reconstruction_grid(x_test, decoded_imgs, image_shape=(28, 28), n=10)
""",
        ),
        (
            "md",
            """
Keras: `tensorboard --logdir=/tmp/autoencoder`. Here: `tensorboard --logdir runs/notebook-tutorial/tb`
in a terminal, or `%load_ext tensorboard` and `%tensorboard --logdir runs/notebook-tutorial/tb`
in a cell.

Keras: `autoencoder.save(...)`. aekit writes safetensors (never pickle), weights and config in one
file:
""",
        ),
        (
            "code",
            """
path = aekit.save_model(model, "runs/notebook-tutorial/model.safetensors")
aekit.load_model(path)
""",
        ),
    ]
