"""Attention: every attention-like map a model captures, in one labelled structure, per video or averaged per class;
and the cross-audio view (a video's visual predictions with its own audio vs another video's audio swapped in).

Each map is an `AttentionMap` with weights (S, H, Q, K): S slices (the 10 segments for CM-Co's per-segment
class-token maps, else 1), H heads, Q query tokens (rows), K key tokens (columns), averaged over the videos asked
for. Softmax maps are oriented so that every row sums to 1: MGN's assignment (softmax over groups) is shown as
members x groups, MSDU's temporal attention (softmax over segments) as classes x segments. Layers are separate maps
of the same `name` (the capture name without its layer tag) with increasing `layer`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..constants import CLASSES, NUM_CLASSES, NUM_SEGMENTS
from ..data.dataset import Split
from ..schema import Batch

KINDS = ("self-attention", "cross-attention", "messengers", "assignment maps", "segment weights", "temporal attention")
KIND_NOTES = {
    "self-attention": "Each row is a query token; its weights over the key tokens of the same stream sum to 1.",
    "cross-attention": "Each row is a query token of one stream; its weights over the other stream's tokens "
                       "(segments, messengers, class tokens) sum to 1.",
    "messengers": "What each MMT messenger carries: the source modality's classifier read on the messenger "
                  "(sigmoid class affinity, approximate: messengers are not decoder outputs).",
    "assignment maps": "MGN's grouping: each row is a member token, its assignment over the groups sums to 1.",
    "segment weights": "CM-PIE's segment attention: one sigmoid gate per segment (they need not sum to 1).",
    "temporal attention": "MSDU's modality-separated pooling: for each class, its weights over the segments.",
}
_M = r"(audio|visual)"
_PATH = r"(?:(?P<path>.+ path): )?"
_LAYER_TAGS = (r"HAN layer (\d+): ", r" \[layer (\d+)\]", r"ViT block (\d+) ")


@dataclass(frozen=True)
class AttentionMap:
    name: str  # capture name without its layer tag, e.g. "visual decoder -> audio messengers"
    capture: str  # the exact capture name
    kind: str  # one of KINDS
    layer: int
    weights: np.ndarray  # (S, H, Q, K) float32, mean over `videos` videos
    query_title: str
    query_labels: tuple[str, ...]
    key_title: str
    key_labels: tuple[str, ...]
    slice_title: str | None = None  # "segment" for per-segment maps (S = 10), else None (S = 1)
    softmax: bool = True  # every row sums to 1
    videos: int = 1

    @property
    def heads(self) -> int:
        return self.weights.shape[1]

    def matrix(self, head: int | None = None, slice_: int | None = None) -> np.ndarray:
        """(Q, K): one head (None = mean over heads) of one slice (None = mean over slices)."""
        w = self.weights if slice_ is None else self.weights[slice_:slice_ + 1]
        w = w.mean(axis=0)  # (H, Q, K)
        return w.mean(axis=0) if head is None else w[head]


def _layer(capture: str) -> tuple[str, int]:
    for tag in _LAYER_TAGS:
        found = re.search(tag, capture)
        if found:
            keep = "ViT " if tag.startswith("ViT") else ""
            return (capture[:found.start()] + keep + capture[found.end():]).strip(), int(found.group(1))
    return capture, 0


def _describe(name: str) -> tuple[str, str, str, bool, bool] | None:
    """(kind, query axis, key axis, transpose the last two capture axes, softmax rows) of a map; None = not a map."""
    rules = (
        (rf"^class tokens: {_M} self-attention$", "self-attention", "{0} class token", "{0} class token"),
        (rf"^class tokens: {_M} -> {_M} cross-attention$", "cross-attention", "{0} class token", "{1} class token"),
        (rf"^{_PATH}{_M} self-attention$", "self-attention", "{1} segment", "{1} segment"),
        (rf"^{_PATH}{_M} -> {_M} cross-attention$", "cross-attention", "{1} segment", "{2} segment"),
        (rf"^{_PATH}{_M} CMA -> audio\+visual segments$", "cross-attention", "{1} segment", "audio+visual segment"),
        (rf"^{_PATH}{_M} CMA -> audio⊕visual segments$", "cross-attention", "{1} segment", "audio⊕visual segment"),
        (rf"^{_M} SA segment weights$", "segment weights", "weight", "{0} segment"),
        (rf"^{_M} ViT self-attention$", "self-attention", "{0} segment+class token", "{0} segment+class token"),
        (r"^audio-visual ViT self-attention$", "self-attention", "audio+visual class token",
         "audio+visual class token"),
        (rf"^{_M} grouping: groups -> members cross-attention$", "cross-attention", "{0} class token", "{0} segment"),
        (r"^audio HAN grouping: groups -> members cross-attention$", "cross-attention", "visual segment",
         "audio segment"),
        (r"^audio-visual grouping: groups -> members cross-attention$", "cross-attention", "visual class token",
         "audio class token"),
        (rf"^{_M} assignment( \(soft scores\))?$", "assignment maps", "{0} segment", "{0} class token"),
        (r"^audio HAN assignment( \(soft scores\))?$", "assignment maps", "audio segment", "visual segment"),
        (r"^audio-visual assignment( \(soft scores\))?$", "assignment maps", "audio class token",
         "visual class token"),
        (rf"^{_M} (?:encoder|decoder) self-attention$", "self-attention", "{0} segment", "{0} segment"),
        (rf"^{_M} decoder -> {_M} messengers$", "cross-attention", "{0} segment", "{1} messenger"),
        (rf"^{_M} decoder -> bottleneck tokens$", "cross-attention", "{0} segment", "bottleneck token"),
        (rf"^{_M} decoder -> {_M} context$", "cross-attention", "{0} segment", "{1} segment"),
        (rf"^{_M} messengers class affinity$", "messengers", "{0} messenger", "class"),
        (rf"^MSDU {_M} temporal attention$", "temporal attention", "class", "{0} segment"),
    )
    for pattern, kind, query, key in rules:
        found = re.match(pattern, name)
        if found:
            groups = [g or "" for g in found.groups()]  # with a path prefix, group 0 is the path
            transpose = kind == "assignment maps" or kind == "temporal attention"
            softmax = kind not in ("messengers", "segment weights")
            return kind, query.format(*groups), key.format(*groups), transpose, softmax
    if "->" in name or "attention" in name:  # a model added later: generic labels, still shown
        return ("self-attention" if "self-attention" in name else "cross-attention"), "query", "key", False, True
    return None


def _labels(axis: str, n: int) -> tuple[str, ...]:
    """Tick labels of an axis described by `_describe`, for n tokens."""
    classes = CLASSES if n == NUM_CLASSES else tuple(f"token {i}" for i in range(n))
    if axis == "audio+visual segment":
        return tuple(f"{m} {t}" for m in ("audio", "visual") for t in range(n // 2))
    if axis == "audio+visual class token":
        half = CLASSES if n == 2 * NUM_CLASSES else tuple(f"token {i}" for i in range(n // 2))
        return tuple(f"{m}: {c}" for m in ("audio", "visual") for c in half)
    if axis.endswith("segment+class token"):
        return tuple(f"seg {t}" for t in range(n - NUM_CLASSES)) + CLASSES
    if axis.endswith("segment"):  # MBT's encoders append their bottleneck tokens to the T segments
        return tuple(str(t) for t in range(min(n, NUM_SEGMENTS))) + tuple(
            f"bottleneck {i}" for i in range(n - NUM_SEGMENTS))
    if axis.endswith("class token") or axis == "class":
        return classes
    if axis.endswith("messenger"):
        return tuple(f"messenger {i}" for i in range(n))
    if axis == "bottleneck token":
        return tuple(f"bottleneck {i}" for i in range(n))
    return tuple(f"{axis} {i}" for i in range(n)) if n > 1 else (axis,)


def _axis(axis: str, n: int) -> tuple[str, tuple[str, ...]]:
    """Title and tick labels of an axis of n tokens."""
    mbt = axis in ("audio segment", "visual segment") and n > NUM_SEGMENTS
    title = f"{axis} + bottleneck token" if mbt else axis
    return title, _labels(axis, n)


def _as_slices(weights: np.ndarray, transpose: bool) -> tuple[np.ndarray, bool]:
    """A capture (B, ...) -> (B, S, H, Q, K) and whether the S axis holds segments."""
    if weights.ndim == 2:  # (B, K): one weight per key (CM-PIE's segment weights)
        return weights[:, None, None, None, :], False
    if weights.ndim == 3:  # (B, Q, K) single-head map; assignment / temporal attention transposed to rows
        w = weights.transpose(0, 2, 1) if transpose else weights
        return w[:, None, None], False
    if weights.ndim == 4:  # (B, H, Q, K)
        return weights[:, None], False
    return weights, True  # (B, T, H, Q, K): one map per segment (CM-Co class tokens)


def maps_from_captures(captures: dict[str, torch.Tensor | np.ndarray]) -> list[AttentionMap]:
    """The attention-like maps among a forward's captures, averaged over its batch, in KINDS order."""
    maps = []
    for capture, value in captures.items():
        name, layer = _layer(capture)
        described = _describe(name)
        if described is None:
            continue
        kind, query, key, transpose, softmax = described
        array = value.float().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, np.float32)
        slices, per_segment = _as_slices(array, transpose)
        mean = slices.mean(axis=0).astype(np.float32)  # (S, H, Q, K)
        (q_title, q_labels), (k_title, k_labels) = _axis(query, mean.shape[2]), _axis(key, mean.shape[3])
        maps.append(AttentionMap(name, capture, kind, layer, mean, q_title, q_labels, k_title, k_labels,
                                 "segment" if per_segment else None, softmax, array.shape[0]))
    return sorted(maps, key=lambda m: KINDS.index(m.kind))


