"""Error breakdown: which kind of mistake a model makes in which video, and which classes it confuses (numpy only).

The unit is a *cell*: one segment of one class in one modality. Every wrong cell gets exactly one type, tried in
this order:

    predicted, not annotated in that modality (false positive cell):
      audio leak   the class is annotated in *audio only* there and the model says visible (a visual FP over audio
                   truth); "visual leak" likewise: a visual-only event predicted audible
      boundary     the run of predicted segments holding the cell also holds a correct cell (event found, edge off)
      wrong class  another class is annotated in that segment and modality (the model named the wrong one)
      false        otherwise: an event predicted where nothing of this modality is annotated (mostly a class absent
                   from the video)
    annotated, not predicted (missed cell):
      boundary     the annotated run holding the cell has a correct cell (event found, edge off)
      missed       otherwise: the whole event was missed ("missed events" counts those events)

Arrays are (N, T, C) 0/1 as elsewhere; each error type comes back as (M, N, T, C) bool, M = the modality of the
wrong cell (0 audio, 1 visual).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import CLASSES, NUM_CLASSES

ERROR_TYPES: tuple[str, ...] = ("audio leak", "visual leak", "missed", "false", "boundary", "wrong class")
CONFUSION_MODALITIES: tuple[str, ...] = ("audio and visual", "audio", "visual")
NOTHING = "(nothing)"  # confusion column: a class annotated and not decided where no other class is decided either


def _spread(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cells of `mask` connected along T (axis 1) to a `seed` cell inside `mask`: whole runs touched by a seed."""
    grown = seed & mask
    for _ in range(mask.shape[1] - 1):
        nxt = grown.copy()
        nxt[:, 1:] |= grown[:, :-1]
        nxt[:, :-1] |= grown[:, 1:]
        nxt &= mask
        if np.array_equal(nxt, grown):
            break
        grown = nxt
    return grown


def error_cells(pred_audio: np.ndarray, pred_visual: np.ndarray, gt_audio: np.ndarray, gt_visual: np.ndarray
                ) -> dict[str, np.ndarray]:
    """Every wrong cell typed once (see the module docstring).

    Args:
        pred_audio, pred_visual: (N, T, C) binary decisions.
        gt_audio, gt_visual: (N, T, C) dense truth.

    Returns:
        {error type: (M, N, T, C) bool}, keys ERROR_TYPES; also "correct" (M, N, T, C).
    """
    pred = np.stack([pred_audio, pred_visual]).astype(bool)  # (M, N, T, C)
    gt = np.stack([gt_audio, gt_visual]).astype(bool)
    other = gt[::-1]  # the other modality's truth
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # (M·N, T, C): runs never cross videos or modalities
    tp, fp, fn = pred & gt, pred & ~gt, ~pred & gt
    leak = fp & other
    boundary_fp = fp & ~leak & _spread(flat(tp), flat(pred)).reshape(pred.shape)
    rest = fp & ~leak & ~boundary_fp
    segment_busy = gt.any(axis=3, keepdims=True)  # (M, N, T, 1): some class annotated there in that modality
    boundary_fn = fn & _spread(flat(tp), flat(gt)).reshape(gt.shape)
    audio_leak, visual_leak = np.zeros_like(leak), np.zeros_like(leak)
    audio_leak[1], visual_leak[0] = leak[1], leak[0]  # audio-only truth predicted visible, and the reverse
    return {"audio leak": audio_leak, "visual leak": visual_leak, "missed": fn & ~boundary_fn,
            "false": rest & ~segment_busy, "boundary": boundary_fp | boundary_fn, "wrong class": rest & segment_busy,
            "correct": tp}


def missed_events(cells: dict[str, np.ndarray]) -> np.ndarray:
    """(M, N, C) number of annotated events (runs) with no correct segment at all."""
    missed = cells["missed"]
    starts = missed.copy()
    starts[:, :, 1:] &= ~missed[:, :, :-1]
    return starts.sum(axis=2)


