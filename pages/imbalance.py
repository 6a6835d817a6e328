"""Imbalance: per-modality training losses with and without DGM (paper 004, fig. 5), omega and mu over training,
per-modality val F1 over epochs — read from the checkpoints' logs. Its URL
(`?with=<names or folders>&without=<names or folders>&level=segment`) reopens the same view."""

from pathlib import Path

import streamlit as st

from avvp_core import jobs, ui
from avvp_core.analysis import curves
from avvp_core.errors import InputError

K = ui.StateKeys
ui.init_state()
st.title("Imbalance")
st.caption("Paper 004 (DGM): one modality learns faster and dominates; dynamic gradient modulation scales down the "
           "gradients of the one ahead. Solid lines: trained with DGM; dashed: without. Colour: modality.")
root = ui.data_in_use()
try:
    cards = ui.checkpoints_for(root)
except InputError as exc:
    ui.show_error(exc)
    st.stop()
dgm = {n: c for n, c in cards.items() if curves.is_dgm(c.config) and c.log()}
plain = {n: c for n, c in cards.items() if not curves.is_dgm(c.config) and c.log()}

if not dgm:
    st.info("No checkpoint trained with DGM on this data yet. Train HAN with and without DGM (demo width) here, "
            f"or on the command line: `python -m avvp_core train --data {root} --model han --recipe dgm "
            "--width demo --out runs/han-dgm`.")
    epochs = st.number_input("Epochs", min_value=1, max_value=100, value=20, key=K.IMBALANCE_EPOCHS)
    if st.button("Train HAN with and without DGM in the background", key="imbalance_start", type="primary"):
        try:
            st.session_state[K.IMBALANCE_JOBS] = [
                jobs.start(root, "han", recipe, "demo", epochs=int(epochs), seed=1).name for recipe in ("dgm", "plain")]
        except InputError as exc:
            ui.show_error(exc)
    started = st.session_state.get(K.IMBALANCE_JOBS) or [
        j.name for j in jobs.list_jobs() if j.running and j.record.get("data") == str(Path(root).resolve())
        and curves.is_dgm({"recipe": j.record.get("recipe"), "train": j.record.get("train_options")})]
    if started:
        ui.live_jobs(started, "imbalance_live")
    st.stop()

# A shared or reloaded URL names the view (the module docstring); a run on the wrong side is named, not dropped
incoming = ui.accept_link(ui.url_changes("imbalance", ("with", "without", "level")), cards, {
    "with": ui.LINK_MODELS, "without": ui.LINK_MODELS, "level": ("segment", "event")})
misplaced = []
for param, side, key in (("with", dgm, K.IMBALANCE_DGM), ("without", plain, K.IMBALANCE_PLAIN)):
    if param in incoming:
        st.session_state[key] = [n for n in incoming[param] if n in side]
        misplaced += [f"{n} ({'trained without DGM' if n in plain else 'trained with DGM' if n in dgm else 'no log'})"
                      for n in incoming[param] if n not in side]
if misplaced:
    st.warning(f"From the link: {', '.join(misplaced)} cannot stand on that side. Those are left out.",
               icon=":material/link_off:")
ui.apply_link(incoming, {"level": K.IMBALANCE_LEVEL})

a, b = st.columns(2)
chosen_dgm = ui.kept(a.multiselect, "With DGM", list(dgm), key=K.IMBALANCE_DGM, default=list(dgm)[:2])
models = {dgm[n].model for n in chosen_dgm}
chosen_plain = ui.kept(b.multiselect, "Without DGM", list(plain), key=K.IMBALANCE_PLAIN,
                       default=[n for n in plain if plain[n].model in models][:2])
level = ui.remember(K.IMBALANCE_LEVEL, "segment", ["segment", "event"])  # its radio is the last chart's
ui.write_url("imbalance", {"with": ",".join(chosen_dgm), "without": ",".join(chosen_plain), "level": level})
runs = {**{n: (dgm[n].log(), True) for n in chosen_dgm}, **{n: (plain[n].log(), False) for n in chosen_plain}}
if not runs:
    st.info("Choose at least one checkpoint above.")
    st.stop()

st.plotly_chart(curves.modality_loss_figure(runs), key="imbalance_losses", width="stretch")
st.markdown(curves.loss_gap_verdict(runs))
st.caption("Per run, the mean over epochs of the gap between the audio and visual training losses (DGM should shrink "
           "it):")
st.dataframe(curves.loss_gap_frame(runs).round(4), key="imbalance_gap", hide_index=True)

st.subheader("ω and μ over training")
if chosen_dgm:
    run = ui.kept(st.selectbox, "DGM run", chosen_dgm, key=K.IMBALANCE_STEPS_RUN)
    try:
        steps = dgm[run].steps()
    except InputError as exc:  # a damaged step log: the other figures of the page still stand
        ui.show_error(exc)
        steps = None
    if steps:
        smooth = ui.kept(st.select_slider, "Smoothing (EMA span, steps)", (1, 10, 25, 50, 100, 200),
                         key=K.IMBALANCE_SMOOTHING, default=curves.DGM_SMOOTHING,
                         help="1 = the raw per-step values only. ω and μ are recomputed every step from one batch, "
                              "so they are noisy; the moving average shows their trend.")
        st.plotly_chart(curves.dgm_steps_figure(steps, smooth=int(smooth)), key="imbalance_steps", width="stretch")
    elif steps is not None:
        st.caption("This run has no per-step log (steps.jsonl).")
else:
    st.caption("Choose a DGM run above to see ω and μ.")

st.subheader("Per-modality validation F1")
level = ui.kept(st.radio, "Level", ("segment", "event"), key=K.IMBALANCE_LEVEL, default="segment", horizontal=True)
st.plotly_chart(curves.modality_f1_figure(runs, level), key="imbalance_f1", width="stretch")
st.download_button("Download the chosen runs' epoch logs (CSV)", curves.runs_frame(runs).to_csv(index=False),
                   "imbalance_runs.csv", key="imbalance_csv",
                   help="Per run and epoch: the training losses (total and per modality) and the validation figures "
                        "behind the curves above.")
