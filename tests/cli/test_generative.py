"""`aekit train --kind vae`, then sample, interpolate, evaluate --nll and encode on the run; bad input exits with 2."""

import json

import numpy as np
import pytest
from aekit_subprocess import aekit_cli

from aekit.cli.main import main


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    assert (
        main(
            [
                "train",
                "--kind",
                "vae",
                "--hidden",
                "64",
                "--encoding-dim",
                "2",
                "--limit",
                "300",
                "--epochs",
                "2",
                "--binarize",
                "dynamic",
                "--kl-warmup",
                "2",
                "--out",
                str(out),
                "--quiet",
                "--no-tensorboard",
            ]
        )
        == 0
    )
    return out


def test_a_vae_run_logs_recon_and_kl_and_reports_its_code(vae_run):
    cfg = json.loads((vae_run / "config.json").read_text())
    assert cfg["model"]["code"] == "gaussian" and cfg["train"]["likelihood"] == "bernoulli"
    history = json.loads((vae_run / "history.json").read_text())["history"]
    assert {"recon", "kl", "val_recon", "val_kl"} <= set(history)
    metrics = json.loads((vae_run / "metrics.json").read_text())
    assert 0 <= metrics["active_units"] <= 2 and metrics["kl"] == history["kl"][-1]
    page = (vae_run / "report.html").read_text()
    assert all(f'alt="{alt}"' in page for alt in ("KL per unit", "samples", "manifold", "latent traversals"))


def test_sample_interpolate_evaluate_and_encode(vae_run, tmp_path, capsys):
    assert main(["sample", str(vae_run), "-n", "9", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (9, 784)
    assert main(["sample", str(vae_run), "--manifold", "5", "-o", str(tmp_path / "m.png")]) == 0
    assert main(["interpolate", str(vae_run), "0", "1", "--method", "spherical", "-o", str(tmp_path / "i.png")]) == 0
    assert (tmp_path / "m.png").stat().st_size > 0 and (tmp_path / "i.png").stat().st_size > 0
    assert main(["evaluate", str(vae_run), "--nll", "--samples", "20", "--limit", "50", "--binarize", "fixed"]) == 0
    out = capsys.readouterr().out
    nll = float(out.split("NLL ")[1].split()[0])
    assert "50 rows, 20 importance samples, bernoulli decoder, binarised once" in out and 50 < nll < 600


def test_sample_on_a_plain_run_and_a_bad_output_exit_2(vae_run, tmp_path):
    import aekit

    plain = aekit.save_model(aekit.Autoencoder(), tmp_path / "plain.safetensors")
    proc = aekit_cli("sample", plain, "-o", tmp_path / "s.png")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "needs a generative model" in proc.stderr and not (tmp_path / "s.png").exists()
    assert main(["sample", str(vae_run), "-o", str(tmp_path / "s.txt")]) == 2
