"""Lab (teaching): turn SynthLLP's knobs, train two small models side by side, see where they diverge."""

import os

import streamlit as st

from avvp_core import jobs, ui
from avvp_core.analysis import curves, lab
from avvp_core.checkpoints import read_card
from avvp_core.errors import InputError
from avvp_core.models import list_models
from avvp_core.names import MODEL_NAMES

K = ui.StateKeys
ui.init_state()
st.title("Lab")
st.markdown(lab.EXPECTATIONS)
measured = lab.preset_results()
if measured:
    st.info(lab.verdict(measured), icon=":material/straighten:")
else:
    st.warning("The presets are not measured in this copy (avvp_core/analysis/lab_presets.json is missing): run "
               "`python bench/lab_presets.py`. Until then, only your own runs below say what happens.")

models = list_models()
defaults = lab.default_knobs()


def apply_preset() -> None:
    """Set the knob sliders to the chosen preset (the other knobs to their defaults)."""
    chosen = lab.PRESETS[st.session_state[K.LAB_PRESET]]["knobs"]
    for k in lab.LAB_KNOBS:
        st.session_state[f"{K.LAB_KNOB}_{k}"] = st.session_state[ui.KEPT + f"{K.LAB_KNOB}_{k}"] = float(
            chosen.get(k, defaults[k]))


preset = ui.kept(st.selectbox, "Preset", list(lab.PRESETS), key=K.LAB_PRESET, on_change=apply_preset,
                 help="Sets the knobs below; change any of them afterwards.")
result = (measured or {}).get("presets", {}).get(preset)
st.caption(lab.PRESETS[preset]["note"] + (f". Measured: {lab.preset_line(result)}." if result else
                                          ". Not measured yet."))


def model_label(model: str) -> str:
    return f"{MODEL_NAMES.get(model, model)} ({model})"  # as the Train page names them


with st.form("lab_form"):
    cols = st.columns(len(lab.LAB_KNOBS))
    knobs = {k: ui.kept(col.slider, k.replace("_", " "), key=f"{K.LAB_KNOB}_{k}", default=min(max(defaults[k], lo), hi),
                        min_value=lo, max_value=hi, step=step, help=text, in_form=True)
             for col, (k, (lo, hi, step, text)) in zip(cols, lab.LAB_KNOBS.items(), strict=True)}
    a, b, c, d = st.columns(4)
    model_a = ui.kept(a.selectbox, "Model A", models, key=K.LAB_MODEL_A, default=lab.LAB_MODELS[0], in_form=True,
                      format_func=model_label)
    model_b = ui.kept(b.selectbox, "Model B", models, key=K.LAB_MODEL_B, default=lab.LAB_MODELS[1], in_form=True,
                      format_func=model_label)
    epochs = ui.kept(c.number_input, "Epochs", key=K.LAB_EPOCHS, default=lab.LAB_TRAIN["epochs"], min_value=1,
                     max_value=200, in_form=True)
    seed = ui.kept(d.number_input, "Seed", key=K.LAB_SEED, default=1, min_value=0, max_value=10_000, in_form=True)
    go = st.form_submit_button("Generate the data and train both", type="primary", key="lab_submit")
rates = ", ".join(f"{MODEL_NAMES.get(m, m)} {lab.model_lr(m):g}" for m in dict.fromkeys((model_a, model_b)))
st.caption(f"{lab.LAB_SIZES['n_train']} training, {lab.LAB_SIZES['n_val']} val and {lab.LAB_SIZES['n_test']} test "
           f"videos; demo width, batch {lab.LAB_TRAIN['batch_size']}, each model at its paper's learning rate "
           f"({rates}), ×0.1 after epoch {lab.LAB_TRAIN['train_options']['lr_step']}: {lab.DURATION} for both on two "
           "CPU cores. Both train in the background: you may leave the page. Each keeps its last epoch: the test "
           "figures belong to the curves' last point.")

if go:
    try:
        if model_a == model_b:
            raise InputError("choose two different models")
        synth = lab.synth_knobs(knobs)
        name = lab.data_name(knobs)
        target = ui.synth_target(name)
        if not lab.data_ready(target):
            ui.generate_synth(name, lab.LAB_PRESET, 0, synth)
        runs = []
        for model in (model_a, model_b):
            run = lab.run_name(name, model, int(epochs), int(seed))
            try:
                job = jobs.get(run)
                if job.status in ("cancelled", "failed"):
                    jobs.resume(run)
            except InputError:  # not trained yet
                train = {k: v for k, v in lab.LAB_TRAIN.items() if k != "epochs"}
                jobs.start(target, model, "plain", "demo", run, epochs=int(epochs), seed=int(seed),
                           threads=max(1, (os.cpu_count() or 2) // 2), **train)
            runs.append(run)
        st.session_state[K.LAB_RUNS], st.session_state[K.LAB_DATA] = runs, str(target)
    except InputError as exc:
        ui.show_error(exc)

runs = st.session_state.get(K.LAB_RUNS)
if not runs:
    st.info("Set the knobs and the two models above, then press *Generate the data and train both*.")
    st.stop()
st.caption(f"Data of this experiment: `{st.session_state[K.LAB_DATA]}`")
status = ui.live_jobs(runs, "lab_live", shared_axes=True)
if not all(s == "finished" for s in status.values()):
    st.stop()

finished = {MODEL_NAMES.get(model, model): jobs.get(r).folder for r in runs
            for model in (jobs.get(r).record["model"],)}
try:
    table = curves.figures_table({m: read_card(folder).metrics for m, folder in finished.items()})
except InputError as exc:  # a run folder damaged since it finished: say which file, keep the page
    ui.show_error(exc)
    st.stop()
st.subheader("The ten figures (test split)")
st.dataframe(table, key="lab_figures")
st.markdown(lab.measured_summary(table))
logs = {m: jobs.progress(folder)["epochs"] for m, folder in finished.items()}
figure = curves.modality_f1_figure({m: (rows, False) for m, rows in logs.items()})
figure.update_yaxes(range=[0, 100])
last = max((int(r["epoch"]) for rows in logs.values() for r in rows), default=0)
if last:
    figure.add_vline(x=last, line_dash="dot", line_color="grey", annotation_text="test figures: this epoch")
st.plotly_chart(figure, key="lab_modality_f1", width="stretch")
st.caption("Per-video F1 is 1.0 for a video with nothing annotated and nothing predicted in a modality (the official "
           "protocol), so where a modality has few events a model that predicts little scores high on it.")
use = "Use this data in the whole app (its two models then appear on every page)"
if st.session_state[K.DATA_ROOT] != st.session_state[K.LAB_DATA] and st.button(use, key="lab_use_data"):
    st.session_state[K.DATA_ROOT] = st.session_state[K.LAB_DATA]
    st.rerun()
