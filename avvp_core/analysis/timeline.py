"""Per-video timelines: ground truth and each model as aligned rows per class and modality over the 10
segments, every cell with its probability, decision and outcome (TP / FP / FN), as a table and a figure.

Rows are grouped class by class, then modality (audio, visual, audio-visual), then truth followed by each
model, so a model's row sits right under the truth it is judged against. Audio-visual probability of a
model = min(audio, visual) (an AV event needs both); its decision = audio decision AND visual decision, as
the official protocol builds the AV matrix.

A *gated-out* cell is a model cell whose segment probability reaches the threshold but whose decision is false: the
model's video-level probability for that class (fused `video`, or the modality's own `video_audio` / `video_visual`,
as its paper gates) stays below it, so the official protocol zeroes the whole class for the video. Such cells look
confident (dark) and carry no decision; the figure and the player mark them and say why.

Every row decides at the protocol's 0.5 unless its Source carries other thresholds (analysis.thresholds): the same
checkpoint can then stand twice, at 0.5 and at thresholds tuned on val, so a video shows what tuning changes. Every
decision here (cells, gated-out marks, the classes listed, the whole-clip note) follows the row's own thresholds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..constants import CLASSES, NUM_SEGMENTS
from ..data.dataset import Split
from ..metrics import THRESHOLD
from ..predictions import Predictions
from .thresholds import PROTOCOL, Thresholds

MODALITY_NAMES = ("audio", "visual", "audio-visual")
TRUTH = "ground truth"
OUTCOMES = {(True, True): "TP", (True, False): "FP", (False, True): "FN", (False, False): ""}
GATING_NOTES = {"fused": "HAN-style gating: the fused audio-visual video-level probability gates both modalities",
                "modality": "modality gating: the audio (visual) video-level probability gates audio (visual) cells",
                "none": "no video-level gating"}


class Source(NamedTuple):
    """One model row's inputs: its predictions on the split, its gating and its decision thresholds. A plain
    (predictions, gating) pair is a Source at the protocol's 0.5 (`sources`)."""

    preds: Predictions
    gating: str
    thresholds: Thresholds = PROTOCOL

    def decisions(self) -> tuple[np.ndarray, np.ndarray]:
        return self.preds.decisions(self.gating, **self.thresholds.gate_kwargs())

    def reached(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(T, C) audio and visual: the segment probability reaches this row's threshold (gate aside)."""
        return self.preds.audio[row] >= self.thresholds.audio, self.preds.visual[row] >= self.thresholds.visual


def sources(models: dict[str, tuple]) -> dict[str, Source]:
    """`models` as Sources: each value (predictions, gating) or (predictions, gating, thresholds)."""
    return {name: value if isinstance(value, Source) else Source(*value) for name, value in models.items()}


def video_classes(split: Split, row: int, decisions: dict[str, tuple[np.ndarray, np.ndarray]],
                  confident: list[np.ndarray] | None = None) -> list[int]:
    """Classes worth a row for this video: annotated in either modality, weakly labelled, predicted by a model, or
    (with `confident`, (T, C) booleans of this video: a probability reaching its row's threshold) confident in a
    segment though gated out."""
    present = split.labels[row] > 0
    if split.has_truth:
        present |= split.gt_audio[row].any(0) | split.gt_visual[row].any(0)
    for dec_a, dec_v in decisions.values():
        present |= dec_a[row].any(0) | dec_v[row].any(0)
    for reached in confident or []:
        present |= reached.any(0)
    return [int(c) for c in np.flatnonzero(present)]


def video_level(preds: Predictions, gating: str, row: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(C,) video-level probabilities gating the audio and the visual cells of one video; None without gating."""
    gating = gating or preds.default_gating()
    if gating == "fused" and preds.video is not None:
        return preds.video[row], preds.video[row]
    if gating == "modality" and preds.video_audio is not None and preds.video_visual is not None:
        return preds.video_audio[row], preds.video_visual[row]
    return None


# A model whose detections span the whole clip this often cannot say where in a video an event is (MGN's official
# segment head: its video-level probability times 1.04-1.23, avvp_core/models/mgn.py); the truth's share on SynthLLP
# mini test is 0.39 (audio) / 0.63 (visual), the shipped zoo's other models 0.13-0.93.
WHOLE_CLIP_FLAG = 0.99


def whole_clip_share(decisions: tuple[np.ndarray, np.ndarray]) -> dict[str, tuple[float, int]]:
    """Per modality: of the (video, class) pairs with at least one positive segment, the share positive in every
    segment, and how many pairs that is out of. `decisions`: (N, T, C) audio and visual, as Predictions.decisions
    gives them (or the truth)."""
    out = {}
    for modality, dec in zip(("audio", "visual"), decisions, strict=True):
        detected = dec.any(1)  # (N, C)
        n = int(detected.sum())
        out[modality] = (float(dec.all(1)[detected].mean()) if n else float("nan"), n)
    return out


def event_pieces(decisions: tuple[np.ndarray, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per modality (audio, visual, and av: both at once), how the positive segments come in events (maximal runs
    of a class in a video, as the event-level metrics cut them): events, their mean length in segments, and events
    per detected (video, class) pair. A model whose decisions flicker within an event has more, shorter events than
    the truth, which event-level F1 (a match needs tIoU >= 0.5) punishes while segment-level F1 barely moves."""
    audio, visual = (np.asarray(d, bool) for d in decisions)
    out = {}
    for modality, dec in (("audio", audio), ("visual", visual), ("av", audio & visual)):
        starts = dec & ~np.concatenate([np.zeros_like(dec[:, :1]), dec[:, :-1]], axis=1)  # (N, T, C)
        events, pairs, segments = int(starts.sum()), int(dec.any(1).sum()), int(dec.sum())
        out[modality] = {"events": events, "mean_length": segments / events if events else float("nan"),
                         "events_per_pair": events / pairs if pairs else float("nan")}
    return out


def constant_over_time_note(name: str, preds: Predictions, gating: str, split: Split,
                            thresholds: Thresholds = PROTOCOL) -> str | None:
    """One line when a model's segment decisions (at `thresholds`) do not vary within a video on this split (each
    detection spans the whole clip in at least WHOLE_CLIP_FLAG of its detected (video, class) pairs in both
    modalities), beside the truth's share; None otherwise."""
    got = whole_clip_share(Source(preds, gating, thresholds).decisions())
    if not all(n and share >= WHOLE_CLIP_FLAG for share, n in got.values()):
        return None
    truth = ""
    if split.has_truth:
        annotated = whole_clip_share((split.gt_audio > 0, split.gt_visual > 0))
        truth = f"; in the annotations {annotated['audio'][0]:.0%} / {annotated['visual'][0]:.0%}"
    return (f"{name}: every event it detects on this split spans the whole 10 s ({got['audio'][0]:.0%} of its "
            f"{got['audio'][1]:,} audio and {got['visual'][0]:.0%} of its {got['visual'][1]:,} visual detections"
            f"{truth}). Its segment decisions are its video-level ones, so its rows cannot show where in a clip an "
            "event is; its segment-level figures count whole-clip guesses.")


def timeline_frame(split: Split, row: int, models: dict[str, tuple]) -> pd.DataFrame:
    """Long table of one video: one line per (class, modality, source, segment).

    `models` maps a display name to its Source, or to (its predictions on this split, its gating) at the protocol's
    0.5. Columns: class, modality, source, segment, probability (NaN for truth), decision, truth, outcome, video (the
    video-level probability that gates the cell, NaN for truth and ungated models), gated (the probability reaches
    the row's threshold, no decision) and the row's audio / visual / video thresholds (NaN for truth; video NaN
    without a gate).
    """
    models = sources(models)
    decisions = {name: source.decisions() for name, source in models.items()}
    has_truth = split.has_truth
    gt = (split.gt_audio[row].astype(bool), split.gt_visual[row].astype(bool)) if has_truth else None
    gates = {name: video_level(source.preds, source.gating, row) for name, source in models.items()}
    reached = {name: source.reached(row) for name, source in models.items()}
    records = []
    confident = [r for pair in reached.values() for r in pair]
    for c in video_classes(split, row, decisions, confident):
        for m, modality in enumerate(MODALITY_NAMES):
            truth = None
            if gt is not None:
                truth = gt[0][:, c] & gt[1][:, c] if m == 2 else gt[m][:, c]  # (T,)
                for t in range(NUM_SEGMENTS):
                    records.append((CLASSES[c], modality, TRUTH, t, np.nan, bool(truth[t]), bool(truth[t]), "",
                                    np.nan, False, np.nan, np.nan, np.nan))
            for name, source in models.items():
                preds, at = source.preds, source.thresholds
                dec_a, dec_v = decisions[name]
                prob_a, prob_v = preds.audio[row, :, c], preds.visual[row, :, c]
                prob = np.minimum(prob_a, prob_v) if m == 2 else (prob_a, prob_v)[m]
                dec = dec_a[row, :, c] & dec_v[row, :, c] if m == 2 else (dec_a, dec_v)[m][row, :, c]
                hit_a, hit_v = reached[name][0][:, c], reached[name][1][:, c]
                hit = hit_a & hit_v if m == 2 else (hit_a, hit_v)[m]  # (T,): an AV cell needs both modalities
                level = gates[name]
                video = np.nan if level is None else float(min(level[0][c], level[1][c]) if m == 2 else level[m][c])
                gate_at = np.nan if level is None else at.video
                for t in range(NUM_SEGMENTS):
                    true = bool(truth[t]) if truth is not None else False
                    outcome = OUTCOMES[(bool(dec[t]), true)] if truth is not None else ""
                    gated = level is not None and bool(hit[t]) and not bool(dec[t])
                    records.append((CLASSES[c], modality, name, t, float(prob[t]), bool(dec[t]), true, outcome,
                                    video, gated, at.audio, at.visual, gate_at))
    return pd.DataFrame.from_records(records, columns=FRAME_COLUMNS)


FRAME_COLUMNS = ["class", "modality", "source", "segment", "probability", "decision", "truth", "outcome", "video",
                 "gated", "audio_threshold", "visual_threshold", "video_threshold"]


def custom_thresholds(frame: pd.DataFrame) -> bool:
    """Whether a row of this timeline decides at thresholds other than the protocol's 0.5."""
    if "audio_threshold" not in frame:
        return False
    held = frame[list(FRAME_COLUMNS[-3:])].to_numpy(float)
    return bool(np.any(~np.isnan(held) & ~np.isclose(held, THRESHOLD)))


def _markers(rows: pd.DataFrame, name: str, symbol: str, colour: str):
    import plotly.graph_objects as go

    return go.Scatter(
        x=rows["segment"].to_numpy(), y=[f"{c} · {m} · {s}" for c, m, s in zip(rows["class"], rows["modality"],
                                                                               rows["source"], strict=True)],
        mode="markers", name=name, marker={"symbol": symbol, "size": 18, "color": colour, "line": {"width": 2}},
        customdata=np.stack([rows["class"], rows["modality"], rows["source"], rows["segment"]], axis=-1)
        if len(rows) else None, hoverinfo="skip")


def timeline_figure(frame: pd.DataFrame, title: str = ""):
    """One heatmap (rows = class · modality · source, columns = segments): model rows show probability as heat,
    truth rows show the annotation; cells carry TP / FP / FN. Positive decisions are drawn as square markers of
    an overlaid scatter (heatmaps return no selection in Streamlit; scatter points do); gated-out cells (probability
    >= 0.5, no decision: the video-level gate is closed) as crossed orange squares of a second scatter."""
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
                               zmin=0, zmax=1, colorscale="Blues", showlegend=False,
                               colorbar={"title": {"text": "probability", "side": "right"}, "thickness": 14},
                               hovertemplate="%{y}<br>segment %{x}<br>value %{z:.2f} %{text}<extra></extra>"))
    models = frame[frame["source"] != TRUTH]
    at = "its row's thresholds" if custom_thresholds(frame) else "0.5"
    fig.add_trace(_markers(models[models["decision"]], f"decided present (≥ {at}, video-level gate open)",
                           "square-open", "#d62728"))
    gated = models[models["gated"]] if "gated" in models else models.iloc[:0]
    if len(gated):
        gate_at = "0.5" if at == "0.5" else "its gate threshold"
        fig.add_trace(_markers(gated, f"gated out: ≥ {at} but the video-level probability < {gate_at}, so no "
                                      "decision", "square-x-open", "#ff8c00"))
    fig.update_layout(title=title, height=150 + 26 * len(keys), margin={"l": 10, "r": 10, "t": 40, "b": 30},
                      xaxis={"title": "segment (second)", "dtick": 1}, yaxis={"autorange": "reversed"},
                      showlegend=True, legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0,
                                               "yanchor": "bottom"})
    return fig