def video_table(filenames: list[str], cells: dict[str, np.ndarray], f1: dict[str, np.ndarray],
                class_index: int | None = None) -> pd.DataFrame:
    """One row per video: its F1 under each model, the F1 gap of the first two, and the first model's errors.

    Args:
        filenames: the split's N file names (row i of the split = row i here).
        cells: `error_cells` of the model whose errors are counted.
        f1: {model name: (N,) per-video F1 in [0, 1]} (first = the model whose cells are given).
        class_index: count only this class's cells and keep only videos where it is annotated or wrong.

    Returns:
        Columns: row, video, "F1 <name>" per model (percent), "F1 gap" (first − second, when two), one column per
        error type (cells), "missed events", "errors" (all wrong cells).
    """
    pick = slice(None) if class_index is None else slice(class_index, class_index + 1)
    table = pd.DataFrame({"row": np.arange(len(filenames)), "video": list(filenames)})
    names = list(f1)
    for name in names:
        table[f"F1 {name}"] = 100.0 * np.asarray(f1[name], dtype=np.float64)
    if len(names) >= 2:
        table["F1 gap"] = table[f"F1 {names[0]}"] - table[f"F1 {names[1]}"]
    for kind in ERROR_TYPES:
        table[kind] = cells[kind][..., pick].sum(axis=(0, 2, 3))
    table["missed events"] = missed_events(cells)[..., pick].sum(axis=(0, 2))
    table["errors"] = table[list(ERROR_TYPES)].sum(axis=1)
    if class_index is not None:
        involved = cells["correct"][..., pick].any(axis=(0, 2, 3)) | (table["errors"].to_numpy() > 0)
        table = table[involved]
    return table.reset_index(drop=True)


def rankings(two_models: bool) -> list[str]:
    """What the error table can be ranked by (largest first, except the F1 of one model: lowest first)."""
    gaps = ["|F1 gap|", "F1 gap (first better)", "F1 gap (second better)"] if two_models else []
    return [*gaps, "F1 (first, lowest first)", "errors", *ERROR_TYPES, "missed events"]


def rank(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sort `video_table` rows by a `rankings` entry; ties keep the split order."""
    if table.empty:
        return table
    if by == "|F1 gap|":
        key = -table["F1 gap"].abs()
    elif by == "F1 gap (first better)":
        key = -table["F1 gap"]
    elif by == "F1 gap (second better)":
        key = table["F1 gap"]
    elif by == "F1 (first, lowest first)":
        key = table[next(c for c in table.columns if c.startswith("F1 "))]
    else:
        key = -table[by]
    order = np.lexsort((table["row"].to_numpy(), key.to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def error_totals(cells_by_model: dict[str, dict[str, np.ndarray]], class_index: int | None = None) -> pd.DataFrame:
    """Long table (model, error, modality, cells) of every error type summed over the split (`class_index`: only
    that class's cells, as `video_table` counts them)."""
    pick = slice(None) if class_index is None else slice(class_index, class_index + 1)
    rows = [(name, kind, modality, int(cells[kind][m][..., pick].sum()))
            for name, cells in cells_by_model.items() for kind in ERROR_TYPES
            for m, modality in enumerate(("audio", "visual"))]
    return pd.DataFrame(rows, columns=["model", "error", "modality", "cells"])


def class_confusion(pred_audio: np.ndarray, pred_visual: np.ndarray, gt_audio: np.ndarray, gt_visual: np.ndarray,
                    modality: str = "audio and visual") -> np.ndarray:
    """For each annotated class, what is predicted in its segments instead.

    Returns:
        (C, C + 1) counts: [c, k] = cells (video, segment, modality) where class c is annotated but not predicted
        and class k is predicted but not annotated; [c, C] = such cells of c with no wrong class predicted at all.
    """
    chosen = {"audio and visual": (0, 1), "audio": (0,), "visual": (1,)}[modality]
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES + 1), dtype=np.int64)
    for m in chosen:
        pred = (pred_audio, pred_visual)[m].astype(bool).reshape(-1, NUM_CLASSES)  # (N·T, C)
        gt = (gt_audio, gt_visual)[m].astype(bool).reshape(-1, NUM_CLASSES)
        missed, false = gt & ~pred, pred & ~gt
        # float64 products go through BLAS and are exact for counts below 2^53; numpy's integer matmul is a plain
        # loop that took 9 s for 10k videos
        confusion[:, :NUM_CLASSES] += np.rint(missed.T.astype(np.float64) @ false.astype(np.float64)).astype(np.int64)
        confusion[:, NUM_CLASSES] += (missed & ~false.any(axis=1, keepdims=True)).sum(axis=0)
    return confusion


def confusion_figure(confusion: np.ndarray, title: str = ""):
    """Heat map of `class_confusion`: rows = annotated class, columns = what was predicted instead."""
    import plotly.graph_objects as go

    shown = np.where(confusion > 0, confusion, np.nan)  # empty cells stay blank
    fig = go.Figure(go.Heatmap(z=shown, x=[*CLASSES, NOTHING], y=list(CLASSES), colorscale="Reds",
                               colorbar={"title": "cells"},
                               hovertemplate="annotated %{y}<br>predicted %{x}<br>%{z} cells<extra></extra>"))
    fig.update_layout(title=title, height=720, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"title": "predicted instead", "tickangle": -45},
                      yaxis={"title": "annotated (missed)", "autorange": "reversed"})
    return fig
