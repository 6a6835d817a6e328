"""Streamlit glue — the only core module that imports streamlit: session keys, cached loaders, the sidebar.

Pages call these and stay thin; every error from user input arrives as an `InputError` and is shown with
`show_error` (an error box, the page still usable), never as a traceback.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Any

import streamlit as st

from .errors import InputError
from .paths import CHECKPOINTS_DIR, DEFAULT_DATA, RUNS_DIR

CHECKPOINT_ROOTS = (CHECKPOINTS_DIR, RUNS_DIR)  # shipped models, then the user's own trainings


class StateKeys:
    DATA_ROOT = "data_root"
    SESSION_STARTED = "session_started"  # set by the session's first run (init_state)
    CHECKPOINT_ROOTS = "checkpoint_roots"  # folders searched for checkpoints (shipped zoo, then the user's runs)
    TIMELINE_SPLIT = "timeline_split"
    TIMELINE_MODELS = "timeline_models"
    TIMELINE_SEARCH = "timeline_search"
    TIMELINE_CLASS = "timeline_class"
    TIMELINE_DISAGREE = "timeline_disagree"
    TIMELINE_VIDEO = "timeline_video"
    TIMELINE_FIGURE_OPEN = "timeline_figure_open"
    TIMELINE_AT = "timeline_at"  # the chosen checkpoint shown a second time at other thresholds, or NO_SECOND_ROW
    TIMELINE_AT_THRESHOLD = "timeline_at_threshold"  # prefix: that row's thresholds, "<prefix>_audio" and so on
    TIMELINE_AT_OPEN = "timeline_at_open"  # the expander holding those choices
    ERRORS_SPLIT = "errors_split"
    ERRORS_MODEL = "errors_model"
    ERRORS_SECOND = "errors_second"
    ERRORS_METRIC = "errors_metric"
    ERRORS_RANK = "errors_rank"
    ERRORS_CLASS = "errors_class"
    ERRORS_TABLE = "errors_table"  # the ranked table's row selection
    ERRORS_CONFUSION = "errors_confusion"  # which modalities the confusion matrix counts
    FEATURES_MODEL = "features_model"
    FEATURES_SPLIT = "features_split"
    FEATURES_KIND = "features_kind"
    FEATURES_METHOD = "features_method"
    FEATURES_POINTS = "features_points"
    FEATURES_COLOUR = "features_colour"
    FEATURES_SECOND = "features_second"  # a second checkpoint beside the first, its points lit by the first's lasso
    FEATURES_COMPUTE = "features_compute"
    FEATURES_CHART = "features_chart"  # the scatter's box / lasso selection
    FEATURES_TABLE = "features_table"  # the selected videos' row selection
    FEATURES_TABLE_OF = "features_table_of"  # which point selection that table (and its row selection) lists
    TIMELINE_START = "timeline_start"  # segment the player starts from
    DATA_SOURCE = "data_source"
    DATA_SYNTH_NAME = "data_synth_name"
    DATA_SYNTH_PRESET = "data_synth_preset"
    DATA_SYNTH_SEED = "data_synth_seed"
    DATA_LLP_PATH = "data_llp_path"
    DATA_LLP_REPORT = "data_llp_report"  # the check report of the folder just put in use, shown by the next run
    COMPARE_MODELS = "compare_models"
    COMPARE_SPLIT = "compare_split"
    COMPARE_BASELINE = "compare_baseline"
    COMPARE_LEVEL = "compare_level"
    COMPARE_PER_CLASS_TAB = "compare_per_class_tab"
    CHECKPOINT_UPLOAD = "checkpoint_upload"  # the uploaded zip (file_uploader value)
    CHECKPOINT_UPLOAD_RESULT = "checkpoint_upload_result"  # ("success" | "error", message) of the last upload
    ATTENTION_CHECKPOINT = "attention_checkpoint"
    ATTENTION_SPLIT = "attention_split"
    ATTENTION_MODE = "attention_mode"  # one video or averaged per class
    ATTENTION_SEARCH = "attention_search"
    ATTENTION_VIDEO = "attention_video"
    ATTENTION_CLASS = "attention_class"
    ATTENTION_MAX_VIDEOS = "attention_max_videos"
    ATTENTION_LAYER = "attention_layer"  # prefix: one layer picker per map, "<prefix>/<map name>"
    ATTENTION_HEAD = "attention_head"  # prefix, as above
    ATTENTION_SLICE = "attention_slice"  # prefix, as above (CM-Co's per-segment class-token maps)
    CROSS_AUDIO_MODEL = "cross_audio_model"
    CROSS_AUDIO_VIDEO = "cross_audio_video"
    TRAIN_MODEL = "train_model"
    TRAIN_RECIPE = "train_recipe"
    TRAIN_WIDTH = "train_width"
    TRAIN_BUDGET = "train_budget"  # recipes.BUDGETS
    TRAIN_NAME = "train_name"
    TRAIN_EPOCHS = "train_epochs"
    TRAIN_BATCH = "train_batch"
    TRAIN_LR = "train_lr"
    TRAIN_SEED = "train_seed"
    TRAIN_MODEL_SET = "train_model_set"  # model options, KEY=VALUE lines (the CLI's --set)
    TRAIN_TRAIN_SET = "train_train_set"  # training options, KEY=VALUE lines (the CLI's --train-set)
    TRAIN_JOB = "train_job"  # the job shown in detail
    IMBALANCE_DGM = "imbalance_dgm"
    IMBALANCE_PLAIN = "imbalance_plain"
    IMBALANCE_STEPS_RUN = "imbalance_steps_run"
    IMBALANCE_SMOOTHING = "imbalance_smoothing"  # EMA span of the per-step omega / mu curves
    IMBALANCE_LEVEL = "imbalance_level"
    IMBALANCE_EPOCHS = "imbalance_epochs"
    IMBALANCE_JOBS = "imbalance_jobs"  # the DGM / no-DGM pair started from the page
    LAB_KNOB = "lab_knob"  # prefix: one slider per knob, "<prefix>_<knob>"
    LAB_MODEL_A = "lab_model_a"
    LAB_MODEL_B = "lab_model_b"
    LAB_EPOCHS = "lab_epochs"
    LAB_SEED = "lab_seed"
    LAB_RUNS = "lab_runs"  # the two job names of the experiment on show
    LAB_DATA = "lab_data"  # its data folder
    LAB_PRESET = "lab_preset"  # the knob preset chosen above the form
    ATTENTION_STRETCH = "attention_stretch"  # colour scales stretched to each map instead of fixed 0-1
    ATTENTION_SOURCE = "attention_source"  # the messenger view's source modality
    THRESHOLDS_MODEL = "thresholds_model"
    THRESHOLDS_SPLIT = "thresholds_split"
    THRESHOLDS_METRIC = "thresholds_metric"  # the figure "Tune on val" maximises
    THRESHOLD = "threshold"  # prefix: one slider per threshold kind, "<prefix>_audio" and so on
    THRESHOLDS_SWEEPS = "thresholds_sweeps"  # draw the sweeps of a large split (they cost 57 scorings a move)
    THRESHOLDS_TUNED = "thresholds_tuned"  # what the last "Tune on val" found (checkpoint, metric, thresholds, value)
    URL_WRITTEN = "url_written"  # page -> the query parameters this session last wrote (so a new URL is noticed)
    URL_RECENT = "url_recent"  # page -> the views this session wrote before the last (STALE_URLS of them)


KEPT = "kept/"  # prefix of the copies of widget values that outlive their widgets (page switches)


def init_state() -> None:
    """Idempotent: every page calls it first, so each page also runs standalone (AppTest)."""
    _leave_pages_folder_mode()
    st.session_state.setdefault(StateKeys.DATA_ROOT, str(DEFAULT_DATA))
    st.session_state.setdefault(StateKeys.CHECKPOINT_ROOTS, [str(p) for p in CHECKPOINT_ROOTS])
    st.session_state[StateKeys.SESSION_STARTED] = True


def _leave_pages_folder_mode() -> None:
    """Run this visit through app.py's `st.navigation`, even when it is a fresh server's first and opens a page's URL.

    Streamlit treats an app beside a `pages/` folder as an old-style multipage app until `st.navigation` first runs
    in the process (`PagesManager.uses_pages_directory`, a process-wide flag). Until then a visit to a page's URL
    (a bookmark, a reload) runs that page alone: no app.py, no shared sidebar, the folder's file names as the
    navigation, and it stays so for every session until someone opens "/". Our `pages/` folder holds st.navigation's
    pages only, so a page run that finds the flag set clears it and, on its session's first run, reruns: the rerun
    goes through app.py. Only the first run, because a rerun drops the run's button clicks, and a first run has
    none; a later run with the flag set exists only under AppTest, which starts every run as a fresh server.
    app.py calls init_state after st.navigation, which clears the flag itself. The flag is Streamlit's internal
    API: where it is missing this does nothing."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", None):
        PagesManager.uses_pages_directory = False
        if StateKeys.SESSION_STARTED not in st.session_state:
            st.rerun()


def remember(key: str, default: Any = None, options: list | None = None) -> Any:
    """Give the widget `key` its value before the page creates it, so a choice survives page switches.

    Streamlit drops a widget's state on every run where its page is not shown; the kept copy (written by `kept`)
    does not. The value is the live widget state, else the kept copy, else `default`; with `options`, values no
    longer offered are dropped (a scalar falls back to `default`, or the first option). The widget must then be
    created without its own default / index / value (Streamlit warns when both are given)."""
    state = st.session_state
    live = key in state
    value = state[key] if live else state.get(KEPT + key, default)
    if options is not None:
        if isinstance(value, list | tuple):
            value = [v for v in value if v in options]
        elif value not in options:
            value = default if default in options else (options[0] if options else None)
    # Only a missing or no longer valid value is written: a value set through session state is pushed to the browser
    # as the widget's value when the run ends, and the live value is the browser's own already (a reverted click that
    # looked like this was a stale URL read as a link: url_changes)
    if not live or state[key] != value:
        state[key] = value
    return value