def truth_at(split: Split, row: int) -> list[list[str]]:
    """Per segment, what is annotated there ("Dog (audio, visual)"), for the player's caption."""
    if not split.has_truth:
        return [[] for _ in range(NUM_SEGMENTS)]
    out = []
    for t in range(NUM_SEGMENTS):
        a, v = split.gt_audio[row, t].astype(bool), split.gt_visual[row, t].astype(bool)
        out.append([f"{CLASSES[c]} ({'audio, visual' if a[c] and v[c] else 'audio' if a[c] else 'visual'})"
                    for c in np.flatnonzero(a | v)])
    return out


def player_payload(frame: pd.DataFrame, *, video_uri: str | None, video_key: str, thumbs: list[str] | None = None,
                   title: str = "", start: int = 0, no_video: str = "", truth: list[list[str]] | None = None,
                   gatings: dict[str, str] | None = None, offset: float = 0.0) -> dict:
    """Everything the synchronised player (avvp_core/player/index.html) draws, JSON-able: rows in the figure's
    order, each with its video-level gate threshold and 10 cells {z, on, gated, outcome, video}; the video as a data URI
    (or None and why); whether a row decides at thresholds other than 0.5 (the legend says so). `offset`:
    the second of the video where segment 0 starts (a 10-second window of a longer clip)."""
    rows = []
    for (cls, modality, source), cells in frame.groupby(["class", "modality", "source"], sort=False):
        cells = cells.sort_values("segment")
        is_truth = source == TRUTH
        gate_at = cells["video_threshold"].iloc[0] if "video_threshold" in cells else THRESHOLD
        rows.append({"cls": cls, "modality": modality, "source": source, "truth": bool(is_truth),
                     "gate_at": THRESHOLD if pd.isna(gate_at) else round(float(gate_at), 2), "cells": [
            {"z": float(r.truth) if is_truth else round(float(r.probability), 3),
             "on": bool(r.decision) and not is_truth, "gated": bool(getattr(r, "gated", False)), "outcome": r.outcome,
             "video": None if pd.isna(getattr(r, "video", np.nan)) else round(float(r.video), 3)}
            for r in cells.itertuples(index=False)]})
    used = sorted(set((gatings or {}).values()) - {"none"})
    note = "; ".join(GATING_NOTES[g] for g in used if g in GATING_NOTES) or GATING_NOTES["none"]
    return {"rows": rows, "video": video_uri, "video_key": video_key, "thumbs": thumbs or [], "title": title,
            "start": int(start), "no_video": no_video, "truth_at": truth or [], "gating_note": note,
            "any_gated": bool(frame["gated"].any()) if "gated" in frame else False, "offset": float(offset),
            "custom_thresholds": custom_thresholds(frame)}


