"""Attention maps (analysis.attention) for every registered model, per-class averages, the cross-audio view, and the
Attention page and Timelines' cross-audio section under AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_batch

from avvp_core.analysis.attention import (
    KINDS,
    capture_maps,
    cross_audio,
    cross_audio_classes,
    cross_audio_figure,
    group_maps,
    is_mmt_family,
    map_figure,
    maps_from_captures,
    messenger_table,
    videos_with_class,
)
from avvp_core.constants import CLASSES
from avvp_core.data import LLPDataset
from avvp_core.evaluation import predict
from avvp_core.models import create_model, list_models, model_info

REPO = Path(__file__).resolve().parents[1]
SMALL = {"dim": 16, "ffn_dim": 16, "occ_dim": 8, "depth_audio": 1, "depth_visual": 1, "depth_av": 2}

# Documented shapes (S slices, H heads, Q queries, K keys) of one map per family, and the kinds each family shows.
EXPECTED = {
    "han": ({"audio self-attention": (1, 1, 10, 10), "visual -> audio cross-attention": (1, 1, 10, 10)},
            {"self-attention", "cross-attention"}),
    "msdu": ({"MSDU visual temporal attention": (1, 1, 25, 10)},
             {"self-attention", "cross-attention", "temporal attention"}),
    "cmco": ({"class tokens: audio -> visual cross-attention": (10, 1, 25, 25)}, {"self-attention", "cross-attention"}),
    "cmpie": ({"audio SA segment weights": (1, 1, 1, 10),
               "SA path: visual CMA -> audio+visual segments": (1, 1, 10, 20)},
              {"self-attention", "cross-attention", "segment weights"}),
    "mgn": ({"visual assignment": (1, 1, 10, 25), "audio-visual ViT self-attention": (1, 8, 50, 50),
             "audio HAN grouping: groups -> members cross-attention": (1, 8, 10, 10)},
            {"self-attention", "cross-attention", "assignment maps"}),
    "mmt": ({"visual decoder -> audio messengers": (1, 1, 10, 1), "audio messengers class affinity": (1, 1, 1, 25),
             "audio encoder self-attention": (1, 1, 10, 10)}, {"self-attention", "cross-attention", "messengers"}),
    "mmt_mbt": ({"audio encoder self-attention": (1, 1, 11, 11), "visual decoder -> bottleneck tokens": (1, 1, 10, 1)},
                {"self-attention", "cross-attention"}),
}


def _tiny(name: str, **extra):
    defaults = model_info(name).defaults
    return create_model(name, **{k: v for k, v in {**SMALL, **extra}.items() if k in defaults}).eval()


@pytest.mark.parametrize("name", list_models())
def test_every_model_maps_are_labelled_and_softmax_rows_sum_to_one(name):
    torch.manual_seed(0)
    with torch.no_grad():
        captures = _tiny(name)(make_batch(3), capture=True).captures
    maps = maps_from_captures(captures)
    assert maps, f"{name} shows no map"
    assert [KINDS.index(m.kind) for m in maps] == sorted(KINDS.index(m.kind) for m in maps)
    # every capture named as attention ("... attention", "x -> y") becomes a map; features and tokens do not
    attention = {k for k in captures if "attention" in k or "->" in k}
    assert attention <= {m.capture for m in maps}
    assert not {m.capture for m in maps} & {k for k in set(captures) - attention if "features" in k or "tokens" in k}
    for m in maps:
        S, H, Q, K = m.weights.shape
        assert (len(m.query_labels), len(m.key_labels)) == (Q, K) and m.videos == 3
        assert len(set(m.query_labels)) == Q and len(set(m.key_labels)) == K  # distinct ticks
        assert (S == 10) == (m.slice_title == "segment")
        if m.softmax:
            np.testing.assert_allclose(m.weights.sum(-1), 1.0, atol=1e-5, err_msg=m.capture)
        assert m.weights.min() >= 0
    if name in EXPECTED:
        shapes, kinds = EXPECTED[name]
        found = {m.name: m.weights.shape for m in maps}
        for map_name, shape in shapes.items():
            assert found[map_name] == shape, map_name
        assert set(group_maps(maps)) == kinds


def test_axes_say_what_attends_to_what():
    maps = {m.name: m for m in maps_from_captures(_tiny("mmt")(make_batch(2), capture=True).captures)}
    msg = maps["visual decoder -> audio messengers"]
    assert (msg.query_title, msg.key_title, msg.key_labels) == ("visual segment", "audio messenger", ("messenger 0",))
    assert msg.query_labels == tuple(str(t) for t in range(10))
    affinity = maps["visual messengers class affinity"]
    assert affinity.kind == "messengers" and not affinity.softmax and affinity.key_labels == CLASSES
    mgn = {m.name: m for m in maps_from_captures(_tiny("mgn")(make_batch(2), capture=True).captures)}
    vit = mgn["visual ViT self-attention"]
    assert vit.query_labels[:2] == ("seg 0", "seg 1") and vit.query_labels[10:] == CLASSES
    assert mgn["audio-visual assignment"].key_labels[0] == "Speech"
    assert mgn["audio-visual ViT self-attention"].key_labels[25] == "visual: Speech"
    cmpie = {m.name: m for m in maps_from_captures(_tiny("cmpie")(make_batch(2), capture=True).captures)}
    cma = cmpie["HAN path: audio CMA -> audio+visual segments"]
    assert cma.key_labels[0] == "audio 0" and cma.key_labels[-1] == "visual 9"
    channels = {m.name: m for m in maps_from_captures(_tiny("cmpie", cma_concat="channels")(make_batch(2),
                                                                                          capture=True).captures)}
    fused = channels["HAN path: audio CMA -> audio⊕visual segments"]  # T keys, each an audio and a visual segment
    assert (fused.kind, fused.key_title, fused.key_labels) == ("cross-attention", "audio⊕visual segment",
                                                               tuple(str(t) for t in range(10)))


def test_layers_are_one_map_name_with_increasing_layer():
    maps = maps_from_captures(_tiny("mmt", encoder_layers=2, decoder_layers=3)(make_batch(2), capture=True).captures)
    grouped = group_maps(maps)
    assert [m.layer for m in grouped["self-attention"]["audio encoder self-attention"]] == [0, 1]
    assert [m.layer for m in grouped["cross-attention"]["audio decoder -> visual messengers"]] == [0, 1, 2]
    han = group_maps(maps_from_captures(_tiny("han", layers=2)(make_batch(2), capture=True).captures))
    assert [m.layer for m in han["self-attention"]["visual self-attention"]] == [0, 1]


def test_messenger_table_has_a_row_per_messenger():
    model = _tiny("mmt", audio_messengers=2, visual_messengers=3)
    maps = maps_from_captures(model(make_batch(2), capture=True).captures)
    table = messenger_table(maps)
    assert len(table) == 5 and list(table.columns) == ["messengers", "messenger", "top 1", "top 2", "top 3"]
    assert sorted(table["messengers"].unique()) == ["audio messengers", "visual messengers"]
    assert messenger_table(maps_from_captures(_tiny("han")(make_batch(2), capture=True).captures)).empty


def test_class_average_is_the_mean_of_the_videos_maps(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    rows = videos_with_class(split, 0)
    truth = split.gt_audio[:, :, 0].any(1) | split.gt_visual[:, :, 0].any(1)
    assert set(rows) == set(np.flatnonzero((split.labels[:, 0] > 0) | truth)) and len(rows) >= 2
    assert list(videos_with_class(split, 0, limit=2)) == list(rows[:2])
    torch.manual_seed(0)
    model = _tiny("han")
    mean = {m.capture: m for m in capture_maps(model, split, rows[:3], batch_size=2)}
    single = [{m.capture: m.weights for m in capture_maps(model, split, [r])} for r in rows[:3]]
    for capture, m in mean.items():
        assert m.videos == 3
        np.testing.assert_allclose(m.weights, np.mean([s[capture] for s in single], axis=0), atol=1e-6)
    fig = map_figure(mean["HAN layer 0: audio -> visual cross-attention"], head=0)
    assert fig.layout.xaxis.title.text == "visual segment" and fig.layout.yaxis.title.text == "audio segment"
    assert np.asarray(fig.data[0].z).shape == (10, 10)


def test_cross_audio_with_its_own_audio_is_the_plain_prediction(tiny_data):
    split = LLPDataset(tiny_data).split("test")
    torch.manual_seed(0)
    model = _tiny("mmt")
    plain = predict(model, split)
    same = cross_audio(model, split, 4, 4)
    np.testing.assert_allclose(same.own, plain.visual[4], atol=1e-6)
    np.testing.assert_allclose(same.own_video, plain.video_visual[4], atol=1e-6)
    assert np.abs(same.difference).max() < 1e-6  # same audio twice: equal up to float rounding
    swapped = cross_audio(model, split, 4, 7)
    np.testing.assert_allclose(swapped.own, plain.visual[4], atol=1e-6)  # the own row is untouched by the batch
    assert np.abs(swapped.difference).max() > 0  # MMT's visual decoder reads the audio messengers
    nofa = _tiny("mmt_nofa")  # "No FA": the visual stream never sees audio, so the swap changes nothing
    assert np.abs(cross_audio(nofa, split, 4, 7).difference).max() < 1e-6
    classes = cross_audio_classes(swapped, split, 4, 7)
    fig = cross_audio_figure(swapped, classes, "t")
    assert len(fig.data) == 3 and list(fig.data[0].y) == [CLASSES[c] for c in classes]
    assert is_mmt_family("mmt_nofa") and is_mmt_family("mmt") and not is_mmt_family("msdu")


# --- pages -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """A tiny HAN, a tiny MMT and a tiny MMT with three messengers per modality (paper 000's table 3 ablation) and two
    heads, one epoch each on tiny_data."""
    from avvp_core.training.recipes import RecipeContext, run_recipe

    runs = tmp_path_factory.mktemp("attention_runs")
    for folder, name, extra in (("han", "han", {}), ("mmt", "mmt", {}),
                                ("mmt3", "mmt", {"audio_messengers": 3, "visual_messengers": 3, "heads": 2})):
        run_recipe("plain", RecipeContext(LLPDataset(tiny_data), name, runs / folder, "paper",
                                          {"dim": 16, "ffn_dim": 16, **extra}, {"epochs": 1}, terminal=False))
    return runs


def _page(page: str, tiny_data, runs):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "pages" / page), default_timeout=60)
    at.session_state["data_root"] = str(tiny_data)
    at.session_state["checkpoint_roots"] = [str(runs)]
    return at


@pytest.mark.app
def test_attention_page_shows_han_and_mmt_maps(tiny_data, trained):
    at = _page("attention.py", tiny_data, trained)
    at.session_state["attention_checkpoint"] = "HAN · han"
    at.run()
    assert not at.exception and at.title[0].value == "Attention"
    assert [s.value for s in at.subheader] == ["Self-attention", "Cross-attention"]
    assert len(at.get("plotly_chart")) == 4  # audio/visual self-attention, audio->visual, visual->audio
    # HAN's maps have ten keys: never trivial; a one-epoch model's may well be near-uniform, and then says so
    assert all("near-uniform" in w.value and "trivial" not in w.value for w in at.warning)
    at.selectbox(key="attention_checkpoint").select("MMT · mmt").run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Self-attention", "Cross-attention", "Messengers: what they are",
                                               "More than one messenger (paper 000, table 3)"]
    assert len(at.get("plotly_chart")) == 7  # 4 self-attention, 2 decoder -> messengers, the segments' shares
    trivial = [w.value for w in at.warning if "trivial" in w.value]
    assert len(trivial) == 2 and all("exactly 1.0" in w and "pooled, not attended" in w for w in trivial)
    carries, effect = at.dataframe[0].value, at.dataframe[1].value
    assert len(carries) == 1 and 0 <= carries["AUC vs truth"].iloc[0] <= 1  # one audio messenger, scored vs truth
    assert {"own messengers", "removed (zeros)", "swapped in"} <= set(effect.columns) and len(effect)
    assert "MMT · mmt3 (n_a = 3, n_v = 3)" in " ".join(m.value for m in at.markdown).replace("**", "")
    at.radio(key="attention_source").set_value("visual").run()
    assert not at.exception and at.dataframe[0].value["messenger"].iloc[0].startswith("visual messenger 0")
    at.radio(key="attention_mode").set_value("average per class").run()
    assert not at.exception
    at.selectbox(key="attention_class").select(CLASSES[0]).run()
    n = len(videos_with_class(LLPDataset(tiny_data).split("test"), 0, 32))
    assert any(f"mean over {n} test videos containing {CLASSES[0]}" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 6 and "choose *one video* above" in at.info[0].value


@pytest.mark.app
def test_attention_over_several_messengers_is_not_flagged_and_scales_are_fixed(tiny_data, trained):
    at = _page("attention.py", tiny_data, trained)
    at.session_state["attention_checkpoint"] = "MMT · mmt3"
    at.run()
    assert not at.exception
    assert not [w.value for w in at.warning if "trivial" in w.value]  # three keys: a real softmax choice
    assert len(at.dataframe[0].value) == 3  # three audio messengers, each with its bin of segments
    heads = [b for b in at.selectbox if b.key.startswith("attention_head/")]  # two heads: their mean is shown first
    assert heads and all(b.value == "mean" and b.format_func(b.value) == "mean of heads" for b in heads)
    heads[0].select(1).run()
    assert not at.exception and at.selectbox(key=heads[0].key).value == 1
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    heat = [d for c in charts for d in c["data"] if d["type"] == "heatmap"]
    assert heat and all((d["zmin"], d["zmax"]) == (0, 1) for d in heat)  # fixed 0-1 by default
    at.toggle(key="attention_stretch").set_value(True).run()
    heat = [d for c in at.get("plotly_chart") for d in json.loads(c.proto.spec)["data"] if d["type"] == "heatmap"]
    assert any((d["zmin"], d["zmax"]) != (0, 1) for d in heat)


@pytest.mark.app
def test_an_attention_link_reopens_its_view_and_a_bad_one_names_its_problem(tiny_data, trained):
    val = LLPDataset(tiny_data).split("val")
    at = _page("attention.py", tiny_data, trained)
    at.query_params.update({"checkpoint": "mmt", "split": "val", "video": val.filenames[3]})
    at.run()
    assert not at.exception and not [w for w in at.warning if "link" in w.value]
    assert at.selectbox(key="attention_checkpoint").value == "MMT · mmt" and at.radio(key="attention_split").value == \
        "val"
    assert at.selectbox(key="attention_video").value == 3 and at.radio(key="attention_mode").value == "one video"
    assert dict(at.query_params) == {"checkpoint": "MMT · mmt", "split": "val", "video": val.filenames[3]}
    assert any(c.value.endswith(f"maps — {val.filenames[3]}") for c in at.caption)

    at = _page("attention.py", tiny_data, trained)
    at.query_params.update({"checkpoint": "han", "class": CLASSES[0], "videos": "4"})
    at.run()
    assert not at.exception and at.radio(key="attention_mode").value == "average per class"
    assert at.selectbox(key="attention_class").value == CLASSES[0] and at.number_input(
        key="attention_max_videos").value == 4
    assert dict(at.query_params) == {"checkpoint": "HAN · han", "split": "test", "class": CLASSES[0], "videos": "4"}

    at = _page("attention.py", tiny_data, trained)
    at.query_params.update({"video": "nosuchvideo", "class": "Kazoo", "videos": "0"})
    at.run()
    assert not at.exception
    links = [w.value for w in at.warning if "link" in w.value]
    assert links == ["From the link: class='Kazoo' is not one of the choices here; videos: 0 is outside 1-512. Those "
                     "keep their current choice.", "No test or val video matches 'nosuchvideo' from the link."]

    test_video = LLPDataset(tiny_data).split("test").filenames[2]
    at = _page("attention.py", tiny_data, trained)
    at.query_params.update({"split": "val", "video": test_video})  # the video is in test: shown there, and said
    at.run()
    assert not at.exception and at.radio(key="attention_split").value == "test"
    assert f"From the link: '{test_video}' is a test video, not a val one: shown from test." in [
        w.value for w in at.warning]


def test_map_flags_single_key_and_near_uniform_maps():
    from avvp_core.analysis.attention import AttentionMap, map_flag

    def amap(w, softmax=True):
        w = np.asarray(w, np.float32)
        return AttentionMap("m", "m", "cross-attention", 0, w[None, None], "q", ("a",) * w.shape[0], "k",
                            ("b",) * w.shape[1], softmax=softmax)

    one = amap(np.ones((10, 1)))
    assert "exactly 1.0" in map_flag(one, one.matrix())
    flat = amap(np.full((10, 10), 0.1) + np.linspace(-0.0005, 0.001, 10))
    assert map_flag(flat, flat.matrix()).startswith("near-uniform")
    peaked = amap(np.eye(10))
    assert map_flag(peaked, peaked.matrix()) is None


@pytest.mark.app
def test_timelines_cross_audio_section_appears_for_mmt_only(tiny_data, trained):
    at = _page("timelines.py", tiny_data, trained)
    at.session_state["timeline_models"] = ["HAN · han"]
    at.run()
    assert not at.exception and "Cross-audio" not in [s.value for s in at.subheader]
    at.multiselect(key="timeline_models").set_value(["HAN · han", "MMT · mmt"]).run()
    assert not at.exception and "Cross-audio" in [s.value for s in at.subheader]
    assert at.selectbox(key="cross_audio_model").options == ["MMT · mmt"]
    assert len(at.get("plotly_chart")) == 1  # the cross-audio heat maps (the timeline figure's expander is closed)
    at.session_state["timeline_figure_open"] = True
    at.run()
    assert len(at.get("plotly_chart")) == 2  # the timeline, then the cross-audio heat maps
    filenames = LLPDataset(tiny_data).split("test").filenames
    options = at.selectbox(key="cross_audio_video").options
    assert len(options) == len(filenames) - 1  # every other video of the split; its own audio is not a swap
    assert filenames[at.selectbox(key="timeline_video").value] not in options


def test_near_equal_messenger_shares_are_said_and_uneven_ones_are_not():
    from types import SimpleNamespace

    from avvp_core.analysis.messengers import shares_note

    flat = SimpleNamespace(bins=[(0, 10)], shares=np.array([[0.095, 0.105] * 5]))
    assert shares_note(flat) == ("near-equal shares: 9.5%-10.5% against an equal 10%, so in this video the messenger "
                                 "is close to the plain mean of its segments; the pooling weighs no segment much "
                                 "above another.")
    peaked = SimpleNamespace(bins=[(0, 10)], shares=np.array([[0.3] + [0.7 / 9] * 9]))
    assert shares_note(peaked) is None
    three = SimpleNamespace(bins=[(0, 4), (3, 7), (6, 10)], shares=np.full((3, 10), np.nan))
    for i, (start, end) in enumerate(three.bins):
        three.shares[i, start:end] = 1 / (end - start)
    assert shares_note(three).startswith("near-equal shares: 25.0%-25.0% against an equal 25%")
