"""The generative kinds on MNIST: the dense VAE's test negative log-likelihood, and the VQ-VAE's codebook usage and
reconstruction error beside a plain autoencoder's with the same code size. Prints one JSON line at the end.

VAE: `--kind vae` as shipped (784-512-256-32, relu, Adam 1e-3), batch 100, trained on dynamically binarised MNIST
(each batch's pixels drawn as Bernoulli of their intensity); the test images are binarised once (seed 0) and the NLL
is the importance-weighted estimate with K samples per image (`aekit evaluate --nll --samples K`), in nats, with its
standard error. Target ≤ 86 nats. References: pythae reproduces 89.78 nats for its VAE and 86.82 for IWAE with 50
samples; Burda et al. (2016, Table 1) report 86.76 for a VAE with two deterministic layers, after 3^8 passes.

VQ-VAE: `--kind vq-vae` (64 values: 8 code vectors of 8 from 512 entries, EMA codebook) against `--kind undercomplete`
with the same hidden layers and a linear 64-unit code, both Adam and BCE; codebook usage is the fraction of the 512
entries used by the test images' codes (target ≥ 90%), reconstruction error the squared error per test image.

    python benchmarks/vae.py [--epochs 100] [--samples 5000] [--test-rows 10000] [--vq-epochs 20] [--threads 1]
        [--parts vae,vq]
    python benchmarks/vae.py --quick
"""

import argparse
import json
import time

import numpy as np
import torch
from startup import cpu_name  # benchmarks/ is on sys.path when a script runs

import aekit
from aekit.latents import code_summary
from aekit.uses.likelihood import nll


def squared_error(model, x: np.ndarray) -> float:
    with torch.no_grad():
        recon = model.eval()(torch.from_numpy(x)).numpy()
    return float(((recon - x) ** 2).sum(1).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=100, help="VAE epochs (default 100)")
    ap.add_argument("--samples", type=int, default=5000, help="importance samples per test image (default 5000)")
    ap.add_argument("--test-rows", type=int, default=10000, help="test images for the NLL (default all 10,000)")
    ap.add_argument("--vq-epochs", type=int, default=20, help="VQ-VAE and plain autoencoder epochs (default 20)")
    ap.add_argument("--limit", type=int, default=None, help="training images (default all 60,000)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--parts", default="vae,vq", help="which parts to run: vae, vq or both (default vae,vq)")
    ap.add_argument(
        "--quick", action="store_true", help="2 epochs on 10,000 images, NLL of 500 images with 100 samples"
    )
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.vq_epochs, args.samples, args.test_rows, args.limit = 2, 2, 100, 500, 10000
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = aekit.load_dataset("mnist")
    x, xt = ds.x_train[: args.limit], ds.x_test
    out = {
        "benchmark": "vae",
        "device": f"cpu: {cpu_name()}",
        "threads": torch.get_num_threads(),
        "train_images": len(x),
        "binarization": "dynamic (training), once with seed 0 (test)",
    }

    parts = set(args.parts.split(","))
    if "vae" in parts:
        vae_part(args, x, xt, out)
    if "vq" in parts:
        vq_part(args, x, xt, out)
    print(json.dumps(out))


def vae_part(args, x: np.ndarray, xt: np.ndarray, out: dict) -> None:
    torch.manual_seed(0)
    m, t = aekit.configure("vae", epochs=args.epochs, batch_size=100, binarize="dynamic")
    vae = aekit.Autoencoder(m)
    t0 = time.perf_counter()
    h = aekit.fit(vae, x, config=t, validation_data=xt[:2000], verbose=0).history
    out.update(
        vae_epochs=args.epochs,
        vae_train_s=round(time.perf_counter() - t0, 1),
        vae_val_loss=round(h["val_loss"][-1], 2),
        vae_val_kl=round(h["val_kl"][-1], 2),
    )
    xb = (np.random.default_rng(0).random(xt.shape, dtype=np.float32) < xt).astype(np.float32)[: args.test_rows]
    t0 = time.perf_counter()
    r = nll(vae, xb, samples=args.samples, seed=0)
    summary = code_summary(vae, torch.from_numpy(xt[:2000]))
    out.update(
        nll_nats=round(r.nll, 2),
        nll_stderr=round(r.stderr, 2),
        nll_rows=r.n,
        nll_samples=r.samples,
        nll_s=round(time.perf_counter() - t0, 1),
        nll_target=86.0,
        nll_ratio_to_target=round(r.nll / 86.0, 3),
        reference={"pythae_vae": 89.78, "pythae_iwae_50": 86.82, "burda_2016_vae_2_layers": 86.76},
        active_units=summary["active_units"],
        units=summary["units"],
    )
    print(json.dumps({k: out[k] for k in ("vae_epochs", "vae_train_s", "nll_nats", "nll_stderr")}), flush=True)


def vq_part(args, x: np.ndarray, xt: np.ndarray, out: dict) -> None:
    results = {}
    for kind, extra in (
        ("vq-vae", {}),
        ("undercomplete", {"hidden": (512, 256), "encoding_dim": 64, "code_activation": "linear", "optimizer": "adam"}),
    ):
        torch.manual_seed(0)
        m, t = aekit.configure(kind, epochs=args.vq_epochs, batch_size=128, **extra)
        model = aekit.Autoencoder(m)
        t0 = time.perf_counter()
        aekit.fit(model, x, config=t, verbose=0)
        results[kind] = (model, time.perf_counter() - t0)
    vq, vq_s = results["vq-vae"]
    usage = code_summary(vq, torch.from_numpy(xt))
    out.update(
        vq_epochs=args.vq_epochs,
        vq_codebook_size=vq.config.codebook_size,
        vq_codebook_usage=round(usage["codebook_usage"], 4),
        vq_usage_target=0.9,
        vq_perplexity=round(usage["codebook_perplexity"], 1),
        vq_squared_error=round(squared_error(vq, xt), 3),
        plain_64_squared_error=round(squared_error(results["undercomplete"][0], xt), 3),
        vq_train_s=round(vq_s, 1),
        plain_train_s=round(results["undercomplete"][1], 1),
    )


if __name__ == "__main__":
    main()
