"""Tests of aekit.data, aekit.idx and aekit.datasets: IDX, MNIST, downloads, user arrays and tables."""

import functools
import gzip
import http.server
import shutil
import socket
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aekit.data.datasets as datasets
from aekit.data.arrays import (
    Dataset,
    download,
    find_dataset,
    load_array,
    load_dataset,
    read_idx,
    read_table,
    write_idx,
    write_table,
)
from aekit.data.npy_images import in_npy_layout, npy_image_shape
from aekit.errors import DataError

BUNDLED = Path(datasets.__file__).resolve().parent.parent / "bundled" / "mnist"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No user env vars, a private cache, and no proxy for 127.0.0.1."""
    for var in (
        "AEKIT_MNIST",
        "AEKIT_FASHION_MNIST",
        "XDG_CACHE_HOME",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def mnist():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AEKIT_MNIST", raising=False)
        return load_dataset("mnist")


def _fake_set(folder, n_train=12, n_test=2, n_train_labels=None, size=(28, 28), gz=True):
    """A tiny MNIST-shaped set in ``folder``; pixel values encode the row index."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n, n_labels in (("train", n_train, n_train_labels or n_train), ("t10k", n_test, n_test)):
        images = rng.integers(0, 256, size=(n, *size), dtype=np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", (np.arange(n_labels) % 10).astype(np.uint8))
    return folder


def _message(excinfo):
    text = str(excinfo.value)
    assert "\n" not in text and ";" in text  # one line: problem; fix
    return text


# ----------------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (1, 2, 1, 3)])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, shape, name):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    a = (
        rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        if info
        else rng.normal(size=shape).astype(dtype)
    )
    write_idx(tmp_path / name, a)
    assert ((tmp_path / name).read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(tmp_path / name)
    assert b.dtype == a.dtype and b.shape == a.shape and b.dtype.isnative
    np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob(".*"))  # no temp files left


def test_idx_gzip_detected_by_magic_not_name(tmp_path):
    a = np.arange(6, dtype=np.int16).reshape(2, 3)
    write_idx(tmp_path / "x.gz", a)
    (tmp_path / "x.gz").rename(tmp_path / "plain-name")
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), a)


def test_write_idx_refuses_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x.idx", np.arange(3, dtype=np.int64))


def _idx_bytes(a):
    codes = {"uint8": 8, "int8": 9, "int16": 11, "int32": 12, "float32": 13, "float64": 14}
    head = bytes([0, 0, codes[a.dtype.name], a.ndim]) + np.array(a.shape, ">u4").tobytes()
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


GOOD = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    "data, expect",
    [
        (b"\x08\x03" + GOOD[2:], "not an IDX file"),
        (GOOD[:2] + b"\x0a" + GOOD[3:], "unsupported IDX data type code 0x0A"),
        (GOOD[:-1], "truncated"),
        (GOOD[:10], "truncated IDX header"),
        (GOOD + b"\x00\x00", "2 trailing bytes"),
        (gzip.compress(GOOD, mtime=0)[:-12], "corrupt or truncated gzip"),
        (b"\x1f\x8b" + bytes(range(50)), "corrupt or truncated gzip"),
        (np.random.default_rng(2).bytes(64), "not an IDX file"),
        (b"", "too short"),
        (GOOD[:2] + b"\x08\x00", "0 dimensions"),
    ],
)
def test_read_idx_corrupt(tmp_path, data, expect):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataError, match=expect) as e:
        read_idx(path)
    assert str(path) in _message(e)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nope")


def _idx_like():
    header = st.builds(
        lambda code, ndim, dims: bytes([0, 0, code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims[:ndim]),
        st.sampled_from([8, 9, 11, 12, 13, 14, 7, 255]),
        st.integers(0, 4),
        st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1)), min_size=4, max_size=4),
    )
    body = st.builds(lambda h, p, cut: (h + p)[: len(h + p) - cut], header, st.binary(max_size=200), st.integers(0, 3))
    return st.one_of(
        st.binary(max_size=300),
        body,
        body.map(gzip.compress),
        st.tuples(body, st.integers(1, 30)).map(lambda t: gzip.compress(t[0])[: -t[1]]),
    )


@FUZZ
@given(data=_idx_like())
def test_fuzz_read_idx(tmp_path, data):
    path = tmp_path / "fuzz.idx"
    path.write_bytes(data)
    try:
        a = read_idx(path)
    except DataError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(a, np.ndarray)


