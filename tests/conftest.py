"""Tiny shared fixtures: real MNIST subsets, small and seeded, CPU only."""

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def mnist_small():
    """2,000 real MNIST training images and 500 test images, as float32 rows in [0, 1]."""
    from aekit import load_dataset

    ds = load_dataset("mnist")
    return ds.x_train[:2000].copy(), ds.y_train[:2000].copy(), ds.x_test[:500].copy(), ds.y_test[:500].copy()


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Two real run folders (MNIST, 300 training rows, 2 epochs): a plain one and a sparse denoising one."""
    from aekit import TrainConfig, train

    root = tmp_path_factory.mktemp("runs")
    plain = train(None, TrainConfig(epochs=2), limit=300, out=root / "plain", verbose=0)
    sparse_denoising = train(None, TrainConfig(epochs=2, optimizer="adam", l1=1e-5, noise="gaussian", noise_level=0.3),
                             limit=300, out=root / "sparse-denoising", verbose=0)
    return plain, sparse_denoising


# --------------------------------------------------------------------------- headless Chromium (report tests)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
_PROBE = """<img id="aekit-control" alt="aekit-control" src="data:image/png;base64,iVBORw0KGgoAAAAAAAAAAAAA">
<pre id="aekit-probe">pending</pre><script>
window.addEventListener("load", function () {
  var out = [];
  for (var img of document.images) out.push({alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight});
  document.getElementById("aekit-probe").textContent = JSON.stringify(out);
});
</script>"""


class Chromium:
    """Debian's chromium, headless, with a fresh profile per launch; each launch is one real process."""

    def __init__(self, exe: str, workdir) -> None:
        self.exe, self.workdir, self.launches = exe, workdir, 0

    def run(self, url: str, *args: str, timeout: float = 180) -> str:
        import signal
        import subprocess
        import tempfile

        profile = tempfile.mkdtemp(prefix="profile-", dir=self.workdir)
        cmd = [self.exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url]
        self.launches += 1
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

    def screenshot(self, page, out, width: int, height: int):
        """A PNG screenshot of `page` (a file) in a width × height window."""
        from pathlib import Path

        self.run(Path(page).resolve().as_uri(), f"--screenshot={out}", f"--window-size={width},{height}", "--hide-scrollbars")
        return out

    def image_sizes(self, page) -> list[dict]:
        """Each <img> of `page` as Chromium loaded it: alt, complete, naturalWidth/Height.

        A copy of the page with a small inline script (and a broken control image, alt 'aekit-control')
        is opened with --dump-dom; the script writes the sizes into the DOM once the page has loaded.
        """
        import html
        import json
        import re
        import tempfile
        from pathlib import Path

        text = Path(page).read_text(encoding="utf-8")
        assert "</body>" in text, f"{page}: no </body>"
        fd, probe = tempfile.mkstemp(suffix=".html", dir=Path(page).parent)
        os.close(fd)
        try:
            Path(probe).write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
            dom = self.run(Path(probe).as_uri(), "--dump-dom", "--virtual-time-budget=10000")
        finally:
            os.unlink(probe)
        found = re.search(r'<pre id="aekit-probe">(.*?)</pre>', dom, re.S)
        assert found and found.group(1) != "pending", f"the probe script did not run: {dom[-500:]}"
        return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    import shutil

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian's chromium is not installed; the report tests need it: run `apt-get install -y chromium` (as .ci/run does)")
    return Chromium(exe, tmp_path_factory.mktemp("chromium"))
