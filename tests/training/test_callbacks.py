"""The TensorBoard callback's event files and projector, read back from real files."""

import io
import math

import numpy as np
import pytest
import torch
from google.protobuf import text_format
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

import aekit
from aekit import TensorBoard, TrainConfig
from aekit.errors import DataError


def events(log_dir):
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.HISTOGRAMS: 0, ea.SCALARS: 0, ea.IMAGES: 0})
    acc.Reload()
    return acc


def projector(log_dir):
    config = text_format.Parse((log_dir / "projector_config.pbtxt").read_text(), ProjectorConfig())
    assert len(config.embeddings) == 1
    return config.embeddings[0]


@pytest.fixture(scope="module")
def logged(mnist_small, tmp_path_factory):
    """Three epochs on 300 MNIST images, pictures every 2nd epoch, 120 labelled validation images in the projector."""
    x, _, xv, yv = mnist_small
    log_dir = tmp_path_factory.mktemp("tb")
    model = aekit.Autoencoder()
    cb = TensorBoard(
        log_dir, images=xv[:10], image_shape=(1, 28, 28), image_every=2, embedding=xv[:120], embedding_labels=yv[:120]
    )
    history = aekit.fit(
        model, x[:300], None, TrainConfig(epochs=3), validation_data=xv[:120], callbacks=[cb], verbose=0
    )
    return log_dir, model, xv[:120], yv[:120], history


def test_train_and_validation_are_two_runs_under_one_tag(logged):
    """As Keras: RUN/tb/train and RUN/tb/validation, each term under its own name, so the two curves overlay."""
    log_dir, _, _, _, history = logged
    train, validation = events(log_dir / "train"), events(log_dir / "validation")
    assert set(train.Tags()["scalars"]) == {"loss", "recon", "epoch_time"}
    assert set(validation.Tags()["scalars"]) == {"loss", "recon"}
    for run, prefix in ((train, ""), (validation, "val_")):
        for tag in ("loss", "recon"):
            assert [e.step for e in run.Scalars(tag)] == [1, 2, 3]
            assert [e.value for e in run.Scalars(tag)] == pytest.approx(history.history[prefix + tag], rel=1e-6)
    assert validation.Tags()["histograms"] == [] and validation.Tags()["images"] == []


def test_pictures_on_the_first_every_nth_and_last_epoch(logged):
    log_dir, model, _, _, _ = logged
    acc = events(log_dir / "train")
    assert sorted(acc.Tags()["histograms"]) == sorted(f"weights/{name}" for name, _ in model.named_parameters())
    weights = acc.Histograms("weights/encoder.0.weight")
    assert [h.step for h in weights] == [1, 2, 3]  # first, every 2nd, last
    last = weights[-1].histogram_value
    w = model.encoder[0].weight.detach().numpy()
    assert last.num == w.size and last.min == pytest.approx(w.min()) and last.max == pytest.approx(w.max())
    assert last.sum == pytest.approx(float(w.sum()), abs=1e-3)
    assert acc.Tags()["images"] == ["reconstructions"] and [e.step for e in acc.Images("reconstructions")] == [1, 2, 3]


def test_reconstruction_grid_shows_originals_above_reconstructions(logged):
    log_dir, model, xv, _, _ = logged
    image = events(log_dir / "train").Images("reconstructions")[-1]
    grid = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("L"), dtype=np.float64) / 255
    assert grid.shape == (2 + 2 * 30, 2 + 10 * 30)
    with torch.no_grad():
        recon = model(torch.as_tensor(xv[:10])).numpy()
    for i in (0, 9):
        left = 2 + i * 30
        np.testing.assert_allclose(grid[2:30, left : left + 28], xv[i].reshape(28, 28), atol=1 / 255 + 1e-6)
        np.testing.assert_allclose(grid[32:60, left : left + 28], recon[i].reshape(28, 28), atol=1 / 255 + 1e-6)


def test_a_run_stopped_early_still_gets_its_last_pictures(tmp_path, rng):
    x = rng.random((64, 16), dtype=np.float32)
    cb = TensorBoard(tmp_path, images=x[:4], image_shape=(4, 4), image_every=10)

    class StopAt2(aekit.Callback):
        def on_epoch_end(self, state, logs):
            state.stop_training = state.epoch == 2

    aekit.fit(
        aekit.Autoencoder(aekit.ModelConfig(input_dim=16, encoding_dim=2)),
        x,
        epochs=50,
        batch_size=32,
        callbacks=[StopAt2(), cb],
        verbose=0,
    )
    assert [e.step for e in events(tmp_path / "train").Images("reconstructions")] == [1, 2]