def test_an_empty_idx_shape_too_large_for_numpy_is_a_data_error(tmp_path):
    path = tmp_path / "empty.idx"  # found by the fuzz test: shape (0, 2818572288, 3272356096), no data bytes
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x00\xa8\x00\x00\x00\xc3\x0c1\x00")
    with pytest.raises(
        DataError, match=r"declares shape \(0, 2818572288, 3272356096\), which holds no values and is too large"
    ):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x00\x00\x00\x00\x1c")  # (0, 28): a valid empty file
    assert read_idx(path).shape == (0, 28)


# ---------------------------------------------------------------------------------------------- MNIST
def test_mnist_facts(mnist):
    assert isinstance(mnist, Dataset) and mnist.name == "mnist" and mnist.image_shape == (1, 28, 28)
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == np.float32 and mnist.y_train.dtype == np.int64
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert abs(mnist.x_train.mean(dtype=np.float64) - 0.1307) < 1e-3
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    assert mnist.x_test.min() >= 0.0 and mnist.x_test.max() <= 1.0
    assert "x_train" not in repr(mnist)  # arrays are kept out of the repr


def test_load_dataset_limit_and_raw_files(tmp_path):
    folder = _fake_set(tmp_path / "set", gz=False)
    d = load_dataset("mnist", folder, limit=7)
    assert d.x_train.shape == (7, 784) and d.x_test.shape == (1, 784)
    assert d.y_train.tolist() == list(range(7))
    images = read_idx(folder / "train-images-idx3-ubyte")
    np.testing.assert_allclose(d.x_train, images[:7].reshape(7, -1) / 255.0, rtol=1e-6)
    with pytest.raises(DataError, match="limit"):
        load_dataset("mnist", folder, limit=0)


def test_search_order(tmp_path, monkeypatch):
    explicit, env = _fake_set(tmp_path / "explicit"), _fake_set(tmp_path / "env")
    monkeypatch.setenv("AEKIT_MNIST", str(env))
    assert find_dataset("mnist", explicit) == explicit
    assert find_dataset("mnist") == env
    monkeypatch.delenv("AEKIT_MNIST")
    assert find_dataset("mnist") == BUNDLED
    # a parent folder holding <name>/ is accepted too
    parent = tmp_path / "parent"
    _fake_set(parent / "mnist")
    assert find_dataset("mnist", parent) == parent / "mnist"


def test_explicit_bad_folder_errors(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataError) as e:
        find_dataset("mnist", empty)
    text = _message(e)
    assert str(empty) in text and "t10k-labels-idx1-ubyte[.gz]" in text and "train-images" not in text
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")
    monkeypatch.setenv("AEKIT_MNIST", str(empty))
    with pytest.raises(DataError, match="AEKIT_MNIST"):
        find_dataset("mnist")


def test_fashion_mnist_search(tmp_path, monkeypatch):
    debian, cached = _fake_set(tmp_path / "debian"), _fake_set(tmp_path / "cache" / "fashion-mnist")
    monkeypatch.setitem(datasets.SYSTEM_DIRS, "fashion-mnist", (debian,))
    assert find_dataset("fashion-mnist") == debian
    assert find_dataset("fashion_mnist") == debian
    monkeypatch.setitem(datasets.SYSTEM_DIRS, "fashion-mnist", (tmp_path / "not-installed",))
    assert find_dataset("fashion-mnist") == cached
    shutil.rmtree(cached)
    monkeypatch.setitem(datasets.MIRRORS, "fashion-mnist", (f"http://127.0.0.1:{_dead_port()}/",))
    with pytest.raises(DataError, match="could not download fashion-mnist.*AEKIT_FASHION_MNIST"):
        find_dataset("fashion-mnist")
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("cifar")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed"
)
def test_debian_fashion_mnist_checksums():
    folder = find_dataset("fashion-mnist")
    assert all(
        datasets._md5(datasets._file(folder, b)) == datasets.CHECKSUMS["fashion-mnist"][b] for b in datasets.FILES
    )


def test_count_and_shape_mismatch(tmp_path):
    with pytest.raises(DataError, match="12 images but train-labels-idx1-ubyte.gz holds 11 labels"):
        load_dataset("mnist", _fake_set(tmp_path / "a", n_train_labels=11))
    with pytest.raises(DataError, match="28x28"):
        load_dataset("mnist", _fake_set(tmp_path / "b", size=(27, 28)))