def video_batch(split: Split, rows: Sequence[int]) -> Batch:
    """The features and weak labels of some videos of a split as a Batch (rows in the given order)."""
    index = np.asarray(rows, dtype=np.int64)
    streams = split.features().load_rows(index)
    return Batch(torch.from_numpy(streams["vggish"]), torch.from_numpy(streams["res152"]),
                 torch.from_numpy(streams["r2plus1d_18"]), torch.from_numpy(split.labels[index]).float(),
                 index=torch.from_numpy(index))


@torch.no_grad()
def capture_maps(model: torch.nn.Module, split: Split, rows: Sequence[int], batch_size: int = 64
                 ) -> list[AttentionMap]:
    """Run the model (eval mode, captures on) over the given videos; their maps averaged over the videos."""
    was_training = model.training
    model.eval()
    sums: dict[str, np.ndarray] = {}
    n = 0
    try:
        for start in range(0, len(rows), batch_size):
            part = list(rows[start:start + batch_size])
            for name, value in model(video_batch(split, part), capture=True).captures.items():
                if _describe(_layer(name)[0]) is None:  # features, tokens, predictions: not maps
                    continue
                total = value.float().sum(dim=0).cpu().numpy()  # sum over the batch, averaged below
                sums[name] = sums[name] + total if name in sums else total
            n += len(part)
    finally:
        model.train(was_training)
    maps = maps_from_captures({k: (v / max(n, 1))[None] for k, v in sums.items()})
    return [replace(m, videos=n) for m in maps]


