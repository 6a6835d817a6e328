"""App speed under Streamlit's AppTest: cold start to first content (a fresh Python process: interpreter, imports
and the first run of app.py, which renders Home), then every page of app.py's list, first visit (cold caches:
models loaded, predictions computed) and second visit (warm caches).

    python bench/bench_app.py [--data data/synthllp-mini] [--repeats 3] [--timeout 300] [--tsne 10000]

Checkpoints are searched in checkpoints/ and runs/ (the shipped zoo and the user's runs) where present; only those
trained on --data show up in the pages. Pages are read from app.py's `st.Page(...)` lines, in order.
AppTest runs the scripts without a browser: the times are server-side script runs (no network, no rendering
in a browser; tests/test_browser.py drives a real one).
--tsne N also times the Features page's t-SNE of N segments (audio + visual segments of the test split, first
checkpoint trained on --data) cold (extract + PCA + openTSNE, into a temporary cache folder) and cached (the .npz
read back); off by default (minutes for 10,000 points on two cores).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from common import REPO, ChildFailed, machine_info, run_child

PAGE_RE = re.compile(r'st\.Page\(\s*"([^"]+)"[^)]*?title="([^"]+)"')


def app_pages() -> list[tuple[str, str]]:
    """(script path, title) of every page in app.py, in the order listed."""
    return PAGE_RE.findall((REPO / "app.py").read_text())


def summary(at) -> dict:
    """What the run left on screen: exceptions, error boxes, element counts, the first heading."""
    main = at.main
    heading = next((e.value for kind in ("title", "header", "subheader") for e in getattr(main, kind)), "")
    return {"exceptions": len(at.exception), "errors": [e.value[:90] for e in at.error], "heading": heading,
            "infos": [e.value[:70] for e in at.info],
            "elements": sum(1 for _ in main), "dataframes": len(at.dataframe),
            "charts": len(main.get("plotly_chart"))}


WIDGET_KINDS = ("selectbox", "radio", "multiselect", "toggle")


def change_widget(at) -> str | None:
    """Change the page's first widget that can take another value (back and forth on successive calls); returns
    what was changed, None when the page has none. The caller times the rerun that follows."""
    for kind in WIDGET_KINDS:
        for w in getattr(at, kind):
            if w.disabled or getattr(w, "format_func", None) not in (None, str):
                continue  # AppTest cannot map a value back through a format_func that shows another string
            label = f"{kind} '{w.label}'"
            if kind == "toggle":
                w.set_value(not w.value)
            elif kind == "selectbox" and len(w.options) > 1:
                w.select_index(1 if w.index == 0 else 0)
            elif kind == "radio" and len(w.options) > 1:
                w.set_value(w.options[1 if w.index == 0 else 0])
            elif kind == "multiselect" and len(w.value) > 1:
                w.set_value(list(w.value)[:-1])
            else:
                continue
            return label
    return None


def child(args: argparse.Namespace) -> dict:
    from streamlit.testing.v1 import AppTest

    from avvp_core.ui import StateKeys

    roots = [str(REPO / d) for d in ("checkpoints", "runs") if (REPO / d).is_dir()]
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=args.timeout)
    at.session_state[StateKeys.DATA_ROOT] = str(args.data)
    at.session_state[StateKeys.CHECKPOINT_ROOTS] = roots
    at.run()
    first = time.time() - args.launched  # from the parent's Popen: interpreter + imports + first run
    result = {"first_content_s": first, "home": summary(at), "pages": []}
    if not args.pages:
        return result
    for path, title in app_pages():
        row = {"page": title, "path": path}
        for visit in ("cold", "warm"):
            at.switch_page(path)
            t0 = time.perf_counter()
            at.run()
            row[f"{visit}_s"] = time.perf_counter() - t0
        row.update(summary(at))
        changes = []
        for _ in range(args.changes):  # a widget change = one rerun of the page with the new value
            what = change_widget(at)
            if what is None:
                break
            t0 = time.perf_counter()
            try:
                at.run()
            except ValueError as exc:  # AppTest cannot map back a value its format_func shows differently
                row["change_error"] = f"{what}: {str(exc)[:80]}"
                at.switch_page(path)
                at.run()
                break
            changes.append(time.perf_counter() - t0)
            row["widget"] = what
            row.setdefault("change_exceptions", 0)
            row["change_exceptions"] += len(at.exception)
        row["changes_s"] = changes
        result["pages"].append(row)
    return result


def zoo(data: Path) -> list:
    """Checkpoints (cards) under checkpoints/ and runs/ trained on `data`, complete ones only."""
    from avvp_core.checkpoints import list_checkpoints
    from avvp_core.data import LLPDataset

    fingerprint = LLPDataset(data).fingerprint()
    return [c for d in ("checkpoints", "runs") if (REPO / d).is_dir() for c in list_checkpoints(REPO / d)
            if (c.config.get("data") or {}).get("fingerprint") == fingerprint and c.metrics.get("complete")]


def tsne_timing(data: Path, card, points: int) -> tuple[float, float, int]:
    """(cold s, cached s, points) of the Features page's t-SNE embedding, in a temporary cache folder."""
    import tempfile

    from avvp_core.analysis.features import embedding
    from avvp_core.data import LLPDataset

    split = LLPDataset(data).split("test")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        frame = embedding(card.path, split, "audio + visual segments", "t-SNE", points, cache_dir=tmp)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = embedding(card.path, split, "audio + visual segments", "t-SNE", points, cache_dir=tmp)
        cached = time.perf_counter() - t0
    assert len(frame) == len(again)
    return cold, cached, len(frame)