# ------------------------------------------------------------------------------------------- download
def _dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve():
    """serve(folder) -> base URL of a local HTTP server for ``folder``."""
    servers = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    def start(folder):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_download_verified_with_dead_mirror_first(tmp_path, serve):
    dest = tmp_path / "dl"
    got = download("mnist", dest, mirrors=[f"http://127.0.0.1:{_dead_port()}/", serve(BUNDLED)], timeout=5)
    assert got == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(b + ".gz" for b in datasets.FILES)  # no temp files
    assert read_idx(dest / "t10k-labels-idx1-ubyte.gz")[:3].tolist() == [7, 2, 1]
    # verified files already there are kept: no mirror needed
    assert download("mnist", dest, mirrors=[]) == dest


def test_download_checksum_mismatch(tmp_path, serve):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for split in ("train", "t10k"):  # t10k files served under the train names too
        for kind in ("images-idx3", "labels-idx1"):
            shutil.copy(BUNDLED / f"t10k-{kind}-ubyte.gz", wrong / f"{split}-{kind}-ubyte.gz")
    dest = tmp_path / "dl"
    with pytest.raises(DataError) as e:
        download("mnist", dest, mirrors=[serve(wrong)])
    text = _message(e)
    assert "checksum mismatch" in text and "6bbc9ace898e44ae57da46a324031adb" in text
    assert "--data-dir" in text and "AEKIT_MNIST" in text
    assert not list(dest.iterdir())  # nothing unverified left behind


def test_download_no_network(tmp_path, serve):
    missing = serve(tmp_path)  # serves an empty folder: HTTP 404
    with pytest.raises(DataError, match="HTTP 404.*127.0.0.1:[0-9]+/train-images-idx3-ubyte.gz: ") as e:
        download("mnist", tmp_path / "dl", mirrors=[missing, f"http://127.0.0.1:{_dead_port()}/"], timeout=5)
    _message(e)


# ---------------------------------------------------------------------------------------- user arrays
def test_npy_memmap_stays_memmap(tmp_path):
    a = np.random.default_rng(3).random((50, 6), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    x = load_array(tmp_path / "a.npy")
    assert isinstance(x, np.memmap) and x.dtype == np.float32 and not x.flags.writeable
    np.testing.assert_array_equal(x, a)
    y = load_array(tmp_path / "a.npy", mmap=False)
    assert not isinstance(y, np.memmap)
    np.testing.assert_array_equal(y, a)


def test_npy_shapes_and_dtypes(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(5, dtype=np.int64))
    assert load_array(tmp_path / "v.npy").shape == (5, 1)
    imgs = np.random.default_rng(4).random((4, 3, 2, 2), dtype=np.float32)
    np.save(tmp_path / "i.npy", imgs)
    x = load_array(tmp_path / "i.npy")
    assert x.shape == (4, 12) and isinstance(x, np.memmap)
    np.save(tmp_path / "d.npy", imgs.astype(np.float64))
    assert load_array(tmp_path / "d.npy").dtype == np.float32
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a readable .npy"):
        load_array(tmp_path / "o.npy")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match="not numbers"):
        load_array(tmp_path / "s.npy")


@pytest.mark.parametrize("content", [b"", b"hello world", b"a,b\n1,2\n"])
def test_a_file_that_is_no_npy_is_not_called_pickled_data(tmp_path, content):
    (tmp_path / "x.npy").write_bytes(content)  # numpy: "This file contains pickled (object) data. If you trust …"
    with pytest.raises(DataError, match=r"x.npy: not a readable .npy file \(it does not start with \\x93NUMPY\); save"):
        load_array(tmp_path / "x.npy")
    np.save(tmp_path / "e.npy", np.zeros((0, 3)))
    with pytest.raises(DataError, match="no data"):
        load_array(tmp_path / "e.npy")
    np.save(tmp_path / "big.npy", np.array([[1e300]]))
    with pytest.raises(DataError, match="too large for float32"):
        load_array(tmp_path / "big.npy")


