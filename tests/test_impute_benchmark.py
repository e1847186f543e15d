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
    logs = []
    for pattern in ("mcar20", "mnar"):
        proc = bench("--tables", "linnerud", "--patterns", pattern, "--seeds", "1", "--first-seed", "3")
        assert proc.returncode == 0, proc.stderr
        logs.append(tmp_path / f"{pattern}.log")
        logs[-1].write_text(proc.stdout)
    runs = [json.loads(log.read_text().splitlines()[-1]) for log in logs]
    proc = bench("--merge", str(logs[0]), str(logs[1]))
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(merged["results"]) == {"linnerud mcar20", "linnerud mnar"} and merged["cases"] == 2
    assert merged["results"]["linnerud mnar"] == runs[1]["results"]["linnerud mnar"]
    ranks = [r["results"][k]["rank"]["aekit"] for r, k in zip(runs, ("linnerud mcar20", "linnerud mnar"))]
    assert merged["mean_rank"]["aekit"] == sum(ranks) / 2 and "aekit within 2% of the best on" in proc.stdout
    logs.append(tmp_path / "seed4.log")  # the mnar run's summary as if it had run seed 4: refused
    logs[-1].write_text(logs[1].read_text().replace('"first_seed": 3', '"first_seed": 4'))
    proc = bench("--merge", str(logs[0]), str(logs[2]))
    assert proc.returncode != 0 and "other seeds" in proc.stderr
