"""What an MMT messenger is, for one video (paper 000, eq. 4-5): where it comes from, what it carries, what it changes.

A messenger is M = tanh(Pool_{T->n}(S W_msg + b)): the source encoder's output projected, averaged over the segments of
its pooling bin, squashed. Before the tanh the pooled vector u_i is exactly the mean of the segments' projections
p_t = S_t W_msg + b, so each segment's *share* of u_i, <p_t / |bin|, u_i> / |u_i|^2, sums to 1 over the bin: how much
of the messenger each second supplies (negative: it pulls against the rest). What it *carries* is read with the
source modality's classifier (sigmoid class affinity; approximate, as messengers live in tanh(W_msg S) space) and
checked against the video's truth: how well the affinity ranks the classes annotated in the source modality (ROC
AUC). What it *changes* is measured: the target decoder run with the messengers zeroed (removed; tanh's neutral
value) and with another video's messengers swapped in, everything else unchanged.

With one messenger per modality (the paper's setting, n_a = n_v = 1) the decoder's cross-attention has a single key,
so its softmax weights are all exactly 1.0: attention over messengers says nothing there, the pooling above does.
It becomes a real choice only with n > 1 (the paper's table 3 ablation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..constants import CLASSES, NUM_SEGMENTS
from ..data.dataset import Split
from ..errors import InputError
from .attention import video_batch

TRIVIAL_NOTE = ("With one messenger per modality (n = 1, the paper's setting, eq. 4-5) the messenger is pooled, not "
                "attended: *Messengers: what they are* below (one video) shows how much each segment contributes to "
                "it.")
NEAR_EQUAL = 0.1  # shares_note: every share within this fraction of an equal share


def pooling_bins(t: int, n: int) -> list[tuple[int, int]]:
    """The segments [start, end) that adaptive average pooling from t to n averages into each output."""
    return [(math.floor(i * t / n), math.ceil((i + 1) * t / n)) for i in range(n)]


def messenger_counts(config: dict) -> tuple[int, int]:
    """(n_a, n_v) of an MMT checkpoint's build configuration (1, 1 when not given: the paper's default)."""
    return int(config.get("audio_messengers", 1)), int(config.get("visual_messengers", 1))


def uses_messengers(model) -> list[str]:
    """Source modalities whose messengers feed the other decoder (none for No MSG / MBT; audio not for No FA)."""
    encoders = getattr(model, "encoders", None)
    if encoders is None or getattr(model, "fusion", None) != "messenger":
        return []
    return [m for m in ("audio", "visual") if encoders[m].to_messenger is not None]


@dataclass(frozen=True)
class MessengerView:
    source: str  # the modality the messengers summarise
    target: str  # the decoder that reads them
    bins: list[tuple[int, int]]
    shares: np.ndarray  # (n, T): segment t's share of messenger i's pooled pre-tanh vector; NaN outside its bin
    affinity: np.ndarray  # (n, C) sigmoid of the source classifier on each messenger
    attention: np.ndarray  # (T, n) the target decoder's cross-attention to the messengers (first layer, mean heads)
    own: np.ndarray  # (C,) target video-level probability, own messengers (the model's prediction)
    removed: np.ndarray  # (C,) messengers zeroed
    swapped: np.ndarray  # (C,) another video's messengers
    own_segments: np.ndarray  # (T, C) target segment probabilities, own messengers
    removed_segments: np.ndarray  # (T, C)
    swapped_segments: np.ndarray  # (T, C)

    @property
    def n(self) -> int:
        return len(self.bins)


@torch.no_grad()
def messenger_view(model, split: Split, row: int, other_row: int, source: str) -> MessengerView:
    """The three questions above for one video's `source` messengers; `other_row` supplies the swapped ones."""
    target = "visual" if source == "audio" else "audio"
    if source not in uses_messengers(model):
        raise InputError(f"this model has no {source} messengers (fusion {getattr(model, 'fusion', '?')!r}"
                         + ("" if getattr(model, "visual_fuses_audio", True) else ", No FA") + ")")
    was_training = model.training
    model.eval()
    try:
        batch = video_batch(split, [row, other_row])
        _, s = model.encode(batch)
        encoder = model.encoders[source]
        projected = encoder.to_messenger(s[source])  # (2, T, D)
        messengers = encoder.messenger(s[source])  # (2, n, D)
        t = projected.shape[1]
        bins = pooling_bins(t, encoder.messengers)
        shares = np.full((len(bins), t), np.nan)
        for i, (start, end) in enumerate(bins):
            part = projected[0, start:end]  # (k, D)
            pooled = part.mean(0)  # = the pre-tanh messenger: tanh(pooled) == messengers[0, i]
            shares[i, start:end] = ((part / len(part)) @ pooled / pooled.dot(pooled).clamp_min(1e-12)).numpy()
        affinity = torch.sigmoid(model.classify(source, messengers[0])).numpy()  # (n, C)
        own_batch = video_batch(split, [row])
        outputs = {}
        for label, context in (("own", None), ("removed", torch.zeros_like(messengers[:1])),
                               ("swapped", messengers[1:2])):
            outputs[label] = model(own_batch, capture=label == "own",
                                   contexts=None if context is None else {target: context})
        captured = outputs["own"].captures[f"{target} decoder -> {source} messengers"]  # (1, h, T, n)
    finally:
        model.train(was_training)
    prob = {label: getattr(out, f"{target}_prob")[0].numpy() for label, out in outputs.items()}
    segment = {label: getattr(out, f"{target}_segment_prob")[0].numpy() for label, out in outputs.items()}
    return MessengerView(source, target, bins, shares, affinity, captured[0].mean(0).numpy(), prob["own"],
                         prob["removed"], prob["swapped"], segment["own"], segment["removed"], segment["swapped"])