def app_child(args: argparse.Namespace, pages: bool) -> dict:
    argv = [__file__, "--child", "--data", str(args.data), "--timeout", str(args.timeout),
            "--changes", str(args.changes), "--launched", repr(time.time())] + (["--pages"] if pages else [])
    try:
        return run_child(argv)
    except ChildFailed as exc:
        raise SystemExit(f"child failed:\n{exc.stderr[-2000:]}") from None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO / "data" / "synthllp-mini")
    p.add_argument("--repeats", type=int, default=3, help="fresh processes timed for the cold start")
    p.add_argument("--timeout", type=float, default=300.0, help="AppTest timeout per script run (s)")
    p.add_argument("--tsne", type=int, default=0, help="also time a t-SNE of this many segments (0: skip)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--changes", type=int, default=4, help="widget changes timed per page (0: none)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--pages", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    print(machine_info())
    if not (args.data / "AVVP_train.csv").is_file():
        raise SystemExit(f"no data at {args.data}: python -m avvp_core synth {args.data} --preset mini")
    roots = [d for d in ("checkpoints", "runs") if (REPO / d).is_dir()]
    cards = zoo(args.data)
    print(f"data: {args.data}; checkpoint roots: {', '.join(roots)}; {len(cards)} checkpoints trained on this data "
          f"({', '.join(sorted({c.model for c in cards}))})")
    full = app_child(args, pages=True)  # also warms the OS page cache for the timed cold starts
    starts = [app_child(args, pages=False)["first_content_s"] for _ in range(args.repeats)]
    home = full["home"]
    print(f"cold start to first content (fresh process -> Home rendered): median {statistics.median(starts):.2f} s "
          f"over {len(starts)} ({' '.join(f'{s:.2f}' for s in starts)}); in the page run {full['first_content_s']:.2f}"
          f" s; Home: {home['elements']} elements, {home['dataframes']} tables, exceptions {home['exceptions']}")
    print(f"{'page':<12}{'first visit s':>14}{'again s':>9}{'elements':>10}{'tables':>8}{'charts':>8}"
          "  heading / errors")
    for r in full["pages"]:
        note = r["heading"] + (f"; EXCEPTIONS {r['exceptions']}" if r["exceptions"] else "") + \
            "".join(f"; error: {e}" for e in r["errors"]) + "".join(f"; info: {e}" for e in r["infos"][:1])
        print(f"{r['page']:<12}{r['cold_s']:>14.2f}{r['warm_s']:>9.2f}{r['elements']:>10}{r['dataframes']:>8}"
              f"{r['charts']:>8}  {note}")
    print("\nwidget change (one rerun of the page; the first change, then the median of the others):")
    for r in full["pages"]:
        ch = r.get("changes_s") or []
        if not ch:
            print(f"{r['page']:<12} no widget to change" + (f" (AppTest: {r['change_error']})"
                                                           if r.get("change_error") else ""))
            continue
        rest = statistics.median(ch[1:]) if len(ch) > 1 else float("nan")
        print(f"{r['page']:<12}{ch[0]:>8.2f} s{rest:>8.2f} s  {r.get('widget')}"
              + (f"  EXCEPTIONS {r['change_exceptions']}" if r.get("change_exceptions") else ""))
    tsne = None
    if args.tsne and cards:
        cold, cached, n = tsne_timing(args.data, cards[0], args.tsne)
        tsne = {"checkpoint": str(cards[0].path), "points": n, "cold_s": cold, "cached_s": cached}
        print(f"t-SNE of {n:,} segments ({cards[0].path.name}, test): cold {cold:.1f} s, cached {cached:.2f} s "
              f"({cold / cached:.0f}x)")
    if args.json:
        args.json.write_text(json.dumps({"cold_starts": starts, **full, "tsne": tsne}, indent=1))


if __name__ == "__main__":
    main()
