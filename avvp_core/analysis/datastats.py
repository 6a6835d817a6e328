"""Dataset statistics as plotly figures, the data in use beside the real LLP figures (llp_stats.json):
class frequencies, modality mix per class, event durations, co-occurrence of classes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import CLASSES, NUM_CLASSES
from ..data.dataset import LLPDataset

SOURCES = ("in use", "real LLP")


def class_frequency_frame(stats: dict, llp: dict) -> pd.DataFrame:
    rows = []
    for source, s in zip(SOURCES, (stats, llp), strict=True):
        freq = (s.get("train") or {}).get("class_frequency") or {}
        rows += [{"class": c, "source": source, "share of train videos (%)": 100 * freq.get(c, np.nan)}
                 for c in CLASSES]
    return pd.DataFrame(rows)


def modality_mix_frame(stats: dict, llp: dict | None = None) -> pd.DataFrame:
    """Per class: share of (video, class) events that are audio-only, visual-only or both (val + test truth), and how
    many events that share is of, for the data in use and, given `llp`, the real LLP (column "source")."""
    rows = []
    for source, s in zip(SOURCES, (stats, llp), strict=True):
        if s is None:
            continue
        mix = (s.get("truth") or {}).get("class_modality_mix") or {}
        for c in CLASSES:
            m = mix.get(c, {})
            rows += [{"class": c, "source": source, "kind": kind.replace("_", "-"), "share (%)": 100 * m.get(kind, 0.0),
                      "events": int(m.get("events", 0))} for kind in ("audio_only", "visual_only", "both")]
    return pd.DataFrame(rows)


def duration_frame(stats: dict, llp: dict) -> pd.DataFrame:
    rows = []
    for source, s in zip(SOURCES, (stats, llp), strict=True):
        hist = (s.get("truth") or {}).get("duration_hist") or {}
        for modality, h in hist.items():
            rows += [{"seconds": int(k), "modality": modality, "source": source, "share (%)": 100 * v}
                     for k, v in h.items()]
    return pd.DataFrame(rows)


def cooccurrence(ds: LLPDataset, split: str = "train") -> np.ndarray:
    """(C, C) share of the split's videos (%) whose weak labels hold both classes; the diagonal = class frequency."""
    y = ds.split(split).labels > 0  # (N, C)
    return 100 * (y.T.astype(np.float64) @ y.astype(np.float64)) / max(len(y), 1)


CO_OCCURRENCE_TITLE = "Co-occurrence of two different classes (share of train videos, %; the diagonal is masked)"


def figures(stats: dict, llp: dict, ds: LLPDataset) -> dict:
    """The Data page's four figures, keyed by title."""
    import plotly.express as px
    import plotly.graph_objects as go

    # the events each share is taken over, on hover: a class with a handful of events in a small split (tiny's
    # Telephone_bell_ringing, 3) shows shares as bold as LLP's hundreds
    mix = px.bar(modality_mix_frame(stats, llp), x="class", y="share (%)", color="kind", facet_row="source",
                 hover_data={"events": True}, height=560)
    mix.for_each_annotation(lambda a: a.update(text=a.text.removeprefix("source=")))
    out = {
        "Class frequencies": px.bar(class_frequency_frame(stats, llp), x="class", y="share of train videos (%)",
                                    color="source", barmode="group"),
        "Modality mix per class (val + test truth), the data in use above the real LLP": mix,
        "Event durations (positive segments per class and video)": px.bar(
            duration_frame(stats, llp), x="seconds", y="share (%)", color="source", barmode="group",
            facet_col="modality"),
    }
    co = cooccurrence(ds)
    assert co.shape == (NUM_CLASSES, NUM_CLASSES)
    # A class with itself is its own frequency (Speech: half the videos), which swamped every pair: masked here; the
    # class-frequency chart above shows it.
    off = co.copy()
    np.fill_diagonal(off, np.nan)
    out[CO_OCCURRENCE_TITLE] = go.Figure(go.Heatmap(
        z=off, x=list(CLASSES), y=list(CLASSES), colorscale="Viridis", colorbar={"title": {"text": "%"}},
        hovertemplate="%{y} + %{x}: %{z:.2f} % of train videos<extra></extra>"), layout={"height": 650})
    return out
