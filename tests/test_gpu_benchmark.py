"""benchmarks/gpu.py runs here too, on the CPU with tiny sizes, and its runner of the GPU tests works without pytest."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_benchmark_runs_on_the_cpu_with_quick_sizes():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick", "--device", "cpu", "--no-tests"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["benchmark"] == "gpu" and result["device"] == "cpu" and result["quick"]
    for figure in ("tutorial", "fast", "conv", "encode"):
        assert figure in result and any(line.startswith(("tutorial", "fast", "conv", "encode")) for line in lines)
    assert result["tutorial"]["epochs"] == 2 and 0 < result["tutorial"]["val_bce"] < 1
    assert result["encode"]["aekit_images_per_s"] > 0 and result["conv"]["ratio"] > 0
    assert result["targets_h100"] is None  # judged at full sizes only


def test_its_gpu_tests_run_without_pytest_and_read_pytests_summary():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "tests" / "training"))
    try:
        import gpu
        import test_on_device
    finally:
        del sys.path[:2]
    results = test_on_device.run_without_pytest()
    assert set(results) == set(test_on_device.gpu_tests()) and len(results) >= 8
    if not __import__("torch").cuda.is_available():
        assert all(r.startswith("skipped: needs") for r in results.values())
    assert gpu.pytest_counts("3 passed, 1 failed, 9 skipped in 4.21s") == {"passed": 3, "failed": 1, "skipped": 9}
    assert gpu.pytest_counts("========== 9 skipped in 0.5s ==========") == {"skipped": 9}
