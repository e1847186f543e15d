"""Every kind of autoencoder on MNIST, one row each, in one process.

Each kind is `aekit.configure(kind)` with the same training for all (Adam lr 1e-3, batch 256, --epochs) so
the rows compare the kinds, not the optimizers. Per row: final val reconstruction loss, mean code activation,
mean Jacobian Frobenius norm of the encoder (first 1,000 test images), PSNR (dB) of the model's output for
test images corrupted by each noise type (gaussian σ 0.5, masking 0.25, salt-and-pepper 0.2; the noisy
images' own PSNR is the `noisy input` row), and seconds per epoch with its ratio to the undercomplete row
(timed in this process). Then the deep 784-1000-500-250-30 model (ELU hidden layers, linear code, BCE, weight
decay 5e-6, Adam with a cosine decay of the learning rate from 1e-3 to 2.5e-4, a moving average of the weights
with decay 0.999, batch 128, --deep-epochs; each of these has a --deep-… flag) with its mean squared error per
test image summed over the 784 pixels, beside PCA with 30 components fitted on the same training images
(Hinton & Salakhutdinov 2006 report 3.00 for their autoencoder, about 13.9 for PCA).

    python benchmarks/kinds.py [--epochs 10] [--limit N] [--deep-epochs 30]
                               [--kinds sparse,denoising] [--no-deep] [--threads 1]
    python benchmarks/kinds.py --only-deep --deep-epochs 150  # the deep model alone (2.463 per image here, ~40 min)

Prints the Markdown table and one JSON line per row (the last line: the deep model and PCA).
"""

import argparse
import json
import time
import warnings

import numpy as np
import torch

import aekit
from aekit.jacobians import jacobian_norm
from aekit.kinds import DEFAULT_NOISE_LEVEL, IdentityWarning
from aekit.objectives import corrupt, psnr
from aekit.training.callbacks.base import Callback

KIND_ROWS = [
    "undercomplete",
    "complete",
    "overcomplete",
    "sparse",
    "sparse-kl",
    "denoising-gaussian",
    "denoising-masking",
    "denoising-salt_pepper",
    "contractive",
    "deep",
    "conv",
]
NOISES = ("gaussian", "masking", "salt_pepper")


@torch.no_grad()
def noisy_psnr(model, x, noise, seed=1):
    noisy = corrupt(x, noise, DEFAULT_NOISE_LEVEL[noise], torch.Generator().manual_seed(seed))
    model.eval()
    return psnr(x, model(noisy))


def run_kind(row, x_train, x_test, epochs, seed):
    kind, noise = ("denoising", row.split("-", 1)[1]) if row.startswith("denoising-") else (row, None)
    extra = {"noise": noise} if noise else {}
    mcfg, tcfg = aekit.configure(kind, epochs=epochs, optimizer="adam", batch_size=256, seed=seed, **extra)
    model = aekit.Autoencoder(mcfg)
    t0 = time.perf_counter()
    h = aekit.fit(model, x_train, None, tcfg, validation_data=x_test, verbose=0).history
    total = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        code = model.encode(x_test)
    return {
        "kind": row,
        "epochs": epochs,
        "val_recon": h["val_recon"][-1],
        "val_loss": h["val_loss"][-1],
        "loss_name": tcfg.loss,
        "mean_code_activation": float(code.mean()),
        "jacobian_norm": jacobian_norm(model, x_test[:1000]),
        **{f"psnr_{n}": noisy_psnr(model, x_test, n) for n in NOISES},
        "s_per_epoch": float(np.median(h["epoch_time"])),
        "total_s": total,
    }


class PrintSSE(Callback):
    """Prints each epoch's squared error per test image (summed over pixels), so a cut-short run still reports."""

    def __init__(self, x_test) -> None:
        self.x_test = x_test

    @torch.no_grad()
    def on_epoch_end(self, state, logs) -> None:
        state.model.eval()
        sse = sum(float(((state.model(b) - b) ** 2).sum()) for b in self.x_test.split(2000)) / len(self.x_test)
        state.model.train()
        print(
            json.dumps(
                {
                    "deep_epoch": state.epoch,
                    "recon": round(logs["recon"], 5),
                    "val_recon": round(logs["val_recon"], 5),
                    "sse_per_image": round(sse, 4),
                    "epoch_s": round(logs["epoch_time"], 1),
                }
            ),
            flush=True,
        )