def group_maps(maps: list[AttentionMap]) -> dict[str, dict[str, list[AttentionMap]]]:
    """kind -> map name -> its layers in order (kinds in KINDS order, names in capture order)."""
    grouped: dict[str, dict[str, list[AttentionMap]]] = {}
    for m in maps:
        grouped.setdefault(m.kind, {}).setdefault(m.name, []).append(m)
    for names in grouped.values():
        for layers in names.values():
            layers.sort(key=lambda m: m.layer)
    return grouped


def videos_with_class(split: Split, class_index: int, limit: int | None = None) -> np.ndarray:
    """Rows of the videos containing a class (weak label, or audio or visual truth where annotated), in split
    order, at most `limit` of them."""
    present = split.labels[:, class_index] > 0
    if split.has_truth:
        present |= split.gt_audio[:, :, class_index].any(1) | split.gt_visual[:, :, class_index].any(1)
    rows = np.flatnonzero(present)
    return rows if limit is None else rows[:limit]


def messenger_table(maps: list[AttentionMap], top: int = 3):
    """What each MMT messenger carries: its `top` classes by affinity, one row per (source modality, messenger)."""
    import pandas as pd

    rows = []
    for m in maps:
        if m.kind != "messengers":
            continue
        affinity = m.matrix()  # (n, C)
        for i, label in enumerate(m.query_labels):
            order = np.argsort(-affinity[i])[:top]
            rows.append({"messengers": m.name.removesuffix(" class affinity"), "messenger": label,
                         **{f"top {j + 1}": f"{m.key_labels[c]} ({affinity[i, c]:.2f})" for j, c in enumerate(order)}})
    return pd.DataFrame(rows)


