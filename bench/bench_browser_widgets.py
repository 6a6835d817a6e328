"""Widget changes in a real browser (Playwright driving /usr/bin/chromium) on the data in use: on each page, click
the second option of its first radio (a new value: what that view computes the first time), then the first option
again (back to a view already computed), and time each from the click until the rerun is over and every chart and
table has painted. Times come from the page's own clock and stApp's script state, so nothing is missed when a rerun
is quicker than a poll.

    python bench/bench_browser_widgets.py [--data data/synthllp-mini] [--pages compare timelines ...] [--json OUT]

The server lists the checkpoints in checkpoints/ (the shipped zoo) and runs/, as `streamlit run app.py` does.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from common import CHROMIUM, DRAWN, FLAGS, RAN, REPO, RUN_OVER, WATCH_RUN, machine_info, streamlit_server

PAGES = ("compare", "timelines", "errors", "attention", "imbalance", "train", "data", "features")
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _change(page, option) -> float:
    """Seconds from a click on `option` until the rerun it starts is over and painted."""
    t0 = page.evaluate(WATCH_RUN)
    option.click()
    page.wait_for_function(RAN, timeout=10_000)
    page.wait_for_function(RUN_OVER, timeout=180_000)
    page.wait_for_function(DRAWN, timeout=180_000)
    return round((page.evaluate("() => performance.now()") - t0) / 1000, 2)


def measure(data: Path, pages: tuple[str, ...] = PAGES) -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with streamlit_server({"AVVP_DEFAULT_DATA": str(data)}) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name in pages:
            page.goto(f"{url}/{name}")
            page.wait_for_selector(IDLE, timeout=300_000)
            page.wait_for_function(DRAWN, timeout=300_000)
            page.wait_for_timeout(1500)  # lazy parts (fragments, components) settle
            radios = page.locator('[data-testid="stRadio"]')
            if radios.count() == 0:
                out[name] = {"widget": None}
                continue
            radio = radios.first
            options = radio.locator('[role="radiogroup"] label')
            label = radio.locator('[data-testid="stWidgetLabel"]').inner_text()
            new = _change(page, options.nth(1))
            page.wait_for_timeout(800)
            back = _change(page, options.first)
            out[name] = {"widget": f"{label}: {options.nth(1).inner_text()} and back",
                         "new_value_s": new, "back_s": back}
            print(name, out[name], flush=True)
        browser.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO / "data" / "synthllp-mini")
    p.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES), help="the pages to measure, in order")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    print(machine_info())
    out = {"data": str(args.data), "pages": measure(args.data, tuple(args.pages)), "load_average": os.getloadavg()}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
