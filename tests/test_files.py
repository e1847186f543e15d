"""aekit.files: an atomic write leaves the old file or the new one, never a temporary file, whatever fails."""

import errno

import pytest

from aekit.errors import DataError
from aekit.files import atomic_write, removed_on_failure


def _fail_with(error):
    def write(f):
        f.write(b"half")
        raise error

    return write


def test_an_atomic_write_puts_the_whole_file_in_place(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_one(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    expected = DataError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as caught:
        atomic_write(target, _fail_with(error))
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    if expected is DataError:
        message = f"{target}: cannot write (No space left on device); check free space and permissions"
        assert str(caught.value) == message


def test_removed_on_failure_removes_the_files_listed_when_the_block_fails(tmp_path):
    tmps = []
    with pytest.raises(DataError, match="^x.tmp: gone$"):
        with removed_on_failure(tmps, lambda e: f"{e.filename}: gone"):
            for name in ("a.tmp", "b.tmp"):  # files made inside the block count too
                (tmp_path / name).write_bytes(b"")
                tmps.append(str(tmp_path / name))
            raise FileNotFoundError(errno.ENOENT, "missing", "x.tmp")
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept"
    with removed_on_failure([str(kept)], str):  # nothing failed: nothing is removed
        kept.write_bytes(b"")
    assert kept.exists()