@pytest.mark.parametrize("mmap", [True, False])
def test_npy_nan_inf(tmp_path, mmap):
    a = np.zeros((10, 4), dtype=np.float32)
    a[3, 2] = np.nan
    np.save(tmp_path / "n.npy", a)
    with pytest.raises(DataError, match=r"NaN.*\[3, 2\]") as e:
        load_array(tmp_path / "n.npy", mmap=mmap)
    _message(e)
    assert np.isnan(load_array(tmp_path / "n.npy", allow_nan=True, mmap=mmap)[3, 2])
    a[7, 1] = -np.inf
    np.save(tmp_path / "i.npy", a)
    with pytest.raises(DataError, match=r"infinite value at \[7, 1\]"):
        load_array(tmp_path / "i.npy", allow_nan=True, mmap=mmap)


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "h.csv").write_text("age, height\n1,2.5\n 3 ,4e1\n")
    x, cols = read_table(tmp_path / "h.csv")
    assert cols == ["age", "height"] and x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1, 2.5], [3, 40]])
    (tmp_path / "n.csv").write_text("1,2.5\n3,4\n")
    x, cols = read_table(tmp_path / "n.csv")
    assert cols is None and x.shape == (2, 2)
    np.testing.assert_array_equal(load_array(tmp_path / "n.csv"), [[1, 2.5], [3, 4]])
    (tmp_path / "m.csv").write_text("a,b\n1,\n,4\n")
    x, _ = read_table(tmp_path / "m.csv", allow_nan=True)
    assert np.isnan(x[0, 1]) and np.isnan(x[1, 0]) and x[1, 1] == 4
    with pytest.raises(DataError, match=r"missing value \(NaN\) in column 'b', row 1"):
        read_table(tmp_path / "m.csv")


@pytest.mark.parametrize(
    "text, expect",
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("a,b\n", "no data rows"),
        ("age,w\n1,2\n3,12kg\n", r"column 'w' is not numeric \(row 2: '12kg'\)"),
        # pandas' to_csv writes its index as a nameless first column: it was read as a feature, the row number
        (",a,b\n0,1,2\n1,3,4\n2,5,6\n", "the first column has no name and holds the row numbers 0, 1, 2"),
        ("1,2\nx,3\n", r"column 1 is not numeric \(row 2: 'x'\)"),
        ("1;2\n3;4\n", "separator"),
        ("id,2020\n1,2\n", r"column 1 is not numeric \(row 1: 'id'\) \(row 1 was read as data"),
        ("a,b\n1,inf\n", "infinite value in column 'b', row 1"),
        ("a,b\n1,2\n3,4,5\n", "cannot parse as CSV"),
        ("a,b\n1,2,3\n", "more fields than the header"),
        # it said "missing value (NaN) in column '', row 1; fill in or drop the missing values first"
        ("a,b,\n1,2,\n3,4,\n", "every row ends with a comma \\(an empty last column\\); remove the trailing commas"),
        ("1,2,\n3,4,\n", "every row ends with a comma"),
    ],
)
def test_csv_errors(tmp_path, text, expect):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=expect) as e:
        load_array(path)
    assert str(path) in _message(e)


