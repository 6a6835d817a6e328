"""Streamlit glue — the only core module that imports streamlit: session keys, cached loaders, the sidebar.

Pages call these and stay thin; every error from user input arrives as an `InputError` and is shown with
`show_error` (an error box, the page still usable), never as a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from .paths import DEFAULT_DATA


class StateKeys:
    DATA_ROOT = "data_root"


def init_state() -> None:
    """Idempotent: every page calls it first, so each page also runs standalone (AppTest)."""
    st.session_state.setdefault(StateKeys.DATA_ROOT, str(DEFAULT_DATA))


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


def ensure_default_data() -> bool:
    """Generate SynthLLP `mini` into the default folder on first start, with progress. True when ready."""
    if (DEFAULT_DATA / "AVVP_train.csv").is_file():
        return True
    from .data.synthetic import generate_and_cache

    with st.status("First start: generating the SynthLLP benchmark (mini preset, seed 0)…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        generate_and_cache(DEFAULT_DATA, preset="mini", seed=0,
                           progress=lambda frac, msg: bar.progress(min(max(frac, 0.0), 1.0), text=msg))
        status.update(label="SynthLLP mini is ready", state="complete", expanded=False)
    return True


def sidebar() -> None:
    """The shared sidebar: which data folder is in use."""
    root = Path(st.session_state[StateKeys.DATA_ROOT])
    with st.sidebar:
        st.caption("Data in use")
        st.code(str(root), language=None)
