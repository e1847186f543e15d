"""The tools around a model, measured against their PyTorch reference in the same process:

1. ONNX: onnxruntime vs PyTorch on the 10,000 MNIST test images (encoder and full model of the tutorial's
   784-32-784, trained for --epochs): largest absolute difference and the time ratio.
2. scikit-learn: AutoencoderTransformer.fit vs aekit.fit with the same settings (the wrapper's overhead),
   and transform vs model.encode.
3. Model files: save_model / load_model time and file size of the same model.

    python benchmarks/tools.py [--epochs 3] [--repeat 5] [--threads 1]

Times are CPU seconds of this process (all its threads), the best of --repeat alternating runs.
Ends with one JSON line.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import aekit
from aekit.sklearn import AutoencoderTransformer
from aekit.uses.onnx import export_onnx


def paired(fa, fb, repeat):
    """Best CPU time (all threads of this process) of `fa` and of `fb`, run alternately.

    CPU time, not wall time: on a machine shared with other jobs, wall time mostly measures the others.
    """
    ta, tb = [], []
    for _ in range(repeat):
        for fn, times in ((fa, ta), (fb, tb)):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
    return min(ta), min(tb)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="threads for PyTorch and onnxruntime alike (default 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    ds = aekit.load_dataset("mnist")
    x_train, x_test = ds.x_train[:10000], ds.x_test
    settings = dict(epochs=args.epochs, batch_size=256, optimizer="adadelta", loss="bce", seed=0)

    # 2. scikit-learn wrapper vs aekit.fit (same data, same settings, same seed → same weights)
    est = AutoencoderTransformer(
        epochs=args.epochs,
        batch_size=256,
        optimizer="adadelta",
        loss="bce",
        output_activation="sigmoid",
        random_state=0,
    )
    models = []

    def plain_fit():
        models.append(aekit.Autoencoder(aekit.ModelConfig(seed=0)))
        aekit.fit(models[-1], x_train, verbose=0, **settings)

    t_fit, t_skfit = paired(plain_fit, lambda: est.fit(x_train), 3)
    model = models[-1].eval()
    with torch.no_grad():
        same = bool(np.array_equal(est.transform(x_test), model.encode(torch.from_numpy(x_test)).numpy()))
        t_encode, t_transform = paired(
            lambda: model.encode(torch.from_numpy(x_test)), lambda: est.transform(x_test), args.repeat
        )

    # 1. ONNX vs PyTorch
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        paths = export_onnx(model, tmp)
        t_export = time.process_time() - t0
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        enc = ort.InferenceSession(str(paths["encoder"]), opts, providers=["CPUExecutionProvider"])
        full = ort.InferenceSession(str(paths["autoencoder"]), opts, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            ref_codes = model.encode(torch.from_numpy(x_test)).numpy()
            ref_recon = model(torch.from_numpy(x_test)).numpy()
            t_torch_enc, t_ort_enc = paired(
                lambda: model.encode(torch.from_numpy(x_test)), lambda: enc.run(None, {"x": x_test}), args.repeat
            )
            t_torch_full, t_ort_full = paired(
                lambda: model(torch.from_numpy(x_test)), lambda: full.run(None, {"x": x_test}), args.repeat
            )
        diff_enc = float(np.abs(enc.run(None, {"x": x_test})[0] - ref_codes).max())
        diff_full = float(np.abs(full.run(None, {"x": x_test})[0] - ref_recon).max())
        code_max = float(np.abs(ref_codes).max())

        # 3. model files
        path = Path(tmp) / "m.safetensors"
        t_save, t_load = paired(lambda: aekit.save_model(model, path), lambda: aekit.load_model(path), args.repeat)
        size = path.stat().st_size

    print(
        f"aekit.fit {t_fit:.2f} s   AutoencoderTransformer.fit {t_skfit:.2f} s   "
        f"ratio {t_skfit / t_fit:.3f}   same codes: {same}"
    )
    print(f"encode 10k: torch {t_encode * 1e3:.1f} ms   transform {t_transform * 1e3:.1f} ms")
    print(f"ONNX export {t_export:.2f} s (3 graphs, verified)")
    print(
        f"encoder 10k: torch {t_torch_enc * 1e3:.1f} ms   onnxruntime {t_ort_enc * 1e3:.1f} ms   "
        f"max |diff| {diff_enc:.2e} (largest |code| {code_max:.3g})"
    )
    print(
        f"full    10k: torch {t_torch_full * 1e3:.1f} ms   onnxruntime {t_ort_full * 1e3:.1f} ms   "
        f"max |diff| {diff_full:.2e}"
    )
    print(f"model file {size:,} bytes   save {t_save * 1e3:.1f} ms   load {t_load * 1e3:.1f} ms")
    print(
        json.dumps(
            {
                "benchmark": "tools",
                "epochs": args.epochs,
                "torch_threads": torch.get_num_threads(),
                "timer": "process_time",
                "sklearn_fit_ratio": round(t_skfit / t_fit, 3),
                "sklearn_same_codes": same,
                "transform_vs_encode_ratio": round(t_transform / t_encode, 3),
                "onnx_export_s": round(t_export, 2),
                "onnx_encoder_max_abs_diff": diff_enc,
                "onnx_full_max_abs_diff": diff_full,
                "largest_abs_code": code_max,
                "onnx_vs_torch_encoder_time_ratio": round(t_ort_enc / t_torch_enc, 3),
                "onnx_vs_torch_full_time_ratio": round(t_ort_full / t_torch_full, 3),
                "model_file_bytes": size,
                "save_ms": round(t_save * 1e3, 2),
                "load_ms": round(t_load * 1e3, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
