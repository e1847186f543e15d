"""The TensorBoard callback's prior samples for the generative kinds (a row per class for a cvae), read back."""

import io

import numpy as np
import pytest
from PIL import Image

import aekit
from aekit.training.callbacks.events import TensorBoard


def samples_of(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir / "train"), size_guidance={"images": 0}).Reload()
    tags = acc.Tags()["images"]
    if "samples" not in tags:
        return []
    return [(e.step, np.asarray(Image.open(io.BytesIO(e.encoded_image_string)))) for e in acc.Images("samples")]


@pytest.mark.parametrize("kind, lines", [("vae", 4), ("cvae", 10), ("undercomplete", 0)])
def test_generative_kinds_write_prior_samples_on_the_image_schedule(mnist_small, tmp_path, kind, lines):
    x, y, xt, yt = mnist_small
    m, t = aekit.configure(kind, hidden=(32,), encoding_dim=4, epochs=3, batch_size=100)
    model = aekit.Autoencoder(m)
    labels = {"labels": y[:400]} if kind == "cvae" else {}
    tb = TensorBoard(
        tmp_path / "tb", images=xt[:10], image_shape=(1, 28, 28), image_every=2, class_labels=yt[:10], histograms=False
    )
    aekit.fit(model, x[:400], config=t, callbacks=[tb], verbose=0, **labels)
    got = samples_of(tmp_path / "tb")
    if not lines:
        assert got == []
        return
    assert [step for step, _ in got] == [1, 2, 3]
    image = got[-1][1]
    assert image.shape[:2] == (2 + lines * 30, 2 + 10 * 30)
    tiles = [image[2 + 30 * r : 30 * (r + 1), 2:-2].astype(float) for r in range(lines)]
    assert all(tile.std() > 1 for tile in tiles)  # decoded digits, not blank tiles
    assert not np.array_equal(got[0][1], got[-1][1])  # the decoder learned between epochs 1 and 3
