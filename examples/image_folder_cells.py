"""The cells of examples/05_image_folder.ipynb (written by make_notebooks.py): a user's own folder of image files."""

from __future__ import annotations


def cells(quick: str) -> list[tuple[str, str]]:
    """The notebook's ("md" | "code" | "parameters", source) cells; `quick` opens the parameters cell."""
    return [
        (
            "md",
            """
# Your own images: a folder of photographs

aekit trains on a folder of image files as it does on MNIST (`aekit train --data photos/`):
sub-folders are the labels, every image is decoded once at one size and colour, and the uses
write their results by file name. This notebook builds such a folder from two colour
photographs, trains a convolutional denoising autoencoder on it, reconstructs the images,
denoises the folder into another one with the same names, and lists each file's code and
anomaly score.
""",
        ),
        (
            "md",
            """
**Parameters.** Full settings: 300 crops of each photograph, decoded at 32 × 32 pixels, and 30
epochs (about a minute on a 2-core CPU). Raise `IMAGE_SIZE` to 64 for sharper images (four
times the pixels, several times the time) and `CROPS` and `EPOCHS` for better
reconstructions. The values go through aekit's checks: `IMAGE_SIZE = 0` stops with one line.
""",
        ),
        (
            "parameters",
            quick
            + """
CROPS = 24 if QUICK else 300  # JPEG crops of each photograph, in its own class folder
IMAGE_SIZE = 32  # every image is decoded at IMAGE_SIZE × IMAGE_SIZE pixels (--image-size)
EPOCHS = 2 if QUICK else 30
NOISE = 0.1  # σ of the gaussian noise the model learns to remove (pixels in [0, 1])
SEED = 0
""",
        ),
        (
            "md",
            """
## A folder of image files

scikit-learn ships two photographs (`load_sample_images`: a Chinese temple and a flower,
427 × 640 pixels, RGB). Square crops of random size and place, saved as JPEG, make a folder with
a sub-folder per photograph, as a user's folder of classes would be. A second folder, `check/`,
holds new crops of both and a few MNIST digits saved as PNG (grey, and nothing like a photograph):
the anomalies to find later. Everything goes to a temporary folder `work`, aekit's cache of
decoded pixels too (`AEKIT_CACHE`, by default `~/.cache/aekit`); it stays there for you to look
at (`shutil.rmtree(work)` removes it).
""",
        ),
        (
            "code",
            """
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_sample_images

import aekit

work = Path(tempfile.mkdtemp(prefix="aekit-images-"))
os.environ["AEKIT_CACHE"] = str(work / "cache")
photos = load_sample_images()
rng = np.random.default_rng(SEED)


def save_crops(folder, n):
    \"\"\"n square JPEG crops of each photograph, in a sub-folder named after it.\"\"\"
    for path, image in zip(photos.filenames, photos.images):
        name = Path(path).stem
        (folder / name).mkdir(parents=True, exist_ok=True)
        height, width, _ = image.shape
        for i in range(n):
            side = int(rng.integers(48, 160))
            top, left = rng.integers(0, height - side), rng.integers(0, width - side)
            crop = Image.fromarray(image[top : top + side, left : left + side])
            crop.save(folder / name / f"{name}-{i:03d}.jpg", quality=90)


save_crops(work / "photos", CROPS)
save_crops(work / "check", max(1, CROPS // 10))
digits = aekit.load_dataset("mnist", limit=60).x_test
(work / "check" / "digits").mkdir()
for i, digit in enumerate(digits):
    Image.fromarray((digit.reshape(28, 28) * 255).astype(np.uint8)).save(
        work / "check" / "digits" / f"digit-{i:02d}.png")
print(work)
for folder in ("photos", "check"):
    counts = {d.name: len(list(d.iterdir())) for d in sorted((work / folder).iterdir())}
    print(f"  {folder}/ files per sub-folder: {counts}")
""",
        ),
        (
            "md",
            """
## Load it

`aekit.load_images` finds the image files (searched recursively), labels each by its sub-folder
and decodes them with Pillow into the cache. The crops have different sizes, so `image_size`
resizes them, keeping the aspect ratio with a centre crop. The colour is what the files are
(here RGB); `color="gray"` would convert them.
""",
        ),
        (
            "code",
            """
from aekit.reporting.plots import image_grid

images = aekit.load_images(work / "photos", image_size=IMAGE_SIZE)
print(f"{len(images.names)} images {images.image_shape} ({images.color}), classes {images.classes}")
print("first files:", images.names[:2])
picked = np.r_[0:5, len(images.names) - 5 : len(images.names)]  # five of each class
image_grid(images.rows()[picked], image_shape=images.image_shape, ncols=10, normalize="none")
""",
        ),
        (
            "md",
            """
## Train a convolutional autoencoder on it

The `conv` kind is the Keras blog's convolutional autoencoder, sized by the images. Its default
for 32 × 32 colour images (16 and 8 channels down to a 4 × 4 grid of 16 channels, 256 numbers
for 3,072 pixel values) gives blurry photographs; one stage of 32 channels down to an 8 × 8
grid (`hidden=(32,)`, 1,024 numbers) keeps more detail. Trained with gaussian noise on its
input, it learns to remove it (`aekit train --data photos/ --kind conv --image-size 32
--hidden 32 --noise gaussian --noise-level 0.1`). `train` writes a run folder, which also keeps
the validation images that set the anomaly threshold later.
""",
        ),
        (
            "code",
            """
model_cfg, train_cfg = aekit.configure(
    "conv", input_dim=int(np.prod(images.image_shape)), image_shape=images.image_shape,
    hidden=(32,), noise="gaussian", noise_level=NOISE, optimizer="adam", lr=3e-3,
    schedule="onecycle", batch_size=32, epochs=EPOCHS, seed=SEED)
run = aekit.train(model_cfg, train_cfg, kind="conv", data=str(work / "photos"),
                  image_size=IMAGE_SIZE, out="runs/notebook-images/run", overwrite=True,
                  tensorboard=False, verbose=0)
print(f"code: {model_cfg.encoding_dim} numbers for {model_cfg.input_dim} pixel values")
run
""",
        ),
        (
            "md",
            """
## Reconstructions, in colour

`load_rows` reads a folder as the uses do (`aekit encode RUN photos/`): decoded at the model's
size and colour, with each row's file name and class. The top row holds the images, the bottom
row what the autoencoder makes of them:
""",
        ),
        (
            "code",
            """
from aekit.reporting.plots import reconstruction_grid
from aekit.uses.inputs import class_names, load_rows

rows = load_rows(work / "photos", like=run.model)
x = np.asarray(rows.x[picked])
reconstruction_grid(x, aekit.reconstruct(run.model, x), image_shape=rows.image_shape, n=10)
""",
        ),
        (
            "md",
            """
## Denoise the folder into another

`aekit.denoise` adds the noise the run was trained with (gaussian, σ `NOISE`) to each image,
removes it, and measures the PSNR of both against the clean images. The noisy and the denoised
images are then written with the input's relative names and formats (JPEG stays JPEG), as
`aekit denoise RUN photos/ -o denoised/ --save-noisy noisy/` does. aekit never overwrites an
image, so the output folders must be new or empty.
""",
        ),
        (
            "code",
            """
from aekit.data.image_out import image_outputs, save_images

result = aekit.denoise(run.path, rows.x, seed=SEED)
out = Path("runs/notebook-images")
for name, images_out in (("noisy", result.noisy), ("denoised", result.denoised)):
    shutil.rmtree(out / name, ignore_errors=True)  # an earlier run's files
    paths = image_outputs(out / name, rows.names, rows.root)
    save_images(images_out, rows.image_shape, paths, out / name)
print(f"{len(paths)} files in {out / 'denoised'}, e.g. {paths[0].relative_to(out)}")
result
""",
        ),
        (
            "code",
            """
from aekit.uses.denoising import denoise_figure

denoise_figure(result, image_shape=rows.image_shape, n=10)
""",
        ),
        (
            "md",
            """
## Codes by path

Each image's code, one row per file with its path and class: the table
`aekit encode RUN photos/ -o codes.csv` writes (here its first columns).
""",
        ),
        (
            "code",
            """
from aekit.uses.encoding import write_codes

codes = aekit.encode(run.path, rows.x)
columns = [f"code_{j}" for j in range(codes.shape[1])]
write_codes(out / "codes.csv", codes, columns, rows.names, class_names(rows))
table = pd.read_csv(out / "codes.csv")
print(f"{out / 'codes.csv'}: {table.shape[0]} files × {codes.shape[1]} code values")
table.iloc[:, :7].head()
""",
        ),
        (
            "md",
            """
## Anomaly scores by path

The model knows photographs of the temple and the flower. Scored by reconstruction error, the
new crops in `check/` should score low and the MNIST digits high; the threshold is the 0.99
quantile of the scores of the run's validation images, and the class folders say which files are
normal (`aekit anomaly RUN check/ --normal china,flower -o scores.csv`). The digits are read at
the model's size and in its colour, RGB.
""",
        ),
        (
            "code",
            """
from aekit.uses.inputs import normal_labels

check = load_rows(work / "check", like=run.model)
found = aekit.anomaly(run.path, check.x, labels=check.y,
                      normal=normal_labels(["china", "flower"], check))
found
""",
        ),
        (
            "code",
            """
scores = pd.DataFrame({"path": check.names, "class": class_names(check),
                       "score": found.scores, "flagged": found.flags.astype(bool)})
scores.sort_values("score", ascending=False).head(10)
""",
        ),
        (
            "code",
            """
from aekit.reporting.plots import histogram

histogram(found.scores, threshold=found.threshold, xlabel="reconstruction error (MSE)",
          title="check/: new crops and MNIST digits")
""",
        ),
    ]