def kept(widget, label: str, options: list | None = None, *, key: str, default: Any = None, in_form: bool = False,
         **kwargs) -> Any:
    """Create a widget (a bound `st.*` / column method) whose value outlives its page: `remember`, then the widget,
    then the kept copy of what it returned.

    The copy is also written by the widget's on_change callback (before the caller's own, if any): a change
    followed at once by a page switch is applied by a rerun that Streamlit may interrupt before the page reaches
    the widget again, and the next page's run then drops the widget's state; callbacks run before the page, so the
    choice is kept (measured: Compare's model list, changed and left within a second on a loaded machine). Widgets
    in a form (`in_form`) take no callback: their values change only with the submit, whose run reaches them."""
    remember(key, default, None if options is None else list(options))
    if not in_form:
        own = kwargs.pop("on_change", None)
        args, kw = kwargs.pop("args", ()), kwargs.pop("kwargs", None) or {}

        def keep_copy() -> None:
            st.session_state[KEPT + key] = st.session_state.get(key)
            if own is not None:
                own(*args, **kw)

        kwargs["on_change"] = keep_copy
    value = widget(label, key=key, **kwargs) if options is None else widget(label, options, key=key, **kwargs)
    st.session_state[KEPT + key] = value
    return value


IN_APP_LINK = "from"  # the query parameter an st.page_link within the app adds (its value: the page it is on)


def url_changes(page: str, params: tuple[str, ...]) -> dict[str, str]:
    """The view's query parameters that differ from what this session last wrote for `page` — a reload, a shared
    link or another page's link (Home's `?video=`) — each as its last value. Empty when nothing new came in."""
    query = st.query_params
    if IN_APP_LINK in query:  # an in-app link (Home's): all it carries is meant for this page, even a value another
        del query[IN_APP_LINK]  # page happens to have left in this session (dropped below); read once, then removed
        return {p: query[p] for p in params if p in query}
    everywhere = st.session_state.get(StateKeys.URL_WRITTEN, {})
    written = everywhere.get(page, {})
    # a value another page wrote under the same name is that page's view left in the URL, not a link to this one
    foreign = {(k, v) for p, other in everywhere.items() if p != page for k, v in other.items()}
    # and a value this page wrote a moment ago is its own echo: the browser may send a rerun (a click right after a
    # change) with the query string from before the last write reached it; read as a link, it undid the change
    # (measured: Features' PCA, then Compute at once, came back as t-SNE in about one try in five)
    echoes = {(k, v) for view in st.session_state.get(StateKeys.URL_RECENT, {}).get(page, []) for k, v in view.items()}
    return {p: query[p] for p in params if p in query and query[p] != written.get(p)
            and (p, query[p]) not in foreign | echoes}


def write_url(page: str, values: dict[str, str | None]) -> None:
    """Put the view's state in the URL (shareable, survives a reload); parameters with no value are removed."""
    query = st.query_params
    clean = {k: str(v) for k, v in values.items() if v not in (None, "")}
    for k in values:
        if k not in clean and k in query:
            del query[k]
    for k, v in clean.items():
        if query.get(k) != v:
            query[k] = v
    last = st.session_state.setdefault(StateKeys.URL_WRITTEN, {}).get(page)
    if last is not None and last != clean:
        recent = st.session_state.setdefault(StateKeys.URL_RECENT, {}).setdefault(page, [])
        recent[:] = [*recent, last][-STALE_URLS:]
    st.session_state[StateKeys.URL_WRITTEN][page] = clean


# How many of a page's earlier views count as echoes (url_changes): a stale query string is one or two writes behind.
# The cost: the browser's Back / Forward within one session does not bring an earlier view back (a reload or a shared
# link, a new session, always does).
STALE_URLS = 3


LINK_MODELS, LINK_MODEL = "checkpoints", "checkpoint"  # `accept_link` options: a comma-separated list, one name
NO_SECOND = "none"  # a "Compare with" choice that is not a checkpoint (Errors, Features)
LINK_MODEL_OR_NONE = "checkpoint or none"  # an `accept_link` option: one name, or NO_SECOND
# An `accept_link` option for a parameter whose choices the page knows only further down (a model's embeddings, the
# configurations of a table): left out now, neither applied nor named; the page checks it there with its choices.
LINK_LATER = "later"