def default_models(cards: dict) -> list[str]:
    """The models a first visit shows: HAN (the baseline every paper compares with; its plain recipe when there are
    several, the best by test segment Type@AV) and the best other method by that figure. `cards`: name -> card
    (model, config, metrics), as ui.checkpoints_for gives."""
    def figure(name: str) -> float:
        value = (cards[name].metrics.get("test") or {}).get("segment/type")
        return float(value) if value is not None else float("-inf")

    names = list(cards)
    if not names:
        return []
    han = [n for n in names if cards[n].model == "han"]
    plain = [n for n in han if (cards[n].config.get("recipe") or "plain") == "plain"]
    first = max(plain or han or names, key=figure)
    others = [n for n in names if n != first and cards[n].model != cards[first].model] or [n for n in names
                                                                                            if n != first]
    return [first] + ([max(others, key=figure)] if others else [])


def find_video(dataset, wanted: str, prefer: str | None = None) -> tuple[str, int] | None:
    """(split, row) of a video named in a link: its filename, or its 11-character YouTube id; the `prefer` split
    first, then test, then val. None when no video matches."""
    wanted = wanted.strip()
    order = [s for s in dict.fromkeys([prefer, "test", "val"]) if s in ("test", "val") and s in
             dataset.available_splits]
    for exact in (True, False):
        for name in order:
            filenames = dataset.split(name).filenames
            for i, f in enumerate(filenames):
                if (f == wanted) if exact else (wanted and f.startswith(wanted)):
                    return name, i
    return None
