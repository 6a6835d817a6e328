"""The official LLP evaluation protocol (Tian, Li & Xu, ECCV 2020, AVVP-ECCV20 `utils/eval_metrics.py`),
vectorised with numpy over all videos of a split at once.

Layout everywhere: (N, T, C) = (videos, NUM_SEGMENTS = 10 segments, NUM_CLASSES = 25 classes).

Protocol, in short (see shared/reference/llp_protocol_and_peers.md §3 for the exact text):

* Decisions: segment prob >= 0.5 (inclusive), optionally gated by a video-level prob >= 0.5 (`gate`).
* Three modalities per video: audio, visual and av = audio AND visual (for predictions and for truth).
* Segment level, one video, one modality: per class TP/FP/FN summed over the 10 segments; a class is
  *active* when TP+FP+FN > 0; the video's score is the mean over active classes of 2TP / (2TP+FP+FN), and
  1.0 when no class is active (empty vs empty is perfect).
* Event level: events are maximal runs of 1s along the segments of one class row. A predicted run is a TP
  when it overlaps some truth run of the same class with |inter| >= 0.5 |union|, otherwise an FP; a truth
  run matched by no predicted run is an FN. Same per-class F1 / active-class mean / 1.0 default.
* Event@AV (key "*/event") pools the audio and visual TP/FP/FN per class (the av matrices play no part).
* Reported figure = 100 x mean of the per-video scores over ALL videos; Type@AV = (A + V + AV) / 3 of the
  already-averaged percentages.

`per_class` (a dashboard figure, NOT part of the official protocol): for each class, F1 in percent from
TP/FP/FN summed over all videos of the split, 2TP / (2TP+FP+FN); NaN when that sum is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from avvp_core.constants import METRIC_KEYS, NUM_CLASSES, NUM_SEGMENTS
from avvp_core.errors import InputError

THRESHOLD = 0.5
# A run needs at least one 1 and one 0 after it (except at the end), so T segments hold <= ceil(T/2) runs.
MAX_RUNS = (NUM_SEGMENTS + 1) // 2
# Per video and class row a count is at most T = 10 (20 when audio and visual are pooled): int16 holds it with a
# quarter of int64's memory, which at 100k videos is what the scoring's time went to. Sums over videos upcast
# (numpy sums small integer types in the platform integer).
COUNT_DTYPE = np.int16
MODALITY_KEYS: tuple[str, ...] = ("audio", "visual", "av")  # order of the stacked modality axis below
COUNT_KEYS: tuple[str, ...] = tuple(k for k in METRIC_KEYS if not k.endswith("/type"))


# --------------------------------------------------------------------------------------------- checks


def _check_frames(name: str, array: np.ndarray, n: int | None = None) -> int:
    """Shape check of one (N, T, C) array; returns N."""
    if array.ndim != 3 or array.shape[1:] != (NUM_SEGMENTS, NUM_CLASSES):
        raise InputError(
            f"{name} has shape {array.shape}, expected (N, {NUM_SEGMENTS}, {NUM_CLASSES}) "
            "(videos, segments, classes)"
        )
    if n is not None and array.shape[0] != n:
        raise InputError(f"{name} holds {array.shape[0]} videos but the other inputs hold {n}")
    return array.shape[0]


def _check_finite(name: str, array: np.ndarray) -> None:
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} has dtype {array.dtype}, expected numbers or booleans")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or Inf values")


def _as_binary(name: str, array: np.ndarray) -> np.ndarray:
    """0/1 (or bool) decisions -> bool; anything else (probabilities, NaN) is refused."""
    if array.dtype == np.bool_:
        return array
    if array.dtype.kind == "u" and array.size:  # e.g. the uint8 dense truth: one reduction, no copy for bytes
        if array.max() > 1:
            raise InputError(f"{name} must hold binary 0/1 decisions (threshold probabilities with gate() first)")
        return array.view(np.bool_) if array.itemsize == 1 else array.astype(bool)
    _check_finite(name, array)
    if not ((array == 0) | (array == 1)).all():
        raise InputError(f"{name} must hold binary 0/1 decisions (threshold probabilities with gate() first)")
    return array.astype(bool)


def validate_inputs(
    pred_audio: np.ndarray, pred_visual: np.ndarray, gt_audio: np.ndarray, gt_visual: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check the four (N, T, C) decision / truth arrays and return them as bool arrays."""
    arrays = {
        "pred_audio": pred_audio,
        "pred_visual": pred_visual,
        "gt_audio": gt_audio,
        "gt_visual": gt_visual,
    }
    out = []
    n = None
    for name, array in arrays.items():
        array = np.asarray(array)
        n = _check_frames(name, array, n)
        out.append(_as_binary(name, array))
    return out[0], out[1], out[2], out[3]


# ---------------------------------------------------------------------------------------------- gating


def gate(
    audio: np.ndarray,
    visual: np.ndarray,
    video: np.ndarray | None = None,
    video_audio: np.ndarray | None = None,
    video_visual: np.ndarray | None = None,
    threshold: float = THRESHOLD,
    audio_threshold: float | None = None,
    visual_threshold: float | None = None,
    video_threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn segment probabilities (N, T, C) into binary decisions, optionally gated by video-level probs.

    - no video-level input: decision = prob >= threshold;
    - `video` (N, C), fused gating (HAN, MGN, VALOR, CM-Co): both modalities ANDed with video >= threshold;
    - `video_audio` and `video_visual` (N, C), modality-specific gating (MA, JoMoLD): audio ANDed with
      video_audio >= threshold, visual with video_visual >= threshold.
    The comparison is inclusive (>=) everywhere, as in the official code. Returns (audio, visual) bool arrays.
    The protocol's `threshold` (0.5) holds for every decision; `audio_threshold` and `visual_threshold` (segment
    decisions) and `video_threshold` (the video-level gate) override it one by one, which the official evaluation
    never does (analysis.thresholds: a diagnostic, not a figure to compare with published tables).
    """
    t_audio, t_visual, t_video = (threshold if t is None else t
                                  for t in (audio_threshold, visual_threshold, video_threshold))
    if video is not None and (video_audio is not None or video_visual is not None):
        raise ValueError("give either `video` (fused gating) or `video_audio`/`video_visual`, not both")
    if (video_audio is None) != (video_visual is None):
        raise ValueError("modality-specific gating needs both `video_audio` and `video_visual`")
    audio, visual = np.asarray(audio), np.asarray(visual)
    n = _check_frames("audio", audio)
    _check_frames("visual", visual, n)
    _check_finite("audio", audio)
    _check_finite("visual", visual)
    dec_a = audio >= t_audio
    dec_v = visual >= t_visual

    gates = {"video": video, "video_audio": video_audio, "video_visual": video_visual}
    checked: dict[str, np.ndarray] = {}
    for name, probs in gates.items():
        if probs is None:
            continue
        probs = np.asarray(probs)
        if probs.shape != (n, NUM_CLASSES):
            raise InputError(
                f"{name} has shape {probs.shape}, expected ({n}, {NUM_CLASSES}) (videos, classes)"
            )
        _check_finite(name, probs)
        # (N, C) -> (N, 1, C): the video-level decision holds for every segment of the class
        checked[name] = (probs >= t_video)[:, None, :]

    if "video" in checked:
        dec_a = dec_a & checked["video"]
        dec_v = dec_v & checked["video"]
    elif "video_audio" in checked:
        dec_a = dec_a & checked["video_audio"]
        dec_v = dec_v & checked["video_visual"]
    return dec_a, dec_v


# ---------------------------------------------------------------------------------------------- report


@dataclass
class ScoreReport:
    """Result of `score`. Keys are constants.METRIC_KEYS ("segment/audio" ... "event/event").

    summary:   official figures in percent (100 x mean over all N videos), unrounded floats.
    per_video: (N,) float64 per-video scores in [0, 1]; "*/type" is the mean of audio, visual and av.
    per_class: (C,) F1 in percent from TP/FP/FN summed over all videos (our dashboard figure, not part of
               the official protocol; NaN where a class has no TP, FP or FN). No "*/type" keys.
    counts:    (N, C, 3) int16 [tp, fp, fn] per video and class; "*/event" holds the pooled audio + visual
               counts. No "*/type" keys.
    """

    summary: dict[str, float]
    per_video: dict[str, np.ndarray]
    per_class: dict[str, np.ndarray]
    counts: dict[str, np.ndarray] = field(repr=False)
    videos: int

    def to_json(self) -> dict[str, float | int]:
        return {**self.summary, "videos": self.videos}


# ------------------------------------------------------------------------------------------- counting


def _segment_counts(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(..., T, C) bool pair -> (..., C, 3) int64 [tp, fp, fn] summed over segments."""
    tp = (pred & gt).sum(axis=-2, dtype=np.int64)
    fp = pred.sum(axis=-2, dtype=np.int64) - tp  # predicted cells that are not true
    fn = gt.sum(axis=-2, dtype=np.int64) - tp  # true cells that are not predicted
    return np.stack([tp, fp, fn], axis=-1)


