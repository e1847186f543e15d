"""Image folders: decoding throughput into aekit's cache against a plain Pillow loop (and torchvision's ImageFolder with
a DataLoader, where torchvision is importable), and the conv kind's epoch time on 64×64 RGB read from the cache against
the same images as float32 rows in memory (target: the cache at ≥ 0.95× the in-memory rate).

The images are MNIST digits, upscaled to 128×128 and coloured (a random hue per image), written as PNG and JPEG into
class folders in a temporary folder; each decoder resizes them to 64×64. Epochs alternate (cache, memory, cache, …)
from the same initial weights, so the machine's drift hits both alike; the ratio is the median per round.

    python benchmarks/images.py [--quick] [--images 2000] [--rounds 3] [--threads 1]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from startup import cpu_name  # noqa: E402  (benchmarks/ is on sys.path when a script runs)


def make_images(folder: Path, n: int) -> None:
    from PIL import Image

    import aekit

    ds = aekit.load_dataset("mnist", limit=n)
    rng = np.random.default_rng(0)
    for i in range(n):
        digit = Image.fromarray(np.rint(ds.x_train[i].reshape(28, 28) * 255).astype(np.uint8)).resize((128, 128))
        hue = rng.random(3) * 0.8 + 0.2
        rgb = (np.asarray(digit, dtype=np.float32)[..., None] * hue + rng.integers(0, 30, (128, 128, 3))).clip(0, 255)
        cls = folder / str(int(ds.y_train[i]))
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb.astype(np.uint8)).save(cls / (f"{i:05d}.jpg" if i % 2 else f"{i:05d}.png"), quality=90)


def pillow_loop(folder: Path) -> np.ndarray:
    """The plain loop: open, convert, resize, stack (one thread)."""
    from PIL import Image

    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with Image.open(path) as im:
            out.append(np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)))
    return np.stack(out)


def torchvision_loader(folder: Path) -> float | str:
    """Seconds for one pass of ImageFolder + DataLoader (2 workers) at 64×64, or why it was not run."""
    try:
        import torchvision  # noqa: F401  (installs only where it fits this torch build)
        from torchvision import datasets, transforms
    except Exception as e:  # ImportError, or a torchvision that fails against this torch
        return f"skipped: torchvision is not importable here ({type(e).__name__}: {e})"
    import torch

    t0 = time.perf_counter()
    ds = datasets.ImageFolder(
        str(folder), transform=transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
    )
    for _ in torch.utils.data.DataLoader(ds, batch_size=256, num_workers=2):
        pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating epoch pairs (cache, memory)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the epochs")
    ap.add_argument("--quick", action="store_true", help="300 images, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.images, args.rounds = 300, 1
    import torch

    import aekit
    from aekit.data.images import load_images

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp) / "photos", Path(tmp) / "cache"
        make_images(folder, args.images)
        pillow_loop(folder / "0")  # Pillow's plugins loaded and the files read once before any timing
        t0 = time.perf_counter()
        s = load_images(folder, image_size=64, cache=cache)
        aekit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_images(folder, image_size=64, cache=cache)
        hit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        one = load_images(folder, image_size=64, cache=False, workers=1)
        one_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain = pillow_loop(folder)
        plain_s = time.perf_counter() - t0
        tv = torchvision_loader(folder)
        assert plain.shape[0] == len(s.pixels) == len(one.pixels)

        rows = s.rows()
        memory = np.asarray(rows)  # the same floats, in memory
        cfg, tcfg = aekit.configure(
            "conv", input_dim=rows.shape[1], image_shape=s.image_shape, optimizer="adam", batch_size=128, epochs=1
        )
        times = {"cache": [], "memory": []}
        for _ in range(args.rounds):
            for name, data in (("cache", rows), ("memory", memory)):
                model = aekit.Autoencoder(cfg)
                h = aekit.fit(model, data, config=tcfg, verbose=0)
                times[name].append(h.history["epoch_time"][0])
        ratios = [m / c for c, m in zip(times["cache"], times["memory"])]
        result = {
            "benchmark": "images",
            "cpu": cpu_name(),
            "images": args.images,
            "source": "128x128 PNG/JPEG -> 64x64 RGB",
            "decode_aekit_images_per_s": round(args.images / aekit_s, 1),
            "decode_workers": os.cpu_count(),
            "decode_aekit_one_thread_images_per_s": round(args.images / one_s, 1),
            "decode_pillow_loop_images_per_s": round(args.images / plain_s, 1),
            "decode_ratio_vs_pillow_loop": round(plain_s / aekit_s, 3),
            "torchvision_imagefolder": tv if isinstance(tv, str) else round(args.images / tv, 1),
            "cache_hit_s": round(hit_s, 4),
            "epoch_s_cache": [round(t, 3) for t in times["cache"]],
            "epoch_s_memory": [round(t, 3) for t in times["memory"]],
            "rate_ratio_cache_vs_memory_median": round(statistics.median(ratios), 3),
            "target": 0.95,
            "torch_threads": args.threads,
        }
        if isinstance(tv, str):
            print(f"torchvision baseline {tv}", file=sys.stderr)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
