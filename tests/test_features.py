"""Features: points, labels, projection, the disk cache, the scatter and its selection, and the page."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import app_page

from avvp_core.analysis import features as F
from avvp_core.constants import CLASS_INDEX
from avvp_core.data import LLPDataset
from avvp_core.data.dataset import Split

REPO = Path(__file__).resolve().parents[1]
SPEECH, DOG, CAT, CAR = (CLASS_INDEX[c] for c in ("Speech", "Dog", "Cat", "Car"))


def _split() -> Split:
    """Two videos: v0 segment 0 holds Dog (heard and seen) + Speech (heard), segment 2 a Cat seen only; v0 is also
    weakly labelled Car (never annotated). v1 is background throughout."""
    z = lambda: np.zeros((2, 10, 25), np.uint8)
    gt_a, gt_v = z(), z()
    gt_a[0, 0, [DOG, SPEECH]] = 1
    gt_v[0, 0, DOG] = gt_v[0, 2, CAT] = 1
    labels = np.zeros((2, 25), np.float32)
    labels[0, [DOG, SPEECH, CAT, CAR]] = 1
    return Split("test", ["v0", "v1"], labels, gt_a, gt_v)


def _frame(points: dict[str, np.ndarray], split: Split) -> pd.DataFrame:
    return pd.DataFrame({"point": np.arange(len(points["row"])), "x": 0.0, "y": 0.0, "row": points["row"],
                         "video": np.asarray(split.filenames)[points["row"]], "segment": points["segment"],
                         "modality": np.asarray(["audio", "visual"])[points["modality"]],
                         "token_class": points["token_class"]})


def test_points_and_labels_of_segments_and_tokens():
    split = _split()
    both = F.candidate_points("audio + visual segments", split)
    assert len(both["row"]) == 2 * 2 * 10 and set(both["modality"]) == {0, 1}
    frame = F.label_points(_frame(F.candidate_points("audio segments", split), split), split).set_index(
        ["row", "segment"])
    assert frame.loc[(0, 0), "event combination"] == "Speech (audio-only) + Dog (audio-visual)"
    assert frame.loc[(0, 0), "event type"] == "audio-visual + audio-only"
    assert frame.loc[(0, 0), "class"] == "several classes"
    assert tuple(frame.loc[(0, 2), ["event combination", "event type", "class"]]) == (
        "Cat (visual-only)", "visual-only", "Cat")
    assert (frame.loc[1, "event combination"] == F.BACKGROUND).all()
    tokens = F.candidate_points("visual class tokens", split)
    assert sorted(tokens["token_class"].tolist()) == sorted([SPEECH, DOG, CAT, CAR]) and set(tokens["modality"]) == {1}
    labelled = F.label_points(_frame(tokens, split), split).set_index("token_class")
    assert labelled.loc[DOG, "event combination"] == "Dog (audio-visual)"
    assert labelled.loc[SPEECH, "event type"] == "audio-only"
    assert labelled.loc[CAR, "event combination"] == "Car (not annotated)" and labelled.loc[CAR, "class"] == "Car"


def test_sampling_gather_and_projection():
    split = _split()
    points = F.candidate_points("audio + visual segments", split)
    few = F.sample_points(points, 7, seed=3)
    assert len(few["row"]) == 7 and np.array_equal(few["row"], F.sample_points(points, 7, seed=3)["row"])
    feats = {"audio": np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3), "visual": -np.ones((2, 10, 3))}
    x = F.gather(feats, points)
    assert x.shape == (40, 3) and np.array_equal(x[0], [0, 1, 2]) and (x[20:] == -1).all()  # audio first
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(0, 1, (30, 60)), rng.normal(8, 1, (30, 60))])
    for method in ("PCA", "t-SNE"):
        xy = F.project(blobs, method)
        assert xy.shape == (60, 2) and np.isfinite(xy).all()
        centre = xy[:30].mean(0), xy[30:].mean(0)  # two far-apart blobs stay apart
        assert np.linalg.norm(centre[0] - centre[1]) > 3 * max(xy[:30].std(), xy[30:].std()), method
    assert "UMAP" not in F.methods() or F.methods()[-1] == "UMAP"


def test_scatter_counts_and_selection_map_back_to_videos():
    split = _split()
    frame = F.label_points(_frame(F.candidate_points("audio segments", split), split), split)
    frame["x"], frame["y"] = np.arange(len(frame), dtype=float), 0.0
    fig = F.scatter_figure(frame, "event combination")
    assert sum(len(t.x) for t in fig.data) == len(frame) == 20
    assert fig.data[-1].name == f"{F.BACKGROUND} (18)"  # background last
    picked = [{"customdata": list(fig.data[0].customdata[0])}, {"customdata": [12, 1]}, {"customdata": [13, 1]}]
    ids = F.selected_ids(picked)
    table = F.videos_behind(frame, ids)
    assert table["video"].tolist() == ["v1", "v0"] and table["points"].tolist() == [2, 1]
    assert table.loc[0, "segments"] == "2 3"
    many = pd.DataFrame({"label": [f"l{i % 30}" for i in range(300)]})
    assert F.colour_labels(many, "label").nunique() == F.MAX_COLOURS


def test_embedding_is_cached_on_disk_and_tokens_come_from_mgn(tiny_data, tmp_path, monkeypatch):
    from avvp_core.checkpoints import save_checkpoint
    from avvp_core.models import create_model

    split = LLPDataset(tiny_data).split("test")
    model = create_model("mgn", width="demo")
    assert F.available_kinds(model)[-2:] == ["audio class tokens", "visual class tokens"]
    assert "audio class tokens" not in F.available_kinds(create_model("han", width="demo"))
    ckpt = tmp_path / "mgn"
    save_checkpoint(ckpt, model, {"data": {"fingerprint": "x"}})
    seen = []
    frame = F.embedding(ckpt, split, "audio class tokens", "PCA", 1000, cache_dir=tmp_path / "cache",
                        progress=lambda f, msg: seen.append(f))
    present = (split.labels > 0) | split.gt_audio.any(1) | split.gt_visual.any(1)
    assert len(frame) == int(present.sum()) and (frame["segment"] == -1).all() and seen and max(seen) <= 1.0
    assert len(list((tmp_path / "cache" / "embeddings").glob("*.npz"))) == 1
    monkeypatch.setattr("avvp_core.checkpoints.load_checkpoint", lambda *a, **k: pytest.fail("cache missed"))
    again = F.embedding(ckpt, split, "audio class tokens", "PCA", 1000, cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(frame, again)


def _plotted_points(chart) -> int:
    spec = json.loads(chart.proto.spec)
    count = 0
    for trace in spec["data"]:
        x = trace["x"]
        count += len(np.frombuffer(base64.b64decode(x["bdata"]), x["dtype"])) if isinstance(x, dict) else len(x)
    return count


@pytest.mark.app
def test_features_page_plots_selects_and_links(tiny_data, tiny_han):
    at = app_page("features", tiny_data, [tiny_han], timeout=90)
    assert not at.exception and at.title[0].value == "Features"
    assert at.selectbox(key="features_kind").options == list(F.SEGMENT_KINDS)  # HAN: no class tokens
    assert "Not computed yet" in at.info[0].value and not at.get("plotly_chart")
    at.radio(key="features_method").set_value("PCA")
    at.selectbox(key="features_kind").set_value("audio + visual segments")
    at.button(key="features_compute").click().run()
    assert not at.exception
    assert _plotted_points(at.get("plotly_chart")[0]) == 20 * 10 * 2  # every segment of the 20 test videos, A + V
    assert "the selection starts afresh" in at.caption[-1].value  # a new chart has none: the page says so
    (download,) = at.get("download_button")
    assert download.proto.label == "Download these points (CSV)"
    at.session_state["features_chart"] = {"selection": {"points": [{"customdata": [0, 0]}, {"customdata": [1, 0]},
                                                                   {"customdata": [205, 0]}],
                                                        "point_indices": [], "box": [], "lasso": []}}
    at.run()  # now from the disk cache (no button press)
    assert not at.exception
    table = at.dataframe[0].value
    first = LLPDataset(tiny_data).split("test").filenames[0]
    assert table["video"].tolist() == [first] and table.loc[0, "points"] == 3  # audio 0, 1, visual 5 of video 0
    assert "row" not in table  # the split's internal row index is not shown
    assert "3 points selected in 1 videos" in at.caption[-1].value
    at.session_state["features_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and "timeline_video" not in at.session_state  # shown, not yet clicked: Timelines as it was
    at.button(key="features_open_timelines").click().run()
    assert at.session_state["timeline_video"] == 0 and at.session_state["timeline_models"] == ["HAN · han"]
    assert at.session_state["timeline_at"] == "none"
    # a new selection is a new list: the row picked in the last one picks nothing here (it pointed past a shorter
    # list's end, a traceback, or silently at another video)
    at.session_state["features_chart"] = {"selection": {"points": [{"customdata": [30, 0]}, {"customdata": [40, 0]}],
                                                        "point_indices": [], "box": [], "lasso": []}}
    at.run()
    assert not at.exception and len(at.dataframe[0].value) == 2
    assert not [b for b in at.button if b.key == "features_open_timelines"]


@pytest.mark.app
def test_features_page_with_damaged_weights_shows_an_error_box(tiny_data, tmp_path):
    from streamlit.testing.v1 import AppTest

    from avvp_core.checkpoints import save_checkpoint
    from avvp_core.models import create_model

    fingerprint = LLPDataset(tiny_data).fingerprint()
    ckpt = tmp_path / "runs" / "broken"
    save_checkpoint(ckpt, create_model("han", width="demo"), {"data": {"fingerprint": fingerprint}}, {"complete": True})
    (ckpt / "model.pt").write_bytes(b"not a torch file")
    at = AppTest.from_file(str(REPO / "pages" / "features.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(tmp_path / "runs")]
    at.run()
    assert not at.exception and "broken/model.pt: " in at.error[0].value  # one line naming the file


@pytest.mark.app
def test_a_features_link_reopens_its_view_and_a_bad_one_names_its_problem(tiny_data, tiny_han):


    view = {"checkpoint": "han", "split": "val", "kind": "audio + visual segments", "method": "PCA", "points": "500",
            "colour": "class"}
    at = app_page("features", tiny_data, [tiny_han], query=view)
    assert not at.exception and not at.warning
    assert at.selectbox(key="features_model").value == "HAN · han" and at.radio(key="features_split").value == "val"
    assert at.selectbox(key="features_kind").value == "audio + visual segments"
    assert at.radio(key="features_method").value == "PCA" and at.number_input(key="features_points").value == 500
    assert at.selectbox(key="features_colour").value == "class"
    assert dict(at.query_params) == {**view, "checkpoint": "HAN · han", "second": "none"}  # the URL names what is shown
    assert "PCA of audio + visual segments on val, at most 500 points" in at.info[0].value

    at = app_page("features", tiny_data, [tiny_han],  # HAN has no class tokens
                  query={"kind": "class tokens", "method": "LDA", "points": "5", "colour": "class"})
    assert not at.exception and at.selectbox(key="features_colour").value == "class"
    assert [w.value for w in at.warning] == [
        "From the link: method='LDA' is not one of the choices here; points: 5 is outside 100-30,000. Those keep "
        "their current choice.",
        "From the link: kind='class tokens' is not one of the choices here. Those keep their current choice."]
    assert at.selectbox(key="features_kind").value == F.SEGMENT_KINDS[0] and at.radio(key="features_method").value == \
        "t-SNE" and at.number_input(key="features_points").value == 3000


def test_the_caption_says_what_grey_other_stands_for():
    combos = [f"combo {i}" for i in range(30) for _ in range(30 - i)]  # 30 labels, the rarest with 1 point
    frame = pd.DataFrame({"event combination": combos, "event type": ["audio-only"] * len(combos),
                          "class": [f"c{i % 25}" for i in range(len(combos))]})
    merged = sum(30 - i for i in range(F.MAX_COLOURS - 1, 30))  # labels 19..29 go to "other"
    note = F.merged_note(frame, "event combination")
    assert note.startswith(f'Grey "other" holds {merged:,} of the {len(combos):,} points: the 11 rarer of 30 labels')
    assert note.endswith("Colour by event type to see every label.")  # class has 25 labels: it merges too
    assert F.merged_note(frame, "event type") == ""  # nothing merged, nothing said
    assert (F.colour_labels(frame, "event combination") == F.OTHER).sum() == merged  # what the plot draws grey


def test_the_points_download_names_each_point_without_internal_indices():
    frame = pd.DataFrame({"point": [0, 1, 2], "row": [4, 4, 7], "video": ["a", "a", "b"], "segment": [0, 0, -1],
                          "modality": ["audio", "visual", "audio"], "token_class": [-1, -1, 3], "x": [0.5, 1.0, 2.0],
                          "y": [1.0, 0.0, -1.0], "event combination": ["Speech (audio-only)", "background", "Dog"],
                          "event type": ["audio-only", "background", "audio-only"], "class": ["Speech", "background",
                                                                                               "Dog"]})
    table = F.points_table({"HAN": frame, "MMT": frame.assign(x=-frame["x"])})
    assert list(table.columns) == ["video", "segment", "modality", "token class", *F.COLOURINGS, "x · HAN", "y · HAN",
                                   "x · MMT", "y · MMT"]
    assert list(table["token class"]) == ["", "", F.CLASSES[3]] and list(table["x · MMT"]) == [-0.5, -1.0, -2.0]
    assert F.same_points(frame, frame.assign(x=0.0)) and not F.same_points(frame, frame.iloc[::-1])


@pytest.fixture(scope="module")
def tiny_mmt(tiny_data, tmp_path_factory) -> Path:
    """A second checkpoint for the side-by-side view: a 1-epoch MMT (dim 16) on tiny_data, "MMT · mmt"."""
    from avvp_core.training.recipes import RecipeContext, run_recipe

    runs = tmp_path_factory.mktemp("tiny_mmt") / "runs"
    run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "mmt", runs / "mmt", "paper", {"dim": 16, "ffn_dim": 16},
                                      {"epochs": 1}, terminal=False))
    return runs


def _lit(chart) -> list[int]:
    """The point ids a companion chart draws at full strength (its traces' selectedpoints)."""
    spec = json.loads(chart.proto.spec)
    return sorted(trace["customdata"][i][0] for trace in spec["data"] for i in trace.get("selectedpoints") or [])


@pytest.mark.app
def test_a_second_checkpoint_beside_the_first_lights_up_the_lassoed_points(tiny_data, tiny_han, tiny_mmt):
    at = app_page("features", tiny_data, [tiny_han, tiny_mmt], timeout=90,
                  query={"checkpoint": "han", "method": "PCA", "kind": "audio + visual segments", "second": "none"})
    assert not at.exception and not at.warning
    if at.get("plotly_chart") == []:  # HAN's embedding may be cached by another test
        at.button(key="features_compute").click().run()
    at.selectbox(key="features_second").set_value("MMT · mmt").run()
    assert not at.exception
    # MMT's embedding is missing: its prompt stands on the right, the left chart is drawn and can be lassoed
    (left,) = at.get("plotly_chart")
    assert json.loads(left.proto.spec)["layout"]["legend"]["orientation"] == "h"  # already the pair's layout
    at.session_state["features_chart"] = {"selection": {"points": [{"customdata": [0, 0]}, {"customdata": [1, 0]},
                                                                   {"customdata": [205, 0]}],
                                                        "point_indices": [], "box": [], "lasso": []}}
    at.run()
    assert at.info[0].value.startswith("Not computed yet") and "for MMT · mmt (about a minute" in at.info[0].value
    assert any(c.value.startswith("3 points selected in 1 videos") for c in at.caption)
    at.button(key="features_compute").click().run()
    assert not at.exception and not at.info
    left, right = at.get("plotly_chart")
    assert _plotted_points(left) == _plotted_points(right) == 20 * 10 * 2
    assert json.loads(right.proto.spec)["layout"]["dragmode"] == "pan"  # the lasso is the left chart's
    assert _lit(right) == [0, 1, 205]  # the same segments, where MMT puts them
    assert any(c.value.startswith("Where MMT · mmt puts the 3 points selected on the left") for c in at.caption)
    assert at.query_params["second"] == "MMT · mmt"
    at.session_state["features_chart"] = {"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}
    at.run()
    assert _lit(at.get("plotly_chart")[1]) == []
    assert any(c.value.startswith("Select points on the left chart") for c in at.caption)
    at.session_state["features_chart"] = {"selection": {"points": [{"customdata": [0, 0]}], "point_indices": [],
                                                        "box": [], "lasso": []}}
    at.run()
    at.session_state["features_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="features_open_timelines").click().run()
    assert at.session_state["timeline_models"] == ["HAN · han", "MMT · mmt"]  # both, as on this page

    at = app_page("features", tiny_data, [tiny_han, tiny_mmt], query={"second": "none"})
    assert not at.exception and not at.warning and at.selectbox(key="features_second").value == "none"

