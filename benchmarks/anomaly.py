"""Anomaly detection: aekit's anomaly recipe against PCA, IsolationForest, LOF, one-class SVM and kNN distance.

Data (issue 23): MNIST one-class (train on one digit's training images, score the test images: that digit normal,
the nine others anomalies; for each of the 10 digits), breast_cancer (benign rows normal, a seeded 10% sample of the
malignant rows the anomalies; the benign rows split 60/40 into training and test) and digits (scikit-learn's 8×8
digits: one digit normal, a 10% sample of the other digits' rows the anomalies, 60/40 split; for each of the 10).
Every method gets the same normal training rows in this process and scores the same test rows; ROC-AUC and
average precision, mean over the 10 classes and mean ± sd over seeds (the split, the sample and every random state).
A seeded 20% of the normal training rows is the validation split: aekit trains on the other 80% and standardises its
scores on the validation rows (normal rows only; no anomaly is seen before the test); the references are fit on all
the training rows, validation rows included. Settings are fixed before the test rows are seen, the same for every
data set: PCA keeps 90% of the variance; kNN is the mean distance to the 5 nearest training rows; LOF (novelty) 20
neighbours; one-class SVM RBF, gamma 'scale', nu 0.1; IsolationForest at its defaults; tables are standardised with
the training rows' statistics. aekit: `aekit.uses.anomalies.fit_detector` at its defaults, one recipe per data kind
(images: MNIST; tables: breast_cancer and digits, whose 64 columns are given to it as a table). One JSON line.

    PYTHONPATH=src python benchmarks/anomaly.py --threads 1      # 5 seeds; MNIST ≤ 2,000 images per digit, 2,000 test
    PYTHONPATH=src python benchmarks/anomaly.py --quick          # 2 seeds, 1,000 images per digit, 1,000 test
    PYTHONPATH=src python benchmarks/anomaly.py --merge a.log b.log   # one table of runs of other seeds (--first-seed)
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM
from startup import cpu_name  # benchmarks/ is on sys.path when a script runs

import aekit
from aekit.uses.anomalies import fit_detector

METHODS = ("aekit", "pca", "knn", "lof", "ocsvm", "iforest")


VAL_SPLIT = 0.2  # of the normal training rows: aekit's validation rows


def scores(method: str, train: np.ndarray, test: np.ndarray, seed: int, image_shape) -> np.ndarray:
    if method == "aekit":
        order = np.random.default_rng(seed).permutation(len(train))
        n_val = int(round(VAL_SPLIT * len(train)))
        fit_rows, val_rows = train[np.sort(order[n_val:])], train[np.sort(order[:n_val])]
        table = {} if image_shape else {"architecture": "dense"}  # digits' 64 columns: a table, not an 8×8 image
        det = fit_detector(fit_rows, validation=val_rows, seed=seed, image_shape=image_shape, **table)
        return det.score(test)
    if method == "pca":
        pca = PCA(n_components=0.9, random_state=seed).fit(train)
        return ((pca.inverse_transform(pca.transform(test)) - test) ** 2).mean(axis=1)
    if method == "knn":
        return NearestNeighbors(n_neighbors=5).fit(train).kneighbors(test)[0].mean(axis=1)
    if method == "lof":
        return -LocalOutlierFactor(n_neighbors=20, novelty=True).fit(train).score_samples(test)
    if method == "ocsvm":
        return -OneClassSVM(gamma="scale", nu=0.1).fit(train).score_samples(test)
    if method == "iforest":
        return -IsolationForest(random_state=seed).fit(train).score_samples(test)
    raise ValueError(method)


def cases(name: str, seed: int, args):
    """(class, normal training rows, test rows, 0/1 anomaly labels, image shape) for each class of data set `name`."""
    r = np.random.default_rng(seed)
    if name == "mnist":
        ds = aekit.load_dataset("mnist")
        pick = r.permutation(len(ds.x_test))[: args.mnist_test]
        xt, yt = ds.x_test[pick], ds.y_test[pick]
        for d in range(10):
            x = ds.x_train[ds.y_train == d]
            yield d, x[r.permutation(len(x))[: args.mnist_train]], xt, (yt != d).astype(int), (1, 28, 28)
        return
    from sklearn.datasets import load_breast_cancer, load_digits

    data = load_breast_cancer() if name == "breast_cancer" else load_digits()
    x, y = data.data.astype(np.float64), data.target
    normals = [1] if name == "breast_cancer" else list(range(10))  # breast_cancer: target 1 is benign
    for c in normals:
        norm, other = np.flatnonzero(y == c), np.flatnonzero(y != c)
        norm = r.permutation(norm)
        n_train = int(0.6 * len(norm))
        anomalies = r.choice(other, size=max(1, int(round(0.1 * len(other)))), replace=False)
        tr, te = x[norm[:n_train]], np.concatenate([x[norm[n_train:]], x[anomalies]])
        mean, sd = tr.mean(axis=0), tr.std(axis=0)
        sd[sd == 0] = 1.0
        labels = np.r_[np.zeros(len(norm) - n_train, int), np.ones(len(anomalies), int)]
        yield c, ((tr - mean) / sd).astype(np.float32), ((te - mean) / sd).astype(np.float32), labels, None


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="mnist,breast_cancer,digits")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed … (development used 100 and up)")
    p.add_argument("--mnist-train", type=int, default=2000, help="training images of the normal digit at most")
    p.add_argument("--mnist-test", type=int, default=2000, help="test images scored (a seeded sample)")
    p.add_argument("--quick", action="store_true", help="2 seeds, 1,000 training and 1,000 test images")
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    p.add_argument("--merge", nargs="+", metavar="LOG", help="sum up runs of other seeds from their output instead")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.mnist_train, args.mnist_test = min(args.seeds, 2), 1000, 1000
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    print(
        f"CPU: {cpu_name()}, {args.threads} thread(s); {args.seeds} seeds; MNIST ≤ {args.mnist_train} training "
        f"images a digit, {args.mnist_test} test images"
    )
    if args.merge:  # runs of other seeds (their logs or JSON lines), summed up as one run
        raw, wall, seeds = {}, 0.0, []
        for path in args.merge:
            run = [json.loads(line) for line in open(path) if line.startswith("{")][-1]
            wall, seeds = wall + run["wall_s"], seeds + run["seed_list"]
            if "mnist" in run["raw"]:  # the sizes of the MNIST runs (the same in each, or the table says the last)
                args.mnist_train, args.mnist_test = run["mnist_train"], run["mnist_test"]
            for name, r in run["raw"].items():
                into = raw.setdefault(name, {"auc": {}, "ap": {}, "per_class": {}, "secs": {}})
                for m in METHODS:
                    for key in ("auc", "ap"):
                        into[key].setdefault(m, []).extend(r[key][m])
                    into["secs"][m] = into["secs"].get(m, 0.0) + r["secs"][m]
                    for c, v in r["per_class"][m].items():
                        into["per_class"].setdefault(m, {}).setdefault(c, []).extend(v)
        return report(raw, sorted(set(seeds)), args, wall)
    raw, t_all = {}, time.perf_counter()
    seed_list = list(range(args.first_seed, args.first_seed + args.seeds))
    for name in args.data.split(","):
        auc = {m: [] for m in METHODS}
        ap = {m: [] for m in METHODS}
        secs = {m: 0.0 for m in METHODS}
        per_class = {m: {} for m in METHODS}
        for seed in seed_list:
            seed_auc = {m: [] for m in METHODS}
            seed_ap = {m: [] for m in METHODS}
            for c, tr, te, y, shape in cases(name, seed, args):
                for m in METHODS:
                    t0 = time.perf_counter()
                    s = scores(m, tr, te, seed, shape)
                    secs[m] += time.perf_counter() - t0
                    seed_auc[m].append(roc_auc_score(y, s))
                    seed_ap[m].append(average_precision_score(y, s))
                    per_class[m].setdefault(str(c), []).append(seed_auc[m][-1])
            for m in METHODS:
                auc[m].append(float(np.mean(seed_auc[m])))
                ap[m].append(float(np.mean(seed_ap[m])))
            print(f"  {name} seed {seed}: " + ", ".join(f"{m} {auc[m][-1]:.4f}" for m in METHODS), flush=True)
        raw[name] = {"auc": auc, "ap": ap, "per_class": per_class, "secs": secs}
    return report(raw, seed_list, args, time.perf_counter() - t_all)


def report(raw: dict, seed_list: list, args, wall: float) -> dict:
    """The table and the JSON line of per-seed results `raw` (mean ± sd over the seeds)."""
    out = {}
    for name, r in raw.items():
        mean_auc = {m: float(np.mean(v)) for m, v in r["auc"].items()}
        best = max(mean_auc, key=mean_auc.get)
        out[name] = {
            "roc_auc": {m: [round(mean_auc[m], 4), round(float(np.std(r["auc"][m])), 4)] for m in METHODS},
            "ap": {m: [round(float(np.mean(v)), 4), round(float(np.std(v)), 4)] for m, v in r["ap"].items()},
            "per_class_auc": {
                m: {c: round(float(np.mean(v)), 4) for c, v in pc.items()} for m, pc in r["per_class"].items()
            },
            "seconds": {m: round(v / len(r["auc"][m]), 1) for m, v in r["secs"].items()},
            "n_seeds": len(r["auc"]["aekit"]),
            "best": best,
            "aekit_best": best == "aekit",
        }
    print("\n| data | metric | " + " | ".join(METHODS) + " | best |\n|---|---|" + "---|" * (len(METHODS) + 1))
    for name, r in out.items():
        for metric in ("roc_auc", "ap"):
            top = max(METHODS, key=lambda m: r[metric][m][0])
            cells = " | ".join(
                ("**{:.4f} ± {:.4f}**" if m == top else "{:.4f} ± {:.4f}").format(*r[metric][m]) for m in METHODS
            )
            print(f"| {name} | {metric} | {cells} | {top} |")
        print(f"| {name} | seconds a seed | " + " | ".join(f"{r['seconds'][m]:.1f}" for m in METHODS) + " | |")
    summary = {
        "benchmark": "anomaly",
        "cpu": cpu_name(),
        "seeds": len(seed_list),
        "seed_list": seed_list,
        "threads": args.threads,
        "val_split": VAL_SPLIT,
        "mnist_train": args.mnist_train,
        "mnist_test": args.mnist_test,
        "results": out,
        "raw": raw,
        "wall_s": round(wall, 1),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
