"""The example notebooks, run top to bottom in a real Jupyter kernel (nbclient + ipykernel) with the quick settings
(AEKIT_NOTEBOOK_QUICK=1), and what a notebook shows: widgets for progress, HTML tables, inline figures."""

import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from PIL import Image

import aekit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = (
    "01_keras_tutorial.ipynb",
    "02_kinds.ipynb",
    "03_uses.ipynb",
    "04_variational.ipynb",
    "05_image_folder.ipynb",
)
WIDGET = "application/vnd.jupyter.widget-view+json"


def client(nb, cwd, monkeypatch, timeout=120):
    """A client for `nb` in a fresh python3 kernel of this interpreter, in `cwd`, importing this checkout's aekit."""
    src = str(Path(aekit.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("AEKIT_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})


def execute(nb, cwd, monkeypatch, timeout=120):
    """Run `nb` top to bottom in a fresh kernel (see `client`)."""
    client(nb, cwd, monkeypatch, timeout).execute()
    return nb


@contextmanager
def running(nb, cwd, monkeypatch, timeout=120):
    """Run `nb` as `execute` does, and keep its kernel inside the block (the client): to run more cells in it."""
    runner = client(nb, cwd, monkeypatch, timeout)
    with runner.setup_kernel():
        runner.execute(cleanup_kc=False)
        yield runner


def read(name):
    return nbformat.read(EXAMPLES / name, as_version=4)


def outputs(cell, mime=None):
    """The cell's outputs, or the data of those that carry `mime`."""
    if mime is None:
        return cell.outputs
    return [o["data"][mime] for o in cell.outputs if mime in o.get("data", {})]


def cell_of(nb, text):
    """The one code cell whose source contains `text`."""
    found = [c for c in nb.cells if c.cell_type == "code" and text in c.source]
    assert len(found) == 1, f"{len(found)} cells hold {text!r}"
    return found[0]


def cell_is(nb, source):
    """The one code cell whose source is `source`."""
    found = [c for c in nb.cells if c.cell_type == "code" and c.source == source]
    assert len(found) == 1, f"{len(found)} cells are {source!r}"
    return found[0]


def stream_text(nb):
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"
    )


def test_every_notebook_in_examples_is_checked():
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == sorted(NOTEBOOKS)


def test_committed_notebooks_have_no_outputs():
    for name in NOTEBOOKS:
        nb = read(name)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: a cell keeps its outputs"
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and "AEKIT_NOTEBOOK_QUICK" in params[0].source, name


def test_committed_notebooks_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_notebooks", EXAMPLES / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    assert sorted(built) == sorted(NOTEBOOKS)
    for name, text in built.items():
        assert (EXAMPLES / name).read_text(encoding="utf-8") == text, f"{name}: run python examples/make_notebooks.py"


def test_tutorial_notebook_runs_with_widgets_tables_and_figures(tmp_path, monkeypatch):
    nb = execute(read("01_keras_tutorial.ipynb"), tmp_path, monkeypatch)
    fit = cell_of(nb, "aekit.fit(")
    assert len(outputs(fit, WIDGET)) == 2  # one progress widget per epoch (2 quick epochs) ...
    assert [o for o in fit.outputs if o.output_type == "stream"] == []  # ... and no text beside them
    assert "Epoch 1/" not in stream_text(nb)
    printed = "".join(o.get("text", "") for o in cell_is(nb, "model.summary()").outputs)
    assert "Total params: 50,992" in printed  # Keras' summary, printed
    summary = outputs(cell_is(nb, "model"), "text/html")
    assert len(summary) == 1 and "Total params" in summary[0] and "50,992" in summary[0]
    history = outputs(cell_is(nb, "history"), "text/html")
    assert len(history) == 1 and "<th>val_loss</th>" in history[0] and "<th>recon</th>" not in history[0]
    assert len(outputs(cell_of(nb, "history.plot()"), "image/png")) == 1  # figures the API returns show inline
    assert len(outputs(cell_of(nb, "reconstruction_grid("), "image/png")) == 1
    assert (tmp_path / "runs/notebook-tutorial/model.safetensors").is_file()
    assert any((tmp_path / "runs/notebook-tutorial/tb").iterdir())


def test_kinds_notebook_runs(tmp_path, monkeypatch):
    nb = execute(read("02_kinds.ipynb"), tmp_path, monkeypatch)
    table = outputs(cell_of(nb, "PSNR on noisy digits"), "text/html")
    assert len(table) == 1 and all(kind in table[0] for kind in ("sparse-kl", "contractive", "conv"))
    assert len(outputs(cell_of(nb, "image_grid("), "image/png")) == 1
    assert len(stream_text(nb).splitlines()) == 7  # one line per kind


def test_uses_notebook_runs(tmp_path, monkeypatch):
    nb = execute(read("03_uses.ipynb"), tmp_path, monkeypatch)
    run = outputs(cell_of(nb, "aekit.train("), "text/html")
    assert len(run) == 1 and "val_loss" in run[0] and 'alt="loss.png"' in run[0]
    assert "PSNR denoised" in outputs(cell_of(nb, "aekit.denoise("), "text/html")[0]
    assert "ROC-AUC" in outputs(cell_of(nb, "aekit.anomaly("), "text/html")[0]
    for code in ("code_plot(", "denoise_figure(", "histogram("):
        assert len(outputs(cell_of(nb, code), "image/png")) == 1, code
    assert "RMSE on the hidden cells" in stream_text(nb)


def test_variational_notebook_runs_and_a_parameter_out_of_range_stops_it_with_aekits_one_line_error(
    tmp_path, monkeypatch
):
    with running(read("04_variational.ipynb"), tmp_path, monkeypatch) as kernel:
        check_variational_notebook(kernel.nb)
        # NLL_SAMPLES = 0, then its cell again in the same kernel: the cells before it need not train anew
        likelihood = cell_of(kernel.nb, "from aekit.uses.likelihood import nll")
        kernel.nb.cells.append(nbformat.v4.new_code_cell("NLL_SAMPLES = 0  # a parameter out of range"))
        kernel.execute_cell(kernel.nb.cells[-1], len(kernel.nb.cells) - 1)
        with pytest.raises(CellExecutionError) as info:
            kernel.execute_cell(likelihood, kernel.nb.cells.index(likelihood))
    assert info.value.ename == "ConfigError"
    assert "\n" not in info.value.evalue and "samples" in info.value.evalue


def check_variational_notebook(nb):
    assert "loss = recon + kl" in stream_text(nb)
    history = outputs(cell_of(nb, "history = aekit.fit(vae,"), "text/html")
    assert len(history) == 1 and "<th>kl</th>" in history[0] and "<th>val_recon</th>" in history[0]
    for code in (
        "sample(vae, 64",
        "interpolate(vae,",
        "manifold(vae_2d,",
        "code_map(",
        "traversals(beta_vae,",
        "kl_figure(",
        "usage_figure(",
        "reconstruction_grid(",
    ):
        assert len(outputs(cell_of(nb, code), "image/png")) == 1, code
    nll = [line for line in stream_text(nb).splitlines() if line.startswith("K = ")]
    assert len(nll) == 2 and all("nats" in line and " ± " in line for line in nll)
    first, last = (float(line.split("NLL ")[1].split(" ")[0]) for line in nll)
    assert last <= first  # more importance samples: a tighter bound (the same seed, the same digits)
    table = outputs(cell_of(nb, "active units"), "text/html")[0]
    assert "<th>VAE</th>" in table and "<th>β-VAE (β = 4)</th>" in table and "<th>active units</th>" in table
    indices = outputs(cell_of(nb, "aekit.encode(vq,"), "text/html")[0]
    assert "vector 7" in indices and "test digit 4" in indices
    assert "usage per epoch" in stream_text(nb) and "perplexity per epoch" in stream_text(nb)


def test_image_folder_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's image folders and their cache
    nb = execute(read("05_image_folder.ipynb"), tmp_path, monkeypatch)
    work = next(tmp_path.glob("aekit-images-*"))
    inputs = sorted(p.relative_to(work / "photos") for p in (work / "photos").rglob("*.jpg"))
    assert len(inputs) == 2 * 24 and {p.parts[0] for p in inputs} == {"china", "flower"}
    out = tmp_path / "runs/notebook-images"
    for folder in ("denoised", "noisy"):
        written = sorted(p.relative_to(out / folder) for p in (out / folder).rglob("*") if p.is_file())
        assert written == inputs, folder  # the same names and formats as the input folder
    with Image.open(out / "denoised" / inputs[0]) as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (32, 32)
    codes = (out / "codes.csv").read_text().splitlines()
    assert codes[0].startswith("path,label,code_0") and len(codes) == 1 + len(inputs)
    assert codes[1].startswith(f"{inputs[0].as_posix()},china,")
    for code in ("image_grid(", "reconstruction_grid(", "denoise_figure(", "histogram("):
        assert len(outputs(cell_of(nb, code), "image/png")) == 1, code
    assert 'alt="loss.png"' in outputs(cell_of(nb, "aekit.train("), "text/html")[0]
    assert "PSNR denoised" in outputs(cell_of(nb, "aekit.denoise("), "text/html")[0]
    assert "ROC-AUC" in outputs(cell_of(nb, "aekit.anomaly("), "text/html")[0]
    scores = outputs(cell_of(nb, "sort_values("), "text/html")[0]
    assert sum(scores.count(f"{c}/{c[:5]}-") for c in ("china", "flower", "digits")) == 10  # the ten highest, by path


@pytest.mark.parametrize(
    "name, injected, error, word",
    [
        ("01_keras_tutorial.ipynb", "EPOCHS = 0", "ConfigError", "epochs"),
        ("05_image_folder.ipynb", "IMAGE_SIZE = 0", "ConfigError", "image size"),
    ],  # 04_variational's NLL_SAMPLES = 0: in its kernel after its run (test_variational_notebook_runs_and_…)
)
def test_a_parameter_out_of_range_stops_with_aekits_one_line_error(tmp_path, monkeypatch, name, injected, error, word):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    nb = read(name)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(f"{injected}  # injected, as papermill does"))
    with pytest.raises(CellExecutionError) as info:
        execute(nb, tmp_path, monkeypatch)
    assert info.value.ename == error
    assert "\n" not in info.value.evalue and word in info.value.evalue


def test_progress_without_ipywidgets_is_one_text_bar_per_epoch(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import sys\n"
                "sys.modules['ipywidgets'] = None  # as if it were not installed\n"
                "import numpy as np, aekit\n"
                "x = np.random.default_rng(0).random((64, 6), dtype=np.float32)\n"
                "model = aekit.Autoencoder(aekit.ModelConfig(input_dim=6, encoding_dim=2))\n"
                "history = aekit.fit(model, x, epochs=2, batch_size=16, validation_data=x[:16])"
            ),
            nbformat.v4.new_code_cell("print(aekit.__file__)"),
        ]
    )
    nb = execute(nb, tmp_path, monkeypatch)
    assert nb.cells[1].outputs[0]["text"].strip() == aekit.__file__  # the kernel imports this checkout's aekit
    cell = nb.cells[0]
    assert outputs(cell, WIDGET) == []
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert "\r" in text and "IProgress" not in text  # a bar redrawn in place, and no warning about widgets
    shown = [line.split("\r")[-1] for line in text.split("\n") if line.split("\r")[-1]]  # as a notebook renders it
    assert len(shown) == 2 and shown[0].startswith("Epoch 1/2 4/4") and shown[1].startswith("Epoch 2/2 4/4")
    assert all("loss: " in line and "val_loss: " in line for line in shown)