def map_flag(m: AttentionMap, z: np.ndarray) -> str | None:
    """Why a map (its shown matrix `z`, Q x K) says nothing, or None: a softmax over a single key (every weight 1.0
    by construction), a near-uniform softmax (every row within 10 % of 1/K), or a near-constant sigmoid map."""
    if z.size == 0:
        return None
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    if m.softmax and z.shape[1] == 1:
        return (f"trivial: each {m.query_title} attends to a single {m.key_title}, so every weight is exactly 1.0 by "
                "construction (a softmax over one key); the map carries no information.")
    if m.softmax:
        uniform = 1.0 / z.shape[1]
        if float(np.nanmax(np.abs(z - uniform))) < 0.1 * uniform:
            return (f"near-uniform: weights {lo:.4g}-{hi:.4g}, uniform would be 1/{z.shape[1]} = {uniform:.4g}: every "
                    f"{m.query_title} spreads its attention evenly; stretched colours would draw stripes that mean "
                    "nothing.")
    elif hi - lo < 0.02:
        return f"near-constant: values {lo:.3f}-{hi:.3f}; stretched colours would exaggerate differences under 0.02."
    return None


def map_figure(m: AttentionMap, head: int | None = None, slice_: int | None = None, title: str = "",
               stretch: bool = False):
    """Heat map of one map: rows = query tokens, columns = key tokens, labelled axes. Colours span the fixed 0-1
    range of weights and probabilities, so maps compare at a glance; `stretch` spans the map's own min-max instead
    (shows small differences, and exaggerates them: see `map_flag`)."""
    import plotly.graph_objects as go

    z = m.matrix(head, slice_)
    lo, hi = (float(np.nanmin(z)), float(np.nanmax(z))) if stretch and z.size else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5e-3, hi + 0.5e-3
    fig = go.Figure(go.Heatmap(
        z=z, x=list(m.key_labels), y=list(m.query_labels), zmin=lo, zmax=hi,
        colorscale="Viridis", colorbar={"title": ("weight" if m.softmax else "value") + (" (stretched)" if stretch
                                                                                          else "")},
        hovertemplate=f"{m.query_title}: %{{y}}<br>{m.key_title}: %{{x}}<br>%{{z:.4f}}<extra></extra>"))
    fig.update_layout(title=title or m.name, height=max(220, 140 + 16 * len(m.query_labels)),
                      margin={"l": 10, "r": 10, "t": 40, "b": 30},
                      xaxis={"title": m.key_title, "type": "category"},
                      yaxis={"title": m.query_title, "type": "category", "autorange": "reversed"})
    return fig


# --- cross-audio ------------------------------------------------------------------------------------------------