def test_csv_not_utf8(tmp_path):
    (tmp_path / "l.csv").write_bytes(b"caf\xe9,b\n1,2\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_array(tmp_path / "l.csv")


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=200), st.text(alphabet="0123456789.,-+eEinfaNx \"';\t\n\r", max_size=200).map(str.encode)
    )
)
def test_fuzz_load_csv(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        x = load_array(path, allow_nan=True)
    except DataError as e:
        assert "\n" not in str(e)
    else:
        assert x.ndim == 2 and x.dtype == np.float32


def test_parquet(tmp_path):
    df = pd.DataFrame({"a": [1.0, 2.0], "b": pd.array([3, None], dtype="Int64")})
    df.to_parquet(tmp_path / "t.parquet")
    x, cols = read_table(tmp_path / "t.parquet", allow_nan=True)
    assert cols == ["a", "b"] and x.dtype == np.float32 and np.isnan(x[1, 1])
    with pytest.raises(DataError, match=r"NaN\) in column 'b', row 2"):
        load_array(tmp_path / "t.parquet")
    pd.DataFrame({"a": [1.0], "s": ["x"]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(DataError, match=r"column 's' is not numeric \(row 1: 'x'\)"):
        load_array(tmp_path / "s.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable parquet"):
        load_array(tmp_path / "junk.parquet")


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match=r"unsupported file type '.xlsx'.*\.npy, \.csv, \.parquet"):
        load_array(tmp_path / "x.xlsx")
    with pytest.raises(DataError, match="no such file") as e:
        load_array(tmp_path / "missing.npy")
    _message(e)
    with pytest.raises(DataError, match="is a folder"):
        load_array(tmp_path)


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_write_table_round_trip(tmp_path, suffix):
    a = np.random.default_rng(5).normal(size=(7, 3)).astype(np.float32)
    path = tmp_path / "sub" / f"t{suffix}"
    write_table(path, a, columns=["x", "y", "z"])
    x, cols = read_table(path)
    np.testing.assert_array_equal(x, a)
    assert cols == (None if suffix == ".npy" else ["x", "y", "z"])
    write_table(path, a)  # overwrite, no names
    x, cols = read_table(path)
    np.testing.assert_array_equal(x, a)
    assert cols == {".npy": None, ".csv": None, ".parquet": ["0", "1", "2"]}[suffix]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    with pytest.raises(DataError, match="2 column names for 3 columns"):
        write_table(path, a, columns=["x", "y"])
    with pytest.raises(DataError, match="unsupported file type"):
        write_table(tmp_path / "t.txt", a)


# ------------------------------------------------------------------------ more fuzz: npy headers, parquet, IDX sets
FUZZ_FAST = settings(max_examples=120, deadline=10000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _npy_like():
    header = st.builds(
        lambda descr, fortran, shape: (
            "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (descr, fortran, tuple(shape))
        ),
        st.sampled_from(["<f4", "<f8", ">i4", "|u1", "|O", "<c8", "|b1", "<U3", "|V4", "zz"]),
        st.booleans(),
        st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2**40)), max_size=3),
    )

    def build(h, body, cut, version):
        h = h.encode("latin1")
        h += b" " * (-(10 + len(h) + 1) % 64) + b"\n"
        raw = b"\x93NUMPY" + bytes([version, 0]) + len(h).to_bytes(2, "little") + h + body
        return raw[: len(raw) - cut]

    return st.one_of(
        st.binary(max_size=200),
        st.builds(build, header, st.binary(max_size=120), st.integers(0, 4), st.sampled_from([1, 1, 2, 9])),
    )


@FUZZ_FAST
@given(data=_npy_like(), mmap=st.booleans())
def test_fuzz_load_npy(tmp_path, data, mmap):
    path = tmp_path / "fuzz.npy"
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:  # a warning would be a second stderr line
        warnings.simplefilter("always")
        try:
            x = load_array(path, mmap=mmap, allow_nan=True)
        except DataError as e:
            assert "\n" not in str(e)
        else:
            assert x.ndim == 2 and x.dtype == np.float32
    assert not caught, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def parquet_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("pq") / "t.parquet"
    pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [1, 2, 3]}).to_parquet(path, index=False)
    return path.read_bytes()


@FUZZ_FAST
@given(data=st.data())
def test_fuzz_load_parquet(tmp_path, parquet_bytes, data):
    good = parquet_bytes
    i = data.draw(st.integers(0, len(good) - 1))
    blob = data.draw(
        st.sampled_from(
            [
                good[:i],
                good[:i] + bytes([good[i] ^ 0xFF]) + good[i + 1 :],
                b"PAR1" + good[i:],
                good[:i] + b"\x00" * 8 + good[i:],
            ]
        )
    )
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(blob)
    try:
        x = load_array(path, allow_nan=True)
    except DataError as e:
        assert "\n" not in str(e)
    else:
        assert x.ndim == 2 and x.dtype == np.float32


@pytest.fixture(scope="module")
def fake_set_bytes(tmp_path_factory):
    folder = _fake_set(tmp_path_factory.mktemp("set") / "set", gz=False)
    return {b: (folder / b).read_bytes() for b in datasets.FILES}


@FUZZ_FAST
@given(data=_idx_like(), which=st.sampled_from(datasets.FILES))
def test_fuzz_load_dataset_folder(tmp_path, fake_set_bytes, data, which):
    """Any bytes in place of one of the 4 IDX files: a clean DataError from load_dataset, never a crash."""
    folder = tmp_path / "set"
    folder.mkdir(exist_ok=True)
    for base, content in fake_set_bytes.items():
        (folder / base).write_bytes(data if base == which else content)
    try:
        ds = load_dataset("mnist", folder)
    except DataError as e:
        assert "\n" not in str(e)
    else:
        assert ds.x_train.shape[1] == 784 and len(ds.x_train) == len(ds.y_train)


