"""benchmarks/impute.py on the 20-row linnerud table (one seed), and --merge of two runs split by --patterns."""

import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_runs_split_by_patterns_merge_into_one_summary(tmp_path):
    proc = bench("--tables", "linnerud", "--patterns", "mcar20,mnar", "--seeds", "1", "--first-seed", "3")
    assert proc.returncode == 0, proc.stderr
    whole = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(whole["results"]) == {"linnerud mcar20", "linnerud mnar"} and whole["cases"] == 2
    logs, runs = [], []  # the one real run's summary, split as if two runs had each done one pattern
    for key in ("linnerud mcar20", "linnerud mnar"):
        runs.append({**whole, "results": {key: whole["results"][key]}, "cases": 1})
        logs.append(tmp_path / f"{key.split()[1]}.log")
        logs[-1].write_text("| a table line |\n" + json.dumps(runs[-1]) + "\n")
    proc = bench("--merge", str(logs[0]), str(logs[1]))
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(proc.stdout.strip().splitlines()[-1])
    assert merged["results"] == whole["results"] and merged["cases"] == 2
    assert merged["mean_rank"] == whole["mean_rank"] and "aekit within 2% of the best on" in proc.stdout
    logs.append(tmp_path / "seed4.log")  # the mnar run's summary as if it had run seed 4: refused
    logs[-1].write_text(logs[1].read_text().replace('"first_seed": 3', '"first_seed": 4'))
    proc = bench("--merge", str(logs[0]), str(logs[2]))
    assert proc.returncode != 0 and "other seeds" in proc.stderr
