"""Tiny shared fixtures: real MNIST subsets, small and seeded, CPU only."""

import os

import numpy as np
import pytest
import torch

# Each pytest process takes its share of the cores, at most 2 threads: `make test` runs two xdist workers on a 2-core
# CPU, where 2 threads each (4 on 2 cores) made small fits many times slower (OpenMP threads waiting on each other).
# The processes the tests start (the CLI, torchrun, notebook kernels) get the same count unless OMP_NUM_THREADS is set.
THREADS = max(1, min(2, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
torch.set_num_threads(THREADS)
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))


@pytest.fixture(scope="session")
def mnist_small():
    """2,000 real MNIST training images and 500 test images, as float32 rows in [0, 1]."""
    from aekit import load_dataset

    ds = load_dataset("mnist")
    return ds.x_train[:2000].copy(), ds.y_train[:2000].copy(), ds.x_test[:500].copy(), ds.y_test[:500].copy()


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


@pytest.fixture()
def rss_file_kib():
    """A function: the pages of mapped files in this process's RSS (Linux /proc/self/status), in KiB."""
    from pathlib import Path

    def read() -> int:
        line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("RssFile:"))
        return int(line.split()[1])

    return read


@pytest.fixture()
def big_npy(tmp_path):
    """A 125 MB float32 .npy of 40,000 rows of 784 values in [0, 1] (never read before: none of it mapped)."""
    path = tmp_path / "rows.npy"
    np.save(path, np.random.default_rng(0).random((40_000, 784), dtype=np.float32))
    return path


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Two real run folders (MNIST, 300 training rows, 2 epochs): a plain one and a sparse denoising one."""
    from aekit import TrainConfig, train

    root = tmp_path_factory.mktemp("runs")
    plain = train(None, TrainConfig(epochs=2), limit=300, out=root / "plain", verbose=0)
    sparse_denoising = train(
        None,
        TrainConfig(epochs=2, optimizer="adam", l1=1e-5, noise="gaussian", noise_level=0.3),
        limit=300,
        out=root / "sparse-denoising",
        verbose=0,
    )
    return plain, sparse_denoising


# --------------------------------------------------------------------------- headless Chromium (report tests)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_PROBE = """<img id="aekit-control" alt="aekit-control" src="data:image/png;base64,iVBORw0KGgoAAAAAAAAAAAAA">
<pre id="aekit-probe">pending</pre><script>
window.addEventListener("load", function () {
  var out = [];
  for (var img of document.images)
    out.push({alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight});
  document.getElementById("aekit-probe").textContent = JSON.stringify(out);
});
</script>"""


class Chromium:
    """Debian's chromium, headless, with a fresh profile per launch; each launch is one real process."""

    def __init__(self, exe: str, workdir) -> None:
        self.exe, self.workdir = exe, workdir

    def run(self, url: str, *args: str, timeout: float = 180) -> str:
        import signal
        import subprocess
        import tempfile

        profile = tempfile.mkdtemp(prefix="profile-", dir=self.workdir)
        cmd = [self.exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"chromium did not finish within {timeout} s: {' '.join(cmd)}")
        if proc.returncode != 0:
            pytest.fail(f"chromium exited with {proc.returncode}: {err[-2000:]}")
        return out

    def render(self, page, width: int = 1200, height: int = 2400):
        """Open `page` (a file) once: a width × height screenshot (PIL image) and each <img> as Chromium loaded it.

        Chromium opens a copy of the page with a broken control image (alt 'aekit-control') and a small inline
        script appended at the end; once the page has loaded, the script writes every image's alt, complete,
        naturalWidth and naturalHeight into the DOM, which --dump-dom prints.
        """
        import html
        import json
        import re
        import tempfile
        from pathlib import Path

        from PIL import Image

        text = Path(page).read_text(encoding="utf-8")
        assert "</body>" in text, f"{page}: no </body>"
        probe = Path(tempfile.mkdtemp(prefix="render-", dir=self.workdir))
        (probe / "page.html").write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        dom = self.run(
            (probe / "page.html").as_uri(),
            "--dump-dom",
            f"--screenshot={probe / 'shot.png'}",
            f"--window-size={width},{height}",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
        )
        found = re.search(r'<pre id="aekit-probe">(.*?)</pre>', dom, re.S)
        assert found and found.group(1) != "pending", f"the probe script did not run: {dom[-500:]}"
        assert (probe / "shot.png").is_file(), "chromium wrote no screenshot"
        return Image.open(probe / "shot.png").convert("L"), json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    import shutil

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "Debian's chromium is not installed; the report tests need it: "
            "run `apt-get install -y chromium` (as .ci/run does)"
        )
    return Chromium(exe, tmp_path_factory.mktemp("chromium"))
