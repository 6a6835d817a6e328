"""Timelines: one video, ground truth and the chosen models as aligned rows per class and modality, under one playhead
with the video; its URL (`?video=<id>&models=<a>,<b>&split=<s>`, and `&at=<a>&at_thresholds=0.10,0.50,0.45` for a
second row of one model at other decision thresholds) reopens the same view."""

import numpy as np
import pandas as pd
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.filmstrip import add_filmstrip
from avvp_core.analysis.thresholds import GRID, from_link, kinds_that_matter
from avvp_core.analysis.timeline import (
    Source,
    constant_over_time_note,
    default_models,
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
incoming = ui.accept_link(ui.url_changes("timelines", ("split", "video", "models", "at", "at_thresholds")), cards, {
    "split": [s for s in ("test", "val") if s in dataset.available_splits], "models": ui.LINK_MODELS,
    "at": ui.LINK_MODEL, "at_thresholds": from_link})
ui.apply_link(incoming, {"split": K.TIMELINE_SPLIT, "models": K.TIMELINE_MODELS})
if "at" in incoming:  # a second row of a model the link may not list among its models: list it
    models_now = st.session_state.get(K.TIMELINE_MODELS) or st.session_state.get(ui.KEPT + K.TIMELINE_MODELS) or []
    st.session_state[K.TIMELINE_MODELS] = list(dict.fromkeys([*models_now, incoming["at"]]))
    st.session_state[K.TIMELINE_AT] = incoming["at"]
if "at_thresholds" in incoming:
    ui.set_thresholds(K.TIMELINE_AT_THRESHOLD, incoming["at_thresholds"])
if "video" in incoming and ui.video_from_link(dataset, incoming["video"], K.TIMELINE_SPLIT, K.TIMELINE_VIDEO,
                                                          incoming.get("split")):
    st.session_state[K.TIMELINE_SEARCH], st.session_state[K.TIMELINE_CLASS] = "", "any"
    st.session_state[K.TIMELINE_DISAGREE] = False

left, right, toggle = st.columns([1, 3, 1.4], vertical_alignment="bottom")
split_name = ui.kept(left.radio, "Split", ("test", "val"), key=K.TIMELINE_SPLIT, default="test", horizontal=True)
chosen = ui.kept(right.multiselect, "Models", names, key=K.TIMELINE_MODELS, default=default_models(cards),
                 help="First visit: HAN and the best other model by test segment Type@AV.")
split = dataset.split(split_name)

# One chosen model a second time at other decision thresholds (the Thresholds page opens this view with the ones it
# tuned): the video shows which cells tuning turns, and "Where the first two disagree" walks the videos it changes most.
# the expander's label names the second row while there is one (read before the widgets inside it are drawn)
at_now = ui.remember(K.TIMELINE_AT, ui.NO_SECOND_ROW, [ui.NO_SECOND_ROW, *chosen])
at_kinds = kinds_that_matter(cards[at_now].gating) if at_now in cards else ()
shown = any(ui.remember(f"{K.TIMELINE_AT_THRESHOLD}_{kind}", 0.5, list(GRID)) != 0.5 for kind in at_kinds)
with st.expander("A second row at other decision thresholds" + (f": {at_now}" if shown else ""),
                 key=K.TIMELINE_AT_OPEN):
    g, h = st.columns([2, 1], vertical_alignment="bottom")
    at_name = ui.kept(g.selectbox, "Model", [ui.NO_SECOND_ROW, *chosen], key=K.TIMELINE_AT, default=ui.NO_SECOND_ROW,
                      help="Shown twice: its own row at the protocol's 0.5, and a row at the thresholds below.")
    at_card = cards.get(at_name)
    if h.button("Tune on val", key="timeline_at_tune", disabled=at_card is None or "val" not in dataset.available_splits
                or not dataset.split("val").has_truth, help="The thresholds that maximise segment Type@AV on val "
                "(as the Thresholds page tunes them); read them on test."):
        try:
            ui.set_thresholds(K.TIMELINE_AT_THRESHOLD, ui.tuned_thresholds(str(at_card.path), root, "val",
                                                                            at_card.gating, "segment/type")[0])
        except InputError as exc:
            ui.show_error(exc)
    at = ui.threshold_sliders(K.TIMELINE_AT_THRESHOLD, at_card.gating if at_card else None)
    if at_card is not None and at.is_protocol():
        st.caption(f"At 0.5 everywhere the second row would repeat {at_name}'s own: move a threshold.")
    elif at_card is not None:
        st.caption(f"The second row, **{at_name} @ {at.short(at_card.gating)}**, decides at "
                   f"{at.describe(at_card.gating)} (a: audio, v: visual, g: the video-level gate; the others at "
                   "0.5). Figures at these thresholds are a diagnostic, not comparable with published LLP tables; "
                   "thresholds tuned on the split you read overstate the model.")

models, thresholds_of, checkpoint_of = {}, {}, {}  # row name -> Source; its thresholds (second row); checkpoint
for name in chosen:
    card = cards[name]
    try:
        preds = ui.predictions(str(card.path), root, split_name)
    except InputError as exc:  # e.g. damaged weights: show it, keep the other models
        ui.show_error(exc)
        continue
    models[name], checkpoint_of[name] = Source(preds, card.gating), name
    if name == at_name and not at.is_protocol():
        second = f"{name} @ {at.short(card.gating)}"
        models[second], thresholds_of[second], checkpoint_of[second] = Source(preds, card.gating, at), at, name
for name, source in models.items():  # a row that cannot localise says so (MGN's official segment head)
    if note := constant_over_time_note(name, source.preds, source.gating, split, source.thresholds):
        st.info(note, icon=":material/horizontal_rule:")

disagree = ui.kept(toggle.toggle, "Where the first two disagree", key=K.TIMELINE_DISAGREE, default=False,
                   disabled=len(models) < 2, help="Only videos whose segment Type@AV differs by at least 20 points "
                   "between the first two rows' models (a model at other thresholds counts as one), largest "
                   "difference first.")
# filters, the video and its neighbours on one row: the player below then fits the screen
a, b, c, d = st.columns([1, 1, 2, 0.7], vertical_alignment="bottom")
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
    first, second = (ui.per_video_at(str(cards[checkpoint_of[n]].path), root, split_name, models[n].gating,
                                     models[n].thresholds) for n in list(models)[:2])
    rows = rows[np.abs(first - second)[rows] >= 0.2]
    rows = rows[np.argsort(-np.abs(first - second)[rows])]  # largest disagreement first
view = {"split": split_name, "video": None, "models": ",".join(chosen),
        "at": at_name if thresholds_of else None, "at_thresholds": at.as_link() if thresholds_of else None}
if not len(rows):
    c.caption(f"0 of {len(split)} videos match")
    ui.write_url("timelines", view)
    st.stop()
order = [int(r) for r in rows]  # the filtered videos, in the picker's order (largest disagreement first)
video = int(ui.kept(c.selectbox, f"Video ({len(rows)} of {len(split)} videos match)", order,
                    key=K.TIMELINE_VIDEO, format_func=lambda i: split.filenames[i]))


def step(offset: int) -> None:
    """From the video shown when the click arrives (two quick presses make two steps), never past either end."""
    now = st.session_state.get(K.TIMELINE_VIDEO)
    position = min(max(order.index(now) + offset if now in order else 0, 0), len(order) - 1)
    st.session_state[K.TIMELINE_VIDEO] = st.session_state[ui.KEPT + K.TIMELINE_VIDEO] = order[position]


here = order.index(video)
steps = d.container(horizontal=True, gap="small")  # walk the matching videos without opening the picker
steps.button("", key="timeline_previous", icon=":material/arrow_back:", on_click=step, args=(-1,),
             disabled=here == 0, shortcut="P", help="The previous matching video (key P)")
steps.button("", key="timeline_next", icon=":material/arrow_forward:", on_click=step, args=(1,),
             disabled=here == len(order) - 1, shortcut="N", help="The next matching video (key N)")
ui.write_url("timelines", {**view, "video": split.filenames[video]})

frame = timeline_frame(split, video, models)
path = ui.synced_player(root, split_name, video, frame, {n: s.gating for n, s in models.items()}, max_height=520)

if models and split.has_truth:
    one = slice(video, video + 1)
    table = {}
    for name, source in models.items():
        pred_a, pred_v = source.decisions()
        table[name] = score(pred_a[one], pred_v[one], split.gt_audio[one], split.gt_visual[one]).summary
    st.caption(f"This video's own scores (F1, %) with the official protocol, each row at its own thresholds: how "
               f"each model does on {split.filenames[video]} alone, not on the split.")
    st.dataframe(pd.DataFrame(table).T, key="timeline_scores", column_config=ui.figure_columns())
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
