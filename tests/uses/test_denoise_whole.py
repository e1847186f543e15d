"""A full-resolution model (kind denoising-photo) on images of any size, whole: `aekit.full_resolution.apply_whole`,
`aekit.denoise` on rows of another square size, (n, C, H, W) batches and lists, and `aekit denoise` on a folder of
PNGs of two sizes; other models keep their one-line size errors."""

import numpy as np
import pytest
import torch
from aekit_subprocess import aekit_cli
from PIL import Image

import aekit
from aekit.errors import ConfigError, DataError
from aekit.full_resolution import apply_whole
from aekit.uses.denoising import denoise


def _crops(rows: np.ndarray) -> np.ndarray:
    """MNIST rows → their central 16×16 crops, as rows of 256."""
    return np.ascontiguousarray(rows.reshape(-1, 28, 28)[:, 6:22, 6:22].reshape(-1, 256))


def _mosaic(crops: np.ndarray) -> np.ndarray:
    """16 crops of 16×16 tiled 4×4 into one 64×64 image."""
    return crops[:16].reshape(4, 4, 16, 16).transpose(0, 2, 1, 3).reshape(64, 64)


@pytest.fixture(scope="module")
def trained(mnist_small):
    """A tiny denoising-photo model trained briefly on 600 MNIST crops of 16×16 at σ 25/255."""
    x = mnist_small[0]
    model_cfg, train_cfg = aekit.configure("denoising-photo", input_dim=256, hidden=(16,), epochs=4, seed=0)
    model = aekit.Autoencoder(model_cfg)
    aekit.fit(model, _crops(x[:600]), config=train_cfg, verbose=0)
    return model.eval(), train_cfg.noise_level


def _tiny(**kw):
    base = dict(architecture="conv", image_shape=(1, 8, 8), input_dim=64, hidden=(4,), encoding_dim=6 * 64)
    return aekit.Autoencoder(
        aekit.ModelConfig(**{**base, "full_resolution": True, "output_activation": "linear", **kw})
    )


def test_apply_whole_is_the_model_at_its_size_and_keeps_any_other_size():
    model = _tiny().eval()
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(apply_whole(model, x).reshape(3, -1), model(x.reshape(3, -1)), atol=1e-6)
        assert apply_whole(model, torch.rand(2, 1, 13, 21)).shape == (2, 1, 13, 21)
        # a 64×64 image's centre depends only on its neighbourhood: the same as in a 32×32 crop around it
        big = torch.rand(1, 1, 64, 64)
        crop = big[:, :, 16:48, 16:48]
        torch.testing.assert_close(
            apply_whole(model, big)[..., 24:40, 24:40], apply_whole(model, crop)[..., 8:24, 8:24]
        )
    with pytest.raises(ConfigError, match="expected \\(n, 1, height, width\\)"):
        apply_whole(model, torch.rand(2, 3, 8, 8))


def test_apply_whole_refuses_models_tied_to_their_size():
    pooled = aekit.Autoencoder(aekit.ModelConfig(architecture="conv", image_shape=(1, 8, 8), input_dim=64))
    with pytest.raises(ConfigError, match="not full-resolution"):
        apply_whole(pooled, torch.rand(1, 1, 16, 16))
    with pytest.raises(ConfigError, match="scaler is per pixel"):
        apply_whole(_tiny(scale="standard"), torch.rand(1, 1, 16, 16))


