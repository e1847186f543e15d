"""The package (aekit/__init__.py): public names imported on first use, so that `aekit --help` does not wait for
torch, and the same names as an eager package, whatever submodules were imported first."""

import os
import subprocess
import sys

import pytest
from aekit_subprocess import SRC

import aekit


def _python(code: str, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, *flags, *(["-c", code] if code else [])], capture_output=True, text=True, env=env, timeout=300
    )


def _imported(stderr: str) -> set[str]:
    """The modules that ``python -X importtime`` reports imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["train", "--help"], ["train", "--epochs", "x"]])
def test_the_cli_answers_help_and_argument_errors_without_importing_torch(args):
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aekit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=300,
    )
    assert res.returncode == (2 if "x" in args else 0), res.stderr[-500:]
    imported = _imported(res.stderr)
    assert "aekit.cli.main" in imported and "argparse" in imported  # the report lists what it should
    assert "torch" not in imported and "numpy" not in imported


def test_no_module_is_named_like_a_public_name():
    import pkgutil

    modules = {m.name.rpartition(".")[2] for m in pkgutil.walk_packages(aekit.__path__, "aekit.")}
    assert "loop" in modules and "run_report" in modules  # the walk reaches into the sub-packages
    assert not modules & set(aekit.__all__)


def test_every_public_name_resolves_as_before():
    from aekit.io import load_model
    from aekit.training.loop import fit
    from aekit.training.runs import train

    assert aekit.fit is fit and aekit.train is train and aekit.load is aekit.load_model is load_model
    for name in aekit.__all__:
        assert getattr(aekit, name) is not None, name
    assert set(aekit.__all__) <= set(dir(aekit))
    assert aekit.data.rows.__name__ == "aekit.data.rows"  # a submodule not imported by name yet is imported on access
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        aekit.no_such_name
