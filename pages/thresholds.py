"""Thresholds: move a checkpoint's audio, visual and video-level decision thresholds away from the protocol's 0.5 and
see the ten figures recomputed; tune them on val and read them on test (analysis.thresholds). Its URL
(`?checkpoint=<name or folder>&split=test&metric=segment/type&thresholds=0.15,0.25,0.30`: audio, visual, video-level
gate) reopens the same view."""

import numpy as np
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.compare import weights_seed_note
from avvp_core.analysis.thresholds import (
    GRID,
    PROTOCOL,
    SWEEP_AUTO_VIDEOS,
    comparison_table,
    export_frame,
    from_link,
    kinds_that_matter,
    sweep_figure,
)
from avvp_core.constants import METRIC_KEYS
from avvp_core.errors import InputError
from avvp_core.names import metric_name, signed

K = ui.StateKeys
ui.init_state()
st.title("Thresholds")
st.caption("The official LLP evaluation decides at 0.5 everywhere: a segment is audible when its audio probability "
           "reaches 0.5, and, for a model with a video-level gate, when the class's video-level probability does too. "
           "Move each threshold and the ten figures are recomputed with the official scoring; how far they rise shows "
           "how much of a model's error is calibration rather than ranking. Figures at other thresholds are not "
           "comparable with published LLP tables, and thresholds tuned on test overstate a model: tune on val, read "
           "test.")
ui.glossary()

root = ui.data_in_use()
cards = ui.require_checkpoints(root)
dataset = ui.load_dataset(root)
scored = [s for s in ("test", "val") if s in dataset.available_splits and dataset.split(s).has_truth]
if not scored:
    st.info("Neither test nor val of this data has dense (segment-level) truth, so no threshold can be scored.")
    st.stop()

# A shared or reloaded URL names the view (the module docstring)
incoming = ui.accept_link(ui.url_changes("thresholds", ("checkpoint", "split", "metric", "thresholds")), cards, {
    "checkpoint": ui.LINK_MODEL, "split": scored, "metric": METRIC_KEYS, "thresholds": from_link})
ui.apply_link(incoming, {"checkpoint": K.THRESHOLDS_MODEL, "split": K.THRESHOLDS_SPLIT, "metric": K.THRESHOLDS_METRIC})
if "thresholds" in incoming:
    ui.set_thresholds(K.THRESHOLD, incoming["thresholds"])

a, b, c = st.columns([2, 1, 2])
name = ui.kept(a.selectbox, "Checkpoint", list(cards), key=K.THRESHOLDS_MODEL)
split = ui.kept(b.radio, "Split", scored, key=K.THRESHOLDS_SPLIT, default=scored[0], horizontal=True)
metric = ui.kept(c.selectbox, "Tune for", METRIC_KEYS, key=K.THRESHOLDS_METRIC, default="segment/type",
                 format_func=metric_name, help="The figure that *Tune on val* maximises on the val split.")
card = cards[name]
path, gating = str(card.path), card.gating
matter = kinds_that_matter(gating)


def tune_on_val() -> None:
    try:
        tuned, value = ui.tuned_thresholds(path, root, "val", gating, metric)
    except InputError as exc:
        st.session_state[K.THRESHOLDS_TUNED] = {"checkpoint": name, "error": str(exc)}
        return
    ui.set_thresholds(K.THRESHOLD, tuned)
    st.session_state[K.THRESHOLDS_TUNED] = {"checkpoint": name, "metric": metric, "thresholds": tuned, "value": value}


help_text = {"audio": "A segment is audible when its audio probability reaches this.",
             "visual": "A segment is visible when its visual probability reaches this.",
             "video": f"{name} gates its segments with video-level probabilities ({gating} gating): a class is "
                      "decided in a segment only when its video-level probability reaches this too."
             if "video" in matter else f"{name} has no video-level gate (gating: {gating}): this threshold decides "
                                       "nothing for it."}
chosen = ui.threshold_sliders(K.THRESHOLD, gating, help_text)
ui.write_url("thresholds", {"checkpoint": name, "split": split, "metric": metric,
                            "thresholds": None if chosen.is_protocol() else chosen.as_link()})

d, e, _ = st.columns([1, 1, 3])
can_tune = "val" in scored
d.button("Tune on val", key="thresholds_tune", on_click=tune_on_val, disabled=not can_tune, type="primary",
         help=f"Maximises the chosen figure on val: the best point of a coarse grid (0.1, 0.3, ..., 0.9 for each "
              f"threshold), then each threshold in turn over {GRID[0]:.2f}-{GRID[-1]:.2f} in steps of 0.05; a tie "
              "keeps the value nearer 0.5." if can_tune else
              "The val split has no dense truth here: tuning on test would overstate the model.")
