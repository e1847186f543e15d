"""Autoencoder codes against PCA at the same number of dimensions, on MNIST.

For each code size d: train the tutorial's dense autoencoder 784 → d → 784 on the training images, fit PCA
with d components on the same images (same process), and report on the test images
  - reconstruction error (MSE per pixel) of each, and
  - accuracy of a 5-nearest-neighbour classifier fit on the codes of the first --knn-train training images,
and, as the reference, k-NN on the raw 784 pixels. Ends with one JSON line.

    python benchmarks/encode_vs_pca.py [--dims 2,8,32] [--epochs 10] [--limit 20000] [--knn-train 10000]
"""

import argparse
import json
import time

import torch

import aekit
from aekit.uses.encoding import (
    encode,
    knn_accuracy,
    pca_baseline,
    reconstruct,
    reconstruction_mse,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", default="2,8,32", help="code sizes, comma-separated")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--limit", type=int, default=20000, help="training images (60000 = all)")
    ap.add_argument("--test-limit", type=int, default=10000, help="test images")
    ap.add_argument("--knn-train", type=int, default=10000, help="training images the k-NN classifier is fit on")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    ds = aekit.load_dataset("mnist")
    x, y = ds.x_train[: args.limit], ds.y_train[: args.limit]
    xt, yt = ds.x_test[: args.test_limit], ds.y_test[: args.test_limit]
    kn = slice(0, args.knn_train)
    t0 = time.perf_counter()
    raw_acc = knn_accuracy(x[kn], y[kn], xt, yt, k=args.k)
    raw_s = time.perf_counter() - t0
    rows = []
    for d in (int(v) for v in args.dims.split(",")):
        # a 2- or 8-unit relu code loses units to dead ReLUs; a linear code is the fair match for PCA's
        model = aekit.Autoencoder(aekit.ModelConfig(encoding_dim=d, code_activation="linear", seed=args.seed))
        t0 = time.perf_counter()
        aekit.fit(
            model,
            x,
            epochs=args.epochs,
            batch_size=args.batch_size,
            optimizer=args.optimizer,
            seed=args.seed,
            verbose=0,
        )
        ae_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        p_train, p_test, p_recon = pca_baseline(x, xt, d, seed=args.seed)
        pca_s = time.perf_counter() - t0
        c_train, c_test = encode(model, x[kn]), encode(model, xt)
        rows.append(
            {
                "dims": d,
                "ae_mse": reconstruction_mse(xt, reconstruct(model, xt)),
                "pca_mse": reconstruction_mse(xt, p_recon),
                "ae_knn": knn_accuracy(c_train, y[kn], c_test, yt, k=args.k),
                "pca_knn": knn_accuracy(p_train[kn], y[kn], p_test, yt, k=args.k),
                "ae_fit_s": ae_s,
                "pca_fit_s": pca_s,
            }
        )
    print(
        f"MNIST: {len(x)} training images, {len(xt)} test images; AE 784-d-784 (linear code, sigmoid output, BCE, "
        f"{args.optimizer}, {args.epochs} epochs); {args.k}-NN fit on {len(x[kn])} training codes"
    )
    print(
        f"{'dims':>4}  {'AE MSE':>8}  {'PCA MSE':>8}  {'AE k-NN':>8}  {'PCA k-NN':>8}  "
        f"{'AE fit s':>8}  {'PCA fit s':>9}"
    )
    for r in rows:
        print(
            f"{r['dims']:>4}  {r['ae_mse']:8.4f}  {r['pca_mse']:8.4f}  {r['ae_knn']:8.4f}  {r['pca_knn']:8.4f}  "
            f"{r['ae_fit_s']:8.1f}  {r['pca_fit_s']:9.1f}"
        )
    print(f" raw pixels (784 dims) k-NN: {raw_acc:.4f}")
    print(
        json.dumps(
            {
                "benchmark": "encode_vs_pca",
                "train": len(x),
                "test": len(xt),
                "epochs": args.epochs,
                "raw_knn": round(raw_acc, 4),
                "raw_knn_s": round(raw_s, 1),
                "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
                "mse_ratio_ae_to_pca": {r["dims"]: round(r["ae_mse"] / r["pca_mse"], 3) for r in rows},
            }
        )
    )


if __name__ == "__main__":
    main()