def test_projector_holds_codes_labels_and_thumbnails(logged):
    log_dir, model, xv, yv, _ = logged
    emb = projector(log_dir)
    assert emb.tensor_name == "codes:00003"
    assert list(emb.sprite.single_image_dim) == [28, 28]
    tensors = np.loadtxt(log_dir / emb.tensor_path, delimiter="\t")
    with torch.no_grad():
        np.testing.assert_allclose(tensors, model.encode(torch.as_tensor(xv)).numpy(), rtol=1e-4, atol=1e-5)
    assert (log_dir / emb.metadata_path).read_text().split("\n")[:-1] == [str(v) for v in yv]
    sprite = np.asarray(Image.open(log_dir / emb.sprite.image_path).convert("L"), dtype=np.float64) / 255
    side = math.ceil(math.sqrt(len(xv)))
    assert sprite.shape == (side * 28, side * 28)
    for i in (0, 57, 119):  # thumbnail i sits at row i // side, column i % side
        r, c = divmod(i, side)
        np.testing.assert_allclose(
            sprite[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28], xv[i].reshape(28, 28), atol=1 / 255 + 1e-6
        )


def test_projector_is_capped_and_works_without_images_or_labels(tmp_path, rng):
    x = rng.random((50, 12), dtype=np.float32)
    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=12, encoding_dim=3))
    cb = TensorBoard(tmp_path, image_shape=None, embedding=x, embedding_max=20, histograms=False)
    aekit.fit(model, x, None, TrainConfig(epochs=1, batch_size=16), callbacks=[cb], verbose=0)
    emb = projector(tmp_path)
    assert np.loadtxt(tmp_path / emb.tensor_path, delimiter="\t").shape == (20, 3)
    assert emb.metadata_path == "" and emb.sprite.image_path == ""
    assert events(tmp_path / "train").Tags()["histograms"] == []


def test_embedding_labels_must_match_the_rows(tmp_path, rng):
    with pytest.raises(DataError, match="one label per row"):
        TensorBoard(tmp_path, embedding=rng.random((10, 4)), embedding_labels=[1, 2, 3])


# ----------------------------------------------------------------- Plateau: a run that does not learn says so once
def _plateau_warnings(record):
    from aekit.training.callbacks.plateau import PlateauWarning

    return [str(w.message) for w in record if issubclass(w.category, PlateauWarning)]


@pytest.mark.parametrize("activation", ["sigmoid", "clip"])
def test_a_saturated_output_warns_once_while_it_trains(rng, recwarn, activation):
    x = (rng.random((64, 5)) * 1000).astype(np.float32)  # raw table values, a [0, 1] output and no scaling
    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=5, encoding_dim=2, output_activation=activation))
    aekit.fit(model, x, loss="mse", epochs=4, batch_size=16, verbose=0)
    (message,) = _plateau_warnings(recwarn)
    assert f"{activation} output is saturated" in message and 'output_activation="linear"' in message


def test_a_loss_that_does_not_move_warns_once(rng, recwarn):
    x = rng.random((64, 5), dtype=np.float32)
    model = aekit.Autoencoder(aekit.ModelConfig(input_dim=5, encoding_dim=2))
    aekit.fit(model, x, optimizer="sgd", lr=1e-9, epochs=5, batch_size=16, verbose=0)
    (message,) = _plateau_warnings(recwarn)
    assert "the loss has not moved in the first 3 epochs" in message


def test_a_learning_run_does_not_warn(mnist_small, recwarn):
    x = mnist_small[0][:512]
    aekit.fit(aekit.Autoencoder(), x, optimizer="adam", epochs=3, batch_size=64, verbose=0)
    assert _plateau_warnings(recwarn) == []


@pytest.mark.parametrize("channels, labelled", [(1, True), (3, False)])
def test_the_projector_files_are_the_bytes_add_embedding_writes(tmp_path, channels, labelled):
    from torch.utils.tensorboard import SummaryWriter

    from aekit.training.callbacks.events import write_projector_files

    rng = np.random.default_rng(channels)
    codes = rng.standard_normal((30, 8)).astype(np.float32)
    labels = [str(i % 10) for i in range(30)] if labelled else None
    thumbs = rng.random((30, channels, 12, 10)).astype(np.float32)
    with SummaryWriter(str(tmp_path / "torch")) as w:
        w.add_embedding(torch.from_numpy(codes), metadata=labels, label_img=torch.from_numpy(thumbs), global_step=7)
    ours = tmp_path / "aekit"
    (ours / "projector_config.pbtxt").parent.mkdir()
    (ours / "projector_config.pbtxt").write_text(write_projector_files(ours, codes, labels, thumbs, 7))
    theirs = [p.relative_to(tmp_path / "torch") for p in (tmp_path / "torch").rglob("*") if "tfevents" not in p.name]
    theirs = [p for p in theirs if (tmp_path / "torch" / p).is_file()]
    assert len(theirs) == 3 + labelled
    for rel in theirs:
        want = (tmp_path / "torch" / rel).read_bytes().replace(b"default", b"codes")
        assert (ours / str(rel).replace("default", "codes")).read_bytes() == want, rel
