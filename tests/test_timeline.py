"""Timelines: the per-video table and figure (pure functions), and the page under AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import app_page

from avvp_core.analysis.thresholds import Thresholds, from_link, tune
from avvp_core.analysis.timeline import (
    TRUTH,
    Source,
    constant_over_time_note,
    custom_thresholds,
    event_pieces,
    player_payload,
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


def _under_confident(split) -> Predictions:
    """Ranks perfectly, decides nothing at 0.5: 0.35 where the truth holds a class, 0.10 elsewhere; video-level 0.40
    for the classes present, 0.05 for the others."""
    present = split.gt_audio.any(1) | split.gt_visual.any(1)
    return Predictions(split.filenames, np.where(split.gt_audio > 0, 0.35, 0.10).astype(np.float32),
                       np.where(split.gt_visual > 0, 0.35, 0.10).astype(np.float32),
                       video=np.where(present, 0.40, 0.05).astype(np.float32))


def test_a_row_at_other_thresholds_decides_and_marks_gated_cells_at_them(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    row, preds = _first_annotated(split), _under_confident(split)
    low, segments_only = Thresholds(0.3, 0.3, 0.3), Thresholds(0.3, 0.3, 0.5)
    frame = timeline_frame(split, row, {"m": (preds, "fused"), "m low": Source(preds, "fused", low),
                                        "m gated": Source(preds, "fused", segments_only)})
    truth = frame[frame.source == TRUTH]
    official, tuned, gated = (frame[frame.source == s] for s in ("m", "m low", "m gated"))
    assert len(official) == len(tuned) == len(gated) == len(truth)
    assert not official.decision.any() and not official.gated.any()  # 0.35 < 0.5: nothing decided, nothing gated
    assert (official.outcome == "FN").sum() == truth.truth.sum()
    assert tuned.truth.tolist() == tuned.decision.tolist() and (tuned.outcome == "TP").sum() == truth.truth.sum()
    # the segments reach 0.3 but the video-level 0.40 stays below the gate's 0.5: confident cells, no decision
    assert not gated.decision.any() and gated.gated.tolist() == gated.truth.tolist()
    assert (tuned[["audio_threshold", "visual_threshold", "video_threshold"]].to_numpy() == 0.3).all()
    assert truth[["audio_threshold", "visual_threshold", "video_threshold"]].isna().all().all()
    assert custom_thresholds(frame) and not custom_thresholds(frame[~frame.source.isin(["m low", "m gated"])])
    payload = player_payload(frame, video_uri=None, video_key="k", gatings={"m": "fused"})
    assert payload["custom_thresholds"] and {r["source"]: r["gate_at"] for r in payload["rows"]} == {
        TRUTH: 0.5, "m": 0.5, "m low": 0.3, "m gated": 0.5}
    figure = timeline_figure(frame, "t")
    assert "row's thresholds" in figure.data[1].name and len(figure.data[1].x) == int(tuned.decision.sum())
    assert len(figure.data[2].x) == int(gated.gated.sum())
    # an ungated model's row at other thresholds: the same cells as its own predictions thresholded by hand
    plain = timeline_frame(split, row, {"p": Source(Predictions(split.filenames, preds.audio, preds.visual), "none",
                                                    Thresholds(0.3, 0.5, 0.5))})
    audio = plain[(plain.source == "p") & (plain.modality == "audio")]
    assert audio.decision.tolist() == (audio.probability >= 0.3).tolist() and audio.video_threshold.isna().all()


def test_thresholds_in_a_link_read_back_and_bad_ones_say_why():
    chosen = Thresholds(0.1, 0.5, 0.45)
    assert from_link(chosen.as_link()) == chosen and chosen.as_link() == "0.10,0.50,0.45"
    assert chosen.describe("fused") == "audio ≥ 0.10, video gate ≥ 0.45" and chosen.describe("none") == "audio ≥ 0.10"
    assert chosen.short("fused") == "a≥0.10 g≥0.45" and chosen.short("none") == "a≥0.10"
    assert Thresholds().describe("modality") == "0.5"
    for bad, says in (("0.1,0.5", "not three thresholds"), ("a,b,c", "not three numbers"),
                      ("0.33,0.5,0.5", "each threshold is one of"), ("nan,0.5,0.5", "each threshold is one of"),
                      ("1.5,0.5,0.5", "each threshold is one of")):
        with pytest.raises(ValueError, match=says):
            from_link(bad)


@pytest.mark.app
def test_timelines_shows_a_model_a_second_time_at_other_thresholds(tiny_data, tiny_han, tmp_path):
    at = app_page("timelines", tiny_data, [tiny_han])
    assert not at.exception and at.selectbox(key="timeline_at").value == "none"
    assert at.toggle(key="timeline_disagree").disabled  # one row: nothing to compare
    at.selectbox(key="timeline_at").set_value("HAN · han").run()
    assert not at.exception and at.dataframe[0].value.index.tolist() == ["HAN · han"]
    assert any("would repeat HAN · han's own" in c.value for c in at.caption)
    assert at.expander[0].label == "A second row at other decision thresholds"  # none shown: none named
    at.select_slider(key="timeline_at_threshold_audio").set_value(0.95).run()
    second = "HAN · han @ a≥0.95"
    scores = at.dataframe[0].value
    assert not at.exception and scores.index.tolist() == ["HAN · han", second]
    assert at.expander[0].label == "A second row at other decision thresholds: HAN · han"
    assert at.query_params["at"] == "HAN · han" and at.query_params["at_thresholds"] == "0.95,0.50,0.50"
    assert not at.toggle(key="timeline_disagree").disabled
    at.toggle(key="timeline_disagree").set_value(True).run()  # the videos where the audio threshold moves most
    assert not at.exception
    from avvp_core.metrics import score
    from avvp_core.predcache import predictions

    split = LLPDataset(tiny_data).split("test")
    preds = predictions(tiny_han / "han", split, cache_dir=tmp_path)
    own, tuned = (score(*preds.decisions("fused", **t.gate_kwargs()), split.gt_audio, split.gt_visual)
                  .per_video["segment/type"] for t in (Thresholds(), Thresholds(0.95, 0.5, 0.5)))
    moved = int((np.abs(tuned - own) >= 0.2).sum())
    picker = at.selectbox(key="timeline_video")
    assert moved and f"{moved} of 20 videos match" in picker.label
    first, second = (split.filenames.index(o) for o in picker.options[:2])  # largest change first
    assert abs(tuned - own)[first] == pytest.approx(abs(tuned - own).max())
    at.button(key="timeline_next").click().run()  # Next walks that order
    assert at.selectbox(key="timeline_video").value == second
    at.button(key="timeline_at_tune").click().run()  # the thresholds the Thresholds page would tune on val
    val = LLPDataset(tiny_data).split("val")
    tuned, _ = tune(predictions(tiny_han / "han", val, cache_dir=tmp_path), val.gt_audio, val.gt_visual, "fused")
    assert not at.exception
    assert [at.select_slider(key=f"timeline_at_threshold_{k}").value for k in ("audio", "visual", "video")] == [
        tuned.audio, tuned.visual, tuned.video]


@pytest.mark.app
def test_a_timelines_link_opens_the_second_row_and_a_bad_one_names_its_problem(tiny_data, tiny_han):


    at = app_page("timelines", tiny_data, [tiny_han],  # a folder name; not yet listed
                  query={"models": "", "at": "han", "at_thresholds": "0.30,0.70,0.50"})
    assert not at.exception and not at.warning
    assert at.multiselect(key="timeline_models").value == ["HAN · han"]
    assert at.dataframe[0].value.index.tolist() == ["HAN · han", "HAN · han @ a≥0.30 v≥0.70"]
    at = app_page("timelines", tiny_data, [tiny_han], query={"at": "han", "at_thresholds": "0.33,0.5,x"})
    assert not at.exception and len(at.warning) == 1
    assert "at_thresholds: '0.33,0.5,x' is not three numbers" in at.warning[0].value
    assert at.dataframe[0].value.index.tolist() == ["HAN · han"]  # 0.5: no second row


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
    video = at.selectbox(key="timeline_video")
    assert video.value == 0 and at.button(key="timeline_previous").disabled
    at.button(key="timeline_next").click().run()  # the next matching video, in the picker's order
    assert not at.exception and at.selectbox(key="timeline_video").value == 1
    at.selectbox(key="timeline_video").set_value(19).run()
    assert at.button(key="timeline_next").disabled and not at.button(key="timeline_previous").disabled
    at.button(key="timeline_previous").click().run()
    assert at.selectbox(key="timeline_video").value == 18
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
