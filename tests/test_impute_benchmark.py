"""benchmarks/impute.py on the 20-row linnerud table (one seed, 10 trees), and --merge of two runs split by pattern."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(*args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "impute.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"},
    )
    return proc


def merge(*logs, capsys):
    """`benchmarks/impute.py --merge LOGS` in this process (the merge reads JSON lines only): its summary line."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import impute
    finally:
        del sys.path[0]
    impute.main(["--merge", *map(str, logs)])
    out = capsys.readouterr().out
    return out, json.loads(out.strip().splitlines()[-1])


def test_runs_split_by_patterns_merge_into_one_summary(tmp_path, capsys):
    run = ("--tables", "linnerud", "--patterns", "mcar20,mnar", "--seeds", "1", "--first-seed", "3", "--trees", "10")
    proc = bench(*run)
    assert proc.returncode == 0, proc.stderr
    whole = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(whole["results"]) == {"linnerud mcar20", "linnerud mnar"} and whole["cases"] == 2
    case = whole["results"]["linnerud mnar"]
    assert {m: v[0] for m, v in case["per_seed"].items()} == {m: v[0] for m, v in case["rmse"].items()}
    assert case["aekit_vs_best_se"] == 0.0  # one seed: no spread to measure
    logs, runs = [], []  # the one real run's summary, split as if two runs had each done one pattern
    for key in ("linnerud mcar20", "linnerud mnar"):
        runs.append({**whole, "results": {key: whole["results"][key]}, "cases": 1})
        logs.append(tmp_path / f"{key.split()[1]}.log")
        logs[-1].write_text("| a table line |\n" + json.dumps(runs[-1]) + "\n")
    text, merged = merge(*logs, capsys=capsys)
    assert merged["results"] == whole["results"] and merged["cases"] == 2
    assert merged["mean_rank"] == whole["mean_rank"] and "aekit within 2% of the best on" in text
    logs.append(tmp_path / "seed4.log")  # the mnar run's summary as if it had run seed 4: refused
    logs[-1].write_text(logs[1].read_text().replace('"first_seed": 3', '"first_seed": 4'))
    with pytest.raises(SystemExit, match="other seeds"):
        merge(logs[0], logs[2], capsys=capsys)


def test_paired_standard_error_is_of_the_seeds_differences_relative_to_the_best():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import impute
    finally:
        del sys.path[0]
    # differences 0.1 and 0.2: sd 0.0707, over √2 seeds 0.05, over the best's mean 0.95
    assert impute.paired_se([1.0, 1.2], [0.9, 1.0]) == pytest.approx(0.05 / 0.95, abs=1e-4)
    assert impute.paired_se([1.0, 1.1], [0.9, 1.0]) == 0.0  # the same gap on every seed: no doubt about it
    assert impute.paired_se([1.0], [0.9]) == 0.0
