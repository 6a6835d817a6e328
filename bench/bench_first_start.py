"""First start in a real browser (Playwright driving /usr/bin/chromium): a fresh data folder, a fresh server, the
first page load; when each thing appears on Home (title, the shipped demo video, the zoo's leaderboard, the
generation's progress, then the full Home once SynthLLP is generated in the background), and what a page that needs
the data shows meanwhile.

    python bench/bench_first_start.py [--preset mini] [--json OUT] [--timeout 900]

Times are from the first `page.goto` of Home (the server already answers its health check; its own start-up is
printed apart). --preset tiny makes the whole run take seconds (what tests/test_browser.py runs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from common import CHROMIUM, FLAGS, streamlit_server


def measure(base: Path, preset: str = "mini", timeout: float = 900.0) -> dict:
    """Start a server on an empty data folder under `base`, load Home, time what appears; returns the figures."""
    from playwright.sync_api import sync_playwright

    data = base / "data"
    env = {"AVVP_DATA_DIR": str(data), "AVVP_DEFAULT_DATA": str(data / "synthllp-mini"),
           "AVVP_DEFAULT_PRESET": preset, "AVVP_RUNS_DIR": str(base / "runs")}
    out: dict = {"preset": preset}
    try:
        with streamlit_server(env) as (url, healthy_s), sync_playwright() as p:
            out["server_healthy_s"] = healthy_s
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1300, "height": 2000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            t0 = time.perf_counter()
            page.goto(url, timeout=timeout * 1000)
            # Poll what is on screen (every 0.1 s) and note when each thing first shows: the progress box is
            # transient (with tiny it may never be seen), the rest stays.
            marks = {
                "title": page.get_by_role("heading", name="AVVP Lab"),
                "demo video": page.locator("video"),
                "leaderboard": page.locator('[data-testid="stDataFrame"] canvas'),
                "progress": page.get_by_text("being generated in the background"),
                "full_home": page.get_by_text("Dataset in use"),
            }
            other = None
            while "full_home_s" not in out:
                now = time.perf_counter() - t0
                for name, locator in marks.items():
                    if f"{name}_s" not in out and locator.count() and locator.first.is_visible():
                        out[f"{name}_s"] = now
                home_marks = ("title_s", "demo video_s", "leaderboard_s", "progress_s")
                if other is None and all(k in out for k in home_marks):  # then a tab on a page that needs the data
                    other = browser.new_page(viewport={"width": 1300, "height": 1200})
                    t1 = time.perf_counter()
                    other.goto(f"{url}/compare", timeout=timeout * 1000)
                    other.get_by_text("This page needs the benchmark data").first.wait_for(timeout=timeout * 1000)
                    out["compare_waiting_notice_s"] = time.perf_counter() - t1
                if now > timeout:
                    raise RuntimeError(f"Home not complete after {timeout:.0f} s: {out}")
                time.sleep(0.1)
            if other is not None:  # the waiting page fills in by itself too
                # with the shipped zoo (trained on mini) Compare compares; on other data (--preset tiny) it says that
                # no model was trained on it yet: either is the page usable
                usable = other.get_by_text("Per-class F1").or_(other.get_by_text("No trained model for this data yet"))
                usable.first.wait_for(timeout=timeout * 1000)
                out["compare_usable_s"] = time.perf_counter() - t0
                compared = other.get_by_text("Per-class F1").count()
                out["compare_shows"] = "models" if compared else "no model for this data"
            out["page_errors"] = errors
            out["tracebacks"] = sum(p.get_by_text("Traceback").count() for p in (page, other) if p is not None)
            browser.close()
    finally:
        progress = data / ".synthllp-mini.progress.json"
        out["generation"] = json.loads(progress.read_text()) if progress.is_file() else None
        pid = (out["generation"] or {}).get("pid")
        if out["generation"] and out["generation"].get("state") == "running" and pid:
            # the generation is detached from the server on purpose (it outlives it); this run's is ended here
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
        print(json.dumps(out), file=sys.stderr)  # what was measured, also when a mark timed out
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="mini")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for each mark")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="avvp-first-start-", ignore_cleanup_errors=True) as tmp:
        result = measure(Path(tmp), args.preset, args.timeout)
    for key, value in result.items():
        print(f"{key:<26} {value:.2f} s" if isinstance(value, float) else f"{key:<26} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
