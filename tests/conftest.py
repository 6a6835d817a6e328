"""Shared fixtures: a tiny SynthLLP folder (generated once per session) and seeded batches."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import inspect
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest
import torch

# Tests use the machine's cores modestly and never the network.
# Under pytest-xdist each worker takes one core, so a worker's torch uses one thread.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))
# No background prediction warm-up from the pages that tests (and their browser servers) run: it would outlive the
# test's temporary folders and compete for the cores; tests/test_predcache.py covers it.
os.environ.setdefault("AVVP_PREDICTION_WARMUP", "0")

# The app's default data folder (data/synthllp-mini) is generated in the background the first time a page needs it:
# a test running app.py on a fresh clone would start a 460 MB generation inside the repository, competing for the
# cores. Unless the caller names one, the default is a tiny SynthLLP of this process's own (the `default_data`
# fixture); the first-start tests point ui.DEFAULT_DATA at folders of their own. The xdist workers inherit the
# controller's environment (its conftest runs first), hence the second variable: each worker makes its own folder.
TESTS_OWN_DEFAULT = "AVVP_DEFAULT_DATA" not in os.environ or os.environ.get("AVVP_TESTS_OWN_DEFAULT_DATA") == "1"
if TESTS_OWN_DEFAULT:
    _DEFAULT_DATA_ROOT = Path(tempfile.mkdtemp(prefix="avvp-tests-default-"))
    atexit.register(shutil.rmtree, _DEFAULT_DATA_ROOT, True)
    os.environ["AVVP_DEFAULT_DATA"] = str(_DEFAULT_DATA_ROOT / "synthllp-tiny")
    os.environ["AVVP_TESTS_OWN_DEFAULT_DATA"] = "1"

SHARED = Path(os.environ.get("AVVP_SHARED", Path(__file__).resolve().parents[2] / "shared"))
LLP_ANNOTATIONS = Path(os.environ.get("AVVP_LLP_ANNOTATIONS", SHARED / "llp_annotations"))
BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_script(name: str, module_name: str | None = None) -> ModuleType:
    """bench/<name>.py, loaded by its path (bench/ is scripts, not a package), registered under `module_name`
    (default "avvp_bench_<name>", so its names shadow no other module). bench/ goes on sys.path first: the scripts
    import their sibling `common`."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(module_name or f"avvp_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def bench_main(module: ModuleType, *args: str) -> subprocess.CompletedProcess:
    """A bench script's main() run in this process as `python bench/<script>.py ARGS` runs it: the same stdout,
    stderr and exit status (argparse's refusals and SystemExit messages included), without a subprocess's Python and
    torch start-up (about 3 s with torch 2.13). For the calls after a test's first, which stays a subprocess as a user
    runs it. sys.argv and the environment are restored afterwards; a call that would change other process state (a
    script setting torch's threads in its own process) stays a subprocess."""
    argv = [module.__file__, *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), mock.patch.object(sys, "argv", argv), \
            mock.patch.dict(os.environ):
        try:
            takes_argv = bool(inspect.signature(module.main).parameters)
            rc = module.main(list(argv[1:])) if takes_argv else module.main()
        except SystemExit as exc:  # as the interpreter ends: a message goes to stderr with status 1
            code = exc.code
            if code is None or isinstance(code, int):
                rc = code
            else:
                print(code, file=sys.stderr)
                rc = 1
    return subprocess.CompletedProcess(argv, rc or 0, out.getvalue(), err.getvalue())


SHALLOW_BAD = (None, [1], "x")  # a null, a container of the wrong kind, a scalar of the wrong kind


def json_paths(document, depth: int | None = None, prefix: tuple = ()):
    """Every path (keys and list indices) to a value of the JSON `document`, depth first, down to `depth` keys."""
    items = document.items() if isinstance(document, dict) else enumerate(document) if isinstance(document, list) \
        else ()
    for k, v in items:
        if depth is None or len(prefix) < depth:
            yield prefix + (k,)
            yield from json_paths(v, depth, prefix + (k,))


