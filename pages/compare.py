"""Compare: checkpoints side by side — the ten figures with deltas, seeds aggregated, per-class F1 per modality."""

import streamlit as st

from avvp_core import ui
from avvp_core.analysis.compare import (
    NO_EVENTS,
    aggregate,
    carries_seeds,
    delta_table,
    deltas_chart,
    display_table,
    figures_chart,
    group_runs,
    mean_per_class,
    per_class_chart,
    per_class_frame,
    published_frame,
    run_identity,
    seeds_beyond_weights,
    standings_chart,
    standings_frame,
    with_deltas,
    without_figures,
)
from avvp_core.constants import CLASSES
from avvp_core.errors import InputError
from avvp_core.paths import REPO_ROOT

K = ui.StateKeys
ui.init_state()
st.title("Compare")
st.caption("Runs of the same configuration (model, recipe, build and training settings) are aggregated over "
           "seeds as mean ± standard deviation (– where a configuration has one run, n = 1); Δ is each "
           "configuration's mean minus the baseline's. Seg = segment-level, Ev = event-level: hover a header for its "
           "meaning.")
ui.glossary()

root = ui.data_in_use()
ui.checkpoint_upload()
cards = ui.require_checkpoints(root)

# A shared or reloaded URL names the view (?models=a,b&split=test&baseline=...): apply what is new to this session.
# The baseline is checked once the table names the configurations.
incoming = ui.url_changes("compare", ("models", "split", "baseline", "level"))
ui.apply_link(ui.accept_link(incoming, cards, {"models": ui.LINK_MODELS, "split": ("test", "val"),
                                               "level": ("segment", "event"), "baseline": ui.LINK_LATER}),
              {"models": K.COMPARE_MODELS, "split": K.COMPARE_SPLIT, "level": K.COMPARE_LEVEL})

left, right = st.columns([3, 1])
chosen = ui.kept(left.multiselect, "Checkpoints", list(cards), key=K.COMPARE_MODELS, default=list(cards))
split = ui.kept(right.radio, "Split", ("test", "val"), key=K.COMPARE_SPLIT, default="test", horizontal=True)
selected = [cards[n] for n in chosen]
if not selected:
    ui.write_url("compare", {"models": "", "split": split, "baseline": None, "level": None})
    st.stop()
table = aggregate(selected, split)
missing = without_figures(selected, split)
if missing:
    st.caption(f"Not in the table, no {split} figures (trained with eval_test off?): "
               + ", ".join(n for n in chosen if cards[n] in missing)
               + ("; their val figures are on the val split." if split == "test" else "."))
if table.empty:
    st.info(f"None of the chosen checkpoints has {split} figures"
            + (": choose the val split above." if split == "test" else "."))
    st.stop()
if any(carries_seeds(card, split) for card in selected):
    st.caption("Zoo entries trained with several seeds carry every seed's figures on their card: their row is the "
               "mean ± standard deviation over those seeds (n, seeds), while the model the other pages inspect — and "
               "the per-class F1 below — is seed 1, the only weights shipped.")
configurations = list(table["configuration"])
ui.apply_link(ui.accept_link(ui.link_part(incoming, "baseline"), cards, {"baseline": configurations}),
              {"baseline": K.COMPARE_BASELINE})
baseline = ui.kept(st.selectbox, "Baseline (for Δ)", configurations, key=K.COMPARE_BASELINE,
                   default="HAN" if "HAN" in configurations else configurations[0])  # the field's baseline
table = with_deltas(table, baseline)

figures, figures_table, deltas, deltas_tab = st.tabs(["Figures", "Figures (table)", "Δ against the baseline",
                                                      "Δ (table)"])
with figures:
    st.plotly_chart(figures_chart(table), key="compare_figures_chart", width="stretch")
with figures_table:
    st.dataframe(display_table(table), hide_index=True, key="compare_table",
                 column_config={"runs": st.column_config.NumberColumn("n", help="runs (seeds) aggregated",
                                                                      width="small"),
                                **ui.figure_columns(fmt=None)})
with deltas:
    st.plotly_chart(deltas_chart(table, baseline), key="compare_deltas_chart", width="stretch")
with deltas_tab:
    st.dataframe(delta_table(table), hide_index=True, key="compare_deltas",
                 column_config=ui.figure_columns(prefix="Δ ", fmt="%+.1f"))
st.download_button("Download figures and Δ (CSV)", table.to_csv(index=False), f"compare_{split}.csv",
                   key="compare_csv")

st.subheader("Published on the real LLP")
standings = standings_frame(selected)
st.caption("The papers' own test figures (legacy audio annotation file; transcribed from their tables: a row several "
           "papers print is shown once, with every source), then the later methods (2023–2025, not implemented "
           "here) so you see where the seed methods stand against today's best. SynthLLP is a stand-in: compare "
           "differences between methods, not absolute values.")
