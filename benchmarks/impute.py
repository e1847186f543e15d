"""Benchmark `aekit.impute` against scikit-learn's imputers on the same hidden cells, in one process.

Hides 20% of the observed cells at random (seed 2018) in the tables that ship with scikit-learn
(breast_cancer, wine, diabetes, digits) and in a *generated* low-rank user × item ratings matrix (no
ratings data set is reachable here), fills them with SimpleImputer(mean), KNNImputer, IterativeImputer
(all at their defaults) and aekit.impute (at its defaults, the ones users get), and prints the RMSE on
the hidden cells. Tables are scored in standard deviations of each column (so columns of every scale
count alike); the ratings in rating points. Every method sees the same standardised columns (KNN would
otherwise be dominated by the largest-scale column). Ends with one JSON line.

    PYTHONPATH=src python benchmarks/impute.py                    # all five, a few minutes on 2 idle cores
    PYTHONPATH=src python benchmarks/impute.py --tables wine,diabetes
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from aekit.uses.imputation import impute

TABLES = ("breast_cancer", "wine", "diabetes", "digits", "ratings")


def generated_ratings(seed: int = 0, users: int = 400, items: int = 80, rank: int = 3, density: float = 0.3) -> np.ndarray:
    """A generated ratings matrix: user and item biases plus a rank-3 taste term and noise, rounded to
    whole stars 1–5, each user rating a random 30% of the items (NaN elsewhere)."""
    r = np.random.default_rng(seed)
    taste = r.normal(size=(users, rank)) @ r.normal(size=(rank, items)) / np.sqrt(rank)
    score = 3.3 + 0.5 * r.normal(size=(users, 1)) + 0.5 * r.normal(size=(1, items)) + 0.8 * taste + 0.3 * r.normal(size=(users, items))
    m = np.clip(np.round(score), 1, 5)
    m[r.random(m.shape) > density] = np.nan
    return m


def load(name: str) -> np.ndarray:
    if name == "ratings":
        return generated_ratings()
    loader = {"breast_cancer": load_breast_cancer, "wine": load_wine, "diabetes": load_diabetes, "digits": load_digits}[name]
    return loader().data.astype(np.float64)


def hide(x: np.ndarray, fraction: float = 0.2, seed: int = 2018) -> tuple[np.ndarray, np.ndarray]:
    """A copy of `x` with `fraction` of its observed cells set to NaN, and the mask of those cells."""
    hidden = ~np.isnan(x) & (np.random.default_rng(seed).random(x.shape) < fraction)
    out = x.copy()
    out[hidden] = np.nan
    return out, hidden


def sklearn_fill(imputer, x: np.ndarray) -> np.ndarray:
    mean, scale = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    scale[~(scale > 0)] = 1.0
    return imputer.fit_transform((x - mean) / scale) * scale + mean


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", default=",".join(TABLES), help=f"comma-separated subset of {','.join(TABLES)}")
    p.add_argument("--seed", type=int, default=2018, help="seed of the hidden cells")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")  # IterativeImputer's ConvergenceWarning
    torch.set_num_threads(1)
    methods = {
        "mean": lambda x, b: sklearn_fill(SimpleImputer(strategy="mean"), x),
        "knn": lambda x, b: sklearn_fill(KNNImputer(), x),
        "iterative": lambda x, b: sklearn_fill(IterativeImputer(random_state=0), x),
        "aekit": lambda x, b: impute(x, bounds=b),
    }
    results = {}
    print(f"| table | shape | {' | '.join(methods)} | best |")
    print("|---|---|" + "---|" * (len(methods) + 1))
    for name in args.tables.split(","):
        x = load(name)
        gappy, hidden = hide(x, seed=args.seed)
        is_ratings = name == "ratings"
        unit = np.ones(x.shape[1]) if is_ratings else np.nanstd(x, axis=0)
        unit[~(unit > 0)] = 1.0
        bounds = (1.0, 5.0) if is_ratings else None
        row, secs = {}, {}
        for method, fill in methods.items():
            t0 = time.perf_counter()
            filled = fill(gappy, bounds)
            secs[method] = round(time.perf_counter() - t0, 2)
            if is_ratings:  # every method's ratings are clipped to the star range, as aekit's are
                filled = np.where(np.isnan(gappy), np.clip(filled, 1, 5), filled)
            err = ((filled - x) / unit)[hidden]
            row[method] = round(float(np.sqrt(np.mean(err ** 2))), 4)
        best = min(row, key=row.get)
        results[name] = {"shape": list(x.shape), "rmse": row, "seconds": secs, "best": best}
        label = "ratings (generated)" if is_ratings else name
        print(f"| {label} | {x.shape[0]}×{x.shape[1]} | " + " | ".join(f"{row[m]:.4f}" for m in methods) + f" | {best} |", flush=True)
    wins = sum(r["best"] == "aekit" for r in results.values())
    summary = {"benchmark": "impute", "hidden_fraction": 0.2, "seed": args.seed, "aekit_best_on": wins,
               "tables": len(results), "results": results}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
