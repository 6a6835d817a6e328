"""Compare: checkpoints side by side — the ten figures with deltas, seeds aggregated, per-class F1 per modality."""

import plotly.express as px
import streamlit as st

from avvp_core import ui
from avvp_core.analysis.compare import aggregate, configuration_label, per_class_frame, published_frame, with_deltas
from avvp_core.constants import METRIC_KEYS
from avvp_core.errors import InputError

K = ui.StateKeys
ui.init_state()
st.title("Compare")
st.caption("Runs of the same configuration (model, recipe, build and training settings) are aggregated over "
           "seeds as mean ± standard deviation; Δ is each configuration's mean minus the baseline's.")

root = ui.data_in_use()
ui.checkpoint_upload()
cards = ui.require_checkpoints(root)

# A shared or reloaded URL names the view (?models=a,b&split=test&baseline=...): apply what is new to this session.
incoming = ui.url_changes("compare", ("models", "split", "baseline", "level"))
if "models" in incoming:
    st.session_state[K.COMPARE_MODELS] = ui.split_names(incoming["models"], list(cards))
for param, key in (("split", K.COMPARE_SPLIT), ("baseline", K.COMPARE_BASELINE), ("level", K.COMPARE_LEVEL)):
    if param in incoming:
        st.session_state[key] = incoming[param]

left, right = st.columns([3, 1])
chosen = ui.kept(left.multiselect, "Checkpoints", list(cards), key=K.COMPARE_MODELS, default=list(cards))
split = ui.kept(right.radio, "Split", ("test", "val"), key=K.COMPARE_SPLIT, default="test", horizontal=True)
selected = [cards[n] for n in chosen]
if not selected:
    ui.write_url("compare", {"models": "", "split": split, "baseline": None, "level": None})
    st.stop()
table = aggregate(selected, split)
baseline = ui.kept(st.selectbox, "Baseline", list(table["configuration"]), key=K.COMPARE_BASELINE)
table = with_deltas(table, baseline)
st.dataframe(table.round(2), hide_index=True, key="compare_table")
st.download_button("Download (CSV)", table.to_csv(index=False), f"compare_{split}.csv", key="compare_csv")

published = published_frame(selected)
if not published.empty:
    st.subheader("Published on the real LLP")
    st.caption("The papers' own test figures (legacy audio annotation file; transcribed from their tables). SynthLLP "
               "is a stand-in: compare differences between methods, not absolute values.")
    st.dataframe(published, hide_index=True, key="compare_published")

st.subheader("Per-class F1")
level = ui.kept(st.radio, "Level", ("segment", "event"), key=K.COMPARE_LEVEL, default="segment", horizontal=True)
ui.write_url("compare", {"models": ",".join(chosen) if chosen != list(cards) else None, "split": split,
                         "baseline": baseline, "level": level})
per_class = {}
for card in selected[:6]:  # one run per configuration is enough to see the pattern; keep the chart legible
    label = configuration_label(card) + f" s{card.config.get('seed')}"
    try:
        per_class[label] = ui.score_report(str(card.path), root, split, card.gating).per_class
    except InputError as exc:  # e.g. damaged weights: the other checkpoints are still compared
        ui.show_error(exc)
frame = per_class_frame(per_class, level)
fig = px.bar(frame, x="class", y="F1", color="model", facet_row="modality", barmode="group", height=900,
             labels={"F1": f"{level}-level F1 (%)"})
st.plotly_chart(fig, key="compare_per_class", width="stretch")
st.caption("Per-class F1 pools true/false positives and misses over all videos of the split (a dashboard figure, "
           f"not part of the official protocol). Figures: {', '.join(METRIC_KEYS)}.")
