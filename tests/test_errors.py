"""Errors: the error taxonomy on hand-built videos with known counts, the ranking, confusion, and the page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avvp_core.analysis.errors import (
    ERROR_TYPES,
    NOTHING,
    class_confusion,
    confusion_figure,
    error_cells,
    error_totals,
    missed_events,
    rank,
    video_table,
)
from avvp_core.constants import CLASS_INDEX, CLASSES

REPO = Path(__file__).resolve().parents[1]
SPEECH, DOG, CAT, CAR, CELLO, CHAINSAW = (CLASS_INDEX[c] for c in ("Speech", "Dog", "Cat", "Car", "Cello", "Chainsaw"))


def _cases():
    """Four videos, each with one kind of mistake (counts worked out by hand in the comments)."""
    z = lambda: np.zeros((4, 10, 25), np.uint8)
    gt_a, gt_v, pr_a, pr_v = z(), z(), z(), z()
    # video 0: Speech audio-only 0-4, found in audio, but also "seen" at 0-2 -> 3 audio-leak cells;
    #          Cello visual-only 5-9, found in visual, also "heard" at 5-6 -> 2 visual-leak cells.
    gt_a[0, 0:5, SPEECH] = pr_a[0, 0:5, SPEECH] = pr_v[0, 0:3, SPEECH] = 1
    gt_v[0, 5:10, CELLO] = pr_v[0, 5:10, CELLO] = pr_a[0, 5:7, CELLO] = 1
    # video 1: Dog audible and visible 2-5; audio predicted 3-7 -> boundary: FP 6, 7 and FN 2 = 3 cells;
    #          visual not predicted -> 4 missed cells, 1 missed event.
    gt_a[1, 2:6, DOG] = gt_v[1, 2:6, DOG] = 1
    pr_a[1, 3:8, DOG] = 1
    # video 2: Cat visible 0-3, the model sees a Car there instead -> 4 wrong-class cells + 4 missed (1 event).
    gt_v[2, 0:4, CAT] = 1
    pr_v[2, 0:4, CAR] = 1
    # video 3: nothing audible; Chainsaw heard at 7-9 -> 3 false cells. Perfect elsewhere (no other events).
    pr_a[3, 7:10, CHAINSAW] = 1
    return pr_a, pr_v, gt_a, gt_v


EXPECTED = {  # per video: counts of each error type
    "audio leak": [3, 0, 0, 0], "visual leak": [2, 0, 0, 0], "missed": [0, 4, 4, 0], "false": [0, 0, 0, 3],
    "boundary": [0, 3, 0, 0], "wrong class": [0, 0, 4, 0],
}


def test_hand_built_videos_have_the_known_counts():
    cells = error_cells(*_cases())
    for kind, expected in EXPECTED.items():
        assert cells[kind].sum(axis=(0, 2, 3)).tolist() == expected, kind
    assert cells["audio leak"][0].sum() == 0 and cells["visual leak"][1].sum() == 0  # leaks live in the other modality
    assert cells["boundary"][0, 1, :, DOG].nonzero()[0].tolist() == [2, 6, 7]
    assert missed_events(cells).sum(axis=(0, 2)).tolist() == [0, 1, 1, 0]
    assert cells["correct"].sum() == 5 + 5 + 3  # Speech audio, Cello visual, Dog audio 3-5


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 0.6))
def test_every_wrong_cell_has_exactly_one_type(seed, density):
    rng = np.random.default_rng(seed)
    arrays = [(rng.random((3, 10, 25)) < density).astype(np.uint8) for _ in range(4)]
    cells = error_cells(*arrays)
    typed = np.stack([cells[k] for k in ERROR_TYPES]).astype(int)  # (kinds, M, N, T, C)
    wrong = np.stack(arrays[:2]).astype(bool) ^ np.stack(arrays[2:]).astype(bool)
    assert np.array_equal(typed.sum(axis=0), wrong.astype(int))  # each wrong cell once, right cells never


def test_video_table_ranking_and_class_filter():
    cells = error_cells(*_cases())
    f1 = {"a": np.array([0.5, 0.9, 0.1, 0.7]), "b": np.array([0.6, 0.2, 0.1, 0.9])}
    table = video_table([f"v{i}" for i in range(4)], cells, f1)
    assert list(table.columns[:5]) == ["row", "video", "F1 a", "F1 b", "F1 gap"]
    assert table["errors"].tolist() == [5, 7, 8, 3] and table["missed events"].tolist() == [0, 1, 1, 0]
    assert rank(table, "|F1 gap|")["video"].tolist() == ["v1", "v3", "v0", "v2"]  # |gap| 70, 20, 10, 0
    assert rank(table, "F1 gap (second better)")["video"].tolist()[:2] == ["v3", "v0"]
    assert rank(table, "F1 (first, lowest first)")["video"].tolist()[0] == "v2"
    assert rank(table, "wrong class")["video"].tolist()[0] == "v2"
    dog = video_table([f"v{i}" for i in range(4)], cells, f1, class_index=DOG)
    assert dog["video"].tolist() == ["v1"] and dog.loc[0, "boundary"] == 3 and dog.loc[0, "missed"] == 4
    totals = error_totals({"a": cells})
    assert len(totals) == len(ERROR_TYPES) * 2
    assert totals.set_index(["error", "modality"]).loc[("audio leak", "visual"), "cells"] == 3
    dog_totals = error_totals({"a": cells}, DOG).groupby("error")["cells"].sum()  # the chart follows the class too
    assert dog_totals["boundary"] == 3 and dog_totals["missed"] == 4 and dog_totals.sum() == dog.loc[0, "errors"]


def test_class_confusion_counts_what_is_predicted_instead():
    pr_a, pr_v, gt_a, gt_v = _cases()
    both = class_confusion(pr_a, pr_v, gt_a, gt_v)
    assert both.shape == (25, 26)
    assert both[CAT, CAR] == 4 and both[CAT].sum() == 4
    assert both[DOG, 25] == 4 + 1  # visual 2-5 missed with nothing else predicted; audio segment 2 too
    assert both.sum() == 4 + 5
    visual = class_confusion(pr_a, pr_v, gt_a, gt_v, "visual")
    assert visual[DOG, 25] == 4 and visual[CAT, CAR] == 4 and class_confusion(pr_a, pr_v, gt_a, gt_v, "audio")[
        CAT].sum() == 0
    fig = confusion_figure(both)
    assert list(fig.data[0].x)[-1] == NOTHING and list(fig.data[0].y) == list(CLASSES)


@pytest.mark.app
def test_errors_page_ranks_videos_and_links_to_timelines(tiny_data, tmp_path):
    from streamlit.testing.v1 import AppTest

    from avvp_core.checkpoints import save_checkpoint
    from avvp_core.data import LLPDataset
    from avvp_core.models import create_model
    from avvp_core.training.recipes import RecipeContext, run_recipe

    data = LLPDataset(tiny_data)
    run_recipe("plain", RecipeContext(data, "han", tmp_path / "runs" / "a", "paper", {"dim": 16, "ffn_dim": 16},
                                      {"epochs": 1}, terminal=False))
    untrained = create_model("han", dim=16, ffn_dim=16)  # the second model: same build, never trained
    save_checkpoint(tmp_path / "runs" / "b", untrained, {"data": {"fingerprint": data.fingerprint()}},
                    {"complete": True})
    at = AppTest.from_file(str(REPO / "pages" / "errors.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(tmp_path / "runs")]
    at.run()
    assert not at.exception
    assert at.title[0].value == "Errors"
    table = at.dataframe[0].value
    assert len(table) == 20 and {"F1 gap", *ERROR_TYPES} <= set(table.columns)
    assert (table["F1 gap"].abs().diff().dropna() <= 1e-9).all()  # ranked by |gap|, largest first
    assert len(at.get("plotly_chart")) == 2  # error totals + confusion
    at.session_state["errors_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and "timeline_video" not in at.session_state  # the button shown; Timelines unchanged
    at.button(key="errors_open_timelines").click().run()
    assert at.session_state["timeline_video"] == int(table.loc[0, "row"])
    assert at.session_state["timeline_split"] == "test"
    assert at.session_state["timeline_models"] == ["HAN · a", "HAN · b"]
    at.selectbox(key="errors_class").set_value("Speech").run()  # a class: which figures are its own is said
    assert not at.exception
    caption = next(c.value for c in at.caption if "error counts (cells)" in c.value)
    assert "of Speech only" in caption and "whole video's segment-level Type@AV over all classes" in caption
    totals = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert totals["layout"]["title"]["text"].endswith(": Speech")
