"""Errors: every video ranked by the F1 gap between two models, by error type or for one class; a row opens its
timeline; which classes a model predicts in place of the annotated ones."""

import plotly.express as px
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.errors import (
    CONFUSION_MODALITIES,
    NOTHING,
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

# A shared or reloaded URL names the view (?model=a&second=b&split=test&metric=...&rank=...&class=...).
PARAMS = {"model": K.ERRORS_MODEL, "second": K.ERRORS_SECOND, "split": K.ERRORS_SPLIT, "metric": K.ERRORS_METRIC,
          "rank": K.ERRORS_RANK, "class": K.ERRORS_CLASS}
incoming = ui.url_changes("errors", tuple(PARAMS))
ui.apply_link(ui.accept_link(incoming, cards, {
    "model": ui.LINK_MODEL, "second": ui.LINK_MODEL_OR_NONE, "split": ("test", "val"), "metric": METRIC_KEYS,
    "class": ["any", *CLASSES], "rank": ui.LINK_LATER}), PARAMS)

a, b, c = st.columns([2, 2, 1])
first = ui.kept(a.selectbox, "Model", names, key=K.ERRORS_MODEL)
others = [n for n in names if n != first]
second = ui.kept(b.selectbox, "Compare with", [ui.NO_SECOND, *others], key=K.ERRORS_SECOND,
                 default=others[0] if others else ui.NO_SECOND)
split_name = ui.kept(c.radio, "Split", ("test", "val"), key=K.ERRORS_SPLIT, default="test", horizontal=True)
split = ui.load_dataset(root).split(split_name)
if not split.has_truth:
    st.info(f"The {split_name} split has no dense truth to find errors against; choose another split.")
    st.stop()
chosen = [first] + ([second] if second != ui.NO_SECOND else [])

d, e, f = st.columns(3)
metric = ui.kept(d.selectbox, "Per-video F1", METRIC_KEYS, key=K.ERRORS_METRIC, default="segment/type",
                  format_func=metric_name)
# rank, once `second` is known: the F1-gap rankings need a second model
ui.apply_link(ui.accept_link(ui.link_part(incoming, "rank"), cards, {"rank": rankings(len(chosen) == 2)}), PARAMS)
by = ui.kept(e.selectbox, "Rank by", rankings(len(chosen) == 2), key=K.ERRORS_RANK)
cls = ui.kept(f.selectbox, "Class", ["any", *CLASSES], key=K.ERRORS_CLASS, default="any")
ui.write_url("errors", {"model": first, "second": second, "split": split_name, "metric": metric, "rank": by,
                        "class": cls})

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
class_index = None if cls == "any" else CLASSES.index(cls)
table = rank(video_table(split.filenames, cells[first], f1, class_index), by)
st.caption(f"{len(table)} videos; error counts (cells) are those of **{first}**"
           + (f", of {cls} only (the videos where it is annotated or decided wrongly)" if class_index is not None
              else "")
           + (f"; F1 gap = {first} − {second}, in points" if len(chosen) == 2 else "")
           + (f". The F1 columns, and a ranking by them, are the whole video's {metric_name(metric)} over all classes, "
              f"as the protocol scores a video: rank by *errors* for {cls}'s own" if class_index is not None else "")
           + ". Select a row to open its timeline.")
event = st.dataframe(table.round(1), hide_index=True, on_select="rerun", selection_mode="single-row",
                     key=K.ERRORS_TABLE)
if event.selection.rows:
    row = int(table.iloc[event.selection.rows[0]]["row"])
    ui.open_in_timelines(split_name, row, chosen, f"Open {split.filenames[row]} in Timelines",
                         key="errors_open_timelines")

totals = error_totals(cells, class_index)
fig = px.bar(totals, x="error", y="cells", color="model", pattern_shape="modality", barmode="group",
             title="Wrong cells over the split, by type and modality" + (f": {cls}" if class_index is not None else ""),
             height=380)
st.plotly_chart(fig, key="errors_totals", width="stretch")

st.subheader("Class confusion")
which = ui.kept(st.radio, "Count", CONFUSION_MODALITIES, key=K.ERRORS_CONFUSION, horizontal=True)
confusion = class_confusion(*decisions[first], split.gt_audio, split.gt_visual, which)
st.plotly_chart(confusion_figure(confusion, f"{first}: where a class is annotated but not decided, what it decided "
                                            "there instead"), key="errors_confusion_map", width="stretch")
st.caption("Rows: the annotated class; a cell counts every segment (per modality) where it is annotated and not "
           "decided, whether its whole event is missed or only an edge. A segment where several other classes are "
           f"decided counts once for each of them; the last column, {NOTHING}, counts the segments where none is.")
