"""Data page: statistics figures, SynthLLP generation confined to the data folder, LLP folder validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from avvp_core.analysis.datastats import class_frequency_frame, cooccurrence, duration_frame, modality_mix_frame
from avvp_core.data import LLPDataset
from avvp_core.data.stats import dataset_statistics
from avvp_core.data.synthetic import llp_stats
from avvp_core.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def test_statistics_frames_put_the_data_beside_llp(tiny_data):
    ds = LLPDataset(tiny_data)
    stats = dataset_statistics(ds)
    freq = class_frequency_frame(stats, llp_stats())
    assert set(freq.source) == {"in use", "real LLP"} and len(freq) == 50
    speech = freq[(freq["class"] == "Speech") & (freq.source == "real LLP")]["share of train videos (%)"].item()
    assert speech == pytest.approx(49.88, abs=0.01)
    mix = modality_mix_frame(stats).groupby("class")["share (%)"].sum()
    assert all(abs(v - 100) < 1e-6 or v == 0 for v in mix)  # each class's mix sums to 100 (or has no event)
    events = modality_mix_frame(stats).groupby("class")["events"].first()  # what each class's shares are taken over
    assert events.to_dict() == {c: m["events"] for c, m in stats["truth"]["class_modality_mix"].items()}
    assert (events > 0).any()
    assert set(duration_frame(stats, llp_stats()).modality) == {"audio", "visual"}
    co = cooccurrence(ds)
    assert co.shape == (25, 25) and (co == co.T).all()


def test_synth_target_refuses_paths_outside_the_data_folder():
    from avvp_core import ui
    from avvp_core.paths import DATA_DIR

    assert ui.synth_target("my-set_1") == DATA_DIR / "my-set_1"
    for bad in ("../evil", "/tmp/x", "a/b", "..", "", "x" * 65):
        with pytest.raises(InputError):
            ui.synth_target(bad)


@pytest.mark.app
def test_data_page_shows_statistics_and_checks_an_llp_folder(tiny_data, tmp_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / "data.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 4
    at.radio(key="data_source").set_value("LLP folder").run()
    at.text_input(key="data_llp_path").input(str(tmp_path / "missing")).run()
    at.button(key="data_llp_use").click().run()
    assert not at.exception and "data folder not found" in at.error[0].value
    at.text_input(key="data_llp_path").input(str(tiny_data)).run()
    at.button(key="data_llp_use").click().run()
    assert "Folder is valid and in use" in at.success[0].value
    assert at.session_state["data_root"] == str(Path(tiny_data).resolve())


@pytest.mark.app
def test_synth_form_shows_each_presets_calibrated_knobs(tiny_data):
    """The knob fields follow the chosen preset: full's separation is calibrated lower than mini's, and only full
    shows silent objects (issue 9)."""
    from conftest import app_page

    from avvp_core.data.synthetic import knob_defaults

    at = app_page("data", tiny_data)
    assert not at.exception
    # mini's separation is calibrated under the step budget (issue 19, generator 1.5)
    assert at.number_input(key="knob_mini_separation").value == knob_defaults("mini")["separation"] == 2.9
    assert at.number_input(key="knob_mini_silent_objects").value == 0.0
    assert at.number_input(key="knob_mini_turn_taking").value == 0.0  # LLP's turn-taking pairs: off by default
    assert at.number_input(key="knob_mini_noise_persistence").value == 0.0  # independent from second to second
    assert at.number_input(key="knob_mini_kind_coupling").value == 0.0  # each class's kind from its own shares
    at.number_input(key="knob_mini_noise_persistence").set_value(1.0)
    next(b for b in at.button if b.label == "Generate and use").click().run()
    assert not at.exception and [e.value for e in at.error] == [
        "knob noise_persistence = 1.0 is out of range (below 1: at 1 the segment noise would be one constant per "
        "video, which the nuisance knob already is)"]
    assert not at.status  # refused before any "Generating…" box: nothing was generated
    at.number_input(key="knob_mini_noise_persistence").set_value(0.0).run()
    assert any("(separation 2.9)" in c.value and "llp_steps" in c.value for c in at.caption)
    at.selectbox(key="data_synth_preset").set_value("full").run()
    assert not at.exception
    assert at.number_input(key="knob_full_separation").value == knob_defaults("full")["separation"] == 2.05
    assert at.number_input(key="knob_full_silent_objects").value == knob_defaults("full")["silent_objects"] == 0.3
    assert any("10,000 training videos" in c.value and "(separation 2.05, silent objects 0.3)" in c.value
               for c in at.caption)
    assert at.number_input(key="knob_full_noise").value == knob_defaults("full")["noise"]
    assert at.number_input(key="knob_full_audio_salience").value == 1.0
    assert at.number_input(key="knob_full_background_events").value == knob_defaults("full")["background_events"]
    rank = at.number_input(key="knob_full_noise_rank")  # a whole number of dimensions, not a share
    assert rank.value == knob_defaults("full")["noise_rank"] and isinstance(rank.value, int)
