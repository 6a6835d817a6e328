"""Timelines: the per-video table and figure (pure functions), and the page under AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import app_page

from avvp_core.analysis.timeline import (
    TRUTH,
    constant_over_time_note,
    event_pieces,
    timeline_figure,
    timeline_frame,
    whole_clip_share,
)
from avvp_core.data import LLPDataset
from avvp_core.predictions import Predictions

REPO = Path(__file__).resolve().parents[1]


def _perfect(split) -> Predictions:
    return Predictions(split.filenames, split.gt_audio.astype(np.float32), split.gt_visual.astype(np.float32),
                       video=(split.gt_audio.any(1) | split.gt_visual.any(1)).astype(np.float32))


def _first_annotated(split) -> int:
    return int(np.flatnonzero(split.gt_audio.any((1, 2)) & split.gt_visual.any((1, 2)))[0])


def test_perfect_model_is_all_tp_and_silent_model_all_fn(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    row = _first_annotated(split)
    silent = Predictions(split.filenames, np.zeros_like(split.gt_audio, np.float32),
                         np.zeros_like(split.gt_visual, np.float32))
    frame = timeline_frame(split, row, {"perfect": (_perfect(split), "fused"), "silent": (silent, "none")})
    truth = frame[frame.source == TRUTH]
    perfect, quiet = frame[frame.source == "perfect"], frame[frame.source == "silent"]
    assert len(truth) == len(perfect) == len(quiet)  # aligned rows: same (class, modality, segment) cells
    assert set(perfect.outcome) <= {"TP", ""} and (perfect.outcome == "TP").sum() == truth.truth.sum()
    assert set(quiet.outcome) <= {"FN", ""} and (quiet.outcome == "FN").sum() == truth.truth.sum()
    av = frame[(frame.modality == "audio-visual") & (frame.source == TRUTH)]
    assert av.truth.sum() == sum(int((split.gt_audio[row][:, c] & split.gt_visual[row][:, c]).sum())
                                 for c in range(25))


def test_figure_has_one_row_per_class_modality_source(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    row = _first_annotated(split)
    frame = timeline_frame(split, row, {"perfect": (_perfect(split), "fused")})
    fig = timeline_figure(frame, "t")
    heat = fig.data[0]
    assert len(heat.y) == frame.groupby(["class", "modality", "source"]).ngroups
    assert len(fig.data[1].x) == int((frame.decision & (frame.source != TRUTH)).sum())  # decision markers


def _broadcast(split) -> Predictions:
    """A model whose segment probabilities are its video-level ones at every second (as MGN's official head makes
    them, to within a factor of 1.04-1.23)."""
    seen = lambda gt: np.repeat(gt.any(1, keepdims=True), gt.shape[1], 1).astype(np.float32)  # noqa: E731
    audio, visual = seen(split.gt_audio), seen(split.gt_visual)
    return Predictions(split.filenames, audio, visual, video=np.maximum(audio, visual).max(1))


def test_whole_clip_share_counts_detections_that_span_every_segment():
    dec = np.zeros((2, 10, 3), bool)
    dec[0, :, 0] = True  # whole clip
    dec[0, 2:5, 1] = True  # three seconds
    dec[1, :, 2] = True  # whole clip
    got = whole_clip_share((dec, np.zeros_like(dec)))
    assert got["audio"] == (pytest.approx(2 / 3), 3)
    assert got["visual"][1] == 0 and np.isnan(got["visual"][0])


def test_event_pieces_count_runs_their_length_and_runs_per_detected_pair():
    audio = np.zeros((2, 10, 3), bool)
    audio[0, 1:4, 0] = audio[0, 6:8, 0] = True  # one class row in two pieces: 3 + 2 segments
    audio[1, :, 2] = True  # one whole-clip event
    visual = np.zeros_like(audio)
    visual[0, 2:7, 0] = True  # overlaps both audio pieces: AV is segments 2-3 and 6
    got = event_pieces((audio, visual))
    assert got["audio"] == {"events": 3, "mean_length": 15 / 3, "events_per_pair": 3 / 2}
    assert got["visual"] == {"events": 1, "mean_length": 5.0, "events_per_pair": 1.0}
    assert got["av"] == {"events": 2, "mean_length": 3 / 2, "events_per_pair": 2.0}
    empty = event_pieces((np.zeros_like(audio), visual))["audio"]
    assert empty["events"] == 0 and np.isnan(empty["mean_length"]) and np.isnan(empty["events_per_pair"])


def test_a_model_that_cannot_localise_is_named_and_one_that_can_is_not(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    note = constant_over_time_note("flat", _broadcast(split), "fused", split)
    truth = whole_clip_share((split.gt_audio > 0, split.gt_visual > 0))
    assert note is not None and note.startswith("flat: every event it detects on this split spans the whole 10 s")
    assert f"in the annotations {truth['audio'][0]:.0%} / {truth['visual'][0]:.0%}" in note
    assert constant_over_time_note("perfect", _perfect(split), "fused", split) is None  # localises like the truth
    silent = Predictions(split.filenames, np.zeros_like(split.gt_audio, np.float32),
                         np.zeros_like(split.gt_visual, np.float32))
    assert constant_over_time_note("silent", silent, "none", split) is None  # nothing detected: nothing to say


@pytest.mark.app
def test_timelines_page_shows_a_trained_model(tiny_data, tiny_han):
    at = app_page("timelines", tiny_data, [tiny_han])
    assert not at.exception
    assert at.multiselect(key="timeline_models").value == ["HAN · han"]
    assert not at.get("plotly_chart")  # the figure's expander is lazy: drawn only once opened
    at.session_state["timeline_figure_open"] = True
    at.run()
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and "HAN · han" in json.dumps(json.loads(charts[0].proto.spec), ensure_ascii=False)
    assert "20 of 20 videos match" in at.selectbox(key="timeline_video").label
    at.text_input(key="timeline_search").input("zzzz-no-such-id").run()
    assert "0 of 20 videos match" in at.caption[-1].value


@pytest.mark.app
def test_timelines_page_without_models_says_what_to_do(tiny_data, tmp_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / "timelines.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(tmp_path / "empty")]
    at.run()
    assert not at.exception and "No trained model for this data yet" in at.info[0].value
