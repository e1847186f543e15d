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


def test_evaluate_on_a_minmax_scaled_table_run_scales_the_rows_and_says_in_what_units(tmp_path):
    import dataclasses

    import aekit
    from aekit.uses.inputs import load_any_model
    from aekit.uses.likelihood import nll

    rng = np.random.default_rng(0)
    table = rng.normal(size=(120, 2)) @ rng.normal(size=(2, 4)) * [50.0, 1.0, 0.01, 3.0] + [1000.0, 0.0, -2.0, 7.0]
    np.savetxt(tmp_path / "t.csv", table, delimiter=",", header="a,b,c,d", comments="", fmt="%.6f")
    args = ["--kind", "vae", "--scale", "minmax", "--hidden", "8", "--encoding-dim", "2", "--epochs", "2"]
    aekit_cli("train", "--data", tmp_path / "t.csv", *args, "--out", tmp_path / "run", "--no-tensorboard", check=True)
    evaluate = ["evaluate", tmp_path / "run", tmp_path / "t.csv", "--nll", "--samples", "20"]
    proc = aekit_cli(*evaluate, check=True)  # the raw rows (up to ~1000) were refused as outside [0, 1]
    assert "NLL" in proc.stdout and "nats of the minmax-scaled rows the network sees (120 rows" in proc.stdout
    proc = aekit_cli(*evaluate, "--likelihood", "gaussian", check=True)
    model = load_any_model(tmp_path / "run")[0]  # by hand: the same network without its scaler, on scaled rows
    twin = aekit.Autoencoder(dataclasses.replace(model.config, scale="none"))
    twin.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("input_")})
    x = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1, dtype=np.float32)
    hand = (x - model.input_offset.numpy()) / model.input_scale.numpy()
    jacobian = float(np.log(model.input_scale.numpy().astype(np.float64)).sum())
    figure = nll(twin, hand, samples=20, likelihood="gaussian").nll + jacobian
    assert f"NLL {figure:.2f} ± " in proc.stdout and abs(jacobian) > 1
    assert f"of the rows as given, the minmax scaling's log-Jacobian ({jacobian:+.2f} nats) included" in proc.stdout
    refused = aekit_cli(*evaluate, "--binarize", "fixed")  # a Bernoulli draw of the raw rows: ~1000 was always 1
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "lie in [" in refused.stderr
