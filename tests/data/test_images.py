"""Image folders (aekit.data.images): real files of every format written here, decoded to the expected pixels; labels
in ImageFolder's order; sizes, crops and colours; bad files refused or skipped; the cache kept, reused and renewed."""

import errno
import json
import os

import numpy as np
import pytest
from PIL import Image

import aekit
from aekit.data.image_files import find_images, parse_image_size
from aekit.data.images import ImageNote, load_images
from aekit.data.pixels import PixelRows
from aekit.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))


def _rgb(seed=0, h=16, w=16):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _gray(seed=0, h=16, w=16):
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def _write(path, array, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save)
    return path


# (file name, how it is written, the pixels expected (C, H, W), the largest difference allowed)
def _gray_png(p):
    a = _gray(1)
    _write(p / "g.png", a)
    return a[None], 0


def _rgb_png(p):
    a = _rgb(2)
    _write(p / "c.png", a)
    return a.transpose(2, 0, 1), 0


def _rgba_png(p):  # alpha dropped, as ImageFolder's convert("RGB")
    a = np.dstack([_rgb(3), _gray(4)])
    _write(p / "a.png", a)
    return a[..., :3].transpose(2, 0, 1), 0


def _palette_png(p):
    a = _rgb(5) // 64 * 64  # few colours: the palette holds each exactly
    Image.fromarray(a).quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(p / "p.png")
    return np.asarray(Image.open(p / "p.png").convert("RGB")).transpose(2, 0, 1), 0