def test_a_64x64_image_denoised_whole_beats_the_noisy_one(trained, mnist_small):
    """Trained on 16×16 crops, the model denoises a 64×64 mosaic of unseen crops whole: as a batch, as a row of
    4,096 values and in a list with a smaller image; each keeps its shape."""
    model, sigma = trained
    image = _mosaic(_crops(mnist_small[2]))
    res = denoise(model, image[None, None], noise="gaussian", noise_level=sigma, seed=1)
    assert res.denoised.shape == res.noisy.shape == res.clean.shape == (1, 1, 64, 64)
    assert res.psnr_denoised > res.psnr_noisy + 1.5
    rows = denoise(model, image.reshape(1, -1), noise="gaussian", noise_level=sigma, seed=1)
    assert rows.denoised.shape == (1, 4096)
    np.testing.assert_allclose(rows.denoised.reshape(1, 1, 64, 64), res.denoised, atol=1e-5)
    small = _crops(mnist_small[2][20:21]).reshape(16, 16)[:12]
    mixed = denoise(model, [image, small], noise="gaussian", noise_level=sigma, seed=1)
    assert [a.shape for a in mixed.denoised] == [(1, 64, 64), (1, 12, 16)]
    assert mixed.psnr_denoised > mixed.psnr_noisy + 1.5
    again = denoise(model, mixed.noisy, noisy_input=True)
    np.testing.assert_allclose(again.denoised[1], mixed.denoised[1], atol=1e-5)
    assert again.clean is None and again.psnr_denoised is None


def test_other_models_and_bad_images_keep_their_one_line_errors():
    dense = aekit.Autoencoder(aekit.ModelConfig(input_dim=64, hidden=(8,), encoding_dim=4))
    with pytest.raises(DataError, match="has 256 features but the model expects 64"):
        denoise(dense, np.random.rand(2, 256), noise="gaussian", noise_level=0.1)
    model = _tiny().eval()
    with pytest.raises(DataError, match="has 50 features but the model expects 64"):  # not a square image
        denoise(model, np.random.rand(2, 50), noise="gaussian", noise_level=0.1)
    with pytest.raises(DataError, match="image 1 has values outside \\[0, 1\\]"):
        denoise(model, [np.zeros((1, 9, 9)), np.full((1, 9, 9), 2.0)], noise="gaussian", noise_level=0.1)
    with pytest.raises(DataError, match="an empty list of images"):
        denoise(model, [], noisy_input=True)
    with pytest.raises(DataError, match="\\(1, height, width\\) arrays"):
        denoise(model, [np.zeros((2, 9, 9))], noise="gaussian", noise_level=0.1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mnist_small):
    """PNGs of two sizes (64×64 and 40×48; one of them RGB, read as gray for a gray model), in a class folder."""
    root = tmp_path_factory.mktemp("whole")
    (root / "in" / "digits").mkdir(parents=True)
    tiles = _crops(mnist_small[2])
    big, other = _mosaic(tiles), _mosaic(tiles[16:])[:40, :48]
    Image.fromarray(np.rint(big * 255).astype(np.uint8)).save(root / "in" / "digits" / "big.png")
    rgb = np.repeat(np.rint(other * 255).astype(np.uint8)[..., None], 3, axis=2)
    Image.fromarray(rgb).save(root / "in" / "digits" / "wide.png")
    return root


def test_cli_denoises_a_folder_of_two_sizes_whole(tmp_path, trained, folder):
    """`aekit denoise` with a full-resolution model writes each image at its own size under its own name, and its
    PSNR beats the noisy input's; with --noisy the noisy images are denoised as they are."""
    path = aekit.save_model(trained[0], tmp_path / "photo.safetensors")
    out, noisy = tmp_path / "out", tmp_path / "noisy"
    args = ("--noise", "gaussian", "--noise-level", trained[1], "--save-noisy", noisy)
    proc = aekit_cli("denoise", path, folder / "in", "-o", out, *args, check=True)
    assert "2 images, gaussian noise" in proc.stdout
    before, after = (float(v.split(" dB")[0]) for v in proc.stdout.split("PSNR noisy ")[1].split("denoised ")[:2])
    assert after > before + 1.5
    for name, size in (("big.png", (64, 64)), ("wide.png", (48, 40))):
        with Image.open(out / "digits" / name) as im:
            assert (im.size, im.mode) == (size, "L")
    proc = aekit_cli("denoise", path, noisy, "-o", tmp_path / "again", "--noisy", check=True)
    assert "2 images denoised" in proc.stdout
    with Image.open(tmp_path / "again" / "digits" / "wide.png") as im:
        assert im.size == (48, 40)
    resized = ("--noise", "gaussian", "--noise-level", trained[1], "--image-size", 24)  # all resized, then whole
    aekit_cli("denoise", path, folder / "in", "-o", tmp_path / "resized", *resized, check=True)
    with Image.open(tmp_path / "resized" / "digits" / "big.png") as im:
        assert im.size == (24, 24)


