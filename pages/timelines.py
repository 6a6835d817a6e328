"""Timelines: one video, ground truth and the chosen models as aligned rows per class and modality, under one playhead
with the video; its URL (`?video=<id>&models=<a>,<b>&split=<s>`) reopens the same view."""

import numpy as np
import pandas as pd
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.filmstrip import add_filmstrip
from avvp_core.analysis.timeline import (
    constant_over_time_note,
    default_models,
    find_video,
    timeline_figure,
    timeline_frame,
)
from avvp_core.constants import CLASSES
from avvp_core.errors import InputError
from avvp_core.metrics import score

K = ui.StateKeys
ui.init_state()
st.title("Timelines")
st.caption("Per segment and class: the annotation, each model's probability (heat) and decision (red square), "
           "every cell marked TP / FP / FN against the truth. Play the video and the current segment is marked; click "
           "a cell and the video jumps there.")

root = ui.data_in_use()
cards = ui.require_checkpoints(root)
dataset = ui.load_dataset(root)
names = list(cards)

# A shared or reloaded URL (or another page's link) names the view: apply what changed since this session wrote it.
incoming = ui.accept_link(ui.url_changes("timelines", ("split", "video", "models")), cards, {
    "split": [s for s in ("test", "val") if s in dataset.available_splits], "models": ui.LINK_MODELS})
if "split" in incoming:
    st.session_state[K.TIMELINE_SPLIT] = incoming["split"]
if "models" in incoming:
    st.session_state[K.TIMELINE_MODELS] = incoming["models"]
if "video" in incoming:
    found = find_video(dataset, incoming["video"], st.session_state.get(K.TIMELINE_SPLIT))
    if found is None:
        st.warning(f"No test or val video matches {incoming['video']!r} from the link.", icon=":material/link_off:")
    else:
        st.session_state[K.TIMELINE_SPLIT], st.session_state[K.TIMELINE_VIDEO] = found
        st.session_state[K.TIMELINE_SEARCH], st.session_state[K.TIMELINE_CLASS] = "", "any"
        st.session_state[K.TIMELINE_DISAGREE] = False

left, right, toggle = st.columns([1, 3, 1.4], vertical_alignment="bottom")
split_name = ui.kept(left.radio, "Split", ("test", "val"), key=K.TIMELINE_SPLIT, default="test", horizontal=True)
chosen = ui.kept(right.multiselect, "Models", names, key=K.TIMELINE_MODELS, default=default_models(cards),
                 help="First visit: HAN and the best other model by test segment Type@AV.")
split = dataset.split(split_name)
models = {}
for name in chosen:
    card = cards[name]
    try:
        models[name] = (ui.predictions(str(card.path), root, split_name), card.gating)
    except InputError as exc:  # e.g. damaged weights: show it, keep the other models
        ui.show_error(exc)
for name, (preds, gating) in models.items():  # a row that cannot localise says so (MGN's official segment head)
    if note := constant_over_time_note(name, preds, gating, split):
        st.info(note, icon=":material/horizontal_rule:")

disagree = ui.kept(toggle.toggle, "Where the first two disagree", key=K.TIMELINE_DISAGREE, default=False,
                   disabled=len(chosen) < 2, help="Only videos whose segment Type@AV differs by at least 20 points "
                   "between the first two models, largest difference first.")
a, b, c = st.columns([1, 1, 2])  # filters and the video on one row: the player below then fits the screen
search = ui.kept(a.text_input, "Video id contains", key=K.TIMELINE_SEARCH, default="").strip()
cls = ui.kept(b.selectbox, "Class", ["any", *CLASSES], key=K.TIMELINE_CLASS, default="any")

rows = np.arange(len(split))
if search:
    rows = rows[[search.lower() in split.filenames[i].lower() for i in rows]]
if cls != "any":
    k = CLASSES.index(cls)
    present = split.labels[:, k] > 0
    if split.has_truth:
        present |= split.gt_audio[:, :, k].any(1) | split.gt_visual[:, :, k].any(1)
    rows = rows[present[rows]]
if disagree and len(models) >= 2:
    first, second = (ui.score_report(str(cards[n].path), root, split_name, cards[n].gating).per_video["segment/type"]
                     for n in list(models)[:2])
    rows = rows[np.abs(first - second)[rows] >= 0.2]
    rows = rows[np.argsort(-np.abs(first - second)[rows])]  # largest disagreement first
if not len(rows):
    c.caption(f"0 of {len(split)} videos match")
    ui.write_url("timelines", {"split": split_name, "video": None, "models": ",".join(chosen)})
    st.stop()
video = int(ui.kept(c.selectbox, f"Video ({len(rows)} of {len(split)} videos match)", [int(r) for r in rows],
                    key=K.TIMELINE_VIDEO, format_func=lambda i: split.filenames[i]))
ui.write_url("timelines", {"split": split_name, "video": split.filenames[video], "models": ",".join(chosen)})

frame = timeline_frame(split, video, models)
path = ui.synced_player(root, split_name, video, frame, {n: g for n, (_, g) in models.items()}, max_height=520)

if models and split.has_truth:
    one = slice(video, video + 1)
    table = {}
    for name, (preds, gating) in models.items():
        pred_a, pred_v = preds.decisions(gating)
        table[name] = score(pred_a[one], pred_v[one], split.gt_audio[one], split.gt_visual[one]).summary
    st.dataframe(pd.DataFrame(table).T.round(1), key="timeline_scores")
# Drawn only while open (a closed expander's chart, filmstrip images included, was drawn on every change of the page);
# opening or closing it reruns only this fragment.


@st.fragment
def timeline_as_figure() -> None:
    more = st.expander("The same timeline as a figure (zoom, export), with the filmstrip; and as CSV",
                       key=K.TIMELINE_FIGURE_OPEN, on_change="rerun")
    if not more.open:
        return
    with more:
        figure = timeline_figure(frame, split.filenames[video])
        if path:
            add_filmstrip(figure, ui.filmstrip(path))
        st.plotly_chart(figure, key="timeline_chart", width="stretch")
        st.download_button("Download this timeline (CSV)", frame.to_csv(index=False), f"{split.filenames[video]}.csv",
                           key="timeline_csv")


timeline_as_figure()

# Cross-audio (MMT family): visual predictions with the video's own audio vs another video's audio swapped in.
ui.cross_audio_section(root, cards, chosen, split_name, video)
