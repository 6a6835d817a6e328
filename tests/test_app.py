"""AppTest: the app starts, every page renders its content for the data in use, bad data shows an error box."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.app


def _app(data_root: Path | str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["data_root"] = str(data_root)
    return at.run()


def test_home_shows_the_dataset_summary(tiny_data):
    at = _app(tiny_data)
    assert not at.exception
    assert at.title[0].value == "AVVP Lab"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"train videos": "60", "val videos": "20", "test videos": "20"}
    assert "SynthLLP tiny (seed 0)" in at.caption[0].value
    assert len(at.dataframe[0].value) == 25  # one row per class


def test_bad_data_folder_is_an_error_box_not_a_traceback(tmp_path):
    at = _app(tmp_path / "does-not-exist")
    assert not at.exception
    assert "data folder not found" in at.error[0].value
