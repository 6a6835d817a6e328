"""The dashboard's second round (issue 21) under AppTest and as pure functions: gated-out timeline cells, the synced
player's payload, default models, choices that outlive their page and URLs that reopen a view (Timelines, Compare,
Errors), the messengers' decomposition, the cross-audio colour bars, the filmstrip and the Lab's measured presets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import app_page

from avvp_core.analysis import lab
from avvp_core.analysis.timeline import TRUTH, default_models, player_payload, timeline_figure, timeline_frame
from avvp_core.checkpoints import Card
from avvp_core.data import LLPDataset
from avvp_core.predictions import Predictions

REPO = Path(__file__).resolve().parents[1]


def _gated_predictions(split, row: int, c: int) -> Predictions:
    """Segment probability 0.97 for class c everywhere, video-level 0.2: every cell is gated out (fused gating)."""
    audio = np.zeros((len(split), 10, 25), np.float32)
    audio[row, :, c] = 0.97
    video = np.zeros((len(split), 25), np.float32)
    video[row, c] = 0.2
    return Predictions(split.filenames, audio, audio.copy(), video=video)


def test_gated_out_cells_are_marked_in_the_frame_the_figure_and_the_player(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    row, c = 0, 3
    frame = timeline_frame(split, row, {"gated": (_gated_predictions(split, row, c), "fused")})
    cells = frame[(frame["source"] == "gated") & (frame["class"] == frame["class"].iloc[0])]
    model = frame[frame["source"] == "gated"]
    dark = model[model["probability"] >= 0.5]
    assert len(dark) == 30 and dark["gated"].all() and not dark["decision"].any()  # 3 modalities x 10 segments
    assert np.allclose(dark["video"], 0.2) and not model[model["probability"] < 0.5]["gated"].any()
    assert cells["video"].notna().all()
    fig = timeline_figure(frame, "t")
    gated = [t for t in fig.data if t.type == "scatter" and t.name.startswith("gated out")]
    assert len(gated) == 1 and len(gated[0].x) == 30 and "video-level probability < 0.5" in gated[0].name
    payload = player_payload(frame, video_uri=None, video_key="k", no_video="none", gatings={"gated": "fused"})
    assert payload["any_gated"] and "fused audio-visual video-level probability" in payload["gating_note"]
    rows = [r for r in payload["rows"] if r["source"] == "gated"]
    assert sum(cell["gated"] for r in rows for cell in r["cells"]) == 30
    json.dumps(payload)  # what goes to the browser is plain JSON
    # without gating nothing is "gated out": a dark cell there is a decision
    probs = _gated_predictions(split, row, c).audio
    plain = timeline_frame(split, row, {"plain": (Predictions(split.filenames, probs, probs), "none")})
    assert not plain["gated"].any() and plain[plain["source"] == "plain"]["decision"].sum() == 30


def test_player_rows_follow_the_figure_and_truth_rows_come_first(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    frame = timeline_frame(split, 1, {"g": (_gated_predictions(split, 1, 0), "fused")})
    payload = player_payload(frame, video_uri="data:video/mp4;base64,AAAA", video_key="test/x", thumbs=["a"] * 10)
    labels = [f"{r['cls']} · {r['modality']} · {r['source']}" for r in payload["rows"]]
    assert labels == list(timeline_figure(frame).data[0].y)
    assert all(len(r["cells"]) == 10 for r in payload["rows"])
    assert payload["rows"][0]["source"] == TRUTH and payload["rows"][0]["truth"]


def _card(name: str, model: str, type_av: float, recipe: str = "plain") -> Card:
    return Card(Path(name), {"model": model, "recipe": recipe}, {"test": {"segment/type": type_av}})


def test_default_models_are_han_and_the_best_other_method():
    cards = {"cmco (cmco)": _card("cmco", "cmco", 50.0), "cmpie (cmpie)": _card("cmpie", "cmpie", 40.0),
             "HAN · han": _card("han", "han", 54.0), "han-ma (han)": _card("han-ma", "han", 51.0, "ma"),
             "mmt-capc (mmt)": _card("mmt-capc", "mmt", 58.0)}
    assert default_models(cards) == ["HAN · han", "mmt-capc (mmt)"]  # not the alphabetical first two
    assert default_models({"a (mgn)": _card("a", "mgn", 1.0), "b (mmt)": _card("b", "mmt", 2.0)}) == ["b (mmt)",
                                                                                                     "a (mgn)"]
    assert default_models({}) == []


@pytest.fixture(scope="module")
def three(tiny_data, tmp_path_factory) -> Path:
    """Three one-epoch checkpoints on tiny_data: HAN, MMT and a second HAN."""
    from avvp_core.training.recipes import RecipeContext, run_recipe

    runs = tmp_path_factory.mktemp("views_runs")
    for folder, model in (("han", "han"), ("mmt", "mmt"), ("han2", "han")):
        run_recipe("plain", RecipeContext(LLPDataset(tiny_data), model, runs / folder, "paper",
                                          {"dim": 16, "ffn_dim": 16}, {"epochs": 1}, terminal=False))
    return runs


@pytest.mark.app
def test_timelines_shows_the_synced_player_and_writes_its_url(tiny_data, three):
    at = app_page("timelines", tiny_data, [three])
    assert not at.exception
    chosen = at.multiselect(key="timeline_models").value
    assert chosen[0] in ("HAN · han", "HAN · han2") and chosen[1] == "MMT · mmt"
    (player,) = at.get("component_instance")
    payload = json.loads(player.proto.json_args)["payload"]
    split = LLPDataset(tiny_data).split("test")
    assert payload["title"] == split.filenames[0] and payload["video"].startswith("data:video/mp4;base64,")
    assert len(payload["thumbs"]) == 10 and all(t.startswith("data:image/jpeg") for t in payload["thumbs"])
    assert {r["source"] for r in payload["rows"]} == {TRUTH, *chosen}
    assert dict(at.query_params) == {"split": "test", "video": split.filenames[0], "models": ",".join(chosen)}


@pytest.mark.app
def test_a_timelines_url_opens_its_video_and_models(tiny_data, three):
    from streamlit.testing.v1 import AppTest

    split = LLPDataset(tiny_data).split("test")
    at = AppTest.from_file(str(REPO / "pages" / "timelines.py"), default_timeout=60)
    at.session_state["data_root"], at.session_state["checkpoint_roots"] = str(tiny_data), [str(three)]
    at.query_params["video"] = split.filenames[4][:11]  # Home links by the 11-character id
    at.query_params["models"] = "MMT · mmt,HAN · han2"
    at.session_state["timeline_search"] = "no-such-video"  # a filter that would hide it is cleared
    at.run()
    assert not at.exception
    assert at.selectbox(key="timeline_video").value == 4
    assert at.multiselect(key="timeline_models").value == ["MMT · mmt", "HAN · han2"]
    assert at.text_input(key="timeline_search").value == ""
    at.query_params["video"] = "zzzzzzzzzzz"
    at.run()
    assert "No test or val video matches 'zzzzzzzzzzz'" in at.warning[0].value



@pytest.mark.app
def test_an_in_app_link_applies_even_values_another_page_left_behind(tiny_data, three):
    """Parameters another page wrote in this session are that page's view left in the URL, not a link (url_changes);
    Home's link to Timelines names models and a split that Compare may well have written too (the top two of the
    leaderboard), and must still open them."""
    from streamlit.testing.v1 import AppTest

    split = LLPDataset(tiny_data).split("test")

    def opened(marked: bool) -> AppTest:
        at = AppTest.from_file(str(REPO / "pages" / "timelines.py"), default_timeout=60)
        at.session_state["data_root"], at.session_state["checkpoint_roots"] = str(tiny_data), [str(three)]
        at.session_state["url_written"] = {"compare": {"models": "MMT · mmt,HAN · han2", "split": "test"}}
        at.query_params.update({"models": "MMT · mmt,HAN · han2", "video": split.filenames[3],
                                **({"from": "home"} if marked else {})})
        return at.run()

    left_behind = opened(marked=False)
    assert left_behind.multiselect(key="timeline_models").value != ["MMT · mmt", "HAN · han2"]
    at = opened(marked=True)
    assert not at.exception and at.multiselect(key="timeline_models").value == ["MMT · mmt", "HAN · han2"]
    assert at.selectbox(key="timeline_video").value == 3 and "from" not in at.query_params  # read once


@pytest.mark.app
def test_a_hand_written_link_names_folders_and_hears_about_what_matched_nothing(tiny_data, three):
    """A link written by hand or by a script names checkpoint folders; what it names that is not here is said in one
    warning, and the view keeps its current choice for it instead of silently showing something else."""
    def page(name: str, params: dict[str, str]):
        return app_page(name, tiny_data, [three], query=params)

    at = page("timelines", {"models": "mmt,HAN2,cmpie", "split": "train"})
    assert not at.exception
    assert at.multiselect(key="timeline_models").value == ["MMT · mmt", "HAN · han2"]
    (warning,) = at.warning
    assert warning.value == ("From the link: split='train' is not one of the choices here; 'cmpie' matches no "
                             "checkpoint for this data. Those keep their current choice.")
    assert at.radio(key="timeline_split").value == "test"
    assert at.query_params["models"] == "MMT · mmt,HAN · han2"  # the URL now names what is shown

    first_visit = page("timelines", {}).multiselect(key="timeline_models").value
    at = page("timelines", {"models": "cmpie"})  # nothing placed: the first-visit models, and it says so
    assert at.multiselect(key="timeline_models").value == first_visit and len(first_visit) == 2
    assert "'cmpie' matches no checkpoint" in at.warning[0].value

    at = page("compare", {"models": "han,mmt", "baseline": "MGN", "level": "event"})
    assert not at.exception
    assert at.multiselect(key="compare_models").value == ["HAN · han", "MMT · mmt"]
    assert at.radio(key="compare_level").value == "event"
    assert [w.value for w in at.warning] == ["From the link: baseline='MGN' is not one of the choices here. Those "
                                             "keep their current choice."]
    at = page("compare", {"models": "han,mmt", "baseline": "MMT"})  # checked once the table names it, then applied
    assert not at.warning and at.selectbox(key="compare_baseline").value == "MMT"

    at = page("errors", {"model": "han2", "second": "none", "rank": "loudest", "class": "Speech"})
    assert not at.exception
    assert at.selectbox(key="errors_model").value == "HAN · han2" and at.selectbox(key="errors_second").value == "none"
    assert at.selectbox(key="errors_class").value == "Speech"
    assert "rank='loudest' is not one of the choices here" in at.warning[0].value
    at = page("errors", {"model": "han2", "second": "none", "rank": "|F1 gap|"})  # a gap needs a second model
    assert at.selectbox(key="errors_rank").value == "F1 (first, lowest first)"
    assert "rank='|F1 gap|' is not one of the choices here" in at.warning[0].value


@pytest.mark.app
def test_a_rerun_carrying_the_url_from_before_the_last_change_does_not_undo_it(tiny_data, three):
    """The browser may send a rerun (a click right after a change) with the query string it had before the change's
    new URL reached it. That stale URL is this page's own earlier view, not a link: the change stands."""
    at = app_page("errors", tiny_data, [three])
    before = dict(at.query_params)
    at.selectbox(key="errors_class").set_value("Speech").run()
    assert at.query_params["class"] == "Speech"
    at.query_params.clear()
    at.query_params.update(before)  # the stale query string: class=any
    at.run()
    assert not at.exception and at.selectbox(key="errors_class").value == "Speech" and not at.warning
    assert at.query_params["class"] == "Speech"
    at.query_params["class"] = "Dog"  # a value never written here is still a link (e.g. one edited by hand)
    at.run()
    assert at.selectbox(key="errors_class").value == "Dog"


