"""The `aekit` command as users meet it: a real process of this checkout's source (shared by the CLI tests).

`aekit_cli(ARGS)` runs `python -m aekit ARGS` in a process of its own, with its own exit code, its own file
descriptors 0-2 and the caller's working folder and environment, and returns a CompletedProcess. Most of a fresh
process's start is importing torch (about 1 s, the same for every command), so each test worker keeps one *zygote*:
a Python process started once that has imported torch, NumPy and `aekit.cli.main` (and nothing else: what a command
imports lazily it still imports itself). For each command the zygote forks; the child leaves the zygote's loop, points
its stdin at /dev/null and its stdout and stderr at files, takes the caller's folder, environment and argv, and runs
`aekit` as `python -m aekit` does (`runpy.run_module`), and ends as the interpreter would (SystemExit's code,
non-daemon threads joined, atexit handlers, stdio flushed) but without tearing down every module, which takes 0.4 s
with torch loaded. `fresh=True` (or `AEKIT_TEST_FRESH_CLI=1`, or a system without fork)
starts a new interpreter instead; tests/cli/test_main.py checks that both give the same output. A command whose
environment differs from the zygote's in what torch reads as it loads (OMP_NUM_THREADS, ATEN_CPU_CAPABILITY, …) gets
a new zygote.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
TIMEOUT = 300

_ZYGOTE = r"""
import json, os, sys
import numpy, torch  # the slow part of every command's start, paid once
import aekit.cli.main
requests, replies = sys.stdin, sys.stdout
while True:
    line = requests.readline()
    if not line:
        os._exit(0)
    req = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        break
    replies.write(json.dumps({"pid": pid}) + "\n"); replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"status": status}) + "\n"); replies.flush()
# the child: a process of its own from here on
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.close(null)
for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
    f = os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.dup2(f, fd)
    os.close(f)
sys.stdin = open(os.devnull)
os.chdir(req["cwd"])
os.environ.clear()
os.environ.update(req["env"])
sys.argv = [req["argv0"], *req["args"]]
import atexit, runpy, threading
try:
    runpy.run_module("aekit", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as e:  # what the interpreter makes of SystemExit's code
    code = e.code if e.code is None or isinstance(e.code, int) else (print(e.code, file=sys.stderr) or 1)
except BaseException:
    sys.excepthook(*sys.exc_info())
    code = 1
# the interpreter's own ending, less its teardown of every module (0.4 s with torch loaded): non-daemon threads
# joined, atexit handlers (weakref.finalize's too) run, stdio flushed; anything left unflushed is lost, never saved
threading._shutdown()
atexit._run_exitfuncs()
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except Exception:
        code = code or 120
os._exit(code or 0)
"""

# read once, when torch or its libraries load: a zygote started under other values is replaced
_AT_IMPORT = (
    "PYTHONPATH",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
    "PYTHONHASHSEED",
)
_zygote: tuple[tuple, subprocess.Popen] | None = None


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _start_zygote(env: dict) -> subprocess.Popen:
    global _zygote
    key = tuple(env.get(name) for name in _AT_IMPORT)
    if _zygote is None or _zygote[0] != key or _zygote[1].poll() is not None:
        if _zygote is not None and _zygote[1].poll() is None:
            _zygote[1].stdin.close()  # it exits at the end of its input
            _zygote[1].wait(timeout=60)
        zygote = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0
        )
        zygote.replies = b""
        _zygote = (key, zygote)
    return _zygote[1]


def _read_reply(zygote: subprocess.Popen, timeout: float | None) -> dict:
    """The zygote's next reply line, read straight from the pipe (a buffered reader could hold both of a fast
    command's replies while select() waits on the empty pipe)."""
    buffer = zygote.replies  # bytes read past the last line
    end = None if timeout is None else time.monotonic() + timeout
    while b"\n" not in buffer:
        left = None if end is None else max(0.0, end - time.monotonic())
        if not select.select([zygote.stdout], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(zygote.stdout.fileno(), 4096)
        if not chunk:
            raise RuntimeError("the aekit test zygote died")
        buffer += chunk
    line, _, zygote.replies = buffer.partition(b"\n")
    return json.loads(line)


def _forked(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = _env()
    zygote = _start_zygote(env)
    with tempfile.TemporaryDirectory(prefix="aekit-cli-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        out.touch()
        err.touch()
        req = {
            "args": args,
            "cwd": str(Path(cwd or os.getcwd()).resolve()),
            "env": env,
            "stdout": str(out),
            "stderr": str(err),
            "argv0": str(Path(SRC, "aekit", "__main__.py")),  # what `python -m aekit` puts in argv[0]
        }
        data = (json.dumps(req) + "\n").encode()
        while data:
            data = data[os.write(zygote.stdin.fileno(), data) :]
        pid = _read_reply(zygote, 60)["pid"]
        try:
            status = _read_reply(zygote, TIMEOUT)["status"]
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            _read_reply(zygote, 60)
            raise subprocess.TimeoutExpired(["aekit", *args], TIMEOUT) from None
        code = os.waitstatus_to_exitcode(status)
        return subprocess.CompletedProcess(
            [sys.executable, "-m", "aekit", *args],
            code,
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )


def aekit_cli(*args, cwd=None, check=False, fresh=False):
    """Run `python -m aekit ARGS` with this checkout's src/ first on the path; return the CompletedProcess."""
    args = [str(a) for a in args]
    if fresh or os.environ.get("AEKIT_TEST_FRESH_CLI") or not hasattr(os, "fork"):
        proc = subprocess.run(
            [sys.executable, "-m", "aekit", *args], capture_output=True, text=True, cwd=cwd, env=_env(), timeout=TIMEOUT
        )
    else:
        proc = _forked(args, cwd)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def modules_after(code: str, prefix: str) -> list[str]:
    """The modules named `prefix` or `prefix.*` that a fresh interpreter has imported after running `code`."""
    found = f"[m for m in sorted(sys.modules) if m == {prefix!r} or m.startswith({prefix!r} + '.')]"
    probe = f"{code}\nimport sys, json\nprint(json.dumps({found}))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env(), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
