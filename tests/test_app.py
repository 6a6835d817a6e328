"""AppTest: the app starts, every page renders its content for the data in use, bad data shows an error box."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.app


def _app(data_root: Path | str, checkpoint_roots: list[str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["data_root"] = str(data_root)
    at.session_state["checkpoint_roots"] = checkpoint_roots or []
    return at.run()


def test_home_shows_the_dataset_summary(tiny_data):
    at = _app(tiny_data)
    assert not at.exception
    assert at.title[0].value == "AVVP Lab"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"train videos": "60", "val videos": "20", "test videos": "20"}
    assert "SynthLLP tiny (seed 0)" in at.caption[0].value
    assert len(at.dataframe[0].value) == 25  # one row per class
    assert "No trained model for this data yet" in at.info[0].value


def test_home_leaderboard_lists_trained_models(tiny_data, tmp_path):
    from avvp_core.data import LLPDataset
    from avvp_core.training.recipes import RecipeContext, run_recipe

    run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", tmp_path / "runs" / "a", "paper",
                                      {"dim": 16, "ffn_dim": 16}, {"epochs": 1}, terminal=False))
    at = _app(tiny_data, [str(tmp_path / "runs")])
    assert not at.exception
    boards = [df.value for df in at.dataframe if ("", "model") in df.value.columns]  # AppTest has no keyed lookup
    assert len(boards) == 1
    board = boards[0]
    assert list(board[("", "model")]) == ["HAN · a"] and board.loc[0, ("", "gating")] == "fused"
    assert {("segment-level", "Type@AV"), ("event-level", "Event@AV")} <= set(board.columns)


def test_a_pages_url_on_a_fresh_server_runs_through_app_py(tiny_data):
    """A bookmark or a reload on a page's URL as a fresh server's first visit: Streamlit would run that page alone, as
    an old-style pages/ app (no shared sidebar, file names as navigation), for every session until "/" was opened.
    AppTest starts each run as such a fresh server."""
    from streamlit.runtime.pages_manager import PagesManager

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = []
    at.switch_page("pages/timelines.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Timelines"]
    assert [c.value for c in at.sidebar.caption][0] == "Data in use"  # app.py's shared sidebar ran
    assert PagesManager.uses_pages_directory is False


def test_bad_data_folder_is_an_error_box_not_a_traceback(tmp_path):
    at = _app(tmp_path / "does-not-exist")
    assert not at.exception
    assert "data folder not found" in at.error[0].value


def test_csv_only_folder_shows_the_summary_and_an_error_box_for_models(tiny_data, tmp_path):
    import shutil

    from avvp_core.constants import EVAL_FILES, SPLIT_FILES

    root = tmp_path / "csv_only"
    root.mkdir()
    for name in [*SPLIT_FILES.values(), *EVAL_FILES.values()]:
        shutil.copy(tiny_data / name, root / name)
    at = _app(root)
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["train videos"] == "60"
    assert "feature files missing" in at.error[0].value
