"""Home: what AVVP is, a video with its truth, the leaderboard of trained models, and the dataset in use."""

import pandas as pd
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.filmstrip import add_filmstrip
from avvp_core.analysis.timeline import timeline_figure, timeline_frame
from avvp_core.claims import WHY_THEY_DIFFER
from avvp_core.constants import CLASSES
from avvp_core.errors import InputError
from avvp_core.render import describe
from avvp_core.videos import video_truth

ui.init_state()
st.title("AVVP Lab")
st.markdown(
    "**Audio-visual video parsing**: a 10-second video is cut into ten 1-second segments; a model says, per "
    "segment and per class (25 LLP classes), which events are *audible*, which are *visible*, and which are "
    "both — trained only on video-level labels."
)

root = ui.data_in_use(wait=False)
if root is None:  # first start: the benchmark is generated in the background; what ships is shown meanwhile
    ui.first_start_preview()
    st.stop()
try:
    summary = ui.dataset_summary(root)
except InputError as exc:
    ui.show_error(exc)
    st.stop()

st.subheader("A video and its ground truth")
try:
    demo = ui.demo_video(root)
except InputError as exc:
    ui.show_error(exc)
    demo = None
if demo:
    demo_split, demo_row, demo_path = demo
    split_data = ui.load_dataset(root).split(demo_split)
    left, right = st.columns([2, 3])
    left.video(demo_path)
    gt = video_truth(ui.load_dataset(root), demo_split, demo_row)
    right.markdown(f"`{split_data.filenames[demo_row]}` ({demo_split} split). " + (
        "Rendered from its truth: what you **see** is the visual truth (a glyph per visible event), what you "
        "**hear** the audio truth (a sound per audible event):" if summary["synth"] else "Its annotated events:"))
    right.markdown("\n".join(f"- {line}" for line in describe(*gt, sounds=bool(summary["synth"]))))
    demo_figure = timeline_figure(timeline_frame(split_data, demo_row, {}), "ground truth")
    st.plotly_chart(add_filmstrip(demo_figure, ui.filmstrip(demo_path)), key="home_demo_timeline", width="stretch")
else:
    st.markdown(f"No video to show for this folder: put LLP videos in `{root}/videos/<id>.mp4`.")

st.subheader("Leaderboard")
try:
    cards = ui.checkpoints_for(root)
except InputError as exc:  # e.g. a folder with annotations but no features: no model can run on it
    ui.show_error(exc)
    cards = None
if cards:
    st.caption("Test figures (official LLP protocol, percent) of every trained model on this data, best segment-level "
               "Type@AV first. Each model is gated as its paper evaluates it.")
    st.dataframe(ui.leaderboard(cards).round(2), hide_index=True, key="home_leaderboard")
    claims = ui.zoo_claims(root)
    if claims is not None:
        with st.expander("The papers' claims, checked on SynthLLP"):
            st.caption("Each claim compares two models on the test split: the verdict in the calibrated setting, "
                       "beside the shipped demo zoo (see checkpoints/README.md). " + WHY_THEY_DIFFER + " A claim "
                       "that does not hold on SynthLLP is a finding, shown as such.")
            st.dataframe(claims, hide_index=True, key="home_claims")
elif cards is not None:
    st.info(f"No trained model for this data yet. {ui.train_hint(root)}")

stats = summary["stats"]
synth = summary["synth"]
st.subheader("Dataset in use")
st.caption(f"SynthLLP {synth.get('preset')} (seed {synth.get('seed')})" if synth else f"LLP folder {root}")
cols = st.columns(3)
for col, split in zip(cols, ("train", "val", "test"), strict=True):
    col.metric(f"{split} videos", stats["splits"].get(split, 0))
freq = stats.get("train", {}).get("class_frequency")
if freq:
    st.dataframe(pd.DataFrame({"class": list(CLASSES), "share of train videos (%)": [100 * freq[c] for c in CLASSES]}),
                 hide_index=True, key="home_class_table")
for line in summary["reports"]:
    st.caption(line)

