"""MNIST one-class anomaly detection: train on one digit, score the whole test set (that digit normal, the
other nine anomalies), ROC-AUC; for all 10 digits. References fit on the same digit's training images in the
same process: PCA reconstruction error (as many components as the code) and scikit-learn's IsolationForest.
Prints a 10-row table and the means, then one JSON line.

    python benchmarks/anomaly.py [--epochs 10] [--limit 6000] [--encoding-dim 32] [--test-limit 10000]
"""

import argparse
import json
import time

import numpy as np
import torch

import aekit
from aekit.uses.anomalies import anomaly, roc_auc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--limit", type=int, default=6000, help="training images of the normal digit at most")
    ap.add_argument("--test-limit", type=int, default=10000)
    ap.add_argument("--encoding-dim", type=int, default=32)
    ap.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    torch.manual_seed(args.seed)
    ds = aekit.load_dataset("mnist")
    xt, yt = ds.x_test[:args.test_limit], ds.y_test[:args.test_limit]
    rows = []
    for d in (int(v) for v in args.digits.split(",")):
        x = ds.x_train[ds.y_train == d][:args.limit]
        t0 = time.perf_counter()
        model = aekit.Autoencoder(aekit.ModelConfig(encoding_dim=args.encoding_dim, seed=args.seed))
        aekit.fit(model, x, epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", seed=args.seed, verbose=0)
        res = anomaly(model, xt, labels=yt, normal=[d], contamination=0.1)
        ae_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pca = PCA(n_components=args.encoding_dim, random_state=args.seed).fit(x)
        pca_scores = ((pca.inverse_transform(pca.transform(xt)) - xt) ** 2).mean(1)
        pca_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        iso = IsolationForest(random_state=args.seed).fit(x)
        iso_scores = -iso.score_samples(xt)
        iso_s = time.perf_counter() - t0
        rows.append({"digit": d, "n_train": len(x), "ae": res.roc_auc, "pca": roc_auc(res.labels, pca_scores),
                     "iforest": roc_auc(res.labels, iso_scores), "ae_s": ae_s, "pca_s": pca_s, "iforest_s": iso_s})
    print(f"MNIST one-class: train on one digit (≤{args.limit} images), score {len(xt)} test images; ROC-AUC. "
          f"AE 784-{args.encoding_dim}-784, adam, {args.epochs} epochs, MSE score; PCA {args.encoding_dim} components; "
          "IsolationForest defaults")
    print(f"{'digit':>5}  {'n_train':>7}  {'AE':>6}  {'PCA':>6}  {'IForest':>7}  {'AE s':>5}  {'PCA s':>5}  {'IF s':>5}")
    for r in rows:
        print(f"{r['digit']:>5}  {r['n_train']:>7}  {r['ae']:6.4f}  {r['pca']:6.4f}  {r['iforest']:7.4f}  "
              f"{r['ae_s']:5.1f}  {r['pca_s']:5.1f}  {r['iforest_s']:5.1f}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("ae", "pca", "iforest")}
    print(f"{'mean':>5}  {'':>7}  {mean['ae']:6.4f}  {mean['pca']:6.4f}  {mean['iforest']:7.4f}")
    print(json.dumps({"benchmark": "anomaly_one_class", "epochs": args.epochs, "limit": args.limit, "test": len(xt),
                      "mean_auc": {k: round(v, 4) for k, v in mean.items()},
                      "auc": {r["digit"]: {k: round(r[k], 4) for k in ("ae", "pca", "iforest")} for r in rows}}))


if __name__ == "__main__":
    main()
