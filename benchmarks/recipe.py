"""Time to the tutorial's val BCE (0.0982) with the recommended recipe (`aekit train --recipe fast`:
Adam lr 1e-2, one-cycle schedule, batch 512, 10 epochs) on MNIST, against the same recipe run as a plain
PyTorch loop (benchmarks/_reference.py, same schedule) in the same process: after each aekit epoch, a
callback runs one plain epoch, so both see the same machine load. Time counts training, shuffling and the
per-epoch validation. (The tutorial's adadelta needs ~76 epochs for 0.0982.) Prints one JSON line at the end.

    python benchmarks/recipe.py [--threads N] [--epochs 10]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reference import reference_epoch  # noqa: E402

import aekit  # noqa: E402
from aekit.config import recipe, to_dict  # noqa: E402
from aekit.training.optim import lr_at  # noqa: E402

TUTORIAL_VAL_LOSS = 0.0982


def time_to_target(val_losses: list[float], epoch_times: list[float]) -> tuple[float | None, int | None]:
    elapsed = 0.0
    for i, (v, t) in enumerate(zip(val_losses, epoch_times)):
        elapsed += t
        if v <= TUTORIAL_VAL_LOSS:
            return elapsed, i + 1
    return None, None


class PlainEpochAfterEach(aekit.Callback):
    """Runs one epoch of the plain loop with the same recipe after each aekit epoch."""

    def __init__(self, cfg, x, xv):
        self.model = aekit.Autoencoder()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.learning_rate, eps=1e-7)
        total = cfg.epochs * -(-len(x) // cfg.batch_size)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_at(cfg, s, total) / cfg.learning_rate)
        self.cfg, self.x, self.xv, self.gen, self.hist = (
            cfg,
            torch.from_numpy(x),
            torch.from_numpy(xv),
            torch.Generator().manual_seed(0),
            [],
        )

    def step(self):  # the optimizer handed to the plain loop: Adam, then the per-batch schedule
        self.opt.step()
        self.sched.step()

    def zero_grad(self):
        self.opt.zero_grad()

    def on_epoch_end(self, state, logs):
        self.hist.append(reference_epoch(self.model, self, self.x, self.xv, self.cfg.batch_size, self.gen))
        h = self.hist[-1]
        print(
            f"epoch {state.epoch:2d}  aekit val {logs['val_loss']:.4f} {logs['epoch_time']:.2f} s   "
            f"plain val {h['val_loss']:.4f} {h['epoch_time']:.2f} s",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = recipe("fast", **({"epochs": args.epochs} if args.epochs else {}))
    ds = aekit.load_dataset("mnist")
    plain = PlainEpochAfterEach(cfg, ds.x_train, ds.x_test)
    t0 = time.perf_counter()
    h = aekit.fit(
        aekit.Autoencoder(),
        ds.x_train,
        ds.x_train,
        cfg,
        validation_data=(ds.x_test, ds.x_test),
        callbacks=[plain],
        verbose=0,
    ).history
    t_ours, e_ours = time_to_target(h["val_loss"], h["epoch_time"])
    t_ref, e_ref = time_to_target([r["val_loss"] for r in plain.hist], [r["epoch_time"] for r in plain.hist])
    print(
        json.dumps(
            {
                "benchmark": "recipe",
                "recipe": "fast",
                "config": to_dict(cfg),
                "threads": torch.get_num_threads(),
                "target_val_loss": TUTORIAL_VAL_LOSS,
                "aekit_seconds_to_target": None if t_ours is None else round(t_ours, 2),
                "aekit_epochs_to_target": e_ours,
                "plain_seconds_to_target": None if t_ref is None else round(t_ref, 2),
                "plain_epochs_to_target": e_ref,
                "speedup": None if not (t_ours and t_ref) else round(t_ref / t_ours, 2),
                "aekit_final_val_loss": round(h["val_loss"][-1], 4),
                "plain_final_val_loss": round(plain.hist[-1]["val_loss"], 4),
                "total_s": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