def _png16(p):  # 16 bits scaled onto 8 (Pillow's own convert("L") would clip at 255)
    a16 = (np.random.default_rng(6).integers(0, 65536, (16, 16))).astype(np.uint16)
    _write(p / "d.png", a16)
    return ((a16.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)[None], 0


def _gif(p):  # the first frame of two
    a, b = (_rgb(7) // 128 * 128), (_rgb(8) // 128 * 128)
    frames = [Image.fromarray(a).quantize(colors=8), Image.fromarray(b).quantize(colors=8)]
    frames[0].save(p / "f.gif", save_all=True, append_images=frames[1:])
    return np.asarray(frames[0].convert("RGB")).transpose(2, 0, 1), 0


def _bmp(p):
    a = _rgb(9)
    _write(p / "b.bmp", a)
    return a.transpose(2, 0, 1), 0


def _tiff(p):
    a = _rgb(10)
    _write(p / "t.tiff", a)
    return a.transpose(2, 0, 1), 0


def _webp_lossless(p):
    a = _rgb(11)
    _write(p / "w.webp", a, lossless=True)
    return a.transpose(2, 0, 1), 0


def _jpeg(quality):
    def make(p):
        a = np.kron(_rgb(12, 4, 4), np.ones((4, 4, 1), dtype=np.uint8))  # flat 4×4 blocks: JPEG keeps them close
        _write(p / f"j{quality}.jpg", a, quality=quality)
        return np.asarray(Image.open(p / f"j{quality}.jpg")).transpose(2, 0, 1), 0  # what Pillow decodes, exactly

    return make


@pytest.mark.parametrize(
    "make",
    [
        _gray_png,
        _rgb_png,
        _rgba_png,
        _palette_png,
        _png16,
        _gif,
        _bmp,
        _tiff,
        _webp_lossless,
        _jpeg(30),
        _jpeg(75),
        _jpeg(95),
    ],
    ids=["gray", "rgb", "rgba", "palette", "png16", "gif", "bmp", "tiff", "webp", "jpeg30", "jpeg75", "jpeg95"],
)
def test_every_format_decodes_to_its_pixels(tmp_path, make):
    folder = tmp_path / "imgs"
    folder.mkdir()
    expected, tolerance = make(folder)
    s = load_images(folder)
    assert s.pixels.dtype == np.uint8 and s.image_shape == expected.shape
    assert s.color == ("gray" if expected.shape[0] == 1 else "rgb")
    assert int(np.abs(s.pixels[0].astype(int) - expected.astype(int)).max()) <= tolerance
    rows = s.rows()
    assert np.array_equal(rows[0], expected.reshape(-1).astype(np.float32) / np.float32(255))  # [0, 1], exact


def test_mnist_exported_to_png_folders_comes_back_exactly(tmp_path):
    ds = aekit.load_dataset("mnist", limit=60)
    digits = np.rint(ds.x_train * 255).astype(np.uint8).reshape(-1, 28, 28)
    for i, (img, y) in enumerate(zip(digits, ds.y_train)):
        _write(tmp_path / "mnist" / str(y) / f"{i:03d}.png", img)
    s = load_images(tmp_path / "mnist")
    assert s.classes == sorted({str(y) for y in ds.y_train}) and s.image_shape == (1, 28, 28)
    order = np.lexsort((np.arange(60), ds.y_train))  # ImageFolder's order: by class folder, then by file name
    assert np.array_equal(s.labels, ds.y_train[order]) and np.array_equal(s.pixels[:, 0], digits[order])
    assert np.array_equal(np.asarray(s.rows()), ds.x_train[order])  # the same floats as the IDX reader gives


def test_labels_follow_sorted_class_folders_and_hidden_entries_are_skipped(tmp_path):
    for name in ["b/x.png", "a/deep/z.png", "a/y.png", "c/one.jpg"]:
        _write(tmp_path / "d" / name, _rgb())
    _write(tmp_path / "d" / ".hidden" / "h.png", _rgb())
    (tmp_path / "d" / "a" / "notes.txt").write_text("not an image, not an image suffix")
    found = find_images(tmp_path / "d")
    assert found.names == ["a/deep/z.png", "a/y.png", "b/x.png", "c/one.jpg"]
    assert found.classes == ["a", "b", "c"] and found.labels.tolist() == [0, 0, 1, 2]
    _write(tmp_path / "d" / "top.png", _rgb())  # a file outside any class folder: no labels at all
    assert find_images(tmp_path / "d").labels is None


def test_a_txt_list_with_and_without_labels(tmp_path):
    _write(tmp_path / "x" / "1.png", _gray(1))
    _write(tmp_path / "x" / "2.png", _gray(2))
    (tmp_path / "list.txt").write_text("# my images\nx/2.png\tdog\n\nx/1.png\tcat\n")
    s = load_images(tmp_path / "list.txt")
    assert s.names == ["x/2.png", "x/1.png"] and s.classes == ["cat", "dog"] and s.labels.tolist() == [1, 0]
    assert np.array_equal(s.pixels[0, 0], _gray(2))
    (tmp_path / "plain.txt").write_text("x/1.png\n")
    assert load_images(tmp_path / "plain.txt").labels is None
    (tmp_path / "half.txt").write_text("x/1.png\tcat\nx/2.png\n")
    with pytest.raises(DataError, match="x/2.png has no label"):
        load_images(tmp_path / "half.txt")


@pytest.mark.parametrize("sep", [" ", ","])
def test_a_txt_list_with_labels_after_a_space_or_comma_says_to_use_a_tab(tmp_path, sep):
    _write(tmp_path / "x" / "1.png", _gray(1))
    (tmp_path / "list.txt").write_text(f"x/1.png{sep}cat\n")  # "none of its 1 lines names an existing file"
    with pytest.raises(DataError, match=f"list.txt: 'x/1.png{sep}cat' is a file name and more after it; separate each"):
        load_images(tmp_path / "list.txt")


@pytest.mark.parametrize(
    "text, size", [("64", (64, 64)), ("64x48", (64, 48)), (32, (32, 32)), ((8, 4), (8, 4)), ("28×28", (28, 28))]
)
def test_image_size_parses(text, size):
    assert parse_image_size(text) == size


@pytest.mark.parametrize("bad", ["0", "64x", "x", "-3", "axb", "1x2x3", 0, (4, 0), True])
def test_a_bad_image_size_is_refused(bad):
    with pytest.raises(ConfigError, match="image size must be N or HEIGHTxWIDTH"):
        parse_image_size(bad)


def test_crop_keeps_the_aspect_ratio_and_stretch_does_not(tmp_path):
    a = np.zeros((20, 40), dtype=np.uint8)
    a[:, :6] = 255  # a white stripe on the left: a centre crop to a square cuts it off
    _write(tmp_path / "w" / "wide.png", a)
    crop = load_images(tmp_path / "w", image_size=10, resize="crop").pixels[0, 0]
    stretch = load_images(tmp_path / "w", image_size=10, resize="stretch").pixels[0, 0]
    assert crop.shape == stretch.shape == (10, 10)
    assert crop.max() == 0 and stretch[:, 0].min() == 255 and stretch[:, -1].max() == 0


def test_different_sizes_need_image_size(tmp_path):
    _write(tmp_path / "m" / "a.png", _rgb(h=16, w=16))
    _write(tmp_path / "m" / "b.png", _rgb(h=20, w=12))
    with pytest.raises(DataError, match="different sizes.*pass image_size=64"):
        load_images(tmp_path / "m")
    assert load_images(tmp_path / "m", image_size="8x6").image_shape == (3, 8, 6)


def test_mixed_colour_follows_the_majority_with_a_note(tmp_path):
    for i in range(3):
        _write(tmp_path / "m" / f"g{i}.png", _gray(i))
    _write(tmp_path / "m" / "c.png", _rgb())
    with pytest.warns(ImageNote, match="3 of 4 images are grayscale.*reading all as gray"):
        s = load_images(tmp_path / "m")
    assert s.image_shape == (1, 16, 16)
    assert load_images(tmp_path / "m", color="rgb").image_shape == (3, 16, 16)


@pytest.mark.parametrize("content", [b"not an image at all", "truncated", b""], ids=["junk", "truncated", "empty"])
def test_a_bad_file_is_named_or_skipped(tmp_path, content):
    _write(tmp_path / "d" / "ok.png", _rgb())
    bad = tmp_path / "d" / "bad.png"
    if content == "truncated":
        _write(bad, _rgb(1))
        bad.write_bytes(bad.read_bytes()[:100])  # the header whole, the pixels cut
    else:
        bad.write_bytes(content)
    with pytest.raises(DataError, match=r"bad\.png: cannot read it as an image .*--skip-bad-images"):
        load_images(tmp_path / "d")
    with pytest.raises(DataError, match=r"bad\.png: cannot read it as an image"):  # no headers read: found in decoding
        load_images(tmp_path / "d", image_size=8, color="rgb")
    assert not any((tmp_path / "cache").rglob("*.npy*")), "nothing is cached when a file is refused"
    assert not list((tmp_path / "cache" / "images").iterdir()) if (tmp_path / "cache" / "images").exists() else True
    with pytest.warns(ImageNote, match="skipped 1 unreadable file"):
        s = load_images(tmp_path / "d", skip_bad=True)
    assert s.names == ["ok.png"] and [n for n, _ in s.skipped] == ["bad.png"] and len(s.pixels) == 1
    with pytest.warns(ImageNote, match="skipped 1 unreadable file"):
        s = load_images(tmp_path / "d", skip_bad=True, image_size=8, color="rgb")  # dropped after decoding
    assert s.names == ["ok.png"] and s.pixels.shape == (1, 3, 8, 8)
    assert sorted(p.name for p in s.cache.iterdir()) == ["manifest.json", "pixels.npy"]  # no temporary file left


def test_an_empty_folder_and_a_missing_one_are_refused(tmp_path):
    (tmp_path / "e" / "sub").mkdir(parents=True)
    (tmp_path / "e" / "readme.md").write_text("x")
    with pytest.raises(DataError, match="no image files found"):
        load_images(tmp_path / "e")
    with pytest.raises(DataError, match="no such folder"):
        load_images(tmp_path / "nope")


def test_the_cache_is_reused_and_renewed_when_a_file_changes(tmp_path):
    for i in range(3):
        _write(tmp_path / "d" / f"{i}.png", _rgb(i))
    first = load_images(tmp_path / "d")
    assert first.cache.parent == tmp_path / "cache" / "images"
    assert isinstance(first.pixels, np.memmap)
    stamp = os.stat(first.cache / "pixels.npy").st_mtime_ns
    again = load_images(tmp_path / "d")
    assert again.cache == first.cache and os.stat(again.cache / "pixels.npy").st_mtime_ns == stamp  # not decoded again
    _write(tmp_path / "d" / "1.png", _rgb(99))  # a changed file: decoded again, the old cache removed
    os.utime(tmp_path / "d" / "1.png", ns=(1, 1))
    changed = load_images(tmp_path / "d")
    assert changed.cache != first.cache and not first.cache.exists()
    assert np.array_equal(changed.pixels[1], _rgb(99).transpose(2, 0, 1))
    other = load_images(tmp_path / "d", image_size=8)  # other options: a cache of their own beside it
    assert other.cache != changed.cache and changed.cache.exists()
    manifest = json.loads((changed.cache / "manifest.json").read_text())
    assert manifest["names"] == ["0.png", "1.png", "2.png"] and manifest["shape"] == [3, 3, 16, 16]


def test_a_damaged_cache_is_decoded_again(tmp_path):
    _write(tmp_path / "d" / "0.png", _rgb())
    s = load_images(tmp_path / "d")
    (s.cache / "pixels.npy").write_bytes(b"garbage")
    assert np.array_equal(load_images(tmp_path / "d").pixels[0], _rgb().transpose(2, 0, 1))


def test_an_unwritable_cache_folder_is_named(tmp_path, monkeypatch):
    _write(tmp_path / "d" / "0.png", _rgb())
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "cache").write_text("a file where the cache folder should be")
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "ro" / "cache"))
    with pytest.raises(DataError, match=r"ro/cache.*cannot create the image cache.*AEKIT_CACHE"):
        load_images(tmp_path / "d")


