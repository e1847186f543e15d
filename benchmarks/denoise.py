"""Denoising: aekit's recipe (`aekit train --recipe denoise`) against scikit-image's filters and BM3D, PSNR and SSIM.

MNIST (issue 23): for each seed, the recipe (a conv autoencoder whose last block also sees the noisy input and whose
output is that input plus a learned correction, clipped to [0, 1], trained by MSE on mixed noise: one run for every
noise below) is trained on a seeded sample of MNIST training images; the test images (a seeded slice of MNIST's test
split) are corrupted with seeded noise (`aekit.objectives.corrupt`): gaussian σ 0.1, 0.3, 0.5, masking 0.25, 0.5,
salt-and-pepper 0.1, 0.2. References in the same process on the same noisy
images: scikit-image's median, gaussian, bilateral, total variation (Chambolle), wavelet (BayesShrink, σ estimated),
non-local means (σ estimated) and BM3D (the `bm3d` package; printed as unavailable where it does not import). Each
reference's parameter (filter size, σ, weight, h …) is chosen per noise by PSNR on validation images (MNIST training
images the network never saw), once, on the first seed's noise. The references run on mosaics of 10×10 digits (the
digits' zero margins keep them apart; the non-local methods get more patches to match). PSNR = 10·log10(1/MSE), the
MSE over every pixel of the test images; SSIM (scikit-image, data range 1) over each mosaic, averaged. Mean ± sd over
seeds; one JSON line at the end.

Photographs (`--no-mnist` for these alone): a model of `--photo-kind` (denoising-photo: a DnCNN-like full-resolution
network predicting the noise) per σ 15, 25, 50 of 255 and seed, trained on seeded random patches of 12 scikit-image
photographs, applied to overlapping tiles of centre crops of camera, astronaut and coffee; the references' parameters
chosen on chelsea (one noise draw for every seed). `--first-seed` and `--merge` split the seeds over processes.

    python benchmarks/denoise.py                  # 5 seeds, 8,000 images, 5 epochs, 100 test images a seed; photos
    python benchmarks/denoise.py --quick          # 2 seeds, 4,000 images, 3 epochs, 100 test images
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from startup import cpu_name  # benchmarks/ is on sys.path when a script runs

import aekit
from aekit.objectives import corrupt, psnr

NOISES = [
    ("gaussian", 0.1),
    ("gaussian", 0.3),
    ("gaussian", 0.5),
    ("masking", 0.25),
    ("masking", 0.5),
    ("salt_pepper", 0.1),
    ("salt_pepper", 0.2),
]
METHODS = ["median", "gaussian", "bilateral", "tv", "wavelet", "nlm", "bm3d"]


def bm3d_available() -> bool:
    try:
        import bm3d  # noqa: F401

        return True
    except Exception:  # not installed, or its native part fails to load
        return False


def classical(method: str):
    """(parameter grid, function(image, parameter, estimated σ) → denoised image) of a reference method."""
    from scipy.ndimage import median_filter
    from skimage.filters import gaussian
    from skimage.restoration import denoise_bilateral, denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    if method == "median":
        return [3, 5], lambda im, k, s: median_filter(im, size=k)
    if method == "gaussian":
        return [0.5, 0.8, 1.2, 1.8], lambda im, g, s: gaussian(im, sigma=g)
    if method == "bilateral":
        return (
            [(c, sp) for c in (0.1, 0.3, 0.6) for sp in (1.0, 2.0)],
            lambda im, p, s: denoise_bilateral(im, sigma_color=p[0], sigma_spatial=p[1]),
        )
    if method == "tv":
        return [0.05, 0.1, 0.2, 0.4, 0.8], lambda im, w, s: denoise_tv_chambolle(im, weight=w)
    if method == "wavelet":
        return [None], lambda im, _, s: denoise_wavelet(im, method="BayesShrink", mode="soft", rescale_sigma=True)
    if method == "nlm":
        return (
            [0.6, 0.9, 1.3],
            lambda im, h, s: denoise_nl_means(im, h=h * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True),
        )
    if method == "bm3d":
        import bm3d

        return [1.0, 1.5], lambda im, f, s: bm3d.bm3d(im, sigma_psd=max(f * s, 1e-3))
    raise ValueError(method)


def sigma_of(im: np.ndarray) -> float:
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(im))


def mosaics(rows: np.ndarray, side: int, k: int = 10) -> np.ndarray:
    """(n, side²) rows → (n / k², k·side, k·side) mosaics of k×k images (n a multiple of k²)."""
    m = rows.reshape(-1, k, k, side, side).transpose(0, 1, 3, 2, 4)
    return m.reshape(-1, k * side, k * side)


def unmosaic(m: np.ndarray, side: int, k: int = 10) -> np.ndarray:
    return m.reshape(-1, k, side, k, side).transpose(0, 1, 3, 2, 4).reshape(-1, side * side)


def ssim_mean(clean: np.ndarray, other: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(c, o, data_range=1.0) for c, o in zip(clean, other)]))


def apply(method: str, param, noisy_m: np.ndarray) -> np.ndarray:
    _, f = classical(method)
    return np.stack([np.clip(f(im, param, sigma_of(im)), 0, 1) for im in noisy_m.astype(np.float64)])


def choose(method: str, clean_m: np.ndarray, noisy_m: np.ndarray):
    """The parameter of `method` with the best PSNR on validation mosaics."""
    grid, _ = classical(method)
    scores = [psnr(clean_m, apply(method, p, noisy_m), per_image=False) for p in grid]
    return grid[int(np.argmax(scores))]


def mnist_part(args, methods) -> dict:
    ds = aekit.load_dataset("mnist")
    val = ds.x_train[-args.val_images :]  # never trained on (training samples come from the first 50,000)
    per_seed, chosen = [], {}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        train_x = ds.x_train[rng.permutation(50000)[: args.train]]
        test = ds.x_test[seed * args.test_images : (seed + 1) * args.test_images]
        t0 = time.perf_counter()
        model_cfg, train_cfg = aekit.configure("denoising-conv", epochs=args.epochs, seed=seed)
        model = aekit.Autoencoder(model_cfg)
        aekit.fit(model, train_x, config=train_cfg, verbose=0)
        model.eval()
        res = {"seed": seed, "train_s": time.perf_counter() - t0, "noises": {}}
        for i, (noise, level) in enumerate(NOISES):
            gen = torch.Generator().manual_seed(10_000 * (seed + 1) + i)
            noisy = corrupt(torch.from_numpy(test), noise, level, gen)
            noisy_val = corrupt(torch.from_numpy(val), noise, level, gen).numpy()
            t0 = time.perf_counter()
            with torch.no_grad():
                out = model(noisy).numpy()
            clean_m = mosaics(test, 28)
            noisy_m = mosaics(noisy.numpy(), 28)
            row = {
                "noisy": (psnr(test, noisy.numpy(), per_image=False), ssim_mean(clean_m, noisy_m)),
                "aekit": (psnr(test, out, per_image=False), ssim_mean(clean_m, mosaics(out, 28))),
            }
            secs = {"aekit": time.perf_counter() - t0}
            for method in methods:
                t0 = time.perf_counter()
                if (method, noise, level) not in chosen:  # on the first seed's validation images, kept for the others
                    chosen[method, noise, level] = choose(method, mosaics(val, 28), mosaics(noisy_val, 28))
                param = chosen[method, noise, level]
                den = apply(method, param, mosaics(noisy.numpy(), 28))
                row[method] = (psnr(test, unmosaic(den, 28), per_image=False), ssim_mean(mosaics(test, 28), den))
                secs[method] = time.perf_counter() - t0
                row[method + "_param"] = param
            figures = {k: v for k, v in row.items() if not k.endswith("_param")}
            res["noises"][f"{noise} {level:g}"] = {
                "psnr": {k: v[0] for k, v in figures.items()},
                "ssim": {k: v[1] for k, v in figures.items()},
                "params": {k[:-6]: v for k, v in row.items() if k.endswith("_param")},
                "seconds": secs,
            }
        per_seed.append(res)
        print(
            f"  seed {seed}: trained in {res['train_s']:.0f} s; "
            + ", ".join(f"{n}: {r['psnr']['aekit']:.2f}" for n, r in res["noises"].items()),
            flush=True,
        )
    return summarise(per_seed, ["noisy", "aekit", *methods], [f"{n} {lv:g}" for n, lv in NOISES])


TRAIN_PHOTOS = (
    "rocket",
    "coins",
    "moon",
    "page",
    "text",
    "clock",
    "brick",
    "grass",
    "gravel",
    "cell",
    "hubble_deep_field",
    "immunohistochemistry",
)
VAL_PHOTO, TEST_PHOTOS = "chelsea", ("camera", "astronaut", "coffee")
SIGMAS = (15, 25, 50)


def photo(name: str, crop: int | None = None) -> np.ndarray:
    """A scikit-image photograph as grayscale float in [0, 1], centre-cropped to crop×crop when asked."""
    from skimage import data
    from skimage.color import rgb2gray

    im = getattr(data, name)()
    im = rgb2gray(im) if im.ndim == 3 else im / 255.0
    if crop:
        top, left = (im.shape[0] - crop) // 2, (im.shape[1] - crop) // 2
        im = im[top : top + crop, left : left + crop]
    return np.asarray(im, dtype=np.float64)


def patches(images: list[np.ndarray], n: int, side: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, side * side), dtype=np.float32)
    for i in range(n):
        im = images[rng.integers(len(images))]
        r, c = rng.integers(im.shape[0] - side + 1), rng.integers(im.shape[1] - side + 1)
        out[i] = im[r : r + side, c : c + side].reshape(-1)
    return out


def denoise_tiles(model, im: np.ndarray, side: int) -> np.ndarray:
    """Denoise a whole image with a model of side×side tiles: tiles at half-tile steps (and flush with the far
    edges), each pixel the mean of the tiles covering it."""
    h, w = im.shape
    starts = lambda n: sorted(set(list(range(0, n - side + 1, side // 2)) + [n - side]))  # noqa: E731
    boxes = [(r, c) for r in starts(h) for c in starts(w)]
    tiles = np.stack([im[r : r + side, c : c + side].reshape(-1) for r, c in boxes]).astype(np.float32)
    with torch.no_grad():
        out = model(torch.from_numpy(tiles)).numpy().reshape(-1, side, side)
    acc, cnt = np.zeros_like(im), np.zeros_like(im)
    for (r, c), t in zip(boxes, out):
        acc[r : r + side, c : c + side] += t
        cnt[r : r + side, c : c + side] += 1
    return acc / cnt


def patches_part(args, methods) -> dict:
    from skimage.metrics import structural_similarity

    train_imgs = [photo(n) for n in TRAIN_PHOTOS]
    val, tests = photo(VAL_PHOTO, args.crop), [photo(n, args.crop) for n in TEST_PHOTOS]
    side, per_seed, chosen = args.patch, [], {}
    for seed in seeds_of(args):
        rng = np.random.default_rng(seed)
        x = patches(train_imgs, args.patches, side, rng)
        res = {"seed": seed, "train_s": 0.0, "noises": {}}
        for sigma in args.sigmas:
            level = sigma / 255
            t0 = time.perf_counter()
            model_cfg, train_cfg = aekit.configure(
                args.photo_kind,
                input_dim=side * side,
                noise="gaussian",
                noise_level=level,
                epochs=args.patch_epochs,
                seed=seed,
            )
            model = aekit.Autoencoder(model_cfg)
            aekit.fit(model, x, config=train_cfg, verbose=0)
            model.eval()
            secs = {"aekit_train": time.perf_counter() - t0}
            res["train_s"] += secs["aekit_train"]
            gen = np.random.default_rng([seed, sigma])
            noisy = [np.clip(im + level * gen.standard_normal(im.shape), 0, 1) for im in tests]
            val_gen = np.random.default_rng([10_000, sigma])  # the same for every seed: runs of other seeds agree
            noisy_val = np.clip(val + level * val_gen.standard_normal(val.shape), 0, 1)
            t0 = time.perf_counter()
            outs = {"noisy": noisy, "aekit": [denoise_tiles(model, im, side) for im in noisy]}
            secs["aekit"] = time.perf_counter() - t0
            for method in methods:
                t0 = time.perf_counter()
                if (method, sigma) not in chosen:
                    chosen[method, sigma] = choose(method, val[None], noisy_val[None])
                outs[method] = list(apply(method, chosen[method, sigma], np.stack(noisy)))
                secs[method] = time.perf_counter() - t0
            res["noises"][f"σ {sigma}"] = {
                "psnr": {
                    m: float(np.mean([psnr(c, o, per_image=False) for c, o in zip(tests, v)])) for m, v in outs.items()
                },
                "ssim": {
                    m: float(np.mean([structural_similarity(c, o, data_range=1.0) for c, o in zip(tests, v)]))
                    for m, v in outs.items()
                },
                "seconds": {m: round(v, 2) for m, v in secs.items()},
            }
        per_seed.append(res)
        print(
            f"  patches seed {seed}: trained in {res['train_s']:.0f} s; "
            + ", ".join(f"{n}: aekit {r['psnr']['aekit']:.2f}" for n, r in res["noises"].items()),
            flush=True,
        )
        print("SEED " + json.dumps(res), flush=True)  # one seed's figures: runs of other seeds can be merged
    return summarise(per_seed, ["noisy", "aekit", *methods], [f"σ {s}" for s in args.sigmas])


def seeds_of(args) -> list[int]:
    return list(range(args.first_seed, args.first_seed + args.seeds))


def summarise(per_seed: list[dict], names: list[str], keys: list[str]) -> dict:
    out = {}
    for key in keys:
        entry = {}
        for metric in ("psnr", "ssim"):
            vals = {m: [s["noises"][key][metric][m] for s in per_seed] for m in names}
            entry[metric] = {m: [round(float(np.mean(v)), 4), round(float(np.std(v)), 4)] for m, v in vals.items()}
        entry["seconds"] = {
            m: round(float(np.mean([s["noises"][key]["seconds"].get(m, 0) for s in per_seed])), 2)
            for m in [*names, "aekit_train"]
            if m != "noisy"
        }
        ref = {m: v[0] for m, v in entry["psnr"].items() if m not in ("noisy", "aekit")}
        best_ref = max(ref, key=ref.get)
        entry["best_reference"] = best_ref
        entry["aekit_minus_best_db"] = round(entry["psnr"]["aekit"][0] - ref[best_ref], 3)
        entry["aekit_best"] = entry["aekit_minus_best_db"] > 0
        out[key] = entry
    return {"rows": out, "train_s": [round(s["train_s"], 1) for s in per_seed]}


def print_table(title: str, part: dict, names: list[str]) -> None:
    print(f"\n{title}\n| noise | " + " | ".join(names) + " | aekit − best reference |")
    print("|---|" + "---|" * (len(names) + 1))
    for key, e in part["rows"].items():
        cells = []
        for m in names:
            mean, sd = e["psnr"][m]
            cell = f"{mean:.2f} ± {sd:.2f} / {e['ssim'][m][0]:.3f}"
            cells.append(f"**{cell}**" if m == "aekit" and e["aekit_best"] else cell)
        verdict = f"{e['aekit_minus_best_db']:+.2f} dB vs {e['best_reference']}"
        verdict += "" if e["aekit_best"] else " (aekit loses)"
        print(f"| {key} | " + " | ".join(cells) + f" | {verdict} |")


def merge(logs: list[str]) -> dict:
    """The photographs' table and JSON line from the SEED lines of runs over other seeds (same settings)."""
    lines = [line for log in logs for line in open(log, encoding="utf-8")]
    per_seed = [json.loads(line[5:]) for line in lines if line.startswith("SEED ")]
    if not per_seed:
        raise SystemExit(f"no SEED lines in {', '.join(logs)}; pass the output of benchmarks/denoise.py runs")
    first = next(iter(per_seed[0]["noises"].values()))["psnr"]
    names = ["noisy", "aekit", *(m for m in first if m not in ("noisy", "aekit"))]
    natural = summarise(per_seed, names, list(per_seed[0]["noises"]))
    print_table(f"Photographs, seeds {[s['seed'] for s in per_seed]}: PSNR dB / SSIM", natural, names)
    summary = {"benchmark": "denoise", "merged": logs, "seeds": [s["seed"] for s in per_seed], "photographs": natural}
    print(json.dumps(summary, default=str))
    return summary


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 seeds, 4,000 training images, 3 epochs, 100 test images")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--train", type=int, default=8000, help="MNIST training images a seed")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--test-images", type=int, default=100, help="test images a seed (a multiple of 100)")
    p.add_argument("--val-images", type=int, default=100, help="validation images for the references' parameters")
    p.add_argument("--no-bm3d", action="store_true", help="leave BM3D out (it takes most of the references' time)")
    p.add_argument("--no-patches", action="store_true", help="skip the natural photographs")
    p.add_argument("--no-mnist", action="store_true", help="skip MNIST (the photographs only)")
    p.add_argument("--first-seed", type=int, default=0, help="photographs: seeds first-seed … first-seed + seeds − 1")
    p.add_argument("--photo-kind", default="denoising-photo", help="the kind trained on the photographs' patches")
    p.add_argument("--sigmas", type=int, nargs="+", default=list(SIGMAS), help="photographs: σ of 255 (15 25 50)")
    p.add_argument("--patches", type=int, default=12000, help="training patches a seed")
    p.add_argument("--patch", type=int, default=32, help="patch side")
    p.add_argument("--patch-epochs", type=int, default=3)
    p.add_argument("--crop", type=int, default=160, help="side of the test photographs' centre crops")
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    p.add_argument("--merge", nargs="+", metavar="LOG", help="photographs: the table of the SEED lines of earlier runs")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.merge)
    if args.quick:
        args.seeds, args.train, args.epochs, args.test_images = min(args.seeds, 2), 4000, 3, 100
        args.patches, args.patch_epochs, args.crop = 6000, 3, 128
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    has_bm3d = bm3d_available() and not args.no_bm3d
    methods = [m for m in METHODS if m != "bm3d" or has_bm3d]
    bm3d_note = "bm3d package" if has_bm3d else "unavailable (not run)"
    print(f"CPU: {cpu_name()}, {args.threads} torch thread(s); BM3D: {bm3d_note}")
    print(
        f"MNIST: {args.seeds} seeds; recipe denoising-conv, {args.train} training images, {args.epochs} epochs; "
        f"{args.test_images} test images and {args.val_images} validation images a seed"
    )
    t0 = time.perf_counter()
    mnist = None if args.no_mnist else mnist_part(args, methods)
    if mnist:
        print_table("MNIST test digits: PSNR dB (mean ± sd over seeds) / SSIM", mnist, ["noisy", "aekit", *methods])
    natural = None
    if not args.no_patches:
        print(
            f"Natural photographs: {args.photo_kind} trained on {args.patches} {args.patch}×{args.patch} patches of "
            f"{len(TRAIN_PHOTOS)} scikit-image photographs, {args.patch_epochs} epochs, one model a σ; seeds "
            f"{seeds_of(args)}; test on {', '.join(TEST_PHOTOS)} "
            f"({args.crop}×{args.crop} centre crops); the references' parameters chosen on {VAL_PHOTO}",
            flush=True,
        )
        natural = patches_part(args, methods)
        print_table("Photographs (gaussian σ of 255): PSNR dB / SSIM", natural, ["noisy", "aekit", *methods])
    summary = {
        "benchmark": "denoise",
        "cpu": cpu_name(),
        "seeds": args.seeds,
        "train_images": args.train,
        "epochs": args.epochs,
        "test_images_per_seed": args.test_images,
        "bm3d": has_bm3d,
        "mnist": mnist,
        "mnist_aekit_best_on": mnist and sum(e["aekit_best"] for e in mnist["rows"].values()),
        "photographs": natural,
        "patches": {
            "kind": args.photo_kind,
            "n": args.patches,
            "side": args.patch,
            "epochs": args.patch_epochs,
            "crop": args.crop,
            "seeds": seeds_of(args),
        },
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary, default=str))
    return summary


if __name__ == "__main__":
    main()