def is_mmt_family(model_name: str) -> bool:
    """MMT and its ablations (registered as "mmt" and "mmt_*"): the models the cross-audio view was made for."""
    return model_name == "mmt" or model_name.startswith("mmt_")


@dataclass(frozen=True)
class CrossAudio:
    """One video's visual predictions with its own audio and with another video's audio swapped in."""

    own: np.ndarray  # (T, C) visual segment probabilities, own audio
    swapped: np.ndarray  # (T, C) visual segment probabilities, swapped-in audio
    own_video: np.ndarray  # (C,) visual video-level probability (v_prob), own audio
    swapped_video: np.ndarray  # (C,)

    @property
    def difference(self) -> np.ndarray:
        return self.swapped - self.own  # (T, C)


@torch.no_grad()
def cross_audio(model: torch.nn.Module, split: Split, row: int, audio_row: int) -> CrossAudio:
    """Visual predictions of video `row` with its own audio features and with those of video `audio_row` (the
    visual features and everything else unchanged); `audio_row == row` gives the plain prediction twice."""
    batch = video_batch(split, [row, row])
    swapped_in = video_batch(split, [audio_row]).audio  # (1, T, 128)
    batch = batch.replace(audio=torch.cat([batch.audio[:1], swapped_in]))  # (2, T, 128): own, swapped
    was_training = model.training
    model.eval()
    try:
        out = model(batch)
    finally:
        model.train(was_training)
    seg, video = out.visual_segment_prob.float().cpu().numpy(), out.visual_prob.float().cpu().numpy()
    return CrossAudio(seg[0], seg[1], video[0], video[1])


def cross_audio_classes(result: CrossAudio, split: Split, row: int, audio_row: int, threshold: float = 0.5,
                        min_change: float = 0.1) -> list[int]:
    """Classes worth a row: weakly labelled in either video, predicted (>= threshold) with either audio, or moved by
    at least `min_change` by the swap. All classes when none is."""
    present = (split.labels[row] > 0) | (split.labels[audio_row] > 0)
    present |= (result.own >= threshold).any(0) | (result.swapped >= threshold).any(0)
    present |= (np.abs(result.difference) >= min_change).any(0)
    chosen = np.flatnonzero(present)
    return [int(c) for c in (chosen if len(chosen) else range(NUM_CLASSES))]


def cross_audio_figure(result: CrossAudio, classes: list[int], title: str = ""):
    """Three heat maps side by side (rows = classes, columns = segments): own audio, swapped audio, difference."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [CLASSES[c] for c in classes]
    segments = list(range(NUM_SEGMENTS))
    fig = make_subplots(1, 3, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("own audio", "swapped-in audio", "swapped − own"))
    for i, (z, scale, bounds) in enumerate(((result.own, "Blues", (0, 1)), (result.swapped, "Blues", (0, 1)),
                                            (result.difference, "RdBu", (-1, 1)))):
        fig.add_trace(go.Heatmap(z=z[:, classes].T, x=segments, y=names, zmin=bounds[0], zmax=bounds[1],
                                 colorscale=scale, reversescale=i == 2, showscale=i > 0,
                                 # vertical, right of the plots, one above the other: horizontal bars under the
                                 # plots collided with the x-axis titles
                                 colorbar={"x": 1.01, "xanchor": "left", "y": 1.0 if i == 1 else 0.0,
                                           "yanchor": "top" if i == 1 else "bottom", "len": 0.46, "thickness": 12,
                                           "title": {"text": "probability" if i == 1 else "change",
                                                     "side": "right"}},
                                 hovertemplate="%{y}<br>segment %{x}<br>%{z:.2f}<extra></extra>"), 1, i + 1)
    fig.update_layout(title=title, height=200 + 22 * len(classes), margin={"l": 10, "r": 90, "t": 60, "b": 50})
    fig.update_xaxes(title_text="segment", dtick=1)
    fig.update_yaxes(autorange="reversed")
    return fig
