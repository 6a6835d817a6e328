"""Per-video timelines: ground truth and each model as aligned rows per class and modality over the 10
segments, every cell with its probability, decision and outcome (TP / FP / FN), as a table and a figure.

Rows are grouped class by class, then modality (audio, visual, audio-visual), then truth followed by each
model, so a model's row sits right under the truth it is judged against. Audio-visual probability of a
model = min(audio, visual) (an AV event needs both); its decision = audio decision AND visual decision, as
the official protocol builds the AV matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import CLASSES, NUM_SEGMENTS
from ..data.dataset import Split
from ..predictions import Predictions

MODALITY_NAMES = ("audio", "visual", "audio-visual")
TRUTH = "ground truth"
OUTCOMES = {(True, True): "TP", (True, False): "FP", (False, True): "FN", (False, False): ""}


def video_classes(split: Split, row: int, decisions: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[int]:
    """Classes worth a row for this video: annotated in either modality, weakly labelled, or predicted by a model."""
    present = split.labels[row] > 0
    if split.has_truth:
        present |= split.gt_audio[row].any(0) | split.gt_visual[row].any(0)
    for dec_a, dec_v in decisions.values():
        present |= dec_a[row].any(0) | dec_v[row].any(0)
    return [int(c) for c in np.flatnonzero(present)]


def timeline_frame(split: Split, row: int, models: dict[str, tuple[Predictions, str]]) -> pd.DataFrame:
    """Long table of one video: one line per (class, modality, source, segment).

    `models` maps a display name to (its predictions on this split, its gating). Columns: class, modality,
    source, segment, probability (NaN for truth), decision, truth, outcome.
    """
    decisions = {name: preds.decisions(gating) for name, (preds, gating) in models.items()}
    has_truth = split.has_truth
    gt = (split.gt_audio[row].astype(bool), split.gt_visual[row].astype(bool)) if has_truth else None
    records = []
    for c in video_classes(split, row, decisions):
        for m, modality in enumerate(MODALITY_NAMES):
            truth = None
            if gt is not None:
                truth = gt[0][:, c] & gt[1][:, c] if m == 2 else gt[m][:, c]  # (T,)
                for t in range(NUM_SEGMENTS):
                    records.append((CLASSES[c], modality, TRUTH, t, np.nan, bool(truth[t]), bool(truth[t]), ""))
            for name, (preds, _) in models.items():
                dec_a, dec_v = decisions[name]
                prob_a, prob_v = preds.audio[row, :, c], preds.visual[row, :, c]
                prob = np.minimum(prob_a, prob_v) if m == 2 else (prob_a, prob_v)[m]
                dec = dec_a[row, :, c] & dec_v[row, :, c] if m == 2 else (dec_a, dec_v)[m][row, :, c]
                for t in range(NUM_SEGMENTS):
                    true = bool(truth[t]) if truth is not None else False
                    outcome = OUTCOMES[(bool(dec[t]), true)] if truth is not None else ""
                    records.append((CLASSES[c], modality, name, t, float(prob[t]), bool(dec[t]), true, outcome))
    return pd.DataFrame.from_records(records, columns=["class", "modality", "source", "segment", "probability",
                                                       "decision", "truth", "outcome"])


def timeline_figure(frame: pd.DataFrame, title: str = ""):
    """One heatmap (rows = class · modality · source, columns = segments): model rows show probability as heat,
    truth rows show the annotation; cells carry TP / FP / FN. Positive decisions are drawn as square markers of
    an overlaid scatter (heatmaps return no selection in Streamlit; scatter points do)."""
    import plotly.graph_objects as go

    if frame.empty:
        return go.Figure(layout={"title": title or "nothing annotated or predicted in this video"})
    keys = list(dict.fromkeys(zip(frame["class"], frame["modality"], frame["source"], strict=True)))
    labels = [f"{c} · {m} · {s}" for c, m, s in keys]
    index = {k: i for i, k in enumerate(keys)}
    z = np.full((len(keys), NUM_SEGMENTS), np.nan)
    text = np.full((len(keys), NUM_SEGMENTS), "", dtype=object)
    for r in frame.itertuples(index=False):
        i = index[(r[0], r[1], r[2])]
        z[i, r.segment] = float(r.truth) if r.source == TRUTH else r.probability
        text[i, r.segment] = r.outcome
    fig = go.Figure(go.Heatmap(z=z, x=list(range(NUM_SEGMENTS)), y=labels, text=text, texttemplate="%{text}",
                               zmin=0, zmax=1, colorscale="Blues", colorbar={"title": "probability"},
                               hovertemplate="%{y}<br>segment %{x}<br>value %{z:.2f} %{text}<extra></extra>"))
    on = frame[frame["decision"] & (frame["source"] != TRUTH)]
    fig.add_trace(go.Scatter(
        x=on["segment"].to_numpy(), y=[f"{c} · {m} · {s}" for c, m, s in zip(on["class"], on["modality"],
                                                                             on["source"], strict=True)],
        mode="markers", name="predicted", marker={"symbol": "square-open", "size": 18, "color": "#d62728"},
        customdata=np.stack([on["class"], on["modality"], on["source"], on["segment"]], axis=-1) if len(on) else None,
        hoverinfo="skip"))
    fig.update_layout(title=title, height=120 + 26 * len(keys), margin={"l": 10, "r": 10, "t": 40, "b": 30},
                      xaxis={"title": "segment (second)", "dtick": 1}, yaxis={"autorange": "reversed"},
                      showlegend=False)
    return fig