@pytest.mark.app
def test_choices_survive_a_page_switch(tiny_data, three):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.session_state["data_root"], at.session_state["checkpoint_roots"] = str(tiny_data), [str(three)]
    at.run()
    at.switch_page("pages/timelines.py").run()
    at.multiselect(key="timeline_models").set_value(["HAN · han2"]).run()
    at.selectbox(key="timeline_video").set_value(3).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    at.multiselect(key="compare_models").set_value(["MMT · mmt", "HAN · han"]).run()
    at.switch_page("pages/errors.py").run()
    at.selectbox(key="errors_model").set_value("MMT · mmt").run()
    at.switch_page("pages/attention.py").run()
    at.selectbox(key="attention_checkpoint").set_value("MMT · mmt").run()
    at.switch_page("pages/features.py").run()
    at.selectbox(key="features_model").set_value("MMT · mmt").run()
    at.radio(key="features_method").set_value("PCA").run()
    at.number_input(key="features_points").set_value(600).run()
    at.switch_page("pages/home.py").run()  # none of the widgets above is rendered here
    at.switch_page("pages/timelines.py").run()
    assert at.multiselect(key="timeline_models").value == ["HAN · han2"] and at.selectbox(
        key="timeline_video").value == 3
    at.switch_page("pages/compare.py").run()
    assert at.multiselect(key="compare_models").value == ["MMT · mmt", "HAN · han"]
    assert at.query_params["models"] == "MMT · mmt,HAN · han"  # Compare's view is in its URL too
    at.switch_page("pages/errors.py").run()
    assert at.selectbox(key="errors_model").value == "MMT · mmt" and at.query_params["model"] == "MMT · mmt"
    at.switch_page("pages/attention.py").run()
    assert at.selectbox(key="attention_checkpoint").value == "MMT · mmt" and not at.exception
    at.switch_page("pages/features.py").run()
    assert at.selectbox(key="features_model").value == "MMT · mmt" and at.radio(key="features_method").value == "PCA"
    assert at.number_input(key="features_points").value == 600 and at.query_params["method"] == "PCA"


