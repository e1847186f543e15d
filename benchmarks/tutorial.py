"""The Keras tutorial, reproduced: MNIST 784-32-784, adadelta (Keras 2: lr 1.0, rho 0.95, eps 1e-7), BCE,
100 epochs of batch 256. Prints the loss curve and epoch time, then one JSON line with the figures and
the ratio of the final val BCE to the tutorial's 0.0982.

    python benchmarks/tutorial.py [--epochs 100] [--seed 0] [--threads N] [--compile] [--precision bfloat16]

--compile trains with TrainConfig(compile=True); its total time includes compiling (the first epoch's
extra seconds; set TORCHINDUCTOR_CACHE_DIR to an empty folder to time a cold compile). --precision bfloat16
trains with the products in bfloat16 (autocast); compare its final losses with a float32 run's and across seeds.
"""

import argparse
import json
import statistics
import time

import torch

import aekit

TUTORIAL_VAL_LOSS = 0.0982  # the tutorial's val_loss after 100 epochs (loss 0.0998)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the training step")
    ap.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = aekit.load_dataset("mnist")
    model = aekit.Autoencoder(aekit.ModelConfig(seed=args.seed))
    t0 = time.perf_counter()
    h = aekit.fit(
        model,
        ds.x_train,
        ds.x_train,
        epochs=args.epochs,
        batch_size=256,
        shuffle=True,
        seed=args.seed,
        validation_data=(ds.x_test, ds.x_test),
        verbose=0,
        compile=args.compile,
        precision=args.precision,
    ).history
    total = time.perf_counter() - t0
    for i in sorted({0, 4, 9, 24, 49, 74, args.epochs - 1} & set(range(args.epochs))):
        print(f"epoch {i + 1:3d}  loss {h['loss'][i]:.4f}  val_loss {h['val_loss'][i]:.4f}  {h['epoch_time'][i]:.2f} s")
    reached = next((i + 1 for i, v in enumerate(h["val_loss"]) if v <= TUTORIAL_VAL_LOSS), None)
    print(
        json.dumps(
            {
                "benchmark": "tutorial",
                "compile": args.compile,
                "precision": args.precision,
                "threads": torch.get_num_threads(),
                "epochs": args.epochs,
                "loss": round(h["loss"][-1], 4),
                "val_loss": round(h["val_loss"][-1], 4),
                "tutorial_val_loss": TUTORIAL_VAL_LOSS,
                "ratio_to_tutorial": round(h["val_loss"][-1] / TUTORIAL_VAL_LOSS, 4),
                "first_epoch_at_or_below_tutorial": reached,
                "median_epoch_s": round(statistics.median(h["epoch_time"]), 3),
                "first_epoch_s": round(h["epoch_time"][0], 2),
                "total_s": round(total, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
