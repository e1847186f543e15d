"""A cvae run folder: the data's classes in the model config, training on the labels, resume."""

import json

import numpy as np
import torch

import aekit
from aekit.training.runs import resume, train


def cvae(epochs):
    # a 3-unit code: a 2-unit one adds the report's 15×15 manifold (225 matplotlib axes, ~2.5 s a run), unread here
    return aekit.configure("cvae", hidden=(32,), encoding_dim=3, epochs=epochs, batch_size=50)


def test_a_cvae_run_counts_the_classes_and_resumes_bitwise(tmp_path):
    whole = train(*cvae(2), kind="cvae", limit=300, out=tmp_path / "whole", tensorboard=False, verbose=0)
    part = train(*cvae(1), kind="cvae", limit=300, out=tmp_path / "part", tensorboard=False, verbose=0)
    cfg = json.loads((tmp_path / "part" / "config.json").read_text())
    assert cfg["model"]["n_classes"] == 10 and part.model.config.n_classes == 10
    more = resume(tmp_path / "part", epochs=2, verbose=0)
    assert more.history.history["loss"] == whole.history.history["loss"]
    for a, b in zip(more.model.state_dict().values(), whole.model.state_dict().values()):
        assert torch.equal(a, b)
    x = aekit.load_dataset("mnist").x_test[:5]
    loaded = aekit.load_model(tmp_path / "part")
    assert np.array_equal(loaded.encode(x, labels=[1] * 5), whole.model.encode(x, labels=[1] * 5))


def test_a_cvae_on_an_image_folder_learns_its_sub_folder_classes(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("cats", "dogs", "owls")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(8):
            pixels = (rng.random((12, 12)) * 80 + 60 * c).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    m, t = aekit.configure("cvae", hidden=(16,), encoding_dim=3, epochs=1, batch_size=8, input_dim=144)
    run = train(m, t, kind="cvae", data=str(tmp_path / "imgs"), out=tmp_path / "run", tensorboard=False, verbose=0)
    assert run.model.config.n_classes == 3 and run.model.config.input_dim == 144
    from aekit.uses.generation import sample

    assert sample(run.path, 6, label=2).shape == (6, 144)