def _kept_page():
    import streamlit as st

    from avvp_core import ui

    if st.session_state.get("page") == "here":
        ui.kept(st.multiselect, "Models", ["a", "b", "c"], key="models", default=["a", "b"])
    else:  # another page: this one's widget is not drawn, and Streamlit drops its state at the run's end
        st.write("another page")


@pytest.mark.app
def test_a_choice_is_kept_when_the_page_is_left_before_its_run_reaches_the_widget():
    """A change followed at once by a page switch: the run that applies it may be interrupted before the page reaches
    its widget, and the next page's run drops the widget's state (modelled by one run on another page after the
    change). The kept copy comes from the widget's callback, so the choice survives."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_kept_page, default_timeout=30)
    at.session_state["page"] = "here"
    at.run()
    assert at.multiselect(key="models").value == ["a", "b"]
    at.multiselect(key="models").set_value(["c"])
    at.session_state["page"] = "elsewhere"
    at.run()  # the change's callback runs; the next page's run does not reach the widget and drops its state
    at.session_state["page"] = "here"
    at.run()
    assert at.multiselect(key="models").value == ["c"]


@pytest.mark.app
def test_an_errors_url_reopens_its_view_and_its_row_still_opens_timelines(tiny_data, three):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / "errors.py"), default_timeout=60)
    at.session_state["data_root"], at.session_state["checkpoint_roots"] = str(tiny_data), [str(three)]
    at.query_params.update({"model": "MMT · mmt", "second": "HAN · han", "class": "Speech", "rank": "errors"})
    at.run()
    assert not at.exception
    assert at.selectbox(key="errors_model").value == "MMT · mmt" and at.selectbox(key="errors_second").value == \
        "HAN · han"
    assert at.selectbox(key="errors_class").value == "Speech" and at.selectbox(key="errors_rank").value == "errors"


def test_messenger_shares_decompose_the_pooled_vector(tiny_data):
    import torch

    from avvp_core.analysis.attention import video_batch
    from avvp_core.analysis.messengers import carries_table, effect_table, messenger_view, pooling_bins
    from avvp_core.models import create_model

    torch.manual_seed(0)
    split = LLPDataset(tiny_data).split("test")
    assert pooling_bins(10, 3) == [(0, 4), (3, 7), (6, 10)]  # adaptive pooling's overlapping bins
    for n in (1, 3):
        model = create_model("mmt", dim=16, ffn_dim=16, audio_messengers=n, visual_messengers=n).eval()
        view = messenger_view(model, split, 0, 1, "audio")
        assert np.allclose(np.nansum(view.shares, axis=1), 1.0, atol=1e-4)  # each messenger's shares sum to 1
        assert view.attention.shape == (10, n)
        if n == 1:
            assert np.allclose(view.attention, 1.0)  # a softmax over one key
        plain = model(video_batch(split, [0])).visual_prob[0].detach().numpy()
        assert np.allclose(view.own, plain, atol=1e-6)  # "own" is the model's own prediction
        assert not np.allclose(view.removed, view.own)  # removing the messengers changes the visual decoder
        table = carries_table(view, split, 0)
        assert len(table) == n and table["AUC vs truth"].between(0, 1).all()
        assert {"removed − own", "swapped − own"} <= set(effect_table(view, split, 0).columns)


def test_messengers_of_a_model_without_them_are_refused(tiny_data):
    from avvp_core.analysis.messengers import messenger_view
    from avvp_core.errors import InputError
    from avvp_core.models import create_model

    split = LLPDataset(tiny_data).split("test")
    with pytest.raises(InputError, match="no audio messengers"):
        messenger_view(create_model("mmt_nomsg", dim=16, ffn_dim=16).eval(), split, 0, 1, "audio")


def test_cross_audio_colour_bars_sit_right_of_the_plots(tiny_data):
    from avvp_core.analysis.attention import CrossAudio, cross_audio_figure

    r = CrossAudio(np.zeros((10, 25)), np.ones((10, 25)) * 0.5, np.zeros(25), np.zeros(25))
    bars = [t.colorbar for t in cross_audio_figure(r, [0, 1, 2]).data if t.showscale]
    assert len(bars) == 2 and all(b.orientation != "h" and b.x > 1 for b in bars)  # not under the x-axis titles
    assert bars[0].y == 1.0 and bars[1].y == 0.0  # one above the other


def test_a_render_filmstrip_drops_its_unreadable_top_bar():
    from avvp_core.videos import DEMO_DIR, filmstrip, is_render

    clip = next(DEMO_DIR.glob("*.mp4"))
    assert is_render(clip) and not is_render("/data/videos/abc.mp4")
    full, cropped = filmstrip(clip), filmstrip(clip, crop_header=True)
    assert cropped.shape[1] == full.shape[1] and cropped.shape[0] < full.shape[0]


def _results(visual: list[float], av: list[float]) -> dict:
    """A lab_presets.json with the given MMT − HAN visual and AV gaps at LLP's mix and at 90 % audio-only."""
    def preset(v: float, a: float) -> dict:
        mean = {f"segment/{k}": 0.0 for k in ("audio", "visual", "av", "type")} | {"segment/visual": v,
                                                                                  "segment/av": a}
        return {"seeds": [1, 2, 3], "delta_mean": mean, "delta_std": {k: 1.0 for k in mean}}

    return {"presets": {"LLP's mix (default)": preset(visual[0], av[0]),
                        "Mostly audio-only": preset(visual[1], av[1])}}