def test_a_cache_that_cannot_be_written_leaves_no_temporary_file(tmp_path, monkeypatch):
    import aekit.data.images

    for i in range(3):
        _write(tmp_path / "d" / f"{i}.png", _rgb(i))

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(aekit.data.images.os, "pwrite", full)
    with pytest.raises(DataError, match=r"cannot write the image cache \(No space left on device\).*AEKIT_CACHE"):
        load_images(tmp_path / "d", workers=1)
    monkeypatch.undo()
    left = [p.name for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]
    assert left == []


def test_without_a_cache_nothing_is_written(tmp_path):
    _write(tmp_path / "d" / "0.png", _rgb())
    s = load_images(tmp_path / "d", cache=False)
    assert s.cache is None and not (tmp_path / "cache").exists()
    assert np.array_equal(s.pixels[0], _rgb().transpose(2, 0, 1))


def test_pixel_rows_read_by_pread_match_the_array(tmp_path):
    for i in range(40):
        _write(tmp_path / "d" / f"{i:02d}.png", _rgb(i, 8, 8))
    cached, memory = load_images(tmp_path / "d"), load_images(tmp_path / "d", cache=False)
    a, b = cached.rows(), memory.rows()
    assert a._file is not None and b._file is None
    full = np.asarray(b)
    for idx in ([0, 1, 2, 9, 10, 39], [5], [30, 3, 17], list(range(40))):  # runs, a lone row, out of order, all
        assert np.array_equal(a[np.array(idx)], full[idx])
    sub = a.subset(np.array([2, 5, 6, 7]))[1:]
    assert isinstance(sub, PixelRows) and sub.shape == (3, 192) and np.array_equal(np.asarray(sub), full[[5, 6, 7]])


@pytest.mark.parametrize("cache", [False, True], ids=["in-memory", "cached"])
def test_a_size_whose_pixels_cannot_fit_is_refused_before_decoding(tmp_path, cache):
    for i in range(2):
        _write(tmp_path / "imgs" / f"{i}.png", _gray(i))
    where = "of memory" if not cache else "free on the disk of the cache"
    with pytest.raises(
        DataError, match=f"2 images of 1000000x1000000 \\(gray\\) need 1,862.6 GiB, but only .* {where}"
    ):
        load_images(tmp_path / "imgs", image_size=1_000_000, color="gray", cache=cache and tmp_path / "c")
    assert not (tmp_path / "c").exists()  # nothing decoded, no cache folder made
