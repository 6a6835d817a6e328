"""Compare: seeds of one configuration aggregate as mean ± std, deltas against a baseline, and the page."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from avvp_core.analysis.compare import (
    aggregate,
    delta_table,
    deltas_chart,
    per_class_frame,
    same_figures,
    with_deltas,
)
from avvp_core.checkpoints import Card
from avvp_core.constants import CLASSES, METRIC_KEYS

REPO = Path(__file__).resolve().parents[1]


def _card(model: str, seed: int, value: float, batch: int = 16) -> Card:
    config = {"model": model, "model_config": {"dim": 8}, "recipe": "plain", "width": "demo", "seed": seed,
              "train": {"batch_size": batch, "seed": seed}}
    return Card(Path(f"/x/{model}-{batch}-{seed}"), config, {"test": {k: value for k in METRIC_KEYS}, "complete": True})


def test_same_figures_are_named_with_their_reason():
    han, msdu, other, copy = _card("han", 1, 50.0), _card("msdu", 1, 50.0), _card("mgn", 1, 51.0), _card("han", 1, 50.0)
    lines = same_figures({"HAN": han, "MSDU": msdu, "MGN": other})
    assert len(lines) == 1 and lines[0].startswith("HAN and MSDU have the same test figures, seed for seed")
    assert "MSDU's decision heads read detached features" in lines[0]
    assert "a copy" in same_figures({"HAN": han, "HAN · mine": copy})[0]
    assert same_figures({"HAN": han, "MSDU": _card("msdu", 1, 50.0 + 1e-6)}) == []  # equal means equal
    partial = _card("msdu", 1, 50.0)
    partial.metrics["test"]["event/type"] = None
    assert same_figures({"HAN": han, "MSDU": partial}) == []  # a figure missing: nothing to compare
    two = {"han": _card("han", 2, 50.0), "msdu": _card("msdu", 1, 50.0)}  # same figures, different seeds
    assert same_figures(two) == []


def test_seeds_aggregate_and_deltas():
    cards = [_card("han", 1, 50.0), _card("han", 2, 52.0), _card("han", 3, 54.0), _card("mgn", 1, 60.0)]
    table = with_deltas(aggregate(cards), "HAN")
    han = table[table.configuration == "HAN"].iloc[0]
    assert han["runs"] == 3 and han["seeds"] == "1, 2, 3"
    assert han["segment/type"] == pytest.approx(52.0) and han["segment/type ±"] == pytest.approx(2.0)
    mgn = table[table.configuration == "MGN"].iloc[0]
    assert np.isnan(mgn["event/event ±"]) and mgn["Δ event/event"] == pytest.approx(8.0)


def test_a_difference_that_rounds_to_nothing_has_no_sign():
    from avvp_core.names import signed

    assert [signed(v) for v in (-0.04, 0.04, -0.06, 1.25, 0.0)] == ["+0.0", "+0.0", "-0.1", "+1.2", "+0.0"]
    assert signed(-0.004, 2) == "+0.00" and signed(-0.006, 2) == "-0.01"
    table = with_deltas(aggregate([_card("han", 1, 50.0), _card("mgn", 1, 49.97)]), "HAN")  # MGN 0.03 below
    cells = delta_table(table)
    mgn = cells[cells.configuration == "MGN"].iloc[0]
    assert all(str(mgn[f"Δ {k}"]) == "0.0" for k in METRIC_KEYS)  # + 0.0: the table's "%+.1f" shows "+0.0"
    text = deltas_chart(table, "HAN").data[0].text
    assert "-0.0" not in str(text) and text[1][0] == "+0.0"  # the heat map as the table


def test_configurations_differing_only_in_training_settings_get_distinct_labels():
    table = aggregate([_card("han", 1, 50.0, batch=16), _card("han", 1, 40.0, batch=128)])
    assert sorted(table.configuration) == ["HAN [batch_size=128]", "HAN [batch_size=16]"]


def test_a_seed_trained_before_a_model_option_existed_is_a_seed_of_the_same_configuration():
    from avvp_core.models import model_info

    full = dict(model_info("cmpie").defaults)
    older = {k: v for k, v in full.items() if k != "cma_concat"}  # written before cma_concat was registered
    cards = [_card("cmpie", 1, 50.0), _card("cmpie", 2, 52.0), _card("cmpie", 3, 40.0)]
    for card, config in zip(cards, (older, full, {**full, "cma_concat": "channels"}), strict=True):
        card.config["model_config"] = config
    table = aggregate(cards)
    assert len(table) == 2
    pooled = table[table.runs == 2].iloc[0]
    assert pooled["seeds"] == "1, 2" and pooled["segment/type"] == pytest.approx(51.0)
    assert "cma_concat=channels" in " ".join(table.configuration)


def test_per_class_frame_is_long_and_complete():
    per_class = {"a": {f"segment/{m}": np.arange(25.0) for m in ("audio", "visual", "av")}}
    frame = per_class_frame(per_class)
    assert len(frame) == 3 * 25 and set(frame.modality) == {"audio", "visual", "audio-visual"}


def _frame(at, column: str):
    """The page's table holding `column` (st.dataframe without selection carries no key AppTest can see)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, (column, [list(d.value.columns) for d in at.dataframe])
    return found[0]


