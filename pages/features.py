"""Features: a model's fused segment features (and MGN / CM-Co class tokens) in 2-D, coloured by what is in each
segment; select points with the box or lasso to list the videos behind them and open their timelines. Its URL
(`?checkpoint=<name or folder>&split=test&kind=<what is embedded>&method=PCA&points=3000&colour=class&second=none`;
not `embed`, which Streamlit reserves) reopens the same view. A second checkpoint beside the first embeds the same
points; a lasso on the first lights them up in the second."""

import streamlit as st

from avvp_core import ui
from avvp_core.analysis.features import (
    COLOURINGS,
    merged_note,
    methods,
    points_table,
    same_points,
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
          "method": K.FEATURES_METHOD, "points": K.FEATURES_POINTS, "colour": K.FEATURES_COLOUR,
          "second": K.FEATURES_SECOND}
POINTS = (100, 30000, 3000)  # at least, at most, first visit

incoming = ui.url_changes("features", tuple(PARAMS))
ui.apply_link(ui.accept_link(incoming, cards, {
    "checkpoint": ui.LINK_MODEL, "split": ("test", "val"), "method": methods(),
    "points": ui.whole_number_link(*POINTS[:2]), "colour": COLOURINGS, "second": ui.LINK_MODEL_OR_NONE,
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
d, e, f, g = st.columns([2, 1, 2, 2])
method = ui.kept(d.radio, "Method", methods(), key=K.FEATURES_METHOD, default="t-SNE", horizontal=True,
                 help="UMAP appears when the `umap-learn` package is installed.")
max_points = ui.kept(e.number_input, "Points at most", key=K.FEATURES_POINTS, default=POINTS[2], min_value=POINTS[0],
                     max_value=POINTS[1], step=500, help="A seeded random subset beyond this (t-SNE time grows with "
                     "the points).")
colour = ui.kept(f.selectbox, "Colour by", COLOURINGS, key=K.FEATURES_COLOUR)
second = ui.kept(g.selectbox, "Beside it", [ui.NO_SECOND, *(n for n in cards if n != name)], key=K.FEATURES_SECOND,
                 default=ui.NO_SECOND, help="A second checkpoint's embedding of the same points, to the right: a "
                 "lasso on the left chart lights the same segments up there.")
ui.write_url("features", {"checkpoint": name, "split": split_name, "kind": kind, "method": method,
                          "points": int(max_points), "colour": colour, "second": second})
shown = {name: checkpoint}
if second != ui.NO_SECOND:
    try:
        second_kinds = ui.feature_kinds(str(cards[second].path))
    except InputError as exc:
        ui.show_error(exc)
        second_kinds = []
    if kind in second_kinds:
        shown[second] = str(cards[second].path)
    else:
        st.info(f"{second} has no {kind} to embed (it has {', '.join(second_kinds) or 'none readable'}): "
                f"{name} is shown alone.")


def ask_to_compute(where, missing: list[str]) -> bool:
    """The prompt for embeddings not cached yet, in a slot of `where` that is emptied once they are asked for: the
    finished plots stand alone, no stale prompt beside them. True when Compute was pressed."""
    slot = where.empty()
    with slot.container():
        st.info(f"Not computed yet for this choice: {method} of {kind} on {split_name}, at most {max_points} points, "
                f"for {' and '.join(missing)} (about a minute for 3,000 points with t-SNE on two cores, per "
                "checkpoint; PCA is instant). The result is cached.")
        clicked = st.button("Compute", key=K.FEATURES_COMPUTE, type="primary")
    if clicked:
        slot.empty()
    return clicked


try:
    frames = {n: ui.feature_embedding(path, root, split_name, kind, method, max_points) for n, path in shown.items()}
    if frames[name] is None:  # nothing to draw yet: one prompt computes whatever is missing
        missing = [n for n, frame in frames.items() if frame is None]
        if not ask_to_compute(st, missing):
            st.stop()
        for n in missing:
            frames[n] = ui.feature_embedding(shown[n], root, split_name, kind, method, max_points, compute=True)
except InputError as exc:
    ui.show_error(exc)
    st.stop()
frame = frames[name]
pair = len(shown) == 2  # two half-width charts: short titles (kind and split are named above), legends below
places = st.columns(2) if pair else [st.container()]
if pair and frames[second] is None:  # the left chart (and its lasso) stands while the right one is computed
    try:
        if ask_to_compute(places[1], [second]):
            with places[1]:
                frames[second] = ui.feature_embedding(shown[second], root, split_name, kind, method, max_points,
                                                      compute=True)
    except InputError as exc:
        with places[1]:
            ui.show_error(exc)
if pair and frames[second] is not None and not same_points(frame, frames[second]):  # sample_points never reads
    places[1].warning(f"{name} and {second} were embedded on different points; {second} is not shown.")  # a model
    frames[second] = None
fig = scatter_figure(frame, colour, f"{name} ({method}, {len(frame)} points)" if pair else
                     f"{name}: {kind} ({split_name}, {method}, {len(frame)} points)", half_width=pair)
event = places[0].plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso"), key=K.FEATURES_CHART,
                               width="stretch")
ids = selected_ids(event["selection"]["points"], fig)  # key access: also works for a selection set in tests
frames = {n: f for n, f in frames.items() if f is not None}
if len(frames) == 2:
    beside = scatter_figure(frames[second], colour, f"{second} (the same points)", highlight=ids, half_width=True)
    places[1].plotly_chart(beside, key="features_chart_second", width="stretch",
                           config={"modeBarButtonsToRemove": ["select2d", "lasso2d"]})
    places[1].caption(f"Where {second} puts the {len(ids):,} points selected on the left (the others dimmed)."
                      if len(ids) else "Select points on the left chart: the same segments light up here.")
st.caption("Colour: the label chosen above (rarer labels merged into \"other\"); shape: circles are audio "
           "segments, diamonds visual segments. " + merged_note(frame, colour))
st.download_button("Download these points (CSV)", points_table(frames).to_csv(index=False),
                   f"features_{cards[name].path.name}_{split_name}_{method}.csv", key="features_csv",
                   help="Each plotted point's video, segment, modality, labels and 2-D position in each chart.")
if not len(ids):
    # Streamlit draws a changed figure as a new chart, with no selection: say so rather than lose a lasso silently
    st.caption("Select points with the box or lasso tool (top right of the chart) to list the videos behind them. "
               "Another colouring, method or number of points, or setting a checkpoint beside it or taking it "
               "away, draws a new chart, and the selection starts afresh (switching that checkpoint keeps it).")
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
    ui.open_in_timelines(split_name, row, list(frames), f"Open {table.iloc[picked[0]]['video']} in Timelines",
                        key="features_open_timelines")
