"""Real-browser checks of the dashboard's content fixes (issue 21) that AppTest cannot make: a box and a lasso
selection on the Features scatter list the videos behind the points. Screenshots go to $AVVP_SCREENSHOT_DIR (default:
the test's temporary folder). Skips where chromium or playwright is absent, as tests/test_browser.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import CHROMIUM, DRAWN, browser_page, server  # noqa: F401  (server: the module's app fixture)

pytestmark = [
    pytest.mark.app,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]


CAPTION_CHANGED = """(before) => {
  const c = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].map(e => e.innerText)
    .find(t => t.includes('points selected in'));
  return c && c !== before; }"""


def _idle(page) -> None:
    """The script run is over and every chart and table has painted."""
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=90_000)
    page.wait_for_function(DRAWN, timeout=90_000)


def _drag(page, box, points) -> None:
    """Press, move through `points` (fractions of the plot area) and release: a box or lasso gesture."""
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def test_features_box_and_lasso_selection_lists_the_videos(server):  # noqa: F811
    url, base = server
    with browser_page(base, 1366, 1400) as (page, errors, shots):
        page.goto(f"{url}/features")
        page.get_by_text("Not computed yet").wait_for(timeout=90_000)
        page.get_by_text("PCA", exact=True).click()
        _idle(page)
        page.get_by_role("button", name="Compute").click()
        chart = page.get_by_test_id("stPlotlyChart").first
        chart.locator(".main-svg").first.wait_for(timeout=90_000)
        _idle(page)
        # After Compute the prompt and its button are gone: the plot stands alone.
        assert page.get_by_text("Not computed yet").count() == 0
        assert page.get_by_role("button", name="Compute").count() == 0
        page.screenshot(path=str(shots / "features_computed.png"), full_page=True)
        area = chart.locator(".nsewdrag").first.bounding_box()  # plotly's drag layer = the plot area

        # Lasso (the default drag mode): a wide polygon around the middle of the plot.
        _drag(page, area, [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.06)])
        page.get_by_text("points selected in").wait_for(timeout=90_000)
        page.get_by_test_id("stDataFrame").first.wait_for(timeout=90_000)  # the videos behind the points
        _idle(page)
        assert page.get_by_text("Traceback").count() == 0 and page.get_by_text("TypeError").count() == 0
        lasso_caption = page.get_by_text("points selected in").inner_text()
        assert int(lasso_caption.split()[0]) > 0 and "videos" in lasso_caption
        page.screenshot(path=str(shots / "features_lasso.png"), full_page=True)

        # Box: the modebar's box-select tool, then a drag over the left half.
        chart.hover()
        chart.locator('[data-val="select"]').first.click()
        _drag(page, area, [(0.02, 0.02), (0.5, 0.98)])
        page.wait_for_function(CAPTION_CHANGED, arg=lasso_caption, timeout=90_000)
        _idle(page)
        assert page.get_by_text("Traceback").count() == 0 and page.get_by_text("TypeError").count() == 0
        page.screenshot(path=str(shots / "features_box.png"), full_page=True)
    assert not errors, errors
    print("screenshots:", shots)


LIT_BESIDE = """() => { const gd = document.querySelectorAll('.js-plotly-plot')[1];
  return gd.data.map(t => (t.selectedpoints || []).length).reduce((a, b) => a + b, 0); }"""


def test_a_lasso_on_features_lights_the_same_points_in_the_checkpoint_beside_it(server):  # noqa: F811
    """Two checkpoints side by side: the left chart's lasso lists its videos and the right chart draws exactly those
    points at full strength (plotly's own selectedpoints in the browser), with no lasso tool of its own."""
    from avvp_core.data import LLPDataset
    from avvp_core.training.recipes import RecipeContext, run_recipe

    url, base = server
    if not (base / "runs" / "mmt").is_dir():  # the server's runs hold one HAN: a second checkpoint to set beside it
        run_recipe("plain", RecipeContext(LLPDataset(base / "tiny"), "mmt", base / "runs" / "mmt", "paper",
                                          {"dim": 16, "ffn_dim": 16}, {"epochs": 1}, terminal=False))
    with browser_page(base, 1366, 1400) as (page, errors, shots):
        page.goto(f"{url}/features?checkpoint=mmt&second=han&method=PCA&kind=audio+segments&colour=event+type")
        page.get_by_role("button", name="Compute").wait_for(timeout=90_000)
        page.get_by_role("button", name="Compute").click()
        charts = page.get_by_test_id("stPlotlyChart")
        charts.nth(1).locator(".main-svg").first.wait_for(timeout=90_000)
        _idle(page)
        assert charts.count() == 2 and charts.nth(1).locator('[data-val="lasso"]').count() == 0
        assert page.evaluate(LIT_BESIDE) == 0
        area = charts.first.locator(".nsewdrag").first.bounding_box()
        _drag(page, area, [(0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.1, 0.5), (0.1, 0.11)])
        page.get_by_text("points selected in").wait_for(timeout=90_000)
        _idle(page)
        selected = int(page.get_by_text("points selected in").inner_text().split()[0])
        assert selected > 0 and page.evaluate(LIT_BESIDE) == selected
        assert page.get_by_text(f"Where HAN · han puts the {selected:,} points selected on the left").count() == 1
        page.screenshot(path=str(shots / "features_beside.png"), full_page=True)
    assert not errors, errors


FIGURE_HEADERS = ["A", "V", "AV", "Type@AV", "Event@AV"]


def test_home_leaderboard_shows_all_ten_figures_on_a_laptop_screen(server):  # noqa: F811
    """At 1366 × 768 with the sidebar open, the leaderboard's grid renders the model column and all ten figures, and
    the next column after the last figure too (so the tenth is not cut). Glide's grid keeps an accessibility table of
    the columns it draws: only those in view."""
    url, base = server
    with browser_page(base, 1366, 768) as (page, errors, shots):
        page.goto(url)
        page.get_by_role("heading", name="Leaderboard").wait_for(timeout=90_000)
        _idle(page)
        page.get_by_role("heading", name="Leaderboard").scroll_into_view_if_needed()
        _idle(page)
        board = page.get_by_test_id("stDataFrame").first
        # the grid fills its accessibility table after it has painted: wait for the eleventh header cell
        board.locator("th").nth(10).wait_for(state="attached", timeout=60_000)
        headers = board.locator("th").all_inner_texts()
        assert headers[:11] == ["model", *FIGURE_HEADERS, *FIGURE_HEADERS], headers
        assert len(headers) > 11, headers  # a column after the tenth figure is drawn: the tenth is wholly in view
        assert page.get_by_text("segment-level", exact=False).count() >= 1
        page.screenshot(path=str(shots / "home_leaderboard_1366x768.png"))
