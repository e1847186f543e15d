"""Encoding speed: MNIST images per second through the tutorial's encoder (784 -> 32), from an in-memory
array, with `aekit.encode` against plain PyTorch in the same process: ``model.encode`` under
``torch.no_grad`` on batches of 256 (the Keras ``predict`` habit) and on the whole array at once.
Prints one JSON line at the end.

    python benchmarks/encode.py [--repeats 7] [--threads N]
"""

import argparse
import json

import numpy as np
import torch

import aekit


def best_rate(f, n_images: int, repeats: int) -> float:
    import time

    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return n_images / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = aekit.load_dataset("mnist")
    x = np.concatenate([ds.x_train, ds.x_test])  # 70,000 images in memory
    model = aekit.Autoencoder()

    def plain(batch):
        with torch.no_grad():
            return np.concatenate(
                [model.encode(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
            )

    codes = aekit.encode(model, x)
    assert np.allclose(codes, plain(len(x)), atol=1e-5)
    rates = {
        "aekit_encode": best_rate(lambda: aekit.encode(model, x), len(x), args.repeats),
        "plain_batch_256": best_rate(lambda: plain(256), len(x), args.repeats),
        "plain_all_at_once": best_rate(lambda: plain(len(x)), len(x), args.repeats),
    }
    for k, v in rates.items():
        print(f"{k:20s} {v:12,.0f} images/s")
    print(
        json.dumps(
            {
                "benchmark": "encode",
                "threads": torch.get_num_threads(),
                "images": len(x),
                **{k: round(v) for k, v in rates.items()},
                "ratio_to_plain_batch_256": round(rates["aekit_encode"] / rates["plain_batch_256"], 2),
                "ratio_to_plain_all_at_once": round(rates["aekit_encode"] / rates["plain_all_at_once"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
