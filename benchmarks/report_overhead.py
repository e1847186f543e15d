"""What seeing a run costs: report.html and the TensorBoard projector, against one training epoch.

Trains 1 epoch on 10,000 MNIST images (the `--quick` data), then times, in the same process:
  - the reference: that epoch (history's epoch_time),
  - `aekit.report(run)` rebuilt from the run folder (reloading the data),
  - writing the projector for 2,000 validation images (codes, labels, sprite),
and prints the file sizes, the times, their ratios to the epoch, and one JSON line.

    PYTHONPATH=src python benchmarks/report_overhead.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import aekit  # noqa: E402
from aekit import TrainConfig  # noqa: E402
from aekit.training.callbacks.base import TrainState  # noqa: E402
from aekit.training.callbacks.events import TensorBoard  # noqa: E402


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = aekit.train(None, TrainConfig(epochs=1), limit=10000, out=Path(tmp) / "run", verbose=0)
        epoch = float(run.history.history["epoch_time"][0])
        t0 = time.perf_counter()
        page = aekit.report(run.path)
        report_s = time.perf_counter() - t0
        ds = aekit.load_dataset("mnist")
        cb = TensorBoard(
            Path(tmp) / "tb", image_shape=(1, 28, 28), embedding=ds.x_test[:2000], embedding_labels=ds.y_test[:2000]
        )
        state = TrainState(
            run.model,
            torch.optim.SGD(run.model.parameters(), lr=0.0),
            TrainConfig(epochs=1),
            torch.Generator(),
            aekit.History(),
            epoch=1,
        )
        cb.on_train_begin(state)
        t0 = time.perf_counter()
        cb.write_embedding(state)
        projector_s = time.perf_counter() - t0
        cb.writer.close()
        codes = Path(tmp) / "tb" / "00001" / "codes"
        result = {
            "benchmark": "report_overhead",
            "epoch_seconds_10k_rows": round(epoch, 3),
            "report_seconds": round(report_s, 3),
            "report_over_epoch": round(report_s / epoch, 3),
            "report_html_bytes": page.stat().st_size,
            "projector_seconds_2000_rows": round(projector_s, 3),
            "projector_over_epoch": round(projector_s / epoch, 3),
            "projector_bytes": folder_bytes(codes),
            "tensors_tsv_bytes": (codes / "tensors.tsv").stat().st_size,
            "sprite_png_bytes": (codes / "sprite.png").stat().st_size,
            "run_tb_bytes": folder_bytes(run.path / "tb"),
        }
    for k, v in result.items():
        print(f"{k:>28}: {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
