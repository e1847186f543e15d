"""Tests for aekit.reporting.plots and .rendering: headless figures, rendering and atomic saving."""

import os
import threading

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from aekit.errors import DataError
from aekit.reporting import plots, rendering

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rng():
    return np.random.default_rng(0)


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.get_images()]


def test_reconstruction_grid_flat_input_has_two_rows():
    x = _rng().random((12, 784))
    fig = plots.reconstruction_grid(x, x * 0.5, n=10)
    assert isinstance(fig, Figure)
    axes = _image_axes(fig)
    assert len(axes) == 20
    assert all(not ax.get_xticks().size and not ax.get_yticks().size for ax in axes)
    assert axes[0].get_images()[0].get_array().shape == (28, 28)


def test_reconstruction_grid_accepts_channel_first_and_noisy():
    x = _rng().random((10, 1, 28, 28)).astype(np.float32)
    fig = plots.reconstruction_grid(x, x.reshape(10, 784), noisy=x, n=10, titles=[str(i) for i in range(10)])
    assert len(_image_axes(fig)) == 30
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["noisy", "reconstruction", "clean"]


def test_reconstruction_grid_n_capped_by_data():
    x = _rng().random((4, 784))
    assert len(_image_axes(plots.reconstruction_grid(x, x, n=10))) == 8


def test_reconstruction_grid_bad_shape_raises_data_error():
    x = _rng().random((5, 783))
    with pytest.raises(DataError, match=r"783 values.*image_shape \(28, 28\) needs 784"):
        plots.reconstruction_grid(x, x, image_shape=(28, 28))


def test_image_grid_axes_and_normalization():
    imgs = _rng().random((7, 64)) * 5 - 2
    fig = plots.image_grid(imgs, image_shape=(8, 8), ncols=3, titles=list("abcdefg"))
    shown = _image_axes(fig)
    assert len(shown) == 7
    assert len(fig.axes) == 9 and sum(ax.get_visible() for ax in fig.axes) == 7
    im = shown[0].get_images()[0]
    assert im.get_clim() == pytest.approx((imgs[0].min(), imgs[0].max()))
    fig = plots.image_grid(imgs, image_shape=(8, 8), normalize="none")
    assert _image_axes(fig)[0].get_images()[0].get_clim() == (0.0, 1.0)
    with pytest.raises(ValueError):
        plots.image_grid(imgs, image_shape=(8, 8), normalize="bogus")
    with pytest.raises(DataError):
        plots.image_grid(imgs, image_shape=(28, 28))


def test_code_map_direct_2d_points_equal_input():
    codes = _rng().normal(size=(50, 2))
    labels = np.arange(50) % 3
    fig, pts = plots.code_map(codes, labels, title="codes")
    assert pts.shape == (50, 2)
    np.testing.assert_array_equal(pts, codes)
    ax = fig.axes[0]
    assert ax.get_legend() is not None and len(ax.get_legend().get_texts()) == 3


def test_code_map_pca_and_tsne_project_to_2d():
    codes = _rng().normal(size=(40, 8))
    _, pts = plots.code_map(codes, method="auto")
    assert pts.shape == (40, 2)
    _, pts2 = plots.code_map(codes, method="pca")
    np.testing.assert_allclose(pts, pts2)
    fig, pts = plots.code_map(codes, np.arange(40) % 12, method="tsne")
    assert pts.shape == (40, 2) and np.isfinite(pts).all()
    assert len(fig.axes) == 2  # >10 classes: a colorbar instead of a legend
    with pytest.raises(ValueError):
        plots.code_map(codes, method="umap")
    with pytest.raises(DataError):
        plots.code_map(codes, np.zeros(3))


def test_histogram_with_threshold():
    fig = plots.histogram(_rng().exponential(size=500), bins=20, threshold=2.0, xlabel="score", title="scores")
    ax = fig.axes[0]
    assert len(ax.patches) == 20
    assert [ln.get_xdata()[0] for ln in ax.get_lines()] == [2.0]
    assert ax.get_xlabel() == "score"
    with pytest.raises(DataError):
        plots.histogram([np.nan])


