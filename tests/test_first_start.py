"""First start: the default benchmark is generated in the background (avvp_core.firststart) while Home shows what
ships and the other pages say they wait; one generation at a time, a lock that a kill releases, no partial folder.
SynthLLP `tiny` stands in for `mini` (a second instead of half a minute)."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from avvp_core import firststart

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.app


@pytest.fixture
def fresh_default(tmp_path, monkeypatch):
    """An empty data folder as on a fresh clone; the app's default benchmark is SynthLLP tiny there."""
    from avvp_core import ui

    default = tmp_path / "data" / "synthllp-mini"
    monkeypatch.setattr(ui, "DEFAULT_DATA", default)
    monkeypatch.setattr(ui, "DEFAULT_PRESET", "tiny")
    yield default
    firststart._spawned.pop(str(default), None)


def _wait_ready(default: Path, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while firststart.status(default).state != "ready":
        assert time.monotonic() - t0 < timeout, firststart.status(default)
        assert firststart.status(default).state != "failed", firststart.status(default)
        time.sleep(0.2)


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["checkpoint_roots"] = []
    if page:
        at.switch_page(page)
    return at.run()


def test_home_shows_what_ships_while_the_benchmark_is_generated(fresh_default):
    from avvp_core.zoo import ZOO_FILE

    at = _app()
    assert not at.exception
    assert at.title[0].value == "AVVP Lab"
    assert "being generated in the background" in at.info[0].value
    assert len(at.get("progress")) == 1
    assert len(at.get("video")) == 1  # a shipped demo video, from assets/demo/
    zoo = json.loads((REPO / "checkpoints" / ZOO_FILE).read_text())["entries"]
    board = at.dataframe[0].value  # shown as the full Home shows it (names.py names, grouped figure columns)
    assert len(board) == len(zoo)  # the zoo's cards, no data needed
    names = list(board[board.columns[0]])
    assert {"HAN", "HAN + MA"} <= set(names)
    seg_type = next(c for c in board.columns if "segment" in str(c[0]).lower() and "Type" in str(c[1]))
    assert board[seg_type].is_monotonic_decreasing  # best segment-level Type@AV first
    assert [s.value for s in at.subheader] == ["A video and its ground truth", "Leaderboard"]
    _wait_ready(fresh_default)
    at.run()  # the progress fragment reruns the page once the data is there: the full Home
    assert not at.exception
    assert "Dataset in use" in [s.value for s in at.subheader]
    assert {m.label: m.value for m in at.metric}["test videos"] == "20"
    assert not (fresh_default.parent / ".synthllp-mini.staging").exists()


def test_pages_that_need_the_data_say_so_then_become_usable(fresh_default):
    from avvp_core import ui

    at = _app("pages/errors.py")
    assert not at.exception
    assert [t.value for t in at.title] == ["Errors"]
    assert "This page needs the benchmark data" in at.info[0].value
    assert not at.error and not at.selectbox  # nothing of the page's own yet
    again = _app("pages/compare.py")  # another session, another page: the same generation, not a second one
    assert "This page needs the benchmark data" in again.info[0].value
    _wait_ready(fresh_default)
    at.run()
    assert not at.exception
    assert [i.value for i in at.info] == [f"No trained model for this data yet. {ui.train_hint(str(fresh_default))}"]


def test_one_generation_at_a_time(tmp_path):
    data = tmp_path / "synthllp-mini"
    data.parent.mkdir(parents=True, exist_ok=True)
    with open(firststart.lock_path(data), "a+") as held:  # another process generating
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert firststart.status(data).state == "running"
        assert firststart.generate(data, "tiny") == 0  # finds the lock taken: leaves at once
        assert not data.exists() and not firststart.staging_path(data).exists()
        assert firststart.start(data, "tiny").state == "running"
        assert str(data) not in firststart._spawned  # nothing started while the lock is held
    assert firststart.status(data).state == "missing"


def test_a_killed_generation_releases_its_lock_and_leaves_nothing_used(tmp_path):
    data = tmp_path / "synthllp-mini"
    data.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"f = open({str(firststart.lock_path(data))!r}, 'a+')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        staging = firststart.staging_path(data)
        (staging / "feats").mkdir(parents=True)  # what it had written so far
        (staging / "AVVP_train.csv").write_text("filename\tevent_labels\n")
        (staging.parent / f".{staging.name}.x1y2z3").mkdir()  # the generator's own temporary folder
        assert firststart.status(data).state == "running"
    finally:
        holder.kill()
        holder.wait()
    assert firststart.status(data).state == "missing"  # the kernel dropped the lock with the process
    assert firststart.generate(data, "tiny") == 0
    assert firststart.status(data).state == "ready" and firststart.is_current(data)
    assert not staging.exists()  # the half-written folders were deleted, never used
    assert [p.name for p in data.parent.iterdir() if p.name.startswith(f".{staging.name}")] == []


def test_a_failed_generation_is_shown_with_a_retry(fresh_default):
    from avvp_core.fileio import write_json

    fresh_default.parent.mkdir(parents=True)
    write_json(firststart.progress_path(fresh_default), {"state": "failed", "fraction": 0.3, "message": "disk full"})
    at = _app("pages/timelines.py")
    assert not at.exception
    assert "Generating the default benchmark failed: disk full" in at.error[0].value
    assert str(fresh_default) not in firststart._spawned  # not restarted behind the user's back
    at.button(key="default_data_retry").click().run()
    assert str(fresh_default) in firststart._spawned
    _wait_ready(fresh_default)


def test_every_shallow_value_of_the_progress_record_damaged_gives_a_status(tmp_path):
    """The whole progress record and each of its values swapped for a null, a list and a string (and a NaN
    fraction), while the generation runs and after it failed: status() gives a fraction in 0..1 and a message, what
    every page's progress panel draws (a list or a string as the fraction raised TypeError / ValueError)."""
    from conftest import shallow_swaps

    data = tmp_path / "synthllp-mini"
    data.parent.mkdir(parents=True, exist_ok=True)
    record = {"state": "failed", "fraction": 0.3, "message": "disk full", "pid": None}
    cases = [document for _, document in shallow_swaps(record)] + [{**record, "fraction": float("nan")}]
    for running in (False, True):
        with open(firststart.lock_path(data), "a+") as held:
            if running:  # another process generating
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            for document in cases:
                firststart.progress_path(data).write_text(json.dumps(document))
                now = firststart.status(data)
                assert now.state == "running" if running else now.state in ("failed", "missing"), document
                assert isinstance(now.fraction, float) and 0.0 <= now.fraction <= 1.0, document
                assert isinstance(now.message, str), document


def test_every_shallow_value_of_the_demo_manifest_damaged_leaves_the_first_start_home_drawn(tmp_path, monkeypatch):
    """Home while the benchmark is generated, on the demo manifest with its whole self or one value (down to a
    video's keys) swapped for a null, a list and a string: the first listed video that is there is shown with its
    caption, or none when the list is gone; never a traceback (a list as `dataset` raised AttributeError, a null as
    `videos` TypeError). Streamlit is stood in for: the page draws nothing else from the manifest."""
    from unittest import mock

    from conftest import shallow_swaps

    from avvp_core import ui, videos

    demo = tmp_path / "demo"
    demo.mkdir()
    for clip in videos.DEMO_DIR.glob("*.mp4"):
        (demo / clip.name).symlink_to(clip)
    manifest = json.loads((videos.DEMO_DIR / videos.DEMO_MANIFEST).read_text())
    monkeypatch.setattr(videos, "DEMO_DIR", demo)
    monkeypatch.setattr(ui, "default_data_progress", lambda *_: None)  # would start a generation
    for where, document in shallow_swaps(manifest):
        (demo / videos.DEMO_MANIFEST).write_text(json.dumps(document))
        left, right = mock.MagicMock(), mock.MagicMock()
        fake = mock.MagicMock()
        fake.columns.return_value = (left, right)
        with mock.patch.object(ui, "st", fake):
            ui.first_start_preview()
        shown = [Path(c.args[0]) for c in left.video.call_args_list]
        assert len(shown) == (where not in ((), ("videos",))), where
        for path in shown:
            assert path.parent == demo and path.is_file(), where
            (text,) = [c.args[0] for c in right.markdown.call_args_list]
            assert "split of SynthLLP" in text, where