@pytest.mark.parametrize(
    "shape, dtype, want_shape",
    [
        ((5, 6, 4), np.uint8, (1, 6, 4)),  # 8-bit gray images: divided by 255
        ((5, 6, 4, 3), np.float32, (3, 6, 4)),  # channels last: rows in (c, h, w) order
        ((5, 6, 4, 3), np.uint8, (3, 6, 4)),
        ((5, 3, 6, 4), np.float32, (3, 6, 4)),  # channels first: as they are
        ((5, 2, 6, 4), np.float32, None),  # 2 channels: not images, flattened as they are
        ((5, 12), np.uint8, None),  # a table of small integers: never divided
    ],
)
def test_a_npy_of_images_gives_rows_of_c_h_w_in_0_1_and_its_image_shape(tmp_path, shape, dtype, want_shape):
    raw = np.random.default_rng(0).integers(0, 256, shape).astype(dtype)
    np.save(tmp_path / "a.npy", raw)
    x = load_array(tmp_path / "a.npy")
    assert x.dtype == np.float32 and x.shape == (5, int(np.prod(shape[1:])))
    assert npy_image_shape(tmp_path / "a.npy") == want_shape
    first = np.moveaxis(raw, -1, 1) if len(shape) == 4 and shape[-1] == 3 else raw
    scale = 255 if dtype == np.uint8 and len(shape) >= 3 else 1
    np.testing.assert_array_equal(x, (first.reshape(5, -1) / np.float32(scale)).astype(np.float32))


@pytest.mark.parametrize("shape", [(4, 5, 6), (4, 5, 6, 3), (4, 3, 5, 6), (4, 5, 6, 2)])
def test_rows_go_back_to_the_layout_of_the_npy_they_came_from(tmp_path, shape):
    raw = np.random.default_rng(0).random(shape, dtype=np.float32)
    np.save(tmp_path / "a.npy", raw)
    rows = load_array(tmp_path / "a.npy")
    back = in_npy_layout(rows, tmp_path / "a.npy")
    np.testing.assert_array_equal(back, raw if shape[-1] != 2 else rows)  # 2 channels: not images, rows as they are
    narrower = rows[:, :-1]
    assert in_npy_layout(narrower, tmp_path / "a.npy") is narrower  # another count of values: rows as they are


@pytest.mark.parametrize(
    "write, dtype",
    [
        (lambda p, x: np.save(p.with_suffix(".npy"), x), np.float64),
        (lambda p, x: np.save(p.with_suffix(".npy"), x.astype(np.float32)), np.float32),  # float32 stays float32
        (lambda p, x: pd.DataFrame(x, columns=["a", "b"]).to_csv(p.with_suffix(".csv"), index=False), np.float64),
        (lambda p, x: pd.DataFrame(x, columns=["a", "b"]).to_parquet(p.with_suffix(".parquet")), np.float64),
    ],
)
def test_read_table_exact_keeps_what_float32_would_round(tmp_path, write, dtype):
    x = np.array([[1e9 + 0.126, 16777217.0], [np.nan, 2.5]])
    write(tmp_path / "t", x)
    (path,) = tmp_path.glob("t.*")
    got, _ = read_table(path, allow_nan=True, exact=True)
    assert got.dtype == dtype and np.array_equal(got, x.astype(dtype), equal_nan=True)
    assert read_table(path, allow_nan=True)[0].dtype == np.float32  # the default is unchanged


@pytest.mark.parametrize("marker", ["", "NA", "nan", "N/A", "n/a", "#N/A", "NULL", "null", "None", "<NA>"])
def test_a_csv_reads_the_usual_missing_markers_as_missing(tmp_path, marker):
    """R writes NA, SQL exports NULL, spreadsheets N/A or #N/A, Python None: each is a missing cell, not a text."""
    (tmp_path / "t.csv").write_text(f"a,b\n1,2\n{marker},3\n4,{marker}\n")
    x, names = read_table(tmp_path / "t.csv", allow_nan=True)
    assert names == ["a", "b"] and np.array_equal(np.isnan(x), [[False, False], [True, False], [False, True]])


@pytest.mark.parametrize("name, text", [("t.csv", "a,b\n1,2\n1e200,\n"), ("t.npy", None)])
def test_read_table_exact_still_refuses_values_past_float32s_range(tmp_path, name, text):
    """float64 would hold 1e200, but the fills' standardisation squares it (inf): refused as before, in one line."""
    if text is None:
        np.save(tmp_path / name, np.array([[1.0, 2.0], [1e200, np.nan]]))
    else:
        (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match="value 1e\\+200 too large for float32"):
        read_table(tmp_path / name, allow_nan=True, exact=True)
