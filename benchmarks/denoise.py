"""Denoising MNIST test digits: PSNR of the noisy and of the denoised images against the clean ones.

For each noise type a denoising autoencoder (dense, 784 → hidden → code → hidden → 784) is trained on
corrupted training images with clean targets, then the test images are corrupted with fixed seeded noise
and denoised with `aekit.uses.denoising.denoise`. References in the same process: the same architecture trained
without noise (a plain autoencoder) applied to the same noisy images, and a 3×3 median filter
(scipy.ndimage). PSNR is 10·log10(1/MSE), the MSE over all pixels of the test set. Ends with one JSON line.

    python benchmarks/denoise.py [--epochs 5] [--limit 20000] [--hidden ""] [--encoding-dim 64]
"""

import argparse
import json
import time

import torch

import aekit
from aekit.uses.denoising import denoise, psnr

NOISES = {"gaussian": 0.5, "masking": 0.5, "salt_pepper": 0.2}


def train(x, args, noise="none", level=0.0):
    hidden = tuple(int(v) for v in args.hidden.split(",") if v)
    model = aekit.Autoencoder(aekit.ModelConfig(hidden=hidden, encoding_dim=args.encoding_dim, seed=args.seed))
    aekit.fit(model, x, epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", noise=noise, noise_level=level,
              seed=args.seed, verbose=0)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--limit", type=int, default=20000, help="training images (60000 = all)")
    ap.add_argument("--test-limit", type=int, default=10000, help="test images")
    ap.add_argument("--hidden", default="", help="hidden sizes, comma-separated ('' for none)")
    ap.add_argument("--encoding-dim", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from scipy.ndimage import median_filter

    torch.manual_seed(args.seed)
    ds = aekit.load_dataset("mnist")
    x, xt = ds.x_train[:args.limit], ds.x_test[:args.test_limit]
    t0 = time.perf_counter()
    plain = train(x, args)
    plain_s = time.perf_counter() - t0
    rows = []
    for noise, level in NOISES.items():
        t0 = time.perf_counter()
        model = train(x, args, noise, level)
        dae_s = time.perf_counter() - t0
        res = denoise(model, xt, noise=noise, noise_level=level, seed=args.seed + 123)
        plain_out = denoise(plain, res.noisy, noisy_input=True).denoised
        med = median_filter(res.noisy.reshape(-1, 28, 28), size=(1, 3, 3)).reshape(len(xt), -1)
        rows.append({"noise": noise, "level": level, "psnr_noisy": res.psnr_noisy, "psnr_denoised": res.psnr_denoised,
                     "psnr_plain_ae": psnr(xt, plain_out, per_image=False), "psnr_median3": psnr(xt, med, per_image=False), "train_s": dae_s})
    arch = "-".join([v for v in args.hidden.split(",") if v] + [str(args.encoding_dim)])
    print(f"MNIST: {len(x)} training images, {len(xt)} test images; dense AE 784-{arch}-784 "
          f"(mirrored), adam, {args.epochs} epochs, batch {args.batch_size}; PSNR in dB over the whole test set")
    print(f"{'noise':<12} {'level':>5}  {'noisy':>6}  {'denoised':>8}  {'plain AE':>8}  {'median 3x3':>10}  {'train s':>7}")
    for r in rows:
        print(f"{r['noise']:<12} {r['level']:>5}  {r['psnr_noisy']:6.2f}  {r['psnr_denoised']:8.2f}  "
              f"{r['psnr_plain_ae']:8.2f}  {r['psnr_median3']:10.2f}  {r['train_s']:7.1f}")
    print(json.dumps({"benchmark": "denoise", "train": len(x), "test": len(xt), "epochs": args.epochs,
                      "plain_train_s": round(plain_s, 1),
                      "rows": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
                      "gain_db_over_noisy": {r["noise"]: round(r["psnr_denoised"] - r["psnr_noisy"], 2) for r in rows}}))


if __name__ == "__main__":
    main()
