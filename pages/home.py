"""Home: what AVVP is, and the dataset in use."""

import pandas as pd
import streamlit as st

from avvp_core import ui
from avvp_core.constants import CLASSES
from avvp_core.errors import InputError
from avvp_core.paths import DEFAULT_DATA

ui.init_state()
st.title("AVVP Lab")
st.markdown(
    "**Audio-visual video parsing**: a 10-second video is cut into ten 1-second segments; a model says, per "
    "segment and per class (25 LLP classes), which events are *audible*, which are *visible*, and which are "
    "both — trained only on video-level labels."
)

root = st.session_state[ui.StateKeys.DATA_ROOT]
try:
    if root == str(DEFAULT_DATA):
        ui.ensure_default_data()
    summary = ui.dataset_summary(root)
except InputError as exc:
    ui.show_error(exc)
    st.stop()

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

st.subheader("Leaderboard")
try:
    cards = ui.checkpoints_for(root)
except InputError as exc:  # e.g. a folder with annotations but no features: no model can run on it
    ui.show_error(exc)
    st.stop()
if cards:
    st.caption("Test figures (official LLP protocol, percent) of every trained model on this data, best segment-level "
               "Type@AV first. Each model is gated as its paper evaluates it.")
    st.dataframe(ui.leaderboard(cards).round(2), hide_index=True, key="home_leaderboard")
else:
    st.info(f"No trained model for this data yet. {ui.train_hint(root)}")
