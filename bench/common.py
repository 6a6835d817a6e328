"""Shared by the bench scripts: machine info and small formatting helpers (plain Python, no test framework)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BENCH_DATA = REPO / "runs" / "bench" / "synthllp-full"
CHROMIUM = "/usr/bin/chromium"  # Debian's, driven by Playwright (never `playwright install`)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# A page is drawn when every plotly chart has its SVG, every visible dataframe its canvas, and no lazy-loading
# placeholder is left (waited for by the browser benches and tests). A dataframe in a closed expander (Home's claims
# table) keeps its offsetParent but draws its canvas only when opened: checkVisibility() says it is not shown.
DRAWN = """() =>
  [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'))
  && [...document.querySelectorAll('[data-testid="stDataFrame"]')]
       .every(f => !f.offsetParent || !f.checkVisibility() || f.querySelector('canvas'))
  && !document.querySelector('[data-testid="stSkeleton"]')"""
# A click's rerun, observed: WATCH_RUN (evaluated just before the click) records every change of stApp's script state,
# RAN says the run the click requested has begun, RUN_OVER that it is over. Waiting for an idle page alone is not
# enough: on a loaded machine the rerun can begin after the idle page was seen (a page switch clicked then races it).
WATCH_RUN = """() => { window.__states = []; const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => window.__states.push(app.getAttribute('data-test-script-state')))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); return performance.now(); }"""
RAN = "() => window.__states.includes('running')"
RUN_OVER = "() => window.__states.length && window.__states[window.__states.length - 1] === 'notRunning'"


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], *flags: str, timeout: float = 120.0) -> Iterator[tuple[str, float]]:
    """`streamlit run app.py [FLAGS]` on a free localhost port with `env` added; yields (its URL, seconds until it
    answered its health check) and stops it afterwards. RuntimeError if it does not answer within `timeout` s.
    The bench scripts and the real-browser tests (tests/test_browser.py) start their servers with it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false", *flags], cwd=REPO, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"streamlit did not become healthy within {timeout:.0f} s")
        yield url, time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def machine_info() -> str:
    import numpy as np
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"machine: {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, GPU {gpu}; "
            f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}")


def rss_mb() -> float:
    """This process's resident set size now (MiB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM, MiB). Not getrusage's maxrss: Linux carries that over exec from the forking
    parent, so a child of a big parent would report the parent's size."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


class ChildFailed(RuntimeError):
    """A benchmark child process exited non-zero; `str()` is the last line of its stderr, `.stderr` all of it."""

    def __init__(self, stderr: str):
        super().__init__((stderr.strip().splitlines() or ["?"])[-1])
        self.stderr = stderr


def run_child(argv: list[str]) -> dict:
    """Run `python ARGV` from the repository root (a script's own --child mode: a fresh process, so its memory and
    start-up are its own) and return the JSON object on the last line of its stdout; ChildFailed if it fails."""
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise ChildFailed(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def checkpoints_on_truth_args(description: str, argv: list[str] | None = None):
    """The arguments of the benches that run checkpoints on a split's dense truth (localisation, event
    fragmentation): --data, --checkpoint (default: the shipped zoo), --split, --json."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", required=True)
    ap.add_argument("--checkpoint", nargs="*", default=None, help="default: the shipped zoo")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    return ap.parse_args(argv)


def split_and_checkpoints(args) -> tuple:
    """The split with its dense truth and the checkpoint folders the arguments name; InputError (one line) when the
    split has no dense truth or the data is not there."""
    from avvp_core.data import LLPDataset
    from avvp_core.errors import InputError
    from avvp_core.paths import CHECKPOINTS_DIR
    from avvp_core.zoo import shipped

    split = LLPDataset(args.data).split(args.split)
    if not split.has_truth:
        raise InputError(f"split {args.split!r} has no dense truth to compare with", args.data)
    return split, ([Path(c) for c in args.checkpoint] if args.checkpoint else shipped(CHECKPOINTS_DIR))
