"""Timelines: one video, ground truth and the chosen models as aligned rows per class and modality."""

import numpy as np
import pandas as pd
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.filmstrip import add_filmstrip
from avvp_core.analysis.timeline import timeline_figure, timeline_frame
from avvp_core.constants import CLASSES
from avvp_core.errors import InputError
from avvp_core.metrics import score

K = ui.StateKeys
ui.init_state()
st.title("Timelines")
st.caption("Per segment and class: the annotation, each model's probability (heat) and decision (red square), "
           "every cell marked TP / FP / FN against the truth.")

root = ui.data_in_use()
cards = ui.require_checkpoints(root)
dataset = ui.load_dataset(root)

left, right = st.columns([1, 2])
split_name = left.radio("Split", ("test", "val"), horizontal=True, key=K.TIMELINE_SPLIT)
chosen = right.multiselect("Models", list(cards), default=list(cards)[:2], key=K.TIMELINE_MODELS)
split = dataset.split(split_name)
models = {}
for name in chosen:
    card = cards[name]
    try:
        models[name] = (ui.predictions(str(card.path), root, split_name), card.gating)
    except InputError as exc:  # e.g. damaged weights: show it, keep the other models
        ui.show_error(exc)

a, b, c = st.columns(3)
search = a.text_input("Video id contains", key=K.TIMELINE_SEARCH).strip()
cls = b.selectbox("Class", ["any", *CLASSES], key=K.TIMELINE_CLASS)
disagree = c.toggle("Only where the first two models disagree", key=K.TIMELINE_DISAGREE, disabled=len(chosen) < 2)

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
st.caption(f"{len(rows)} of {len(split)} videos match")
if not len(rows):
    st.stop()
video = st.selectbox("Video", rows, format_func=lambda i: split.filenames[i], key=K.TIMELINE_VIDEO)

player, note = st.columns([2, 3])
start = note.select_slider("Play from segment", range(10), key=K.TIMELINE_START)
note.markdown("SynthLLP videos are rendered from the truth: each visible event is its class's glyph, each audible "
              "event its class's sound. The filmstrip above the timeline shows the middle frame of each segment.")
with player:
    clip = ui.show_video(root, split_name, int(video), start)

frame = timeline_frame(split, int(video), models)
figure = timeline_figure(frame, split.filenames[video])
if clip:
    add_filmstrip(figure, ui.filmstrip(clip))
st.plotly_chart(figure, key="timeline_chart", width="stretch")

if models and split.has_truth:
    one = slice(int(video), int(video) + 1)
    table = {}
    for name, (preds, gating) in models.items():
        pred_a, pred_v = preds.decisions(gating)
        table[name] = score(pred_a[one], pred_v[one], split.gt_audio[one], split.gt_visual[one]).summary
    st.dataframe(pd.DataFrame(table).T.round(1), key="timeline_scores")
st.download_button("Download this timeline (CSV)", frame.to_csv(index=False), f"{split.filenames[video]}.csv",
                   key="timeline_csv")

# Cross-audio (MMT family): visual predictions with the video's own audio vs another video's audio swapped in.
ui.cross_audio_section(root, cards, chosen, split_name, int(video))