def run_deep(x_train, x_test, args):
    epochs, seed = args.deep_epochs, args.seed
    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    pca = PCA(30, random_state=seed).fit(x_train.numpy())
    pca_rec = pca.inverse_transform(pca.transform(x_test.numpy()))
    pca_sse = float(((pca_rec - x_test.numpy()) ** 2).sum(axis=1).mean())
    pca_s = time.perf_counter() - t0
    mcfg, tcfg = aekit.configure(
        "deep-hinton",
        epochs=epochs,
        activation=args.deep_activation,
        lr=args.deep_lr,  # the flags' defaults are the preset's
        batch_size=args.deep_batch_size,
        loss=args.deep_loss,
        weight_decay=args.deep_weight_decay,
        seed=seed,
        noise=args.deep_noise,
        noise_level=args.deep_noise_level,
        min_lr=args.deep_min_lr,
        ema=args.deep_ema,
        precision=args.deep_precision,
        compile=args.deep_compile,
    )
    model = aekit.Autoencoder(mcfg)
    t0 = time.perf_counter()
    h = aekit.fit(model, x_train, None, tcfg, validation_data=x_test, callbacks=[PrintSSE(x_test)], verbose=0).history
    total = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        sse = float(((model(x_test) - x_test) ** 2).sum(dim=1).mean())
    return {
        "kind": "deep-784-1000-500-250-30",
        "epochs": epochs,
        "loss": args.deep_loss,
        "lr": args.deep_lr,
        "batch_size": args.deep_batch_size,
        "activation": args.deep_activation,
        "weight_decay": args.deep_weight_decay,
        "noise": args.deep_noise,
        "noise_level": args.deep_noise_level,
        "min_lr": args.deep_min_lr,
        "ema": args.deep_ema,
        "precision": args.deep_precision,
        "compile": args.deep_compile,
        "val_recon": h["val_recon"][-1],
        "sse_per_image": sse,
        "pca30_sse_per_image": pca_sse,
        "ratio_to_pca": sse / pca_sse,
        "hinton_2006_sse": 3.00,
        "target": 2.5,
        "s_per_epoch": float(np.median(h["epoch_time"])),
        "total_s": total,
        "pca_s": pca_s,
        "val_recon_curve": [round(v, 5) for v in h["val_recon"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10, help="epochs of each kind row")
    ap.add_argument("--deep-epochs", type=int, default=30, help="epochs of the 784-1000-500-250-30 model")
    ap.add_argument(
        "--deep-lr", type=float, default=1e-3, help="peak Adam learning rate of the deep model (cosine decay to 0)"
    )
    ap.add_argument("--deep-loss", default="bce", choices=("bce", "mse"), help="training loss of the deep model")
    ap.add_argument("--deep-batch-size", type=int, default=128)
    ap.add_argument(
        "--deep-activation", default="elu", help="hidden activation of the deep model (elu beat relu and gelu)"
    )
    ap.add_argument("--deep-weight-decay", type=float, default=5e-6, help="L2 penalty λ/2·Σw² (5e-6 was best here)")
    ap.add_argument(
        "--deep-min-lr",
        type=float,
        default=2.5e-4,
        help="where the cosine decay of the learning rate ends (0: decays to 0)",
    )
    ap.add_argument("--deep-ema", type=float, default=0.999, help="decay of the moving average of the weights (0: off)")
    ap.add_argument(
        "--deep-noise", default="none", help="input corruption while training the deep model (a regularizer)"
    )
    ap.add_argument("--deep-noise-level", type=float, default=0.0)
    ap.add_argument(
        "--deep-precision",
        default="float32",
        choices=("float32", "bfloat16"),
        help="bfloat16: the deep model's products in bfloat16 (TrainConfig.precision)",
    )
    ap.add_argument("--deep-compile", action="store_true", help="torch.compile the deep model's training step")
    ap.add_argument("--limit", type=int, default=None, help="training images (default all 60,000)")
    ap.add_argument("--test-limit", type=int, default=None, help="test images (default all 10,000)")
    ap.add_argument("--kinds", default=",".join(KIND_ROWS))
    ap.add_argument("--no-deep", action="store_true")
    ap.add_argument("--only-deep", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: on a shared machine more threads were ~20× slower)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    warnings.simplefilter("ignore", IdentityWarning)  # complete / overcomplete rows are plain on purpose
    ds = aekit.load_dataset("mnist", limit=args.limit)
    x_train = torch.from_numpy(np.ascontiguousarray(ds.x_train, dtype=np.float32).reshape(len(ds.x_train), -1))
    x_test = torch.from_numpy(np.ascontiguousarray(ds.x_test, dtype=np.float32).reshape(len(ds.x_test), -1))
    if args.test_limit:
        x_test = x_test[: args.test_limit]
    size = f"{len(x_train)} train / {len(x_test)} test images"
    rows = []
    if not args.only_deep:
        rows.append(
            {
                "kind": "noisy input",
                **{
                    f"psnr_{n}": psnr(
                        x_test, corrupt(x_test, n, DEFAULT_NOISE_LEVEL[n], torch.Generator().manual_seed(1))
                    )
                    for n in NOISES
                },
            }
        )
        for row in [r for r in args.kinds.split(",") if r]:
            rows.append(run_kind(row, x_train, x_test, args.epochs, args.seed))
            print(json.dumps({"benchmark": "kinds", "size": size, **rows[-1]}), flush=True)
        base = next((r["s_per_epoch"] for r in rows if r["kind"] == "undercomplete"), None)
        print(f"\n{size}, {args.epochs} epochs each, Adam lr 1e-3, batch 256\n")
        print(
            "| kind | val recon (loss) | mean code activation | mean ‖J‖_F "
            "| PSNR gauss 0.5 | PSNR mask 0.25 | PSNR s&p 0.2 | s/epoch (× undercomplete) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            cells = [r["kind"]]
            cells.append(f"{r['val_recon']:.4f} ({r['loss_name']})" if "val_recon" in r else "")
            cells.append(f"{r['mean_code_activation']:.3f}" if "mean_code_activation" in r else "")
            cells.append(f"{r['jacobian_norm']:.2f}" if "jacobian_norm" in r else "")
            cells += [f"{r[f'psnr_{n}']:.2f}" for n in NOISES]
            cells.append(
                f"{r['s_per_epoch']:.2f} (×{r['s_per_epoch'] / base:.2f})" if "s_per_epoch" in r and base else ""
            )
            print("| " + " | ".join(cells) + " |")
    if not args.no_deep:
        deep = run_deep(x_train, x_test, args)
        print(
            f"\ndeep 784-1000-500-250-30, {args.deep_epochs} epochs: "
            f"squared error per test image {deep['sse_per_image']:.3f}, "
            f"PCA-30 {deep['pca30_sse_per_image']:.3f} (ratio {deep['ratio_to_pca']:.3f}; "
            f"Hinton & Salakhutdinov 3.00; target < 2.5)"
        )
        print(json.dumps({"benchmark": "kinds-deep", "size": size, **deep}), flush=True)


if __name__ == "__main__":
    main()