def test_the_lab_verdict_follows_the_numbers():
    appears = lab.verdict(_results([1.0, 6.0], [0.5, 5.0]))
    assert "the effect appears" in appears and "+6.0" in appears
    absent = lab.verdict(_results([-12.0, -9.0], [-16.0, -8.0]))
    assert "does not appear" in absent and "-12.0 / -16.0 to -9.0 / -8.0" in absent
    assert "MMT is not ahead of HAN there, though the gap narrows" in absent
    assert ("at LLP's mix (default), MMT is below HAN on visual, audio-visual; within one standard deviation of HAN on "
            "audio, Type@AV") in absent and f"600 videos for {lab.LAB_TRAIN['epochs']} epochs" in absent


def test_the_shipped_presets_are_measured_over_several_seeds():
    results = lab.preset_results()
    assert results is not None, "avvp_core/analysis/lab_presets.json missing: run bench/lab_presets.py"
    assert set(results["presets"]) <= set(lab.PRESETS) and "Mostly audio-only" in results["presets"]
    assert results["train"] == json.loads(json.dumps(lab.LAB_TRAIN))  # measured with the page's own settings
    for model in lab.LAB_MODELS:  # ... and today's models: a new demo width or rate makes the figures stale
        assert results["model_settings"][model] == lab.model_settings(model), model
    for name, r in results["presets"].items():
        assert len(r["seeds"]) >= 3 and r["knobs"] == {**lab.default_knobs(), **lab.PRESETS[name]["knobs"]}


