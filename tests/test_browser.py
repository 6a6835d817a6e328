"""A real browser (Debian's chromium driven by Playwright) visits every page of the running app, waits for its
content and saves a screenshot. Skips cleanly where chromium or playwright is absent (.ci/run installs them)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bench_script

REPO = Path(__file__).resolve().parents[1]


# one server starter, chromium and its flags, and the "page drawn" test for the benches and these tests
_common = bench_script("common")
CHROMIUM, DRAWN, FLAGS, streamlit_server = _common.CHROMIUM, _common.DRAWN, _common.FLAGS, _common.streamlit_server
RAN, RUN_OVER, WATCH_RUN = _common.RAN, _common.RUN_OVER, _common.WATCH_RUN

pytestmark = [
    pytest.mark.app,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]
# (page link text, text that proves the page rendered its content)
PAGES = [("Home", "Leaderboard"), ("Data", "Statistics"), ("Train", "Jobs"), ("Compare", "Per-class F1"),
         ("Errors", "Class confusion"), ("Thresholds", "Each threshold swept"), ("Features", "Not computed yet"),
         ("Attention", "Self-attention"),
         ("Imbalance", "DGM"), ("Lab", "What the papers predict"), ("Timelines", "videos match")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("playwright")
    from avvp_core.data import LLPDataset
    from avvp_core.data.synthetic import generate_and_cache
    from avvp_core.training.recipes import RecipeContext, run_recipe

    base = tmp_path_factory.mktemp("browser")
    data = generate_and_cache(base / "tiny", preset="tiny", seed=0)
    run_recipe("plain", RecipeContext(LLPDataset(data), "han", base / "runs" / "han", "paper",
                                      {"dim": 16, "ffn_dim": 16}, {"epochs": 1}, terminal=False))
    with streamlit_app({"AVVP_DEFAULT_DATA": str(data), "AVVP_RUNS_DIR": str(base / "runs")}) as url:
        yield url, base


@contextlib.contextmanager
def browser_page(base: Path, width: int, height: int) -> Iterator[tuple]:
    """A headless Chromium page of width × height, the page errors it records and the screenshot folder
    ($AVVP_SCREENSHOT_DIR, default: <base>/screenshots); the browser closes on leaving."""
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("AVVP_SCREENSHOT_DIR", base / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page, errors, shots
        finally:
            browser.close()


@contextlib.contextmanager
def streamlit_app(env: dict[str, str], *flags: str) -> Iterator[str]:
    """`streamlit run app.py` on a free localhost port with `env` added, until it answers its health check; yields
    its URL and stops it afterwards. Fails the test if it does not come up within 60 s."""
    with contextlib.ExitStack() as stack:
        try:
            url, _ = stack.enter_context(streamlit_server(env, *flags, timeout=60))
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield url


def test_every_page_renders_in_a_real_browser(server):
    url, base = server
    timings = {}
    # Streamlit scrolls inside its own container, so a full-page screenshot shows one viewport: make it tall.
    with browser_page(base, 1300, 2400) as (page, errors, shots):
        # A fresh server's first visit on a page's URL (a bookmark) goes through app.py: its navigation and sidebar.
        page.goto(f"{url}/errors")
        page.get_by_text("Data in use").wait_for(timeout=60_000)
        assert page.get_by_role("heading", name="Errors").count() == 1
        assert page.get_by_role("link", name="Home").count() == 1 and page.get_by_role("link", name="app").count() == 0
        t0 = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name="AVVP Lab").wait_for(timeout=60_000)
        timings["first content"] = time.perf_counter() - t0
        for link, marker in PAGES:
            t0 = time.perf_counter()
            page.get_by_role("link", name=link).click()
            page.get_by_text(marker).first.wait_for(timeout=60_000)
            timings[link] = time.perf_counter() - t0
            # the script run is over when Streamlit's "running" widget is gone: then the screenshot shows it all
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)
            page.wait_for_function(DRAWN, timeout=60_000)  # lazy-loaded charts and tables have painted
            assert page.get_by_text("Traceback").count() == 0, f"{link} shows a traceback"
            page.screenshot(path=str(shots / f"{link.lower()}.png"), full_page=True)
        # Timelines draws the synchronised player (video and timeline grid) for the trained model.
        page.frame_locator('iframe[title*="avvp_synced_player"]').locator("td.cell").first.wait_for(timeout=60_000)
    assert not errors, errors
    assert sorted(f.name for f in shots.glob("*.png")) == sorted(f"{p.lower()}.png" for p, _ in PAGES)
    print("browser timings (s):", {k: round(v, 2) for k, v in timings.items()}, "screenshots:", shots)
