"""Features: a model's fused segment features (and MGN / CM-Co class tokens) in 2-D, coloured by what is in each
segment; select points with the box or lasso to list the videos behind them and open their timelines. Its URL
(`?checkpoint=<name or folder>&split=test&kind=<what is embedded>&method=PCA&points=3000&colour=class`; not `embed`,
which Streamlit reserves) reopens the same view."""

import streamlit as st

from avvp_core import ui
from avvp_core.analysis.features import (
    COLOURINGS,
    merged_note,
    methods,
    points_table,
    scatter_figure,
    selected_ids,
    videos_behind,
)
from avvp_core.errors import InputError

K = ui.StateKeys
ui.init_state()
st.title("Features")
st.caption("Segment features after each model's cross-modal stage, as paper 001 (CM-Co, Figs. 3-4) shows them: one "
           "point per segment, coloured by its event combination (each class with how it occurs there: audio-only, "
           "visual-only or audio-visual; background when nothing). Class tokens (MGN, CM-Co) are one point per video "
           "and labelled class, as in paper 002's Fig. 2. Embeddings are cached on disk per checkpoint.")

root = ui.data_in_use()
cards = ui.require_checkpoints(root)

# A shared or reloaded URL names the view (the module docstring)
PARAMS = {"checkpoint": K.FEATURES_MODEL, "split": K.FEATURES_SPLIT, "kind": K.FEATURES_KIND,
          "method": K.FEATURES_METHOD, "points": K.FEATURES_POINTS, "colour": K.FEATURES_COLOUR}
POINTS = (100, 30000, 3000)  # at least, at most, first visit

incoming = ui.url_changes("features", tuple(PARAMS))
ui.apply_link(ui.accept_link(incoming, cards, {
    "checkpoint": ui.LINK_MODEL, "split": ("test", "val"), "method": methods(),
    "points": ui.whole_number_link(*POINTS[:2]), "colour": COLOURINGS,
    "kind": ui.LINK_LATER}), PARAMS)  # kind: checked once the checkpoint (its kinds) is known

a, b, c = st.columns([2, 1, 2])
name = ui.kept(a.selectbox, "Checkpoint", list(cards), key=K.FEATURES_MODEL)
split_name = ui.kept(b.radio, "Split", ("test", "val"), key=K.FEATURES_SPLIT, default="test", horizontal=True)
checkpoint = str(cards[name].path)
try:
    kinds = ui.feature_kinds(checkpoint)
except InputError as exc:  # e.g. damaged weights
    ui.show_error(exc)
    st.stop()
ui.apply_link(ui.accept_link(ui.link_part(incoming, "kind"), cards, {"kind": kinds}), PARAMS)  # warns if not here
kind = ui.kept(c.selectbox, "Embed", kinds, key=K.FEATURES_KIND)
d, e, f = st.columns([2, 1, 2])
method = ui.kept(d.radio, "Method", methods(), key=K.FEATURES_METHOD, default="t-SNE", horizontal=True,
                 help="UMAP appears when the `umap-learn` package is installed.")
max_points = ui.kept(e.number_input, "Points at most", key=K.FEATURES_POINTS, default=POINTS[2], min_value=POINTS[0],
                     max_value=POINTS[1], step=500, help="A seeded random subset beyond this (t-SNE time grows with "
                     "the points).")
colour = ui.kept(f.selectbox, "Colour by", COLOURINGS, key=K.FEATURES_COLOUR)
ui.write_url("features", {"checkpoint": name, "split": split_name, "kind": kind, "method": method,
                          "points": int(max_points), "colour": colour})

try:
    frame = ui.feature_embedding(checkpoint, root, split_name, kind, method, max_points)
    if frame is None:
        # In a slot that is emptied once the embedding exists: the finished plot stands alone, no stale prompt above.
        prompt = st.empty()
        with prompt.container():
            st.info(f"Not computed yet for this choice: {method} of {kind} on {split_name}, at most {max_points} "
                    "points (about a minute for 3,000 points with t-SNE on two cores; PCA is instant). The result is "
                    "cached.")
            clicked = st.button("Compute", key=K.FEATURES_COMPUTE, type="primary")
        if not clicked:
            st.stop()
        prompt.empty()
        frame = ui.feature_embedding(checkpoint, root, split_name, kind, method, max_points, compute=True)
except InputError as exc:
    ui.show_error(exc)
    st.stop()

fig = scatter_figure(frame, colour, f"{name}: {kind} ({split_name}, {method}, {len(frame)} points)")
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso"), key=K.FEATURES_CHART,
                        width="stretch")
st.caption("Colour: the label chosen above (rarer labels merged into \"other\"); shape: circles are audio "
           "segments, diamonds visual segments. " + merged_note(frame, colour))
st.download_button("Download these points (CSV)", points_table(frame).to_csv(index=False),
                   f"features_{cards[name].path.name}_{split_name}_{method}.csv", key="features_csv",
                   help="Each plotted point's video, segment, modality, 2-D position and labels.")
ids = selected_ids(event["selection"]["points"], fig)  # key access: also works for a selection set in tests
if not len(ids):
    # Streamlit draws a changed figure as a new chart, with no selection: say so rather than lose a lasso silently
    st.caption("Select points with the box or lasso tool (top right of the chart) to list the videos behind them. "
               "Another colouring, method or number of points draws a new chart, and the selection starts afresh.")
    st.stop()
table = videos_behind(frame, ids)
listed = (checkpoint, split_name, kind, method, int(max_points), hash(ids.tobytes()))
if st.session_state.get(K.FEATURES_TABLE_OF) != listed:  # a new list: a row picked in the last one picks nothing here
    st.session_state.pop(K.FEATURES_TABLE, None)
    st.session_state[K.FEATURES_TABLE_OF] = listed
st.caption(f"{len(ids)} points selected in {len(table)} videos. Select a row to open its timeline.")
chosen = st.dataframe(table.drop(columns="row"), hide_index=True, on_select="rerun", selection_mode="single-row",
                      key=K.FEATURES_TABLE)
picked = [r for r in chosen.selection.rows if 0 <= r < len(table)]
if picked:
    row = int(table.iloc[picked[0]]["row"])
    ui.open_in_timelines(split_name, row, [name], f"Open {table.iloc[picked[0]]['video']} in Timelines",
                        key="features_open_timelines")