def test_every_shallow_value_of_lab_presets_damaged_leaves_the_lab_page_drawn(tmp_path):
    """lab_presets.json with its whole self or one value (down to a preset's figure) swapped for a null, a list and
    a string: what the Lab page draws from it (the verdict, each preset's measured line) is built without an
    exception; an unusable preset is left out and shown as not measured (a list as a preset, or a string as a
    figure, raised TypeError in verdict)."""
    from conftest import shallow_swaps

    path = tmp_path / "lab_presets.json"
    for where, document in shallow_swaps(json.loads(lab.PRESETS_FILE.read_text()), depth=4):
        path.write_text(json.dumps(document))
        measured = lab.preset_results(path)
        if measured:
            assert isinstance(lab.verdict(measured), str), where
        for preset in lab.PRESETS:  # as pages/lab.py captions the chosen preset
            result = (measured or {}).get("presets", {}).get(preset)
            assert result is None or lab.preset_line(result).startswith("MMT − HAN over"), where


@pytest.mark.app
def test_lab_page_states_the_measurement_and_presets_set_the_knobs(tmp_path, runs):
    at = app_page("lab", tmp_path / "data", [runs])
    assert not at.exception
    assert "Measured at Lab's scale" in at.info[0].value
    at.selectbox(key="lab_preset").set_value("Mostly audio-only").run()
    assert at.slider(key="lab_knob_audio_only_rate").value == pytest.approx(0.9)
    assert at.slider(key="lab_knob_visual_only_rate").value == pytest.approx(0.05)
    assert any("MMT − HAN over 3 seeds" in c.value for c in at.caption)
    assert lab.run_name("d", "han", 30, 1).endswith("-last-plr")  # runs of older settings are never reused
