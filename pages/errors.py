"""Errors: every video ranked by the F1 gap between two models, by error type or for one class; a row opens its
timeline; which classes a model predicts in place of the annotated ones."""

import plotly.express as px
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.errors import (
    CONFUSION_MODALITIES,
    class_confusion,
    confusion_figure,
    error_cells,
    error_totals,
    rank,
    rankings,
    video_table,
)
from avvp_core.constants import CLASSES, METRIC_KEYS
from avvp_core.errors import InputError
from avvp_core.names import metric_name

K = ui.StateKeys
ui.init_state()
st.title("Errors")
st.caption("Each wrong cell (one segment of one class in one modality) gets one type: **audio leak** (an audio-only "
           "event predicted visible), **visual leak** (visual-only predicted audible), **boundary** (event found, "
           "edge off), **wrong class** (another class annotated there), **false** (nothing of that modality "
           "annotated there) or **missed** (the whole event missed).")

root = ui.data_in_use()
cards = ui.require_checkpoints(root)
names = list(cards)

a, b, c = st.columns([2, 2, 1])
first = a.selectbox("Model", names, key=K.ERRORS_MODEL)
others = [n for n in names if n != first]
second = b.selectbox("Compare with", ["none", *others], index=1 if others else 0, key=K.ERRORS_SECOND)
split_name = c.radio("Split", ("test", "val"), horizontal=True, key=K.ERRORS_SPLIT)
split = ui.load_dataset(root).split(split_name)
if not split.has_truth:
    st.info(f"The {split_name} split has no dense truth to find errors against; choose another split.")
    st.stop()
chosen = [first] + ([second] if second != "none" else [])

d, e, f = st.columns(3)
metric = d.selectbox("Per-video F1", METRIC_KEYS, index=METRIC_KEYS.index("segment/type"), key=K.ERRORS_METRIC,
                     format_func=metric_name)
by = e.selectbox("Rank by", rankings(len(chosen) == 2), key=K.ERRORS_RANK)
cls = f.selectbox("Class", ["any", *CLASSES], key=K.ERRORS_CLASS)

cells, f1, decisions = {}, {}, {}
for name in chosen:
    card = cards[name]
    try:
        decisions[name] = ui.predictions(str(card.path), root, split_name).decisions(card.gating)
        f1[name] = ui.score_report(str(card.path), root, split_name, card.gating).per_video[metric]
    except InputError as exc:  # e.g. damaged weights
        ui.show_error(exc)
        st.stop()
    cells[name] = error_cells(*decisions[name], split.gt_audio, split.gt_visual)
table = rank(video_table(split.filenames, cells[first], f1, None if cls == "any" else CLASSES.index(cls)), by)
st.caption(f"{len(table)} videos; error counts (cells) are those of **{first}**"
           + (f"; F1 gap = {first} − {second}, in points" if len(chosen) == 2 else "")
           + ". Select a row to open its timeline.")
event = st.dataframe(table.round(1), hide_index=True, on_select="rerun", selection_mode="single-row",
                     key=K.ERRORS_TABLE)
if event.selection.rows:
    row = int(table.iloc[event.selection.rows[0]]["row"])
    ui.open_in_timelines(split_name, row, chosen, f"Open {split.filenames[row]} in Timelines")

totals = error_totals(cells)
fig = px.bar(totals, x="error", y="cells", color="model", pattern_shape="modality", barmode="group",
             title="Wrong cells over the split, by type and modality", height=380)
st.plotly_chart(fig, key="errors_totals", width="stretch")

st.subheader("Class confusion")
which = st.radio("Count", CONFUSION_MODALITIES, horizontal=True, key=K.ERRORS_CONFUSION)
confusion = class_confusion(*decisions[first], split.gt_audio, split.gt_visual, which)
st.plotly_chart(confusion_figure(confusion, f"{first}: in the segments of a missed event, what it predicted instead"),
                key="errors_confusion_map", width="stretch")
