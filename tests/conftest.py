"""Shared fixtures: a tiny SynthLLP folder (generated once per session) and seeded batches."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

# Tests use the machine's cores modestly and never the network.
torch.set_num_threads(min(2, os.cpu_count() or 1))
# No background prediction warm-up from the pages that tests (and their browser servers) run: it would outlive the
# test's temporary folders and compete for the cores; tests/test_predcache.py covers it.
os.environ.setdefault("AVVP_PREDICTION_WARMUP", "0")

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
    """A copy of the JSON `document` with the value at `path` replaced by `value` (path (): the whole document)."""
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return copy


def shallow_swaps(document, depth: int = 3):
    """(path, damaged copy) for the whole JSON `document` and for each value down to `depth` keys or list indices,
    each swapped for each of SHALLOW_BAD (path () is the whole document): random swaps rarely reach these few
    values, where a reader expecting an object or a number meets the wrong type."""
    for path in [(), *json_paths(document, depth)]:
        for bad in SHALLOW_BAD:
            yield path, replaced(document, path, bad)


def pytest_configure(config):
    config.addinivalue_line("markers", "app: Streamlit AppTest / browser tests")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """SynthLLP `tiny` (60/20/20 videos), features cached. Read-only for tests: copy before mutating."""
    from avvp_core.data.synthetic import generate_and_cache

    return generate_and_cache(tmp_path_factory.mktemp("synth") / "tiny", preset="tiny", seed=0)


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


def app_page(page: str, data_root: Path | str, checkpoint_roots: list | None = None, timeout: int = 60):
    """AppTest of one page script (pages/<page>.py) on a data folder and checkpoint roots, run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / f"{page}.py"), default_timeout=timeout)
    at.session_state["data_root"] = str(data_root)
    at.session_state["checkpoint_roots"] = [str(r) for r in checkpoint_roots or []]
    return at.run()