def replaced(document, path: tuple, value):
    """The JSON `document` with the value at `path` replaced by `value` (path (): the whole document), as a new
    document: the objects and lists along `path` are copied, the rest is shared with `document` (a sweep over a
    300 KB record copies a few small containers per swap instead of the whole record); readers never mutate it."""
    if not path:
        return value
    head, *rest = path
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = replaced(document[head], tuple(rest), value)
    return copy


def shallow_swaps(document, depth: int = 3):
    """(path, damaged copy) for the whole JSON `document` and for each value down to `depth` keys or list indices,
    each swapped for each of SHALLOW_BAD (path () is the whole document): random swaps rarely reach these few
    values, where a reader expecting an object or a number meets the wrong type."""
    before = json.dumps(document, sort_keys=True)
    for path in [(), *json_paths(document, depth)]:
        for bad in SHALLOW_BAD:
            yield path, replaced(document, path, bad)
    # the swaps share what they do not replace with `document`: a reader that changed one changed them all
    assert json.dumps(document, sort_keys=True) == before, "a reader changed the JSON document it was given"


def pytest_configure(config):
    config.addinivalue_line("markers", "app: Streamlit AppTest / browser tests")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """SynthLLP `tiny` (60/20/20 videos), features cached. Read-only for tests: copy before mutating."""
    from avvp_core.data.synthetic import generate_and_cache

    return generate_and_cache(tmp_path_factory.mktemp("synth") / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session", autouse=True)
def default_data() -> Path | None:
    """The app's default data folder for this session (AVVP_DEFAULT_DATA, set above): SynthLLP `tiny`, ready before
    the first test, so no page starts the background generation of `mini`. None where the caller named the folder."""
    if not TESTS_OWN_DEFAULT:
        return None
    from avvp_core.data.synthetic import generate_and_cache

    return generate_and_cache(Path(os.environ["AVVP_DEFAULT_DATA"]), preset="tiny", seed=0)


def make_batch(batch: int = 3, frames: int = 10, seed: int = 0):
    from avvp_core.schema import Batch

    g = torch.Generator().manual_seed(seed)
    labels = (torch.rand(batch, 25, generator=g) < 0.15).float()
    return Batch(torch.randn(batch, 10, 128, generator=g), torch.randn(batch, frames, 2048, generator=g),
                 torch.randn(batch, 10, 512, generator=g), labels, index=torch.arange(batch))


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A temporary user runs folder for jobs and uploads (paths.RUNS_DIR is read when a job starts)."""
    from avvp_core import paths

    folder = tmp_path / "runs"
    monkeypatch.setattr(paths, "RUNS_DIR", folder)
    monkeypatch.setenv("AVVP_RUNS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_han(tiny_data, tmp_path_factory) -> Path:
    """A runs folder holding one 1-epoch HAN (dim 16) trained on tiny_data, shown as "HAN · han": trained once per
    session for the page tests; treat it as read-only."""
    from avvp_core.data import LLPDataset
    from avvp_core.training.recipes import RecipeContext, run_recipe

    runs = tmp_path_factory.mktemp("tiny_han") / "runs"
    run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", runs / "han", "paper", {"dim": 16, "ffn_dim": 16},
                                      {"epochs": 1}, terminal=False))
    return runs


def app_page(page: str, data_root: Path | str, checkpoint_roots: list | None = None, timeout: int = 60,
             query: dict[str, str] | None = None):
    """AppTest of one page script (pages/<page>.py) on a data folder and checkpoint roots, run once; `query`: the URL's
    query parameters it opens with (a link, a reload)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / f"{page}.py"), default_timeout=timeout)
    at.session_state["data_root"] = str(data_root)
    at.session_state["checkpoint_roots"] = [str(r) for r in checkpoint_roots or []]
    at.query_params.update(query or {})
    return at.run()