chart_tab, ours_tab, all_tab = st.tabs(["Where they stand", "Our methods as published", "All rows"])
with chart_tab:
    st.plotly_chart(standings_chart(standings), key="compare_standings", width="stretch")
    st.caption("Blue: methods reproduced here (the chosen checkpoints'); grey: later methods. Plain bars "
               "segment-level, "
               "hatched event-level Type@AV.")
with ours_tab:
    published = published_frame(selected)
    if published.empty:
        st.caption("None of the chosen configurations has a published LLP row (see avvp_core/published.py).")
    else:
        st.dataframe(published, hide_index=True, key="compare_published",
                     column_config={"ours": "reproduced here as", **ui.figure_columns()})
with all_tab:
    st.dataframe(standings, hide_index=True, key="compare_standings_table", column_config=ui.figure_columns())

st.subheader("Per-class F1")
level = ui.kept(st.radio, "Level", ("segment", "event"), key=K.COMPARE_LEVEL, default="segment", horizontal=True)
ui.write_url("compare", {"models": ",".join(chosen) if chosen != list(cards) else None, "split": split,
                         "baseline": baseline, "level": level})
per_class = {}
groups = group_runs(selected, split)
for label, members in group_runs(selected, split, distinct=False).items():  # every run, averaged as in the table
    reports = {}
    for card in members:  # a seed's first card whose weights work: a copy of a damaged one stands in for it
        if run_identity(card) in reports:
            continue
        try:
            reports[run_identity(card)] = ui.score_report(str(card.path), root, split, card.gating).per_class
        except InputError as exc:  # e.g. damaged weights: the other checkpoints are still compared
            ui.show_error(exc)
    if reports:
        per_class[label] = mean_per_class(list(reports.values()))
frame = per_class_frame(per_class, level)
beyond = seeds_beyond_weights(table, groups)
st.caption(f"All {len(per_class)} chosen configurations, one row each (the mean over "
           + ("the runs whose weights are here, see below" if beyond else "their runs") + "); every cell prints its "
           f"value, so a class a model never gets right reads 0, and one with nothing annotated and nothing predicted "
           f"in this split, whose F1 is undefined, reads {NO_EVENTS}. Per-class F1 pools true/false positives and "
           "misses over all videos of the split (a dashboard figure, not part of the official protocol).")
if beyond:
    st.caption("Per-class F1 needs the weights, so it covers fewer seeds than the table for "
               + "; ".join(f"{label} (seed {seeds} only)" for label, seeds in beyond.items()) + ".")
# Lazy tabs: only the open one is drawn. Each heat map prints configurations × 25 values, and drawing all three (hidden
# tabs are drawn too) was most of the browser's time on every change of this page; a tab switch reruns only this
# fragment.


@st.fragment
def per_class_tabs() -> None:
    if frame.empty:
        st.info("No per-class figures: the weights of every chosen checkpoint failed to load (see the errors "
                "above); the table's figures come from their cards.")
        return
    tabs = st.tabs(["audio", "visual", "audio-visual", "table"], key=K.COMPARE_PER_CLASS_TAB, on_change="rerun")
    for tab, modality in zip(tabs[:3], ("audio", "visual", "audio-visual"), strict=True):
        if tab.open:
            with tab:
                st.plotly_chart(per_class_chart(frame, modality, level), key=f"compare_per_class/{modality}",
                                width="stretch")
    if tabs[3].open:
        with tabs[3]:
            st.caption("Select a class's column to open, in Errors, the videos where it is annotated or decided "
                       "wrongly, each with that class's wrong cells by type.")
            # in the heat maps' order (the configurations as chosen, LLP's class order), and a class that no chosen
            # model has an F1 for (nothing annotated or predicted in the split) kept as an empty column, not dropped
            by_class = frame.pivot_table(index=["model", "modality"], columns="class", values="F1", dropna=False,
                                         sort=False).reindex(columns=list(CLASSES))
            event = st.dataframe(by_class.round(1), key="compare_per_class_table", on_select="rerun",
                                 selection_mode="single-column")
            if event.selection.columns:  # a class: the videos behind its F1, worst first, one click away
                cls = event.selection.columns[0]
                pair = chosen[:2]
                st.page_link(st.Page(REPO_ROOT / "pages" / "errors.py", title="Errors"),
                             icon=":material/error_outline:", label=f"{cls}: its {split} videos in Errors, "
                             + (f"{pair[0]} against {pair[1]}" if len(pair) == 2 else pair[0]),
                             query_params={"model": pair[0], "second": pair[1] if len(pair) == 2 else "none",
                                           "split": split, "class": cls, ui.IN_APP_LINK: "compare"})


per_class_tabs()
