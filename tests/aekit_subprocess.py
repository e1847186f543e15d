"""The `aekit` command as users meet it: a real subprocess of this checkout's source (shared by the CLI tests)."""

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def aekit_cli(*args, cwd=None, check=False):
    """Run `python -m aekit ARGS` with this checkout's src/ first on the path; return the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "aekit", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc
