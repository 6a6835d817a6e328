"""Plain, per-video loop form of the official LLP evaluation (AVVP-ECCV20 `eval_metrics.py` as described
in shared/reference/llp_protocol_and_peers.md §3), written independently of `avvp_core.metrics`.

It is deliberately slow and literal: one video at a time, 25 x 10 matrices (rows = classes, columns =
segments), a loop over classes, events extracted with a while loop, matched pair by pair. It exists to
cross-check the vectorised implementation and as the baseline of the speed benchmark; do not use it to
score real runs. It does not import anything from `avvp_core.metrics`, on purpose.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 25
NUM_SEGMENTS = 10


def _to_matrix(video_tc: np.ndarray) -> list[list[int]]:
    """(T, C) 0/1 array of one video -> 25 x 10 list-of-lists matrix [class][segment] of ints."""
    return [[1 if video_tc[t][c] else 0 for t in range(NUM_SEGMENTS)] for c in range(NUM_CLASSES)]


def _and(m1: list[list[int]], m2: list[list[int]]) -> list[list[int]]:
    return [[m1[c][t] * m2[c][t] for t in range(NUM_SEGMENTS)] for c in range(NUM_CLASSES)]


def _f_from_counts(tp: list[int], fp: list[int], fn: list[int]) -> float:
    """Mean per-class F1 over classes that are predicted or present; 1.0 if there is none."""
    scores = []
    for c in range(NUM_CLASSES):
        if tp[c] + fp[c] != 0 or tp[c] + fn[c] != 0:
            scores.append(2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]))
    if len(scores) == 0:
        return 1.0
    return sum(scores) / len(scores)


def _segment_counts(so: list[list[int]], gt: list[list[int]]) -> tuple[list[int], list[int], list[int]]:
    tp = [0] * NUM_CLASSES
    fp = [0] * NUM_CLASSES
    fn = [0] * NUM_CLASSES
    for c in range(NUM_CLASSES):
        for t in range(NUM_SEGMENTS):
            if so[c][t] == 1 and gt[c][t] == 1:
                tp[c] += 1
            elif so[c][t] == 1 and gt[c][t] == 0:
                fp[c] += 1
            elif so[c][t] == 0 and gt[c][t] == 1:
                fn[c] += 1
    return tp, fp, fn


def _extract_events(row: list[int]) -> list[list[int]]:
    """Maximal runs of 1s in one class row, each as a 10-length 0/1 vector."""
    events = []
    t = 0
    while t < NUM_SEGMENTS:
        if row[t] == 1:
            start = t
            while t < NUM_SEGMENTS and row[t] == 1:
                t += 1
            vec = [0] * NUM_SEGMENTS
            for k in range(start, t):
                vec[k] = 1
            events.append(vec)
        else:
            t += 1
    return events


def _matches(e1: list[int], e2: list[int]) -> bool:
    inter = 0
    union = 0
    for t in range(NUM_SEGMENTS):
        if e1[t] == 1 and e2[t] == 1:
            inter += 1
        if e1[t] == 1 or e2[t] == 1:
            union += 1
    return inter >= 0.5 * union and union > 0


def _event_counts(so: list[list[int]], gt: list[list[int]]) -> tuple[list[int], list[int], list[int]]:
    tp = [0] * NUM_CLASSES
    fp = [0] * NUM_CLASSES
    fn = [0] * NUM_CLASSES
    for c in range(NUM_CLASSES):
        pred_events = _extract_events(so[c])
        gt_events = _extract_events(gt[c])
        for p in pred_events:
            found = False
            for g in gt_events:
                if _matches(p, g):
                    found = True
                    break
            if found:
                tp[c] += 1
            else:
                fp[c] += 1
        for g in gt_events:
            found = False
            for p in pred_events:
                if _matches(p, g):
                    found = True
                    break
            if not found:
                fn[c] += 1
    return tp, fp, fn


def _video_scores(counter, so_a, so_v, so_av, gt_a, gt_v, gt_av) -> tuple[float, float, float, float]:
    tp_a, fp_a, fn_a = counter(so_a, gt_a)
    tp_v, fp_v, fn_v = counter(so_v, gt_v)
    tp_av, fp_av, fn_av = counter(so_av, gt_av)
    f_a = _f_from_counts(tp_a, fp_a, fn_a)
    f_v = _f_from_counts(tp_v, fp_v, fn_v)
    f_av = _f_from_counts(tp_av, fp_av, fn_av)
    # Event@AV: audio and visual counts pooled per class
    tp_e = [tp_a[c] + tp_v[c] for c in range(NUM_CLASSES)]
    fp_e = [fp_a[c] + fp_v[c] for c in range(NUM_CLASSES)]
    fn_e = [fn_a[c] + fn_v[c] for c in range(NUM_CLASSES)]
    f_e = _f_from_counts(tp_e, fp_e, fn_e)
    return f_a, f_v, f_av, f_e


def score_loop(
    pred_audio: np.ndarray, pred_visual: np.ndarray, gt_audio: np.ndarray, gt_visual: np.ndarray
) -> dict[str, float]:
    """Official LLP figures in percent for binary (N, T, C) predictions and 0/1 (N, T, C) truth."""
    n_videos = len(pred_audio)
    seg = {"audio": [], "visual": [], "av": [], "event": []}
    evt = {"audio": [], "visual": [], "av": [], "event": []}
    for i in range(n_videos):
        so_a = _to_matrix(pred_audio[i])
        so_v = _to_matrix(pred_visual[i])
        so_av = _and(so_a, so_v)
        gt_a = _to_matrix(gt_audio[i])
        gt_v = _to_matrix(gt_visual[i])
        gt_av = _and(gt_a, gt_v)

        f_a, f_v, f_av, f_e = _video_scores(_segment_counts, so_a, so_v, so_av, gt_a, gt_v, gt_av)
        seg["audio"].append(f_a)
        seg["visual"].append(f_v)
        seg["av"].append(f_av)
        seg["event"].append(f_e)

        f_a, f_v, f_av, f_e = _video_scores(_event_counts, so_a, so_v, so_av, gt_a, gt_v, gt_av)
        evt["audio"].append(f_a)
        evt["visual"].append(f_v)
        evt["av"].append(f_av)
        evt["event"].append(f_e)

    result: dict[str, float] = {}
    for level, lists in (("segment", seg), ("event", evt)):
        audio = 100.0 * sum(lists["audio"]) / n_videos
        visual = 100.0 * sum(lists["visual"]) / n_videos
        av = 100.0 * sum(lists["av"]) / n_videos
        result[f"{level}/audio"] = audio
        result[f"{level}/visual"] = visual
        result[f"{level}/av"] = av
        result[f"{level}/type"] = (audio + visual + av) / 3.0
        result[f"{level}/event"] = 100.0 * sum(lists["event"]) / n_videos
    return result