@pytest.mark.app
def test_compare_page(tiny_data, tmp_path):
    from streamlit.testing.v1 import AppTest

    from avvp_core.data import LLPDataset
    from avvp_core.training.recipes import RecipeContext, run_recipe

    for seed in (1, 2):
        run_recipe("plain", RecipeContext(LLPDataset(tiny_data), "han", tmp_path / "runs" / f"han-s{seed}", "paper",
                                          {"dim": 16, "ffn_dim": 16}, {"epochs": 1, "seed": seed}, terminal=False))
    at = AppTest.from_file(str(REPO / "pages" / "compare.py"), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(tmp_path / "runs")]
    at.run()
    assert not at.exception
    table = _frame(at, "seeds")
    assert list(table["runs"]) == [2] and table.loc[0, "seeds"] == "1, 2 (2 seeds)"
    # figures, deltas, standings, and of the lazy per-class tabs only the open one (audio)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert len(titles) == 4 and titles[-1] == "audio · segment-level F1 per class (%)"
    at.session_state["compare_per_class_tab"] = "visual"
    at.run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert len(titles) == 4 and titles[-1] == "visual · segment-level F1 per class (%)"
    published = _frame(at, "published method")  # HAN's published row, beside ours
    assert list(published["published method"]) == ["HAN"] and (published["segment/type"] == 54.0).all()
    # the per-class table: a class's column opens its videos in Errors (an in-app link, applied there in full)
    at.session_state["compare_per_class_tab"] = "table"
    at.session_state["compare_per_class_table"] = {"selection": {"rows": [], "columns": ["Dog"], "cells": []}}
    at.run()
    assert not at.exception
    by_class = next(d.value for d in at.dataframe if d.key == "compare_per_class_table")
    assert list(by_class.columns) == list(CLASSES)  # every class in LLP's order, one with no F1 too (an empty column)
    (link,) = [p for p in at.get("page_link") if "in Errors" in p.proto.label]
    assert link.proto.label == "Dog: its test videos in Errors, HAN · han-s1 against HAN · han-s2"
    query = urllib.parse.parse_qs(link.proto.query_string)
    assert query == {"model": ["HAN · han-s1"], "second": ["HAN · han-s2"], "split": ["test"], "class": ["Dog"],
                     "from": ["compare"]}
    errors = AppTest.from_file(str(REPO / "pages" / "errors.py"), default_timeout=60)
    errors.session_state["data_root"] = str(tiny_data)
    errors.session_state["checkpoint_roots"] = [str(tmp_path / "runs")]
    errors.session_state["url_written"] = {"compare": {"split": "test"}}  # Compare left the same split behind
    errors.query_params.update({k: v[0] for k, v in query.items()})
    errors.run()
    assert not errors.exception and errors.selectbox(key="errors_class").value == "Dog"
    assert errors.selectbox(key="errors_second").value == "HAN · han-s2"
    assert errors.radio(key="errors_split").value == "test"


def test_a_card_of_several_seeds_says_its_weights_are_one_seed():
    from types import SimpleNamespace

    from avvp_core.analysis.compare import weights_seed_note

    runs = [{"seed": s, "test": {k: v for k in METRIC_KEYS}} for s, v in ((1, 50.0), (2, 52.0), (3, 54.0))]
    card = SimpleNamespace(config={"seed": 1}, metrics={"test": runs[0]["test"], "seeds": {"runs": runs}})
    assert weights_seed_note("HAN", card) == (
        "HAN stands for 3 seeds; these are the figures of seed 1, the weights shipped (segment Type@AV 50.00 on "
        "test), while Home's leaderboard and Compare show the mean over the 3 seeds (52.00).")
    assert weights_seed_note("HAN", SimpleNamespace(config={"seed": 1}, metrics={"test": runs[0]["test"]})) is None
