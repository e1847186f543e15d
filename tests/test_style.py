"""The code style the project keeps: ruff (pycodestyle, pyflakes, import order; lines of at most 120 columns), and
modules of at most 400 lines."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing_in_the_sources_tests_benchmarks_and_examples():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "benchmarks", "examples"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]


def test_every_module_of_the_package_is_at_most_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted((ROOT / "src" / "aekit").rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, f"modules over 400 lines (split them): {long}"