@pytest.mark.parametrize("layout", ["nhw", "nhwc"])
def test_cli_denoises_a_npy_of_images_of_another_size_whole(tmp_path, trained, mnist_small, layout):
    """A .npy of 40×48 gray images for a model trained on 16×16 patches: denoised whole, written back in the input's
    layout (it said "input has 1920 features but the model expects 256"); RGB ones for a gray model: one line."""
    images = np.stack([_mosaic(_crops(mnist_small[2])[k:])[:40, :48] for k in (0, 16, 32)]).astype(np.float32)
    np.save(tmp_path / "in.npy", images if layout == "nhw" else np.repeat(images[..., None], 3, axis=3))
    path = aekit.save_model(trained[0], tmp_path / "photo.safetensors")
    args = ("--noise", "gaussian", "--noise-level", trained[1], "--save-noisy", "noisy.npy", "--plot", "grid.png")
    proc = aekit_cli("denoise", path, "in.npy", "-o", "out.npy", *args, cwd=tmp_path)
    if layout == "nhwc":  # colour images for a gray model: refused in one line, nothing written
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not (tmp_path / "out.npy").exists()
        return
    assert proc.returncode == 0, proc.stderr
    assert "3 rows, gaussian noise" in proc.stdout
    before, after = (float(v.split(" dB")[0]) for v in proc.stdout.split("PSNR noisy ")[1].split("denoised ")[:2])
    assert after > before + 1.5
    out, noisy = np.load(tmp_path / "out.npy"), np.load(tmp_path / "noisy.npy")
    assert out.shape == noisy.shape == (3, 40, 48) and np.isfinite(out).all() and (tmp_path / "grid.png").exists()


def test_cli_keeps_a_pooled_models_sizes(tmp_path, folder):
    """A pooled conv model takes only its own size: a folder is resized to it as before, rows of another size get
    today's one-line error (exit 2, nothing written)."""
    model = aekit.Autoencoder(
        aekit.ModelConfig(architecture="conv", image_shape=(1, 16, 16), input_dim=256, encoding_dim=512)
    )
    path = aekit.save_model(model, tmp_path / "pooled.safetensors")
    noise = ("--noise", "gaussian", "--noise-level", 0.1)
    aekit_cli("denoise", path, folder / "in", "-o", tmp_path / "out", *noise, check=True)
    with Image.open(tmp_path / "out" / "digits" / "wide.png") as im:
        assert im.size == (16, 16)
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).random((2, 4096), dtype=np.float32))
    proc = aekit_cli("denoise", path, tmp_path / "rows.npy", "-o", tmp_path / "out.npy", *noise)
    assert proc.returncode == 2 and "4096 features but the model expects 256" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("readable_files", [2, 0])
def test_whole_image_rows_handles_unreadable_files_as_image_folders_do(tmp_path, readable_files):
    import warnings

    from aekit.data.images import ImageNote
    from aekit.uses.inputs import whole_image_rows

    for i in range(readable_files):
        Image.fromarray(np.full((8 + i, 9, 3), 40 * i, np.uint8)).save(tmp_path / f"ok{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        whole_image_rows(tmp_path, "gray")
    if not readable_files:
        with pytest.raises(DataError, match="none of the 1 files can be read as an image"):
            whole_image_rows(tmp_path, "gray", skip_bad=True)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = whole_image_rows(tmp_path, "gray", skip_bad=True)
    note = [str(w.message) for w in caught if issubclass(w.category, ImageNote)]
    assert len(note) == 1 and "skipped 1 unreadable file (first: broken.png, " in note[0]
    assert rows.names == ["ok0.png", "ok1.png"] and [a.shape for a in rows.x] == [(1, 8, 9), (1, 9, 9)]


@pytest.mark.parametrize("noisy_input", [False, True])
@pytest.mark.parametrize("form", ["own size", "batch", "rows", "list"])
def test_a_full_resolution_models_denoised_images_lie_in_the_unit_range(form, noisy_input):
    """Its output is the input minus a noise estimate, a little outside [0, 1] (−0.02 … 1.01 for a trained photo
    run, far outside for these random weights): clipped, in every form, as the images it denoises are."""
    torch.manual_seed(0)
    model = _tiny().eval()
    r = np.random.default_rng(0)
    with torch.no_grad():
        raw = model(torch.as_tensor(r.random((3, 64)), dtype=torch.float32))
    assert float(raw.min()) < 0 or float(raw.max()) > 1  # the network's own output leaves [0, 1]
    x = {
        "own size": r.random((3, 64)),
        "batch": r.random((2, 1, 12, 10)),
        "rows": r.random((2, 100)),
        "list": [r.random((1, 9, 9)), r.random((1, 6, 7))],
    }[form]
    kw = {"noisy_input": True} if noisy_input else {"noise": "gaussian", "noise_level": 0.1}
    res = denoise(model, x, **kw)
    for a in res.denoised if form == "list" else [res.denoised]:
        assert a.dtype == np.float32 and float(a.min()) >= 0 and float(a.max()) <= 1


def test_cli_writes_a_full_resolution_runs_npy_images_in_the_unit_range(tmp_path):
    """docs/images.md: the denoised .npy images are float32 in [0, 1] (a photo run wrote −0.02 … 1.01)."""
    torch.manual_seed(0)
    path = aekit.save_model(_tiny().eval(), tmp_path / "photo.safetensors")
    np.save(tmp_path / "in.npy", np.random.default_rng(0).random((2, 12, 10)).astype(np.float32))
    for flags in (("--noisy",), ("--noise", "gaussian", "--noise-level", "0.1")):
        out = tmp_path / f"out{len(flags)}.npy"
        aekit_cli("denoise", path, tmp_path / "in.npy", "-o", out, *flags, check=True)
        a = np.load(out)
        assert a.shape == (2, 12, 10) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize(
    "x", [np.zeros((2, 3, 12, 20)), [np.zeros((1, 9, 9)), np.zeros((3, 9, 9))], np.zeros((2, 3, 8, 8))]
)
def test_colour_images_for_a_gray_model_are_refused_naming_the_channels(x):
    with pytest.raises(
        DataError, match=r"trained on grayscale images \(1 channel\) but these are colour images \(3 ch"
    ):
        denoise(_tiny().eval(), x, noisy_input=True)  # it said "input has 720 features but the model expects 64"
    colour = _tiny(image_shape=(3, 8, 8), input_dim=192, encoding_dim=6 * 64).eval()
    with pytest.raises(DataError, match="trained on colour images \\(3 channels\\) but these are grayscale images"):
        denoise(colour, np.zeros((2, 1, 8, 8)), noisy_input=True)


@pytest.mark.parametrize("layout", [(2, 12, 20, 3), (2, 3, 12, 20)], ids=["channels-last", "channels-first"])
def test_cli_refuses_colour_npy_images_for_a_gray_photo_run_in_one_line(tmp_path, layout):
    path = aekit.save_model(_tiny().eval(), tmp_path / "photo.safetensors")
    np.save(tmp_path / "rgb.npy", np.random.default_rng(0).random(layout).astype(np.float32))
    proc = aekit_cli("denoise", path, tmp_path / "rgb.npy", "--noisy", "-o", tmp_path / "out.npy")
    assert proc.returncode == 2 and not (tmp_path / "out.npy").exists()
    assert proc.stderr.strip() == (
        "aekit: error: the model was trained on grayscale images (1 channel) but these are colour images (3 channels); "
        "convert them to grayscale or train on colour images"
    )