def accept_link(incoming: dict[str, str], cards: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """What a page can apply of its link's parameters (`url_changes`), with one warning naming what it cannot.

    `options[param]` is the values the page offers for it; LINK_MODELS, a comma-separated checkpoint list (a list
    value; names.names_in_link: listed names or folder names); LINK_MODEL, one checkpoint; a function, the parsed
    value (its ValueError says what is wrong). A parameter without options passes unchecked. A link written by hand
    or by a script must not silently show something else: a value that places nothing is left out (the page keeps its
    current choice) and named in the warning."""
    from .names import names_in_link

    accepted, notes = {}, []
    for param, value in incoming.items():
        offered = options.get(param)
        if offered == LINK_LATER:
            continue
        if offered is None or (offered == LINK_MODEL_OR_NONE and value == NO_SECOND):
            accepted[param] = value
        elif offered in (LINK_MODELS, LINK_MODEL, LINK_MODEL_OR_NONE):
            found, problems = names_in_link(value, cards)
            if offered != LINK_MODELS and len(found) > 1:
                problems.append(f"{param}={value!r} names {len(found)} checkpoints where one is shown")
            elif found or not value.strip():
                accepted[param] = found if offered == LINK_MODELS else found[0] if found else None
            notes += problems
        elif callable(offered):
            try:
                accepted[param] = offered(value)
            except ValueError as exc:
                notes.append(f"{param}: {exc}")
        elif value in offered:
            accepted[param] = value
        else:
            notes.append(f"{param}={value!r} is not one of the choices here")
    accepted = {k: v for k, v in accepted.items() if v is not None}
    if notes:
        st.warning("From the link: " + "; ".join(notes) + ". Those keep their current choice.",
                   icon=":material/link_off:")
    return accepted


def apply_link(accepted: dict[str, Any], keys: dict[str, str]) -> None:
    """Puts what `accept_link` accepted into the widgets' session keys ({param: key}), before the widgets are drawn;
    a parameter without a key here is the page's own to apply (a video, thresholds)."""
    for param, key in keys.items():
        if param in accepted:
            st.session_state[key] = accepted[param]


def link_part(incoming: dict[str, str], *params: str) -> dict[str, str]:
    """The LINK_LATER parameters of a link, for their own `accept_link` once the page knows their choices."""
    return {param: incoming[param] for param in params if param in incoming}


def whole_number_link(low: int, high: int):
    """An `accept_link` option: a whole number from low to high (a number input's range), its ValueError saying what
    is wrong."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"{number} is outside {low:,}-{high:,}")
        return number

    return parse


def video_from_link(dataset, value: str, split_key: str, video_key: str, linked_split: str | None = None) -> bool:
    """Point a page's split and video widgets (`split_key`, `video_key`) at the video a link names (its filename or
    YouTube id; analysis.timeline.find_video), preferring the split the link names (`linked_split`), else the one the
    page shows; a warning when none matches, or when the video is in another split than the link names. Whether one
    did."""
    from .analysis.timeline import find_video

    found = find_video(dataset, value, linked_split or st.session_state.get(split_key))
    if found is None:
        st.warning(f"No test or val video matches {value!r} from the link.", icon=":material/link_off:")
        return False
    if linked_split is not None and found[0] != linked_split:
        st.warning(f"From the link: {value!r} is a {found[0]} video, not a {linked_split} one: shown from {found[0]}.",
                   icon=":material/link_off:")
    st.session_state[split_key], st.session_state[video_key] = found
    return True


def show_error(exc: Exception) -> None:
    st.error(str(exc), icon=":material/error:")


@st.cache_resource(show_spinner=False)
def load_dataset(root: str):
    from .data.dataset import LLPDataset

    return LLPDataset(root)


@st.cache_data(show_spinner=False)
def dataset_summary(root: str) -> dict[str, Any]:
    """Split sizes, label figures and what was ignored while reading (JSON-able, cached per folder)."""
    from .data.stats import dataset_statistics

    ds = load_dataset(root)
    stats = dataset_statistics(ds)
    return {"stats": stats, "reports": [r.summary() for r in ds.reports], "synth": ds.synth_meta}


@st.cache_data(show_spinner="Fingerprinting the data…")
def data_fingerprint(root: str) -> str:
    return load_dataset(root).fingerprint()


@st.cache_data(show_spinner=False, max_entries=16)
def _scanned(base: str, stamp: tuple) -> tuple[list[Any], list[str]]:
    """(cards, problems) of a checkpoint root, read once per `checkpoints.scan_stamp` (every page lists checkpoints
    on every rerun: reading each card's JSON again each time cost more than the rest of a widget change)."""
    from .checkpoints import checkpoint_problems, list_checkpoints

    return list_checkpoints(base), checkpoint_problems(base)


def scanned(base: Path) -> tuple[list[Any], list[str]]:
    from .checkpoints import scan_stamp

    return _scanned(str(base), scan_stamp(base))


def _kept_epoch(selection: str) -> str:
    return selection if selection == "last" else f"best {selection}"


def train_plan(root: str, model: str, recipe: str, budget: str, train_options: dict[str, Any] | None = None,
               width: str = "paper"):
    """The schedule a training of `model` with `recipe` on the data in use would run, one row per stage, beside the
    same stage on LLP (recipes.budget_plan) as a DataFrame; None when the data has no train split to count."""
    import pandas as pd

    from .training.recipes import budget_plan

    try:
        n_train = len(load_dataset(root).split("train"))
    except InputError:
        return None
    rows = []
    for r in budget_plan(model, recipe, n_train, train_options, budget, width):
        llp = r["llp"]
        steps = ", ".join(f"{x:,}" for x in r["lr_drop_steps"]) or "none"
        llp_steps = ", ".join(f"{x:,}" for x in llp["lr_drop_steps"]) or "none"
        warm = "; ".join(f"{k} until step {v:,} (LLP {llp['warmup_steps'].get(k, 0):,})"
                         for k, v in r["warmup_steps"].items())
        rows.append({"stage": r["stage"], "epochs": r["epochs"], "batch": r["batch_size"],
                     "steps / epoch": r["steps_per_epoch"], "total steps": r["total_steps"],
                     "LR drops after step": steps, "warm-up": warm or "–", "keeps epoch": _kept_epoch(r["selection"]),
                     "learning rate": f"{r['lr']:.3g}" + ("" if r["lr"] == llp["lr"] else f" (paper {llp['lr']:.3g})"),
                     "on LLP: epochs": llp["epochs"], "on LLP: total steps": llp["total_steps"],
                     "on LLP: LR drops after step": llp_steps, "on LLP: keeps epoch": _kept_epoch(llp["selection"])})
    return pd.DataFrame(rows)


def checkpoints_for(root: str) -> dict[str, Any]:
    """Checkpoints (JSON cards only) trained on the data in use, by display name (names.checkpoint_names: the
    method as its paper writes it, "HAN + MA"; a user's run adds its folder, "HAN · my-run")."""
    from .names import checkpoint_names

    fingerprint = data_fingerprint(root)
    found = []
    for base in map(Path, st.session_state[StateKeys.CHECKPOINT_ROOTS]):
        for card in scanned(base)[0]:
            if (card.config.get("data") or {}).get("fingerprint") == fingerprint and card.metrics.get("complete"):
                found.append((base, card))
    return checkpoint_names(found)


def leaderboard(cards: dict[str, Any]):
    """The ten test figures of each checkpoint (from metrics.json, no weights loaded), best segment-level Type@AV first:
    the checkpoint's display name, the figures (METRIC_KEYS columns; for a zoo entry trained with several seeds their
    mean, `analysis.compare.over_seeds`), the seeds cell, then how it was trained ("seed": the inspected model's)."""
    import pandas as pd

    from .analysis.compare import over_seeds
    from .constants import METRIC_KEYS

    rows = []
    for name, card in cards.items():
        cfg = card.config
        test, seeds = over_seeds(card.metrics, cfg.get("seed"), "test")  # a zoo entry's mean over its seeds
        rows.append({"checkpoint": name, **{k: test.get(k) for k in METRIC_KEYS}, SEEDS_COLUMN: seeds,
                     "model": card.model, "recipe": cfg.get("recipe"), "width": cfg.get("width"),
                     "seed": cfg.get("seed"), "gating": card.gating})
    frame = pd.DataFrame(rows)
    return frame.sort_values("segment/type", ascending=False, ignore_index=True) if rows else frame


def figure_table(frame, lead: list[str], tail: list[str] = (), prefix: str = "", fmt: str | None = "%.1f",
                 help_: dict[str, str] | None = None):
    """A table of the ten figures for st.dataframe, compact enough for a laptop: the figures under two group headers
    ("segment-level", "event-level") with short names as the field writes them (A, V, AV, Type@AV, Event@AV) and the
    glossary on hover. `frame` has METRIC_KEYS columns (named `prefix` + key); `lead` / `tail` columns go before /
    after. Returns (the table with two header rows, its column_config by position). Show with hide_index=True:
    Streamlit then counts positions from 1 for the first column (0 is the hidden index), as measured in chromium."""
    import pandas as pd

    from .constants import METRIC_KEYS
    from .names import FIGURE_SHORT, LEVELS, metric_help

    columns, data, config = [], {}, {}
    for name in lead:
        columns.append(("", name))
        data[("", name)] = frame[name].to_numpy()
    for key in METRIC_KEYS:
        level, figure = key.split("/")
        head = (f"{prefix}{LEVELS[level]}", FIGURE_SHORT[figure])
        columns.append(head)
        data[head] = frame[f"{prefix}{key}"].to_numpy()
        help_text = metric_help(key) + (" Δ: this row minus the baseline, in points." if prefix.startswith("Δ") else "")
        config[len(columns)] = (st.column_config.NumberColumn(help=help_text, format=fmt) if fmt
                                    else st.column_config.TextColumn(help=help_text))
    for name in tail:
        columns.append(("", name))
        data[("", name)] = frame[name].to_numpy()
    for i, (_, name) in enumerate(columns):
        if help_ and name in help_:
            config[i + 1] = st.column_config.Column(help=help_[name])
    table = pd.DataFrame(data, columns=pd.MultiIndex.from_tuples(columns))
    return table, config


SEEDS_COLUMN = "over seeds"  # the leaderboard's seeds cell: "seg / ev Type@AV mean ± std (n seeds)" or "1 seed"
SEEDS_NOTE = ("A zoo entry trained with several seeds shows the mean over its seeds (figures) and, under "
              f"\"{SEEDS_COLUMN}\", segment / event Type@AV as mean ± sample standard deviation (n seeds); the "
              "model the pages inspect is its seed 1, the only weights shipped (its own figures are on its card). "
              "A checkpoint of one run says \"1 seed\".")
LEADERBOARD_HELP = {
    "model": "The method as its paper names it; a run of yours adds its folder under runs/.",
    SEEDS_COLUMN: "Segment / event Type@AV over the seeds the card carries: mean ± sample standard deviation "
                  "(n seeds); \"1 seed\" for a single run",
    "seed": "seed of the model the pages inspect (the weights in its folder)",
    "model id": "registered model id (python -m avvp_core models)",
    "gating": "video-level gating its paper evaluates with: fused (one video probability) or modality (one per "
              "modality)",
}


def leaderboard_table(frame):
    """`leaderboard` for display: checkpoint, the ten figures (grouped, short headers, help), then how it was trained.
    Returns (table, column_config)."""
    if frame.empty:
        return frame, {}
    shown = frame.rename(columns={"checkpoint": "model", "model": "model id"})
    tail = [c for c in (SEEDS_COLUMN, "model id", "recipe", "width", "seed", "gating") if c in shown]
    return figure_table(shown, ["model"], tail, help_=LEADERBOARD_HELP)


def figure_columns(keys: tuple[str, ...] | None = None, prefix: str = "", fmt: str | None = "%.1f",
                   width: str = "small") -> dict[str, Any]:
    """column_config for the ten figures: short headers as the field writes them ("Seg Type@AV"), the glossary on
    hover. `prefix` names columns like "Δ segment/type"; `fmt` None for text cells ("54.3 ± 0.6")."""
    from .constants import METRIC_KEYS
    from .names import metric_help, metric_short

    out = {}
    for key in keys or METRIC_KEYS:
        label, help_ = f"{prefix}{metric_short(key)}", metric_help(key)
        out[f"{prefix}{key}"] = (st.column_config.NumberColumn(label, help=help_, format=fmt, width=width) if fmt
                                 else st.column_config.TextColumn(label, help=help_, width=width))
    return out


def glossary() -> None:
    """The metric glossary, one click away (a popover)."""
    from .names import glossary_markdown

    with st.popover("Glossary of the figures", icon=":material/help:"):
        st.markdown(glossary_markdown())


def train_hint(root: str) -> str:
    return f"`python -m avvp_core train --data {root} --model han --width demo --out runs/han` trains one in minutes."


def require_checkpoints(root: str) -> dict[str, Any]:
    """The checkpoints for the data in use; without any, say what to do and stop the page (never a traceback)."""
    try:
        cards = checkpoints_for(root)
    except InputError as exc:
        show_error(exc)
        st.stop()
    for level, note in checkpoint_notes(root):
        (st.warning if level == "warning" else st.caption)(note)
    if not cards:
        st.info(f"No trained model for this data yet. {train_hint(root)}")
        st.stop()
    return cards


def checkpoint_notes(root: str) -> list[tuple[str, str]]:
    """Why checkpoint folders are not offered: unreadable ("warning", one per folder), or trained on other data
    ("caption", one line with the count). JSON only, no weights read."""
    fingerprint = data_fingerprint(root)
    notes, other = [], []
    for base in map(Path, st.session_state[StateKeys.CHECKPOINT_ROOTS]):
        cards, problems = scanned(base)
        notes += [("warning", f"Skipped a checkpoint folder: {problem}") for problem in problems]
        other += [c for c in cards if (c.config.get("data") or {}).get("fingerprint") != fingerprint]
    if other:
        notes.append(("caption", f"{len(other)} checkpoint(s) trained on other data are not shown (e.g. "
                                 f"{other[0].path}); choose that data on the Data page to use them."))
    return notes


def _install_uploaded_checkpoint() -> None:
    """on_change of the checkpoint uploader: validate and unpack once per upload, keep the outcome for display."""
    from .uploads import install_checkpoint_zip

    upload = st.session_state.get(StateKeys.CHECKPOINT_UPLOAD)
    if upload is None:
        return
    try:
        folder = install_checkpoint_zip(upload.name, upload.getvalue(), RUNS_DIR / "uploads")
    except InputError as exc:
        st.session_state[StateKeys.CHECKPOINT_UPLOAD_RESULT] = ("error", str(exc))
        return
    from .checkpoints import read_card

    card = read_card(folder)
    where = f"{upload.name}: checkpoint ({card.model}) added as {folder}."
    try:
        other_data = (card.config.get("data") or {}).get("fingerprint") != data_fingerprint(
            st.session_state[StateKeys.DATA_ROOT])
    except InputError:  # the data in use is unreadable; the page says so itself
        other_data = False
    if other_data:
        where += " It was trained on other data: it is listed when that data is in use."
    st.session_state[StateKeys.CHECKPOINT_UPLOAD_RESULT] = ("success", where)


def checkpoint_upload() -> None:
    """An uploader for a zipped checkpoint folder (validated by `uploads.install_checkpoint_zip`, into runs/)."""
    from .uploads import MAX_CHECKPOINT_BYTES, MB

    result = st.session_state.pop(StateKeys.CHECKPOINT_UPLOAD_RESULT, None)
    with st.expander("Add a checkpoint (a .zip of a checkpoint folder)", expanded=result is not None):
        st.file_uploader("Checkpoint zip: config.json and model.pt (metrics.json, log.jsonl optional)", type="zip",
                         key=StateKeys.CHECKPOINT_UPLOAD, max_upload_size=max(1, MAX_CHECKPOINT_BYTES // MB),
                         on_change=_install_uploaded_checkpoint)
        if result and result[0] == "success":
            st.success(result[1], icon=":material/check_circle:")
        elif result:
            show_error(InputError(result[1]))


def weights_stamp(checkpoint: str) -> int:
    """Part of every cache key of a checkpoint's results: a retraining into the same folder invalidates them."""
    from .checkpoints import WEIGHTS

    try:
        return (Path(checkpoint) / WEIGHTS).stat().st_mtime_ns
    except OSError:
        return 0


def predictions(checkpoint: str, root: str, split: str):
    """All probabilities of a checkpoint on a split (numpy; cached per checkpoint weights, data and split, in memory
    and on disk). The first call also starts the background warm-up of every checkpoint of the data (once per server
    and checkpoint versions), so that the split a page switches to next is a read, not twelve forward passes."""
    warm_predictions(root)
    return _predictions(checkpoint, root, split, weights_stamp(checkpoint))


def warm_predictions(root: str) -> None:
    from . import predcache

    if os.environ.get("AVVP_PREDICTION_WARMUP", "1") == "0":  # the tests' switch: no background processes
        return
    paths = sorted(str(c.path) for c in checkpoints_for(root).values())
    predcache.start_warm(root, paths, stamp=tuple(weights_stamp(p) for p in paths))


def _frozen(arrays) -> None:
    """Read-only numpy arrays: the results below are shared by every rerun and session, never copied."""
    for a in arrays:
        if a is not None:
            a.flags.writeable = False


# Predictions and score reports are cache_resource, not cache_data: cache_data unpickles a copy on every hit, i.e. on
# every rerun of every page that shows them (6 score reports on Compare: tens of MB on LLP, GBs at 100k videos).
# They are only read; their arrays are made read-only so a page that tried to change one would fail loudly.
@st.cache_resource(show_spinner="Running the model over the split…", max_entries=32)
def _predictions(checkpoint: str, root: str, split: str, stamp: int):
    from . import predcache

    # from the disk cache when a session or the warm-up computed this split before
    preds = predcache.predictions(checkpoint, load_dataset(root).split(split), data_fingerprint(root))
    _frozen([preds.audio, preds.visual, preds.video, preds.video_audio, preds.video_visual])
    return preds


def score_report(checkpoint: str, root: str, split: str, gating: str):
    """The full ScoreReport of a checkpoint on a split: per-video, per-class figures and counts."""
    return _score_report(checkpoint, root, split, gating, weights_stamp(checkpoint))


@st.cache_resource(show_spinner=False, max_entries=32)
def _score_report(checkpoint: str, root: str, split: str, gating: str, stamp: int):
    from .metrics import score

    sp = load_dataset(root).split(split)
    pred_a, pred_v = predictions(checkpoint, root, split).decisions(gating)
    report = score(pred_a, pred_v, sp.gt_audio, sp.gt_visual)
    _frozen([*report.per_video.values(), *report.per_class.values(), *report.counts.values()])
    return report


def per_video_at(checkpoint: str, root: str, split: str, gating: str, thresholds, metric: str = "segment/type"):
    """(N,) per-video `metric` of a checkpoint on a split with decisions at `thresholds` (analysis.thresholds.
    Thresholds); at the protocol's, the score report's own."""
    if thresholds.is_protocol():
        return score_report(checkpoint, root, split, gating).per_video[metric]
    return _scored_at(checkpoint, root, split, gating, thresholds, metric, weights_stamp(checkpoint))[1]


def threshold_figures(checkpoint: str, root: str, split: str, gating: str, thresholds) -> dict[str, float]:
    """The ten figures of a checkpoint on a split with decisions at `thresholds` (analysis.thresholds.Thresholds)."""
    if thresholds.is_protocol():
        return dict(score_report(checkpoint, root, split, gating).summary)
    return dict(_scored_at(checkpoint, root, split, gating, thresholds, "segment/type", weights_stamp(checkpoint))[0])


# The Thresholds page reads both the ten figures and the per-video segment Type@AV at every slider move: one scoring
# gives both. Only the summary and one (N,) array are kept per set of thresholds: a full score report is about 70 MB
# at 100,000 videos, and a slider makes a new set at every move.
@st.cache_resource(show_spinner=False, max_entries=64)
def _scored_at(checkpoint: str, root: str, split: str, gating: str, thresholds, metric: str, stamp: int):
    from .metrics import score

    sp = load_dataset(root).split(split)
    pred_a, pred_v = predictions(checkpoint, root, split).decisions(gating, **thresholds.gate_kwargs())
    report = score(pred_a, pred_v, sp.gt_audio, sp.gt_visual)
    figure = report.per_video[metric]
    _frozen([figure])
    return MappingProxyType(dict(report.summary)), figure


def threshold_sweeps(checkpoint: str, root: str, split: str, gating: str, held) -> dict[str, Any]:
    """Each threshold that matters under `gating` swept over the grid, the others held (analysis.thresholds.sweep)."""
    return _threshold_sweeps(checkpoint, root, split, gating, held, weights_stamp(checkpoint))


@st.cache_data(show_spinner="Sweeping the thresholds…", max_entries=64)
def _threshold_sweeps(checkpoint: str, root: str, split: str, gating: str, held, stamp: int):
    from .analysis.thresholds import kinds_that_matter, sweep

    sp = load_dataset(root).split(split)
    preds = predictions(checkpoint, root, split)
    return {kind: sweep(preds, sp.gt_audio, sp.gt_visual, gating, held, kind) for kind in kinds_that_matter(gating)}


@st.cache_data(show_spinner="Tuning the thresholds…", max_entries=64)
def _tuned_thresholds(checkpoint: str, root: str, split: str, gating: str, metric: str, stamp: int):
    from .analysis.thresholds import tune

    sp = load_dataset(root).split(split)
    return tune(predictions(checkpoint, root, split), sp.gt_audio, sp.gt_visual, gating, metric)


def tuned_thresholds(checkpoint: str, root: str, split: str, gating: str, metric: str):
    """(Thresholds, the metric there) maximising `metric` on `split` (analysis.thresholds.tune)."""
    return _tuned_thresholds(checkpoint, root, split, gating, metric, weights_stamp(checkpoint))


NO_SECOND_ROW = "none"  # Timelines: no model shown a second time at other thresholds


def set_thresholds(prefix: str, thresholds) -> None:
    """Set the three threshold sliders "<prefix>_audio", "_visual", "_video" (analysis.thresholds.Thresholds), and
    their kept copies, so the values outlive the page (the Thresholds page's and Timelines' second row's)."""
    from dataclasses import asdict

    for kind, value in asdict(thresholds).items():
        key = f"{prefix}_{kind}"
        st.session_state[key] = st.session_state[KEPT + key] = value


THRESHOLD_LABELS = {"audio": "Audio threshold", "visual": "Visual threshold", "video": "Video-level gate threshold"}


def threshold_sliders(prefix: str, gating: str | None, help_of: dict[str, str] | None = None):
    """Three sliders in a row, "<prefix>_audio", "_visual", "_video", over analysis.thresholds.GRID, kept across
    pages: the Thresholds (analysis.thresholds.Thresholds) they choose. `gating`: the model's (None: no model, all
    disabled); a threshold that decides nothing under it is disabled and read as the protocol's 0.5 whatever its
    slider says, so a figure or a name never depends on a value that does not act."""
    from .analysis.thresholds import GRID, PROTOCOL, THRESHOLD_KINDS, Thresholds, kinds_that_matter

    matter = kinds_that_matter(gating) if gating is not None else ()
    values = {kind: kept(column.select_slider, THRESHOLD_LABELS[kind], GRID, key=f"{prefix}_{kind}", default=0.5,
                         format_func=lambda v: f"{v:.2f}", disabled=kind not in matter,
                         help=(help_of or {}).get(kind))
              for kind, column in zip(THRESHOLD_KINDS, st.columns(3), strict=True)}
    return Thresholds(**{kind: value if kind in matter else getattr(PROTOCOL, kind) for kind, value in values.items()})


def open_in_timelines(split: str, row: int, models: list[str], label: str, *, key: str, at=None) -> None:
    """A button that points the Timelines page at one video (split, models, row; its filters cleared) and goes there.
    `at`: (a model of `models`, Thresholds) shown a second time at those thresholds; without it, no second row.

    The view is set when the button is clicked, not when it is drawn: a page that merely shows the button (Attention
    always does) must not change what Timelines shows."""
    from .paths import REPO_ROOT

    def point_there() -> None:
        state = st.session_state
        for k, value in ((StateKeys.TIMELINE_SPLIT, split), (StateKeys.TIMELINE_MODELS, list(models)),
                         (StateKeys.TIMELINE_VIDEO, int(row)), (StateKeys.TIMELINE_SEARCH, ""),
                         (StateKeys.TIMELINE_CLASS, "any"), (StateKeys.TIMELINE_DISAGREE, False),
                         (StateKeys.TIMELINE_AT, at[0] if at else NO_SECOND_ROW)):
            state[k] = state[KEPT + k] = value
        if at:
            set_thresholds(StateKeys.TIMELINE_AT_THRESHOLD, at[1])

    if st.button(label, key=key, on_click=point_there, icon=":material/view_timeline:", type="tertiary"):
        # A Page object (not a path string) also works when a page runs standalone (AppTest); url_path "timelines".
        st.switch_page(st.Page(REPO_ROOT / "pages" / "timelines.py", title="Timelines"))


def feature_kinds(checkpoint: str) -> list[str]:
    """What a checkpoint can embed on the Features page (segment features; class tokens for MGN / CM-Co)."""
    return _feature_kinds(checkpoint, weights_stamp(checkpoint))


@st.cache_data(show_spinner="Loading the model…", max_entries=64)
def _feature_kinds(checkpoint: str, stamp: int) -> list[str]:
    from .analysis.features import available_kinds
    from .checkpoints import load_checkpoint

    return available_kinds(load_checkpoint(checkpoint)[0])


def feature_embedding(checkpoint: str, root: str, split: str, kind: str, method: str, max_points: int,
                      compute: bool = False):
    """The labelled embedding (analysis.features) from the disk cache; None when not cached and not `compute`;
    with `compute`, extracted and projected with a progress bar, then cached."""
    from .analysis.features import cache_path, embedding

    sp = load_dataset(root).split(split)
    args = (checkpoint, sp, kind, method, int(max_points))
    fingerprint = data_fingerprint(root)
    if cache_path(*args, data_fingerprint=fingerprint).is_file():
        return embedding(*args, data_fingerprint=fingerprint)
    if not compute:
        return None
    with st.status(f"{method} of {kind} ({split}, at most {max_points} points)…", expanded=True) as status:
        bar = st.progress(0.0, text="loading the model")
        frame = embedding(*args, data_fingerprint=fingerprint,
                          progress=lambda frac, msg: bar.progress(min(max(frac, 0.0), 1.0), text=msg))
        status.update(label=f"{method} of {len(frame)} points ready (cached on disk)", state="complete",
                      expanded=False)
    return frame


def attention_maps(checkpoint: str, root: str, split: str, rows: tuple[int, ...]):
    """A checkpoint's attention maps (analysis.attention.AttentionMap list) averaged over some videos of a split."""
    return _attention_maps(checkpoint, root, split, rows, weights_stamp(checkpoint))


_THREADS = threading.Lock()


@contextlib.contextmanager
def _one_thread():
    """One torch thread for a forward pass over a few videos (Attention's captures, the messenger and cross-audio
    views): on tensors this small a second intra-op thread only adds synchronisation, and when the cores are busy
    every op waits for it to be scheduled (measured on 2 loaded cores: capturing one video's maps 0.73 s with two
    threads, 0.01 s with one). Restored afterwards; the lock keeps overlapping sessions from restoring out of order."""
    import torch

    with _THREADS:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


@st.cache_data(show_spinner="Capturing attention maps…", max_entries=64)
def _attention_maps(checkpoint: str, root: str, split: str, rows: tuple[int, ...], stamp: int):
    from .analysis.attention import capture_maps
    from .checkpoints import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    with _one_thread():
        return capture_maps(model, load_dataset(root).split(split), list(rows))


def messenger_view(checkpoint: str, root: str, split: str, row: int, other_row: int, source: str):
    """analysis.messengers.MessengerView of one video's `source` messengers (cached per weights)."""
    return _messenger_view(checkpoint, root, split, row, other_row, source, weights_stamp(checkpoint))


@st.cache_data(show_spinner="Reading the messengers…", max_entries=64)
def _messenger_view(checkpoint: str, root: str, split: str, row: int, other_row: int, source: str, stamp: int):
    from .analysis.messengers import messenger_view as view
    from .checkpoints import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    with _one_thread():
        return view(model, load_dataset(root).split(split), row, other_row, source)


MEAN_PICK = "mean"  # the pickers' first option: a None option would show as an empty "Choose an option" selectbox


def attention_pickers(map_name: str, layers: list) -> tuple[Any, int | None, int | None]:
    """Layer / head / segment pickers for one map (only those it needs, side by side): (the layer's map, head or
    None = mean of heads, slice or None = mean of slices)."""
    m = layers[0]
    if len(layers) == 1 and m.heads == 1 and not m.slice_title:
        return m, None, None
    pick = st.columns(3)
    if len(layers) > 1:
        m = layers[kept(pick[0].selectbox, "Layer", range(len(layers)), key=f"{StateKeys.ATTENTION_LAYER}/{map_name}",
                        format_func=lambda i: f"layer {layers[i].layer}")]
    head = slice_ = MEAN_PICK
    if m.heads > 1:
        head = kept(pick[1].selectbox, "Head", [MEAN_PICK, *range(m.heads)],
                    key=f"{StateKeys.ATTENTION_HEAD}/{map_name}", default=MEAN_PICK,
                    format_func=lambda h: "mean of heads" if h == MEAN_PICK else f"head {h}")
    if m.slice_title:
        unit = m.slice_title
        slice_ = kept(pick[2].selectbox, unit.capitalize(), [MEAN_PICK, *range(m.weights.shape[0])],
                      key=f"{StateKeys.ATTENTION_SLICE}/{map_name}", default=MEAN_PICK,
                      format_func=lambda s: f"mean of {unit}s" if s == MEAN_PICK else f"{unit} {s}")
    return m, None if head == MEAN_PICK else head, None if slice_ == MEAN_PICK else slice_


def cross_audio(checkpoint: str, root: str, split: str, row: int, audio_row: int):
    """Visual predictions of one video with its own audio and with another video's audio (analysis.attention)."""
    return _cross_audio(checkpoint, root, split, row, audio_row, weights_stamp(checkpoint))


@st.cache_data(show_spinner="Swapping the audio…", max_entries=64)
def _cross_audio(checkpoint: str, root: str, split: str, row: int, audio_row: int, stamp: int):
    from .analysis.attention import cross_audio as swap
    from .checkpoints import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    with _one_thread():
        return swap(model, load_dataset(root).split(split), row, audio_row)


def cross_audio_section(root: str, cards: dict[str, Any], chosen: list[str], split_name: str, row: int) -> None:
    """Timelines' "Cross-audio" section, shown when a chosen model is MMT-family: the video's visual predictions
    with its own audio vs the audio of another video of the split swapped in, and their difference."""
    from .analysis.attention import cross_audio_classes, cross_audio_figure, is_mmt_family

    candidates = [n for n in chosen if is_mmt_family(cards[n].model)]
    split = load_dataset(root).split(split_name)
    if not candidates or len(split) < 2:
        return
    st.subheader("Cross-audio")
    st.caption("Visual segment probabilities of this video with its own audio features and with another video's "
               "audio swapped in (visual features unchanged), and the change. A visual stream that leans on audio "
               "moves with the swap; MMT's CAPC trains it not to.")
    left, right = st.columns(2)
    name = left.selectbox("MMT model", candidates, key=StateKeys.CROSS_AUDIO_MODEL)
    others = [i for i in range(len(split)) if i != row]
    audio_row = right.selectbox("Swap in the audio of", others, format_func=lambda i: split.filenames[i],
                                key=StateKeys.CROSS_AUDIO_VIDEO)
    try:
        result = cross_audio(str(cards[name].path), root, split_name, row, int(audio_row))
    except InputError as exc:
        show_error(exc)
        return
    classes = cross_audio_classes(result, split, row, int(audio_row))
    title = f"{split.filenames[row]} with the audio of {split.filenames[audio_row]}"
    st.plotly_chart(cross_audio_figure(result, classes, title), key="cross_audio_chart", width="stretch")
    changed = float(abs(result.swapped_video - result.own_video).max())
    st.caption(f"Largest change of a video-level visual probability: {changed:.3f}")


@st.cache_data(show_spinner="Rendering the video…", max_entries=256)
def _video_path(root: str, split: str, index: int) -> str:
    from .videos import video_for as find

    return str(find(load_dataset(root), split, index))


def video_for(root: str, split: str, index: int) -> str:
    """Path of a row's video: the user's real LLP file, else the SynthLLP render (made once, cached on disk).
    Raises videos.NoVideo when there is none (say what to do), InputError when the file is unreadable."""
    path = _video_path(root, split, int(index))
    if not Path(path).is_file():  # the disk cache was cleared under us: render again
        _video_path.clear()
        path = _video_path(root, split, int(index))
    return path


@st.cache_data(show_spinner=False, max_entries=64)
def _filmstrip(path: str, mtime: float, crop: bool = False):
    from .videos import cached_filmstrip

    return cached_filmstrip(path, crop_header=crop)


def filmstrip(path: str):
    """The video's 10 segment thumbnails as one image (cached per file and modification time); a SynthLLP render
    loses its top bar, whose text is unreadable at thumbnail size."""
    from .videos import is_render

    return _filmstrip(path, Path(path).stat().st_mtime, is_render(path))


MAX_PLAYER_VIDEO_BYTES = 64 * 1024 * 1024  # the player sends the clip inline; LLP's 10-s clips are a few MB


@st.cache_resource(show_spinner=False)
def _player_component():
    import streamlit.components.v1 as components

    return components.declare_component("avvp_synced_player", path=str(Path(__file__).parent / "player"))


@st.cache_data(show_spinner=False, max_entries=32)
def _video_uri(path: str, mtime: float) -> str:
    import base64

    size = Path(path).stat().st_size
    if size > MAX_PLAYER_VIDEO_BYTES:
        raise InputError(f"video of {size / 2**20:.0f} MB: the synchronised player takes at most "
                         f"{MAX_PLAYER_VIDEO_BYTES // 2**20} MB", path)
    kind = {".webm": "video/webm", ".mkv": "video/x-matroska"}.get(Path(path).suffix.lower(), "video/mp4")
    return f"data:{kind};base64," + base64.b64encode(Path(path).read_bytes()).decode()


@st.cache_data(show_spinner=False, max_entries=64)
def _thumbs(path: str, mtime: float, crop: bool) -> list[str]:
    from .videos import image_uri, split_strip

    # the strip the page's figure also shows (Timelines): one decode of the video, not two
    return [image_uri(t) for t in split_strip(_filmstrip(path, mtime, crop))]


def synced_player(root: str, split_name: str, row: int, frame, models: dict[str, str], max_height: int = 560,
                  key: str = "synced_player") -> str | None:
    """The video and its class x modality timeline with one playhead (avvp_core/player/index.html): playing moves
    the marker over the current segment, a click on a cell or thumbnail seeks the video there. Everything runs in
    the browser; nothing comes back to Python. `models`: display name -> gating. Returns the video path (or None)."""
    from .analysis.timeline import player_payload, truth_at
    from .videos import NoVideo, is_render

    split = load_dataset(root).split(split_name)
    filename = split.filenames[row]
    uri = thumbs = path = None
    no_video = ""
    try:
        path = video_for(root, split_name, row)
        mtime = Path(path).stat().st_mtime
        uri, thumbs = _video_uri(path, mtime), _thumbs(path, mtime, is_render(path))
    except NoVideo as exc:
        no_video = str(exc)
    except InputError as exc:
        show_error(exc)
        no_video = "The video could not be read (see above)."
    payload = player_payload(frame, video_uri=uri, video_key=f"{split_name}/{filename}", thumbs=thumbs,
                             title=filename, no_video=no_video, truth=truth_at(split, row), gatings=models)
    _player_component()(payload=payload, max_height=max_height, key=key, default=None)
    return path


@st.cache_data(show_spinner="Preparing the demo video…", max_entries=8)
def demo_video(root: str) -> tuple[str, int, str] | None:
    """(split, row, path) of the home page's video: a shipped demo matching the data, else one rendered."""
    from .videos import demo_video as find

    found = find(load_dataset(root))
    return None if found is None else (found[0], found[1], str(found[2]))


def show_video(root: str, split: str, index: int, start: int = 0) -> str | None:
    """The player for a row (from `start` seconds), or what to do when the folder has no video for it."""
    from .videos import NoVideo

    try:
        path = video_for(root, split, index)
    except NoVideo as exc:
        st.info(str(exc), icon=":material/videocam_off:")
        return None
    except InputError as exc:
        show_error(exc)
        return None
    st.video(path, start_time=int(start))
    return path


def synth_target(name: str) -> Path:
    """Where a SynthLLP dataset named by the user goes: always a direct child of the data folder (no '..', no
    absolute paths, no separators), so the app never writes outside the folder it owns."""
    import re

    from .paths import DATA_DIR

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) or ".." in name:
        raise InputError(f"dataset name {name!r}: use letters, digits, '-', '_' or '.' (at most 64 characters)")
    return DATA_DIR / name


def generate_synth(name: str, preset: str, seed: int, knobs: dict[str, float]) -> Path:
    """Generate (or regenerate) a SynthLLP folder with a progress bar; clears the cached loaders of that folder."""
    from .data.synthetic import generate_and_cache, resolve_knobs

    target = synth_target(name)
    resolve_knobs(preset, **knobs)  # a knob out of range is refused before a "Generating…" box says otherwise
    with st.status(f"Generating SynthLLP {preset} (seed {seed}) into {target}…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        try:
            generate_and_cache(target, preset=preset, seed=seed, overwrite=True,
                               progress=lambda frac, msg: bar.progress(min(max(frac, 0.0), 1.0), text=msg), **knobs)
        except InputError:  # e.g. the folder cannot be written: the box says it stopped, the page shows why
            status.update(label=f"SynthLLP {preset} not generated", state="error", expanded=False)
            raise
        status.update(label=f"SynthLLP {preset} ready in {target}", state="complete", expanded=False)
    load_dataset.clear()
    dataset_summary.clear()
    data_fingerprint.clear()
    return target


def check_llp_folder(path: str) -> tuple[Path, list[str]]:
    """Validate a user's LLP folder (read only): every split parses, dense truth builds, features exist and have
    the right shapes (the cache is built, which checks each file). Returns (resolved folder, report lines)."""
    from .constants import SPLITS
    from .data.dataset import LLPDataset

    root = LLPDataset(path).root.resolve()  # any typed string (a NUL byte, "~nosuchuser/x", 10,000 characters)
    ds = LLPDataset(root)
    for split in SPLITS:  # all five CSVs are needed: raises naming the first file missing or malformed
        ds.split(split)
    lines = [f"{s}: {len(ds.split(s))} videos" + (" with dense truth" if ds.split(s).has_truth else "")
             for s in ds.available_splits]
    lines += [r.summary() for r in ds.reports]
    if ds.has_features:
        for s in ds.available_splits:
            ds.feature_cache(s)
        lines.append("features: all present, shapes and dtypes valid (consolidated cache built)")
    else:
        lines.append("features: no feats/ folder — scoring works, training and models do not")
    return root, lines


# what the default folder holds; tests swap in "tiny" (generated in seconds), also for a server (AVVP_DEFAULT_PRESET)
DEFAULT_PRESET = os.environ.get("AVVP_DEFAULT_PRESET", "mini")


def default_data_status():
    """firststart.Status of the default benchmark; starts its background generation when it is missing (first start)
    or was written by another generator version (the shipped zoo and demo videos follow the current one)."""
    from . import firststart

    return firststart.start(DEFAULT_DATA, DEFAULT_PRESET)


def ensure_default_data() -> bool:
    """True when the default benchmark is ready; otherwise its generation runs in the background (started here)."""
    return default_data_status().state == "ready"


def default_data_progress(needs: str = "This page needs the benchmark data") -> None:
    """The generation's progress, refreshed every second in a fragment (the rest of the page is not rerun); once the
    data is ready the whole page reruns and uses it. A failed generation shows its error and a Retry button."""
    from . import firststart

    @st.fragment(run_every=1.0)
    def panel() -> None:
        now = firststart.status(DEFAULT_DATA)
        if now.state == "ready":
            st.rerun()
        if now.state == "failed":
            show_error(InputError(f"Generating the default benchmark failed: {now.message}"))
            if st.button("Retry", key="default_data_retry"):
                firststart.start(DEFAULT_DATA, DEFAULT_PRESET, retry=True)
                st.rerun(scope="fragment")
            return
        if now.state == "missing":  # not started yet (Home starts it here), or killed mid-way: start it
            now = firststart.start(DEFAULT_DATA, DEFAULT_PRESET)
        st.info(f"{needs}: SynthLLP {DEFAULT_PRESET} (seed 0) is being generated in the background, the first time "
                "only (about half a minute). The page fills in by itself when it is ready; other pages stay usable "
                "meanwhile.", icon=":material/hourglass_top:")
        st.progress(min(max(now.fraction, 0.0), 1.0), text=now.message or "starting")

    panel()


def data_in_use(wait: bool = True) -> str | None:
    """The data folder in use, for a page to load. When it is the default folder and that is not ready (first start,
    generator upgrade), its generation runs in the background (`firststart`) and the page says so: with `wait` (every
    page that needs the data) the page shows the progress and ends its run here, and fills in by itself when the data
    is ready; without (Home) it gets None and shows what ships meanwhile. Any other folder is the page's to check."""
    root = st.session_state[StateKeys.DATA_ROOT]
    if root != str(DEFAULT_DATA):
        return root
    if not wait:  # Home: draws what ships first; its progress panel starts the generation right after
        from . import firststart

        return root if firststart.status(DEFAULT_DATA).state == "ready" else None
    if ensure_default_data():
        return root
    default_data_progress()
    st.stop()


ZOO_INDEX = "zoo.json"  # zoo.ZOO_FILE, named here: importing avvp_core.zoo imports torch (seconds on a first page)


@st.cache_data(show_spinner=False)
def _shipped_zoo(folder: str, zoo_json_mtime: float) -> tuple[Any, dict]:
    """(leaderboard frame, the zoo's data record) from the shipped cards' JSON (config.json, metrics.json of each
    entry in zoo.json), or (None, {}) without a zoo. Plain JSON: no torch import, so it shows within a second of a
    fresh server's first page."""
    import pandas as pd

    from .analysis.compare import over_seeds
    from .checkpoint_schema import CHECKPOINT_FORMAT, check_config, check_metrics, read_json_object
    from .constants import METRIC_KEYS
    from .names import method_name

    try:  # bounded, depth-limited, an object (InputError is a ValueError)
        index = read_json_object(Path(folder) / ZOO_INDEX)
    except (OSError, ValueError):
        return None, {}
    record, entries = index.get("data") or {}, index.get("entries") or {}
    if not isinstance(record, dict) or not isinstance(entries, dict):  # a hand-edited index: no leaderboard from it
        return None, {}
    rows = []
    for name in entries:
        try:
            cfg_path, metrics_path = Path(folder) / name / "config.json", Path(folder) / name / "metrics.json"
            cfg, metrics = read_json_object(cfg_path), read_json_object(metrics_path)
            check_config(cfg, cfg_path, CHECKPOINT_FORMAT)  # the card checks read_card makes, without torch
            check_metrics(metrics, metrics_path)
            test, seeds = over_seeds(metrics, cfg.get("seed"), "test")
        except (OSError, ValueError):  # InputError is a ValueError
            continue  # a damaged card: the full leaderboard names it once the data is ready
        if (cfg.get("data") or {}).get("fingerprint") != record.get("fingerprint"):
            continue
        rows.append({"checkpoint": method_name(cfg.get("model") or "?", cfg.get("recipe") or "plain"),
                     **{k: test.get(k) for k in METRIC_KEYS}, SEEDS_COLUMN: seeds, "model": cfg.get("model"),
                     "recipe": cfg.get("recipe"), "width": cfg.get("width"), "seed": cfg.get("seed"),
                     "gating": cfg.get("gating")})
    if not rows:
        return None, record
    return pd.DataFrame(rows).sort_values("segment/type", ascending=False, ignore_index=True), record


def first_start_preview() -> None:
    """Home while the default benchmark is generated: what ships needs no data — a demo video (assets/demo/) and the
    zoo's leaderboard (its cards' JSON) — above the generation's progress."""
    from .paths import CHECKPOINTS_DIR
    from .videos import DEMO_DIR, demo_manifest

    progress = st.container()  # shown above, filled last: what ships is drawn before anything is started
    st.subheader("A video and its ground truth")
    videos, data = demo_manifest(DEMO_DIR)
    entry = next((e for e in videos if (DEMO_DIR / str(e.get("file"))).is_file()), None)
    if entry:
        left, right = st.columns([2, 3])
        left.video(str(DEMO_DIR / str(entry.get("file"))))
        right.markdown(f"`{entry.get('filename')}` ({entry.get('split')} split of SynthLLP {data.get('preset')}, seed "
                       f"{data.get('seed')}), rendered from its truth: what you **see** is the visual truth (a glyph "
                       "per visible event), what you **hear** the audio truth (a sound per audible event). Its "
                       "timeline appears here once the benchmark is ready.")
    st.subheader("Leaderboard")
    index = CHECKPOINTS_DIR / ZOO_INDEX
    frame, record = _shipped_zoo(str(CHECKPOINTS_DIR), index.stat().st_mtime if index.is_file() else 0.0)
    if frame is None:
        st.caption("No shipped zoo in checkpoints/: the leaderboard lists the models trained on the data once it is "
                   "ready.")
    else:
        synth = record.get("synth") if isinstance(record.get("synth"), dict) else {}
        st.caption(f"The shipped zoo's test figures (official LLP protocol, percent), read from its cards: trained on "
                   f"SynthLLP {synth.get('preset')} (seed {synth.get('seed')}), the benchmark being generated now. "
                   "Best segment-level Type@AV first; each model gated as its paper evaluates it. " + SEEDS_NOTE)
        board, board_columns = leaderboard_table(frame)  # as the full Home shows it
        st.dataframe(board, hide_index=True, key="home_leaderboard", column_config=board_columns)
    with progress:
        default_data_progress("Most pages need the benchmark data")


def job_panel(name: str, key: str, controls: bool = True, loss_range: tuple[float, float] | None = None
              ) -> str | None:
    """One background training (jobs.py): status, epoch progress, cancel / resume, live loss and val curves (F1 on a
    fixed 0-100 axis; the loss on `loss_range` when given, so panels side by side share it).
    Returns its status (None when there is no such job)."""
    from . import jobs
    from .analysis.curves import loss_figure, val_figure

    try:
        job = jobs.get(name)
    except InputError as exc:
        show_error(exc)
        return None
    r = job.record
    st.markdown(f"**{job.name}** · {r.get('model')} · {r.get('recipe')} · {r.get('width')} · `{job.status}`")
    if job.epochs_total:
        st.progress(min(job.epochs_done / job.epochs_total, 1.0), text=f"epoch {job.epochs_done} of {job.epochs_total}")
    if job.status == "failed":
        st.error(f"Training failed: {job.message}", icon=":material/error:")
    if controls and job.status in ("running", "cancelled", "failed"):
        running = job.status == "running"
        if st.button("Cancel" if running else "Resume", key=f"{key}_{'cancel' if running else 'resume'}"):
            try:
                (jobs.cancel if running else jobs.resume)(name)
            except InputError as exc:
                show_error(exc)
            else:
                st.rerun()
    prog = jobs.progress(job.folder)
    if prog["epochs"]:
        losses = loss_figure(prog["epochs"])
        if loss_range:
            losses.update_yaxes(range=list(loss_range))
        st.plotly_chart(losses, key=f"{key}_loss", width="stretch")
        st.plotly_chart(val_figure(prog["epochs"]).update_yaxes(range=[0, 100]), key=f"{key}_val", width="stretch")
    elif prog["stages"]:
        done = ", ".join(f"{stage} ({len(rows)} epochs)" for stage, rows in prog["stages"].items())
        st.caption(f"Intermediate stages: {done}")
    elif job.status == "running":
        st.caption("Waiting for the first epoch…")
    if job.status == "finished":
        metrics = job.folder / "metrics.json"
        st.caption(f"Checkpoint ready at `{job.folder}`: it is listed on every page while its data is in use"
                   + (" (test figures in metrics.json)." if metrics.is_file() else "."))
    with st.expander("Console output"):
        st.code(jobs.log_tail(job.folder, 30) or "(nothing yet)", language=None)
    return job.status


def live_jobs(names: list[str], key: str, interval: float = 2.0, table=None, shared_axes: bool = False
              ) -> dict[str, str | None]:
    """Panels of some jobs (side by side when several), refreshed every `interval` s while one runs; once a job's
    status changes the whole page reruns (job tables, checkpoint lists). `table` (a callable drawing a job list) is
    drawn above the panels in the same refresh, so the list and the panels never disagree. `shared_axes`: the panels'
    loss charts share one y range (the val charts always span 0-100), so side by side they compare. Returns name ->
    status at this run."""
    from . import jobs
    from .analysis.curves import loss_columns

    def status(name: str) -> str | None:
        try:
            return jobs.get(name).status
        except InputError:
            return None

    before = {n: status(n) for n in names}

    @st.fragment(run_every=interval if "running" in before.values() else None)
    def panels() -> None:
        if table is not None:
            table()
        cols = st.columns(len(names)) if len(names) > 1 else [st.container()]
        now = {}
        loss_range = None
        if shared_axes:
            top = 0.0
            for name in names:
                try:
                    rows = jobs.progress(jobs.get(name).folder)["epochs"]
                except InputError:
                    continue
                top = max([top] + [float(r[c]) for r in rows for c in loss_columns(rows) if r.get(c) is not None])
            loss_range = (0.0, top * 1.05) if top > 0 else None
        for col, name in zip(cols, names, strict=True):
            with col:
                now[name] = job_panel(name, f"{key}_{name}", loss_range=loss_range)
        if now != before:
            st.rerun()

    panels()
    return before


def sidebar() -> None:
    """The shared sidebar: which data folder is in use — its name first (a long path used to be cut exactly there),
    then the folder it sits in, wrapped."""
    root = Path(st.session_state[StateKeys.DATA_ROOT])
    with st.sidebar:
        st.caption("Data in use")
        st.markdown(f"**{root.name}**")
        st.caption(f"in `{root.parent}`")


@st.cache_data(show_spinner=False)
def _zoo_claims(folder: str, zoo_json_mtime: float, full_mtime: float, zoo_fingerprint: str):
    import pandas as pd

    from . import claims
    from .names import method_name, paper_name
    from .zoo import ENTRIES, zoo_runs

    entries = {n: {"model": e.model, "recipe": e.recipe} for n, e in ENTRIES.items()}
    zoo_rows = claims.check(zoo_runs(folder), entries)
    if not zoo_rows:
        return pd.DataFrame()
    # Papers by short name and year, zoo entries by the name every other page gives them.
    named = lambda entry: method_name(ENTRIES[entry].model, ENTRIES[entry].recipe) if entry in ENTRIES else entry
    for row in zoo_rows:
        row["paper"] = paper_name(row["paper"])
        row["candidate"], row["baseline"] = named(row["candidate"]), named(row["baseline"])
    problem, full = "", None
    try:
        full = claims.read_full(Path(folder) / claims.CLAIMS_FULL)
    except InputError as exc:  # shown in the table's row instead of a verdict
        problem = f"unusable: {exc}"
    return pd.DataFrame(claims.side_by_side(zoo_rows, full, problem, claims.demo_reasons(zoo_fingerprint)))


@st.cache_data(show_spinner=False, max_entries=4)
def _read_zoo_index(path: str, mtime: float) -> dict[str, Any] | None:
    from .checkpoint_schema import read_json_object

    try:
        return read_json_object(Path(path))
    except (OSError, InputError):
        return None


def _zoo_index() -> tuple[dict[str, Any] | None, float]:
    """checkpoints/zoo.json, validated, and its modification time: read once per change, however many parts of a
    page ask (None, 0.0 when it is missing or unreadable)."""
    from .paths import CHECKPOINTS_DIR
    from .zoo import ZOO_FILE

    try:
        mtime = (CHECKPOINTS_DIR / ZOO_FILE).stat().st_mtime
    except OSError:
        return None, 0.0
    return _read_zoo_index(str(CHECKPOINTS_DIR / ZOO_FILE), mtime), mtime


def zoo_claims(root: str):
    """The claims table when the shipped zoo was trained on the data in use, else None (a DataFrame): the
    calibrated verdict of checkpoints/claims_full.json beside the demo zoo's (claims.side_by_side)."""
    from .claims import CLAIMS_FULL
    from .paths import CHECKPOINTS_DIR

    zoo, mtime = _zoo_index()
    if zoo is None or not isinstance(zoo.get("data"), dict) or zoo["data"].get("fingerprint") != data_fingerprint(root):
        return None
    full = CHECKPOINTS_DIR / CLAIMS_FULL
    return _zoo_claims(str(CHECKPOINTS_DIR), mtime, full.stat().st_mtime if full.is_file() else 0.0,
                       zoo["data"]["fingerprint"])


def zoo_rows() -> dict[str, Any]:
    """The shipped zoo's rows (checkpoints/zoo.json "entries"), {} when the index is missing or unreadable."""
    entries = (_zoo_index()[0] or {}).get("entries")
    return entries if isinstance(entries, dict) else {}


# --- Your video (issue 23): any clip through the LLP feature pipeline and real-feature checkpoints -------------------
RANDOM_ENV_NOTE = "AVVP_RANDOM_EXTRACTORS is set"


class YourVideoKeys:
    UPLOAD = "your_video_upload"  # the uploaded clip (file_uploader value)
    CHECKPOINTS = "your_video_checkpoints"
    WINDOWS = "your_video_windows"  # the range of 10-s windows whose timelines are drawn
    PLAYER_WINDOW = "your_video_player_window"  # the 10-s window the synchronised player shows
    RESULT = "your_video_result"  # {"key": ..., "parsed": Parsed} of the last parse (reruns reuse it)
    VGGISH = "your_video_vggish"  # the VGGish variant: raw embedding or AudioSet-postprocessed
    DOWNLOAD = "your_video_download"  # the extractor-weights download button


def extractor_settings(vggish: str = "embedding"):
    """Published weights, or random ones where AVVP_RANDOM_EXTRACTORS is set (tests; the page says so)."""
    from .extract.pipeline import Settings

    return Settings.from_env(vggish)


@st.cache_resource(show_spinner="Building the extractors…", max_entries=2)
def _extractors(weights: str, vggish: str, tiny: bool):
    from .extract.pipeline import Extractors, Settings

    return Extractors(Settings(weights, vggish, tiny), download=False)


def missing_extractor_weights(settings) -> list[str]:
    """One line per weight file the settings need that is not in the cache folder (what, where, checksum)."""
    from .extract import weights

    if settings.weights == "random":
        return []
    return [weights.missing_message(spec) for spec in weights.missing(settings.weight_keys)]


def download_extractor_weights(settings) -> None:
    """Download the missing files with a progress bar; an InputError (offline) is the caller's to show."""
    from .extract import weights

    bar = st.progress(0.0, text="starting")
    for spec in weights.missing(settings.weight_keys):
        weights.download(spec, lambda frac, msg: bar.progress(min(max(frac, 0.0), 1.0), text=msg))
    bar.empty()


def real_video_checkpoints() -> tuple[dict[str, Any], list[str]]:
    """Checkpoints that may parse real video (every root, any data), by display name, and why the others may not
    (SynthLLP-trained: synthetic inputs). JSON only."""
    from .checkpoints import list_checkpoints
    from .extract.pipeline import synthetic_reason
    from .names import checkpoint_names

    usable, refused = [], []
    for base in map(Path, st.session_state[StateKeys.CHECKPOINT_ROOTS]):
        for card in list_checkpoints(base):
            reason = synthetic_reason(card)
            if reason:
                refused.append(reason)
            else:
                usable.append((base, card))
    return checkpoint_names(usable), refused  # named as every other page names checkpoints ("HAN · han-real")


def store_uploaded_video(upload) -> Path:
    """Validate an uploaded clip by size and content, keep it under the cache folder by its SHA-256, check that
    ffmpeg reads it; returns its path. InputError (one line, naming the upload) otherwise."""
    import hashlib

    from .extract import decode
    from .extract.pipeline import parse_cache_root
    from .fileio import write_bytes
    from .uploads import validate_video

    data = upload.getvalue()
    validate_video(upload.name, data)
    digest = hashlib.sha256(data).hexdigest()
    path = parse_cache_root().parent / "uploads" / f"{digest[:16]}{Path(upload.name).suffix.lower()}"
    if not path.is_file():
        write_bytes(path, data)
    try:
        decode.probe(path)
    except InputError as exc:
        raise InputError(str(exc).replace(str(path), upload.name)) from None
    return path


def parse_clip(path: Path, checkpoints: list[str], settings):
    """Extract (with a progress bar; cached on disk by content) and run the checkpoints; the result is kept in the
    session so reruns (widgets) do not run it again."""
    from .extract.pipeline import parse_video

    key = (str(path), tuple(checkpoints), settings.key, tuple(weights_stamp(c) for c in checkpoints))
    kept = st.session_state.get(YourVideoKeys.RESULT)
    if kept and kept["key"] == key:
        return kept["parsed"]
    ex = _extractors(settings.weights, settings.vggish, settings.tiny)
    bar = st.progress(0.0, text="Extracting features…")
    parsed = parse_video(path, checkpoints, ex,
                         progress=lambda frac, msg: bar.progress(min(max(frac, 0.0), 1.0), text=msg))
    bar.empty()
    st.session_state[YourVideoKeys.RESULT] = {"key": key, "parsed": parsed}
    return parsed


def _parsed_split(parsed):
    """The parsed clip's windows as a split without truth, and its models as timeline_frame takes them."""
    import numpy as np

    from .constants import CLASSES
    from .data.dataset import Split

    names = [w["filename"] for w in parsed.entry["windows"]]
    split = Split("test", names, np.zeros((len(names), len(CLASSES)), dtype=np.float32))
    return split, {name: (r["predictions"], r["gating"]) for name, r in parsed.results.items()}


def parsed_player(parsed, path: Path, window: int, max_height: int = 520) -> None:
    """The synchronised player of the Timelines page for one 10-second window of the user's clip: the whole video,
    its playhead over that window's segments (offset by the window's start); probabilities and decisions, no truth."""
    from .analysis.timeline import player_payload, timeline_frame

    split, models = _parsed_split(parsed)
    w = parsed.entry["windows"][window]
    uri, no_video = None, ""
    try:
        uri = _video_uri(str(path), Path(path).stat().st_mtime)
    except InputError as exc:  # over the player's inline limit: the timeline still draws, without the video
        no_video = str(exc)
    frame = timeline_frame(split, window, models)
    if frame.empty:
        st.caption(f"{w['start']:g}–{w['start'] + 10:g} s: no event predicted by the chosen checkpoints.")
        return
    payload = player_payload(frame, video_uri=uri, video_key=f"your_video/{Path(path).name}",
                             title=f"{w['start']:g}–{w['start'] + 10:g} s", no_video=no_video,
                             gatings={name: g for name, (_, g) in models.items()}, offset=float(w["start"]))
    _player_component()(payload=payload, max_height=max_height, key="your_video_player", default=None)


def parsed_timelines(parsed, windows: range) -> None:
    """Per window (in order, end to end) and checkpoint: the class x modality timeline (probability and decision,
    no ground truth), with the padded seconds named."""
    from .analysis.timeline import timeline_figure, timeline_frame

    entry = parsed.entry
    split, models = _parsed_split(parsed)
    for k in windows:
        w = entry["windows"][k]
        title = f"{w['start']:g}–{w['start'] + 10:g} s"
        if w["padded"]:
            title += f" (the video ends at {w['end']:g} s: the seconds after it are padding, no event is listed there)"
        frame = timeline_frame(split, k, models)
        if frame.empty:
            st.caption(f"{title}: no event predicted by the chosen checkpoints.")
            continue
        st.plotly_chart(timeline_figure(frame, title), key=f"your_video_timeline_{k}", width="stretch")


def parsed_downloads(parsed) -> None:
    """The events (JSON) and each checkpoint's PRED.npz (the score contract, one row per window)."""
    import io
    import json

    import numpy as np

    st.download_button("Download the events (JSON)", json.dumps(parsed.to_json(), indent=2),
                       f"{parsed.video.stem}.events.json", mime="application/json", key="your_video_events_json")
    for name, r in parsed.results.items():
        buffer = io.BytesIO()
        np.savez(buffer, **r["predictions"].npz_arrays())
        st.download_button(f"Download {name} PRED.npz", buffer.getvalue(), f"{name}.PRED.npz",
                           key=f"your_video_pred_{name}")