e.button("Reset to 0.5", key="thresholds_reset", on_click=ui.set_thresholds, args=(K.THRESHOLD, PROTOCOL))

videos = len(dataset.split(split))
# Every slider move redraws the sweeps (SWEEP_AUTO_VIDEOS: only when asked for on larger splits).
draw_sweeps = videos <= SWEEP_AUTO_VIDEOS or ui.kept(
    st.toggle, "Draw the sweeps", key=K.THRESHOLDS_SWEEPS, default=False,
    help=f"The {split} split holds {videos:,} videos: the sweeps score it {len(GRID) * len(matter)} times, again at "
         "every slider move, so they are drawn only when asked for.")
try:
    at_protocol = ui.threshold_figures(path, root, split, gating, PROTOCOL)  # the official figures, as every page's
    at_chosen = ui.threshold_figures(path, root, split, gating, chosen)
    sweeps = ui.threshold_sweeps(path, root, split, gating, chosen) if draw_sweeps else None
except InputError as exc:  # e.g. damaged weights
    ui.show_error(exc)
    st.stop()  # a failed tuning read the same weights: this one line says it

tuned = st.session_state.get(K.THRESHOLDS_TUNED) or {}
if tuned.get("checkpoint") == name and "error" in tuned:  # val failed where test did not
    st.error(tuned["error"], icon=":material/error:")
elif tuned.get("checkpoint") not in (None, name) and tuned.get("thresholds") == chosen and not chosen.is_protocol():
    st.caption(f"These thresholds were tuned on val for {tuned['checkpoint']}, not for {name}: they show what "
               f"{tuned['checkpoint']}'s thresholds do to {name}. *Tune on val* finds {name}'s own.")
elif tuned.get("checkpoint") == name and tuned.get("thresholds") == chosen:
    at_val = ui.score_report(path, root, "val", gating).summary[tuned["metric"]]
    st.caption(f"Tuned on val for {metric_name(tuned['metric'])}: {tuned['value']:.2f} there, against {at_val:.2f} at "
               "0.5." + (" You are reading val, the split they were tuned on, so its gain overstates what they give "
                         "elsewhere: read test." if split == "val" else " Below: test, which tuning never saw."))

st.subheader(f"The ten figures on {split}")
if chosen.is_protocol():
    st.caption("All thresholds at 0.5: these are the official figures (the checkpoint's own).")
if note := weights_seed_note(name, card, split):
    st.caption(note)
table = comparison_table(at_protocol, at_chosen, chosen)
st.dataframe(table, hide_index=True, key="thresholds_table", column_config=ui.figure_columns(fmt="%.2f"))
if not chosen.is_protocol():  # what the figures above add up: the video whose own score the thresholds move most
    try:
        moved = (ui.per_video_at(path, root, split, gating, chosen)
                 - ui.per_video_at(path, root, split, gating, PROTOCOL))
    except InputError as exc:
        ui.show_error(exc)
        st.stop()
    filenames = dataset.split(split).filenames
    # the video they help most and the one they hurt most: a gain on the split is made of both
    for row, verb, key in ((int(np.argmax(moved)), "gains", "best"), (int(np.argmin(moved)), "loses", "worst")):
        if (moved[row] > 0) if key == "best" else (moved[row] < 0):
            ui.open_in_timelines(split, row, [name], f"{filenames[row]} in Timelines: {name} at 0.5 and at these "
                                 f"thresholds (its segment Type@AV {verb} most there, "
                                 f"{signed(100 * moved[row])} points)",
                                 key=f"thresholds_open_timelines_{key}", at=(name, chosen))
    st.caption(f"On {int(np.count_nonzero(moved > 0)):,} of the {videos:,} videos the chosen thresholds raise the "
               f"video's own segment Type@AV, on {int(np.count_nonzero(moved < 0)):,} they lower it"
               + (". On Timelines, *Where the first two disagree* walks the videos they change by 20 points or more."
                  if moved.any() else "."))

st.subheader("Each threshold swept, the others held")
st.caption("Dotted grey: the protocol's 0.5; red: the chosen value. Each panel moves one threshold over "
           f"{GRID[0]:.2f}-{GRID[-1]:.2f} with the other two at their chosen values"
           + ("." if "video" in matter else f"; {name} has no video-level gate, so there is no panel for it."))
if sweeps is None:
    st.info(f"Not drawn for {videos:,} videos until *Draw the sweeps* above is on (about "
            f"{max(1, round(videos * 0.26e-3 / 5) * 5)} s at every slider move on two CPU cores).")
else:
    st.plotly_chart(sweep_figure(sweeps, chosen, split), key="thresholds_chart", width="stretch")
st.download_button("Download the figures and sweeps (CSV)", export_frame(table, sweeps, chosen).to_csv(index=False),
                   f"thresholds_{card.path.name}_{split}.csv", key="thresholds_csv")
