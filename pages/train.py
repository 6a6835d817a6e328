"""Train: pick a model and recipe, edit the configuration, train in the background with live curves."""

import pandas as pd
import streamlit as st

from avvp_core import jobs, ui
from avvp_core.errors import InputError
from avvp_core.models import list_models, model_info, resolve_config
from avvp_core.names import MODEL_HELP, MODEL_NAMES, RECIPE_HELP, RECIPE_NAMES, TRAIN_OPTION_HELP, method_name
from avvp_core.training.recipes import RECIPES

K = ui.StateKeys
ui.init_state()
st.title("Train")
root = ui.data_in_use()
st.caption(f"Trains on the data in use (`{root}`) as a background process: it keeps running when you leave this "
           "page or close the browser. Finished runs are listed as checkpoints on every page.")

left, right = st.columns(2)
models, recipes = list_models(), sorted(RECIPES)
model = left.selectbox("Model", models, index=models.index("han"), key=K.TRAIN_MODEL,
                       format_func=lambda m: f"{MODEL_NAMES.get(m, m)} ({m})",
                       help="Each model's one-line description is below; all of them under *Models and recipes*.")
recipe = right.selectbox("Recipe", recipes, index=recipes.index("plain"), key=K.TRAIN_RECIPE,
                         format_func=lambda r: f"{RECIPE_NAMES.get(r) or 'paper recipe'} ({r})",
                         help="How the model is trained: on the weak labels, or with a label-refinement / "
                              "modulation method added.")
info = model_info(model)
left.caption(MODEL_HELP.get(model, info.summary))
right.caption(RECIPE_HELP.get(recipe, ""))
with st.expander("Models and recipes"):
    st.markdown("\n".join(f"- **{MODEL_NAMES.get(m, m)}** (`{m}`): {MODEL_HELP.get(m, model_info(m).summary)}"
                          for m in models))
    st.markdown("\n".join(f"- **{RECIPE_NAMES.get(r) or 'paper recipe'}** (`{r}`): {RECIPE_HELP.get(r, '')}"
                          for r in recipes))
# Outside the form, so the defaults shown below follow the chosen width at once.
width = st.radio("Width", ("demo", "paper"), key=K.TRAIN_WIDTH, horizontal=True,
                 help="demo: small and fast on CPU; paper: the configuration the paper trains")
config = resolve_config(model, width)
st.caption(f"{method_name(model, recipe)} at {width} width: "
           + ", ".join(f"{k}={v}" for k, v in config.items()) + f" — {info.paper}.")
fixed = ("epochs", "batch_size", "lr", "seed")
budget = st.radio("Training budget", ("llp_steps", "epochs", "llp_batch"), horizontal=True, key=K.TRAIN_BUDGET,
                  format_func={"llp_steps": "LLP's steps (recommended)", "epochs": "the recipe's epochs as written",
                               "llp_batch": "shrink batches above 16 (the zoo before issue 19)"}.get,
                  help="LLP's steps: the recipe's batch, with its epochs, LR steps and warm-ups scaled so every phase "
                       "has as many optimiser steps as on LLP's 10,000 training videos (no change on LLP itself).")
plan = ui.train_plan(root, model, recipe, budget, width=width)
if plan is not None:
    st.caption("The schedule each stage will run on this data (recipe values; epochs, batch or options you set "
               "below are taken as given), beside the same stage on LLP:")
    st.table(plan.set_index("stage"))  # a static table: one or two rows
with st.form("train_form"):
    b, c, d, e = st.columns(4)
    epochs = b.number_input("Epochs", min_value=1, value=None, step=1, key=K.TRAIN_EPOCHS,
                            placeholder=f"recipe ({info.train.get('epochs')})")
    batch = c.number_input("Batch size", min_value=1, value=None, step=1, key=K.TRAIN_BATCH,
                           placeholder=f"recipe ({info.train.get('batch_size')})")
    lr = d.number_input("Learning rate", min_value=0.0, value=None, format="%.6f", key=K.TRAIN_LR,
                        placeholder="recipe (" + (", ".join(dict.fromkeys(plan["learning rate"]))
                                                  if plan is not None else str(info.train.get("lr"))) + ")")
    seed = e.number_input("Seed", min_value=0, value=None, step=1, key=K.TRAIN_SEED,
                          placeholder=f"recipe ({info.train.get('seed', 1)})")
    f, g = st.columns(2)
    # Placeholders are the real defaults of this model at this width, marked as such (not example values).
    model_set = f.text_area("Model options (KEY=VALUE per line; empty: the defaults)", key=K.TRAIN_MODEL_SET,
                            placeholder=f"defaults at {width} width:\n"
                                        + "\n".join(f"{k}={v}" for k, v in config.items()))
    train_set = g.text_area("Training options (KEY=VALUE per line; empty: the recipe's)", key=K.TRAIN_TRAIN_SET,
                            placeholder="the model's paper recipe:\n"
                                        + "\n".join(f"{k}={v}" for k, v in info.train.items() if k not in fixed))
    with g.expander("Every training option"):
        st.markdown("\n".join(f"- `{k}`: {v}" for k, v in TRAIN_OPTION_HELP.items()))
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
names = [j.name for j in all_jobs]
if st.session_state.get(K.TRAIN_JOB) not in names:
    st.session_state[K.TRAIN_JOB] = names[0]
shown = st.selectbox("Job shown in detail", names, key=K.TRAIN_JOB)
# The table is drawn in the same refresh as the job's panel: both read the job's progress at the same moment.
ui.live_jobs([shown], "train_live", table=lambda: st.dataframe(
    pd.DataFrame([j.summary() for j in jobs.list_jobs()]), key="train_jobs_table", hide_index=True))
