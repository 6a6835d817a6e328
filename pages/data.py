"""Data: choose the source (SynthLLP or a real LLP folder) and look at its statistics beside the real LLP."""

import streamlit as st

from avvp_core import ui
from avvp_core.analysis.datastats import figures
from avvp_core.data.synthetic import KNOBS, PRESET_KNOBS, PRESETS, knob_defaults, llp_stats
from avvp_core.errors import InputError
from avvp_core.paths import DEFAULT_DATA

K = ui.StateKeys
ui.init_state()
st.title("Data")
st.caption(f"In use: `{st.session_state[K.DATA_ROOT]}`")
back = f"Back to the default data ({DEFAULT_DATA.name})"
elsewhere = st.session_state[K.DATA_ROOT] != str(DEFAULT_DATA)
if elsewhere and st.button(back, key="data_use_default", icon=":material/undo:"):
    st.session_state[K.DATA_ROOT] = str(DEFAULT_DATA)
    st.rerun()  # the caption above and the sidebar name the folder in use
report = st.session_state.pop(K.DATA_LLP_REPORT, None)
if report:
    st.success("Folder is valid and in use:\n\n" + "\n".join(f"- {line}" for line in report))

source = st.radio("Source", ("SynthLLP", "LLP folder"), horizontal=True, key=K.DATA_SOURCE)
if source == "SynthLLP":
    # The preset sits outside the form so the knobs below show its own (calibrated) defaults when it changes.
    preset = st.selectbox("Preset", list(PRESETS), index=list(PRESETS).index("mini"), key=K.DATA_SYNTH_PRESET)
    defaults = knob_defaults(preset)
    calibrated = dict.fromkeys(("separation", *PRESET_KNOBS.get(preset, {})))  # the knobs set per preset
    own = ", ".join(f"{knob.replace('_', ' ')} {defaults[knob]:g}" for knob in calibrated)
    st.caption(f"{PRESETS[preset]['n_train']:,} training videos. The knobs below start at this preset's calibrated "
               f"defaults ({own}): HAN scores about what it scores on the real LLP "
               "test set on `full` (paper width) and `mini` (demo width, trained in LLP's optimiser steps: budget "
               "`llp_steps`, the zoo's and the Train page's default); see bench/RESULTS.md.")
    with st.form("synth_form"):
        a, c = st.columns(2)
        name = a.text_input("Name (folder under data/)", value="synthllp-custom", key=K.DATA_SYNTH_NAME)
        seed = c.number_input("Seed", min_value=0, value=0, step=1, key=K.DATA_SYNTH_SEED)
        knobs = {}
        cols = st.columns(3)
        for i, knob in enumerate(("audio_only_rate", "visual_only_rate", "imbalance", "audio_salience", "noise",
                                  "co_occurrence", "separation", "background_events", "noise_rank", "silent_objects",
                                  "turn_taking", "kind_coupling", "noise_persistence")):
            whole = isinstance(KNOBS[knob]["default"], int)  # a count, not a share or a scale
            knobs[knob] = cols[i % 3].number_input(
                knob.replace("_", " "), value=int(defaults[knob]) if whole else float(defaults[knob]),
                min_value=0 if whole else 0.0,
                step=1 if whole else None, help=KNOBS[knob]["help"], key=f"knob_{preset}_{knob}",
                format="%d" if whole else "%.4f")
        submitted = st.form_submit_button("Generate and use")
    if submitted:
        try:
            st.session_state[K.DATA_ROOT] = str(ui.generate_synth(name, preset, int(seed), knobs))
            st.rerun()
        except InputError as exc:
            ui.show_error(exc)
else:
    path = st.text_input("LLP folder (the five AVVP_*.csv files and feats/)", key=K.DATA_LLP_PATH)
    if st.button("Check and use", key="data_llp_use", disabled=not path):
        try:
            with st.spinner("Reading the annotations and checking every feature file…"):
                root, report = ui.check_llp_folder(path)
            st.session_state[K.DATA_ROOT] = str(root)
            # Rerun so the caption above and the sidebar (drawn before this click was handled) name the new folder;
            # the report is shown by that run.
            st.session_state[K.DATA_LLP_REPORT] = report
            st.rerun()
        except InputError as exc:
            ui.show_error(exc)

root = ui.data_in_use()
try:
    summary = ui.dataset_summary(root)
    dataset = ui.load_dataset(root)
    charts = figures(summary["stats"], llp_stats(), dataset)
except InputError as exc:
    ui.show_error(exc)
    st.stop()
st.subheader("Statistics")
st.caption("Bars: the data in use beside the real LLP (train labels; val + test dense truth). Hover a modality-mix "
           "bar for the number of events its shares are taken over: a class with few events in a small split shows "
           "shares as bold as a class with hundreds.")
for i, (title, fig) in enumerate(charts.items()):
    st.markdown(f"**{title}**")
    st.plotly_chart(fig, key=f"data_chart_{i}", width="stretch")
