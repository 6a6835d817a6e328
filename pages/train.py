"""Train: pick a model and recipe, edit the configuration, train in the background with live curves."""

import pandas as pd
import streamlit as st

from avvp_core import jobs, ui
from avvp_core.errors import InputError
from avvp_core.models import list_models, model_info
from avvp_core.training.recipes import RECIPES

K = ui.StateKeys
ui.init_state()
st.title("Train")
root = ui.data_in_use()
st.caption(f"Trains on the data in use (`{root}`) as a background process: it keeps running when you leave this "
           "page or close the browser. Finished runs are listed as checkpoints on every page.")

left, right = st.columns(2)
model = left.selectbox("Model", list_models(), index=list_models().index("han"), key=K.TRAIN_MODEL)
recipe = right.selectbox("Recipe", sorted(RECIPES), index=sorted(RECIPES).index("plain"), key=K.TRAIN_RECIPE)
info = model_info(model)
st.caption(f"{info.summary} — {info.paper}. Paper options: "
           + ", ".join(f"{k}={v}" for k, v in info.defaults.items())
           + f". Demo width changes: {', '.join(f'{k}={v}' for k, v in info.demo.items()) or 'none'}.")
budget = st.radio("Training budget", ("llp_steps", "epochs", "llp_batch"), horizontal=True, key=K.TRAIN_BUDGET,
                  format_func={"llp_steps": "LLP's steps (recommended)", "epochs": "the recipe's epochs as written",
                               "llp_batch": "shrink batches above 16 (the zoo before issue 19)"}.get,
                  help="LLP's steps: the recipe's batch, with its epochs, LR steps and warm-ups scaled so every phase "
                       "has as many optimiser steps as on LLP's 10,000 training videos (no change on LLP itself).")
plan = ui.train_plan(root, model, recipe, budget)
if plan is not None:
    st.caption("The schedule each stage will run on this data (recipe values; epochs, batch or options you set "
               "below are taken as given), beside the same stage on LLP:")
    st.table(plan.set_index("stage"))  # a static table: one or two rows
with st.form("train_form"):
    a, b, c, d, e = st.columns(5)
    width = a.radio("Width", ("demo", "paper"), key=K.TRAIN_WIDTH, help="demo: small and fast on CPU")
    epochs = b.number_input("Epochs", min_value=1, value=None, step=1, key=K.TRAIN_EPOCHS,
                            placeholder=f"recipe ({info.train.get('epochs')})")
    batch = c.number_input("Batch size", min_value=1, value=None, step=1, key=K.TRAIN_BATCH,
                           placeholder=f"recipe ({info.train.get('batch_size')})")
    lr = d.number_input("Learning rate", min_value=0.0, value=None, format="%.6f", key=K.TRAIN_LR,
                        placeholder=f"recipe ({info.train.get('lr')})")
    seed = e.number_input("Seed", min_value=0, value=None, step=1, key=K.TRAIN_SEED,
                          placeholder=f"recipe ({info.train.get('seed', 1)})")
    f, g = st.columns(2)
    model_set = f.text_area("Model options (KEY=VALUE per line)", key=K.TRAIN_MODEL_SET, placeholder="dim=64")
    train_set = g.text_area("Training options (KEY=VALUE per line)", key=K.TRAIN_TRAIN_SET, placeholder="lr_step=5")
    name = st.text_input("Run name (folder under runs/; empty: model-recipe-width-seed-time)", key=K.TRAIN_NAME)
    submitted = st.form_submit_button("Start training", type="primary", key="train_submit")
if submitted:
    try:
        if not ui.load_dataset(root).has_features:
            raise InputError("the data in use has no feature files; choose or generate data on the Data page")
        job = jobs.start(root, model, recipe, width, name.strip() or None, epochs=epochs, batch_size=batch, lr=lr,
                         seed=None if seed is None else int(seed), model_options=jobs.parse_options(model_set),
                         train_options=jobs.parse_options(train_set), budget=budget)
        st.session_state[K.TRAIN_JOB] = job.name
        st.success(f"Started {job.name} (pid {job.record['pid']}).", icon=":material/play_arrow:")
    except InputError as exc:
        ui.show_error(exc)

st.subheader("Jobs")
all_jobs = jobs.list_jobs()
if not all_jobs:
    st.info("No training started from the app yet: fill in the form above and press *Start training*.")
    st.stop()
st.dataframe(pd.DataFrame([j.summary() for j in all_jobs]), key="train_jobs_table", hide_index=True)
names = [j.name for j in all_jobs]
if st.session_state.get(K.TRAIN_JOB) not in names:
    st.session_state[K.TRAIN_JOB] = names[0]
shown = st.selectbox("Job", names, key=K.TRAIN_JOB)
ui.live_jobs([shown], "train_live")