def test_figure_to_array_and_png_bytes():
    fig = plots.histogram(_rng().normal(size=100))  # 6.4 x 4.0 inches
    arr = rendering.figure_to_array(fig, dpi=50)
    assert arr.shape == (200, 320, 3) and arr.dtype == np.uint8
    assert arr.std() > 0
    data = rendering.figure_to_png_bytes(fig, dpi=50)
    assert data.startswith(PNG_SIGNATURE)
    assert fig.get_dpi() == 100  # rendering does not change the figure


def test_save_figure_atomic_png(tmp_path):
    x = _rng().random((3, 784))
    fig = plots.reconstruction_grid(x, x)
    target = tmp_path / "sub" / "dir" / "grid.png"
    out = rendering.save_figure(fig, target, dpi=40)
    assert out == target
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    w, h = fig.get_size_inches() * 40
    with Image.open(target) as im:
        assert im.size == (round(w), round(h))
    assert os.listdir(target.parent) == ["grid.png"]
    rendering.save_figure(fig, target, dpi=40)  # overwrite in place
    assert os.listdir(target.parent) == ["grid.png"]


def test_plots_are_thread_safe():
    errors = []

    def work(seed):
        try:
            x = np.random.default_rng(seed).random((4, 784))
            arr = rendering.figure_to_array(plots.reconstruction_grid(x, x), dpi=30)
            assert arr.std() > 0
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("shape", [(3, 6, 5), (1, 6, 5)])
def test_reconstruction_grid_draws_colour_images_in_colour(shape):
    rng = np.random.default_rng(0)
    x = rng.random((4, int(np.prod(shape))))
    fig = plots.reconstruction_grid(x, x, image_shape=shape, n=4)
    drawn = fig.axes[1].get_images()[0].get_array()
    expected = x[1].reshape(shape).transpose(1, 2, 0) if shape[0] == 3 else x[1].reshape(shape[1:])
    assert drawn.shape == expected.shape and np.allclose(drawn, expected)
    grid = plots.image_grid(x, image_shape=shape, ncols=2)  # each image scaled to its own range, in colour too
    img = grid.axes[0].get_images()[0].get_array()
    assert img.shape == expected.shape and (shape[0] == 1 or (img.min() == 0 and img.max() == 1))


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".SVG", b"<?xml"), (".pdf", b"%PDF")])
def test_save_figure_writes_the_format_of_the_suffix(tmp_path, suffix, magic):
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    assert rendering.save_figure(fig, tmp_path / f"f{suffix}").read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["f.jpg", "f.xyz", "f"])
def test_save_figure_refuses_a_format_it_does_not_write(tmp_path, name):
    with pytest.raises(DataError, match="a figure is written as .png, .svg or .pdf"):
        rendering.save_figure(Figure(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape, normalize", [((6, 5), "each"), ((6, 5), "none"), ((3, 6, 5), "none")])
def test_a_large_untitled_image_grid_is_one_tiled_image_with_white_gaps(shape, normalize):
    m = plots.TILE_ABOVE + 6  # 70 images in rows of 8: 9 rows, the last one short
    x = _rng().random((m, int(np.prod(shape)))) * 3 - 1
    fig = plots.image_grid(x, image_shape=shape, ncols=8, normalize=normalize)
    (ax,) = fig.axes
    tiled = np.asarray(ax.get_images()[0].get_array())
    h, w = shape[-2:]
    assert tiled.shape[:2] == (9 * (h + 2) + 2, 8 * (w + 2) + 2)
    img = x[9].reshape(shape).transpose(1, 2, 0) if len(shape) == 3 else x[9].reshape(shape)
    want = (img - img.min()) / (img.max() - img.min()) if normalize == "each" else np.clip(img, 0, 1)
    r, c = divmod(9, 8)
    assert np.allclose(tiled[2 + r * (h + 2) : 2 + r * (h + 2) + h, 2 + c * (w + 2) : 2 + c * (w + 2) + w], want)
    assert np.all(tiled[:2] == 1.0) and np.all(tiled[-(h + 2) :, -(w + 2) :] == 1.0)  # gaps and the empty cells white
    titled = plots.image_grid(x, image_shape=shape, ncols=8, titles=[str(i) for i in range(m)])
    assert len(titled.axes) == 72  # with titles: an Axes per image, as below the threshold