def affinity_auc(affinity: np.ndarray, present: np.ndarray) -> float:
    """ROC AUC of one messenger's class affinities (C,) against the classes present (C,) bool: 1 = every annotated
    class above every other, 0.5 = chance; NaN when the video has no or only annotated classes."""
    pos, neg = affinity[present], affinity[~present]
    if not len(pos) or not len(neg):
        return float("nan")
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def carries_table(view: MessengerView, split: Split, row: int, top: int = 5) -> pd.DataFrame:
    """Per messenger: its AUC against the source modality's truth, the classes annotated there with their affinity and
    rank among the 25, and its top classes marked ✓ (annotated in the source modality) or ✗."""
    truth = (split.gt_audio if view.source == "audio" else split.gt_visual)[row].any(0) if split.has_truth else (
        split.labels[row] > 0)
    rows = []
    for i, (start, end) in enumerate(view.bins):
        aff = view.affinity[i]
        rank = np.empty(len(aff), dtype=int)
        rank[np.argsort(-aff, kind="stable")] = np.arange(1, len(aff) + 1)
        annotated = ", ".join(f"{CLASSES[c]} {aff[c]:.2f} (#{rank[c]})" for c in np.flatnonzero(truth)) or "none"
        best = ", ".join(f"{CLASSES[c]} {aff[c]:.2f} {'✓' if truth[c] else '✗'}" for c in np.argsort(-aff)[:top])
        rows.append({"messenger": f"{view.source} messenger {i} (segments {start}-{end - 1})",
                     "AUC vs truth": round(affinity_auc(aff, truth), 2),
                     f"annotated {view.source} classes: affinity (rank)": annotated, f"top {top} by affinity": best})
    return pd.DataFrame(rows)


def effect_table(view: MessengerView, split: Split, row: int, min_change: float = 0.05) -> pd.DataFrame:
    """The target modality's video-level probability per class with its own messengers, removed and swapped, for
    the classes annotated in the target modality or moved by at least `min_change`; largest change first."""
    truth = ((split.gt_audio if view.target == "audio" else split.gt_visual)[row].any(0) if split.has_truth
             else split.labels[row] > 0)
    change = np.maximum(np.abs(view.removed - view.own), np.abs(view.swapped - view.own))
    keep = np.flatnonzero(truth | (change >= min_change) | (view.own >= 0.5))
    keep = keep[np.argsort(-change[keep], kind="stable")]
    return pd.DataFrame({
        "class": [CLASSES[c] for c in keep], f"annotated ({view.target})": ["yes" if truth[c] else "" for c in keep],
        "own messengers": view.own[keep].round(3), "removed (zeros)": view.removed[keep].round(3),
        "removed − own": (view.removed - view.own)[keep].round(3), "swapped in": view.swapped[keep].round(3),
        "swapped − own": (view.swapped - view.own)[keep].round(3)})


def shares_note(view: MessengerView) -> str | None:
    """When every segment's share of its messenger is within NEAR_EQUAL of an equal share (the attention maps' own
    near-uniform rule): the messenger is close to the plain mean of its segments, and the bars, drawn to their own
    scale, would suggest differences that say little. None otherwise."""
    shares = [view.shares[i, start:end] for i, (start, end) in enumerate(view.bins)]
    if not all(len(s) and np.all(np.abs(s * len(s) - 1) <= NEAR_EQUAL) for s in shares):
        return None
    lo, hi = min(float(s.min()) for s in shares), max(float(s.max()) for s in shares)
    equal = 1 / max(len(s) for s in shares)
    return (f"near-equal shares: {lo:.1%}-{hi:.1%} against an equal {equal:.0%}, so in this video the messenger is "
            "close to the plain mean of its segments; the pooling weighs no segment much above another.")


def shares_figure(view: MessengerView, title: str = ""):
    """Bars: each segment's share of its messenger's pooled vector (one colour per messenger)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (start, end) in enumerate(view.bins):
        fig.add_trace(go.Bar(x=list(range(start, end)), y=view.shares[i, start:end], name=f"messenger {i}",
                             hovertemplate="segment %{x}: %{y:.1%} of the messenger<extra></extra>"))
    fig.add_hline(y=1 / max(1, max(e - s for s, e in view.bins)), line_dash="dot", line_color="grey",
                  annotation_text="equal shares", annotation_position="top left")
    fig.update_layout(title=title, barmode="group", height=300, margin={"l": 10, "r": 10, "t": 40, "b": 30},
                      xaxis={"title": f"{view.source} segment", "dtick": 1, "range": [-0.5, NUM_SEGMENTS - 0.5]},
                      yaxis={"title": "share of the pooled vector", "tickformat": ".0%"},
                      showlegend=view.n > 1)
    return fig


__all__ = ["TRIVIAL_NOTE", "MessengerView", "affinity_auc", "carries_table", "effect_table", "messenger_counts",
           "messenger_view", "pooling_bins", "shares_figure", "shares_note", "uses_messengers"]