@cache
def _popcount() -> np.ndarray:
    """Number of set bits of every T-bit row code (2^T entries)."""
    codes = np.arange(2**NUM_SEGMENTS)
    return ((codes[:, None] >> np.arange(NUM_SEGMENTS)) & 1).sum(axis=1).astype(COUNT_DTYPE)


def _segment_counts_from_codes(p_code: np.ndarray, g_code: np.ndarray) -> np.ndarray:
    """Row codes (any shape) -> (..., 3) COUNT_DTYPE [tp, fp, fn]: `_segment_counts` by bit counting, one table lookup
    per count instead of three reductions over the segment axis."""
    both = p_code & g_code
    parts = (both, p_code ^ both, g_code ^ both)  # tp, fp, fn cells as bits
    if hasattr(np, "bitwise_count"):  # numpy >= 2: a ufunc, no index casting or gather
        return np.stack([np.bitwise_count(x) for x in parts], axis=-1).astype(COUNT_DTYPE)
    ones = _popcount()
    return np.stack([ones[x] for x in parts], axis=-1)


def _runs(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of 1s along the segment axis of a (T, R) bool array (one column per class row).

    Returns start (MAX_RUNS, R), end (MAX_RUNS, R) (inclusive segment indices, int8) and valid
    (MAX_RUNS, R); padding slots have start = end = 0 and valid = False. The segment / slot axes come
    first because numpy reduces a short leading axis much faster than a short trailing one.
    """
    edge = np.zeros((1, cols.shape[1]), dtype=bool)
    is_start = cols & ~np.concatenate([edge, cols[:-1]])  # a 1 with a 0 (or the clip edge) before it
    is_end = cols & ~np.concatenate([cols[1:], edge])  # a 1 with a 0 (or the clip edge) after it
    # The k-th start of a column goes to slot k, and so does the k-th end (starts and ends alternate, so
    # the k-th end closes the k-th run). rank = running count of flags down the column (1 for the first
    # flag), 0 off the flags; the segment of the (k+1)-th flag is sum_t t * [rank_t == k+1], as exactly
    # one t (or none, for a padding slot) has that rank.
    seg = np.arange(cols.shape[0], dtype=np.int8)[:, None]
    start = np.empty((MAX_RUNS, cols.shape[1]), dtype=np.int8)
    end = np.empty_like(start)
    for flags, out in ((is_start, start), (is_end, end)):
        rank = np.cumsum(flags, axis=0, dtype=np.int8) * flags
        for k in range(MAX_RUNS):  # fixed 5 slots; padding slots come out as 0
            out[k] = ((rank == k + 1) * seg).sum(axis=0, dtype=np.int8)
    valid = np.arange(MAX_RUNS)[:, None] < np.count_nonzero(is_start, axis=0)
    return start, end, valid


@cache
def _pattern_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_runs` of all 2^T possible class rows, computed once: column b is the row whose segment t is
    bit t of b. Scoring then looks runs up by row code instead of extracting them again for every row."""
    codes = np.arange(2**NUM_SEGMENTS)
    rows = (codes[None, :] >> np.arange(NUM_SEGMENTS)[:, None]) & 1  # (T, 2^T)
    return _runs(rows.astype(bool))


def _row_codes(x: np.ndarray) -> np.ndarray:
    """(..., T, C) bool -> (... * C,) int16: each class row's T segments packed as bits (segment t = bit t)."""
    if x.dtype == np.bool_:
        # one shift-and-OR per segment over (..., C) slices: ~13x faster than T int16 products and a sum over a
        # strided axis (and than np.packbits along it)
        u = x.view(np.uint8)
        code = u[..., 0, :].astype(np.int16)
        for t in range(1, x.shape[-2]):
            code |= u[..., t, :].astype(np.int16) << t
        return code.reshape(-1)
    bits = (1 << np.arange(x.shape[-2], dtype=np.int16))[:, None]
    return (x * bits).sum(axis=-2, dtype=np.int16).reshape(-1)


def _event_counts(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(..., T, C) bool pair -> (..., C, 3) COUNT_DTYPE [tp, fp, fn] of events (runs) per class row."""
    lead, c = pred.shape[:-2], pred.shape[-1]
    return _event_counts_from_codes(_row_codes(pred), _row_codes(gt)).reshape(*lead, c, 3)


def _event_counts_from_codes(p_code: np.ndarray, g_code: np.ndarray) -> np.ndarray:
    """(R,) row codes pair -> (R, 3) COUNT_DTYPE [tp, fp, fn] of events (runs) per class row."""
    out = np.zeros((p_code.size, 3), dtype=COUNT_DTYPE)
    # most (video, class) rows are empty on both sides and count nothing: only the others are matched
    busy = np.flatnonzero(p_code | g_code)
    # look the runs up: (P, R) and (G, R). take() gives C-ordered results; fancy indexing table[:, codes]
    # would give a transposed memory layout that makes the table arithmetic below ~50x slower.
    ps, pe, pv = (table.take(p_code[busy], axis=1) for table in _pattern_runs())
    gs, ge, gv = (table.take(g_code[busy], axis=1) for table in _pattern_runs())
    # (P, G, R) tables of every predicted run against every truth run of the same class row
    inter = np.minimum(pe[:, None], ge[None, :]) - np.maximum(ps[:, None], gs[None, :]) + 1
    union = (pe - ps + 1)[:, None] + (ge - gs + 1)[None, :] - inter
    # integer form of |inter| >= 0.5 |union| (inclusive). inter <= 0 means disjoint runs (union is then
    # not a union, but the inter > 0 test rejects them first); padding slots never match.
    match = (inter > 0) & (2 * inter >= union) & pv[:, None] & gv[None, :]
    # with 1-D runs and IoU >= 0.5 a run matches at most one run, so "any" equals one-to-one matching
    tp = np.count_nonzero(match.any(axis=1), axis=0)
    out[busy, 0] = tp
    out[busy, 1] = np.count_nonzero(pv, axis=0) - tp
    out[busy, 2] = np.count_nonzero(gv & ~match.any(axis=0), axis=0)
    return out


def _video_f1(counts: np.ndarray) -> np.ndarray:
    """(..., C, 3) counts -> (...) per-video mean F1 over active classes; 1.0 when none is active."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = 2 * tp + fp + fn
    active = denom > 0  # TP+FP+FN > 0  <=>  2TP+FP+FN > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros(denom.shape, dtype=np.float64), where=active)
    n_active = active.sum(axis=-1)
    return np.where(n_active > 0, f1.sum(axis=-1) / np.maximum(n_active, 1), 1.0)


def _class_f1(counts: np.ndarray) -> np.ndarray:
    """(N, C, 3) counts -> (C,) F1 in percent from counts summed over videos; NaN for empty classes."""
    tp, fp, fn = counts.sum(axis=0).T.astype(np.float64)
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 100.0 * 2 * tp / denom, np.nan)


# ---------------------------------------------------------------------------------------------- score


SCORE_BLOCK = 4096  # videos per block in `score`


def _score_block(pa: np.ndarray, pv: np.ndarray, ga: np.ndarray, gv: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Counts and per-video scores of a block of videos (bool (n, T, C) inputs), keyed as ScoreReport's."""
    n = pa.shape[0]
    # Each class row's 10 segments packed into one integer (segment t = bit t); av = a AND v is then a bitwise
    # AND of codes. Both levels count from the codes: (3, n * C) for audio, visual, av — the (3, n, T, C) arrays
    # are never built.
    p_a, p_v, g_a, g_v = (_row_codes(x) for x in (pa, pv, ga, gv))
    pred = np.stack([p_a, p_v, p_a & p_v])
    gt = np.stack([g_a, g_v, g_a & g_v])
    shape = (3, n, NUM_CLASSES, 3)
    counts: dict[str, np.ndarray] = {}
    per_video: dict[str, np.ndarray] = {}
    for level, counter in (("segment", _segment_counts_from_codes), ("event", _event_counts_from_codes)):
        by_mod = counter(pred.reshape(-1), gt.reshape(-1)).reshape(shape)  # (3, n, C, 3)
        for m, mod in enumerate(MODALITY_KEYS):
            counts[f"{level}/{mod}"] = by_mod[m]
        # Event@AV pools audio and visual counts per class (the av matrices are not involved)
        counts[f"{level}/event"] = by_mod[0] + by_mod[1]
        f_mod = _video_f1(by_mod)  # (3, n)
        for m, mod in enumerate(MODALITY_KEYS):
            per_video[f"{level}/{mod}"] = f_mod[m]
        per_video[f"{level}/type"] = f_mod.mean(axis=0)
        per_video[f"{level}/event"] = _video_f1(counts[f"{level}/event"])
    return counts, per_video


def score(
    pred_audio: np.ndarray, pred_visual: np.ndarray, gt_audio: np.ndarray, gt_visual: np.ndarray
) -> ScoreReport:
    """Score binary (N, T, C) decisions against (N, T, C) 0/1 truth with the official LLP protocol.

    Predictions are decisions (bool or 0/1), e.g. the output of `gate`; truth is the 0/1 matrix built
    from the eval CSVs (same-class rows OR-ed). Raises InputError on wrong shapes, mismatched N,
    non-binary values or N = 0.
    """
    pa, pv, ga, gv = validate_inputs(pred_audio, pred_visual, gt_audio, gt_visual)
    n = pa.shape[0]
    if n == 0:
        raise InputError("no videos to score (N = 0)")
    # Videos are independent: scored in blocks, so every temporary stays the size of a block (cache-resident and
    # reused) whatever N is; whole-split temporaries made the per-video cost at 100k videos twice that at 10k.
    # Each block writes into the whole-split outputs (a concatenation of the blocks' results cost as much as the
    # scoring at 100k videos: page faults on a second copy).
    counts: dict[str, np.ndarray] = {}
    per_video: dict[str, np.ndarray] = {}
    for i in range(0, n, SCORE_BLOCK):
        block_counts, block_scores = _score_block(pa[i:i + SCORE_BLOCK], pv[i:i + SCORE_BLOCK],
                                                  ga[i:i + SCORE_BLOCK], gv[i:i + SCORE_BLOCK])
        for outputs, block in ((counts, block_counts), (per_video, block_scores)):
            for k, v in block.items():
                if k not in outputs:
                    outputs[k] = np.empty((n, *v.shape[1:]), dtype=v.dtype)
                outputs[k][i:i + SCORE_BLOCK] = v

    summary: dict[str, float] = {}
    for level in ("segment", "event"):
        for fig in ("audio", "visual", "av", "event"):
            summary[f"{level}/{fig}"] = float(100.0 * per_video[f"{level}/{fig}"].mean())
        # Type@AV is the mean of the three already-averaged percentages, as in the official code
        summary[f"{level}/type"] = (
            summary[f"{level}/audio"] + summary[f"{level}/visual"] + summary[f"{level}/av"]
        ) / 3.0
    summary = {k: summary[k] for k in METRIC_KEYS}
    per_video = {k: per_video[k] for k in METRIC_KEYS}
    per_class = {k: _class_f1(counts[k]) for k in COUNT_KEYS}
    counts = {k: counts[k] for k in COUNT_KEYS}
    return ScoreReport(summary=summary, per_video=per_video, per_class=per_class, counts=counts, videos=n)
