"""Descriptive statistics of an LLP folder (real or SynthLLP): labels, co-occurrence, modality mix, extents.

The figures calibrate SynthLLP (`llp_stats.json` holds them for the real annotations) and feed the data
page. Weak-label figures come from the split CSVs; truth figures from the dense truth of val + test only
(LLP has none for train; SynthLLP's train truth is oracle-only and deliberately not read here), including
the official scores (avvp_core.metrics) of the "weak labels on every segment" predictor, per split.

Vocabulary: an *event* is a (video, class) pair with any positive dense segment in either modality; it is
audio-only, visual-only or "both" (some audible and some visible segment). A *row* is a (video, class,
modality) with any positive segment; its *duration* is its number of positive segments (1..10) and its
*runs* the number of maximal runs of consecutive positive segments (an eval-CSV row after OR-merging).
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np

from ..constants import CLASSES, NUM_CLASSES, NUM_SEGMENTS, SPLITS
from ..metrics import score
from .dataset import LLPDataset

EVENT_TYPES = ("audio_only", "visual_only", "both")
MAX_RUNS = (NUM_SEGMENTS + 1) // 2  # 10 segments hold at most 5 separate runs
# Extent tables (per context, see truth_statistics): for each kind of row, counts indexed
# [runs - 1][duration - 1]. "both_same": "both" events whose audio and visual segment sets coincide (one
# shared extent); the other "both" events are split by nesting: the visual extent strictly holds the
# audio one ("v_holds_a_*"), the reverse ("a_holds_v_*"), or they cross ("crossing_*"); each with its
# audio and its visual table.
EXTENT_KINDS = ("audio_only", "visual_only", "both_same", "v_holds_a_audio", "v_holds_a_visual",
                "a_holds_v_audio", "a_holds_v_visual", "crossing_audio", "crossing_visual")


def label_set_name(class_ids) -> str:
    """Canonical name of a label set: class names sorted by class index, comma-joined (as in the CSVs)."""
    return ",".join(CLASSES[c] for c in sorted(set(int(c) for c in class_ids)))


def _frac(counts: Counter | dict, total: int, digits: int = 6) -> dict[str, float]:
    return {str(k): round(v / total, digits) for k, v in counts.items()} if total else {}


def label_statistics(labels: np.ndarray, top_pairs: int = 20) -> dict:
    """Label-count distribution, class frequencies, label-set frequencies and top pairs of (N, C) labels."""
    y = np.asarray(labels) > 0
    n = len(y)
    counts = Counter(int(k) for k in y.sum(1))
    sets = Counter(label_set_name(np.flatnonzero(row)) for row in y)
    pair_counts = y.T.astype(np.int64) @ y.astype(np.int64)  # (C, C) co-occurrence counts
    freq = y.mean(0) if n else np.zeros(NUM_CLASSES)
    pairs = [(int(pair_counts[i, j]), i, j) for i, j in combinations(range(NUM_CLASSES), 2)
             if pair_counts[i, j]]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return {
        "videos": n,
        "label_count": _frac(dict(sorted(counts.items())), n),
        "class_frequency": {c: round(float(f), 6) for c, f in zip(CLASSES, freq, strict=True)},
        "label_sets": _frac(dict(sorted(sets.items(), key=lambda kv: (-kv[1], kv[0]))), n),
        "top_pairs": [{"pair": label_set_name((i, j)), "count": c, "fraction": round(c / n, 6)}
                      for c, i, j in pairs[:top_pairs]],
    }


def run_counts(rows: np.ndarray) -> np.ndarray:
    """Number of maximal runs of positive segments in each row of (M, T) 0/1 values."""
    x = np.asarray(rows) > 0
    starts = x & ~np.concatenate([np.zeros((len(x), 1), bool), x[:, :-1]], axis=1)
    return starts.sum(1)


def _extent_table(rows: np.ndarray) -> list[list[int]]:
    table = np.zeros((MAX_RUNS, NUM_SEGMENTS), dtype=np.int64)
    if len(rows):
        np.add.at(table, (run_counts(rows) - 1, rows.sum(1) - 1), 1)
    return table.tolist()


def _hist(values: np.ndarray, keys) -> dict[str, float]:
    total = len(values)
    return {str(k): round(float(np.mean(values == k)), 6) if total else 0.0 for k in keys}


def _edge_rates(rows: np.ndarray, runs: np.ndarray) -> dict[str, dict[str, float]]:
    """How often rows short of 10 s touch the clip edges (onset 0 / offset 10), single- vs multi-run rows.

    Annotators anchor runs at the clip edges far more often than uniform placement would (LLP: about a
    third of single-run partial rows start at 0, against about a fifth under uniform placement).
    """
    out = {}
    for name, sel in (("single", runs == 1), ("multi", runs >= 2)):
        sel = sel & (rows.sum(1) < NUM_SEGMENTS)
        out[name] = {"onset_0": round(float(rows[sel, 0].mean()), 6) if sel.any() else 0.0,
                     "offset_10": round(float(rows[sel, -1].mean()), 6) if sel.any() else 0.0}
    return out


def _nested_edge_rates(outer: np.ndarray, inner: np.ndarray) -> dict[str, dict[str, float]]:
    """Edge rates of nested inner extents, measured within their outer extent's segments.

    In LLP a nested extent nearly always shares the start or the end of the one holding it (a sound that
    begins with the scene, or a scene that ends with the sound), far more often than edges are shared
    within the clip.
    """
    rows = [i[o] for o, i in zip(outer, inner, strict=True)]  # inner in the outer's own coordinates
    runs = np.array([int(run_counts(r[None])[0]) for r in rows], dtype=np.int64)
    out = {}
    for name, sel in (("single", runs == 1), ("multi", runs >= 2)):
        picked = [r for r, keep in zip(rows, sel, strict=True) if keep]
        out[name] = {"onset_0": round(float(np.mean([r[0] for r in picked])), 6) if picked else 0.0,
                     "offset_10": round(float(np.mean([r[-1] for r in picked])), 6) if picked else 0.0}
    return out


def _extent_model(a: np.ndarray, v: np.ndarray, events: np.ndarray) -> dict:
    """What SynthLLP samples extents from, for the events selected by the (N, C) mask `events`."""
    ea, ev = a.any(2) & events, v.any(2) & events
    both = ea & ev
    same = both & (a == v).all(2)
    distinct = both & ~same
    nested = {"v_holds_a": distinct & ~(a & ~v).any(2), "a_holds_v": distinct & ~(v & ~a).any(2)}
    nested["crossing"] = distinct & ~nested["v_holds_a"] & ~nested["a_holds_v"]
    tables = {"audio_only": a[ea & ~ev], "visual_only": v[ev & ~ea], "both_same": a[same]}
    for name, sel in nested.items():
        tables[f"{name}_audio"], tables[f"{name}_visual"] = a[sel], v[sel]
    return {
        "events": int((ea | ev).sum()),
        "both_coincide": round(float(same.sum() / max(1, both.sum())), 6),
        # LLP's distinct extents are mostly nested (e.g. a full-length visual event around a shorter sound)
        "both_distinct_nesting": {k: round(float(m.sum() / max(1, distinct.sum())), 6)
                                  for k, m in nested.items()},
        "extent_tables": {k: _extent_table(t.astype(np.int64)) for k, t in tables.items()},
    }


def truth_statistics(gt_audio: np.ndarray, gt_visual: np.ndarray) -> dict:
    """Modality mix, coincidence and extent figures of dense truth given as (N, T, C) arrays."""
    a = np.asarray(gt_audio).transpose(0, 2, 1) > 0  # (N, C, T)
    v = np.asarray(gt_visual).transpose(0, 2, 1) > 0
    ea, ev = a.any(2), v.any(2)  # (N, C) event present per modality
    present = ea | ev
    kinds = {"audio_only": ea & ~ev, "visual_only": ev & ~ea, "both": ea & ev}
    n_events = int(present.sum())
    per_class = {}
    for c, name in enumerate(CLASSES):
        total = int(present[:, c].sum())
        mix = {k: round(float(m[:, c].sum() / total), 6) if total else 0.0 for k, m in kinds.items()}
        per_class[name] = {"events": total, **mix}
    rows = {"audio": a[ea].astype(np.int64), "visual": v[ev].astype(np.int64)}  # (M, T) per modality
    durations = {m: r.sum(1) for m, r in rows.items()}
    runs = {m: run_counts(r) for m, r in rows.items()}
    n_runs = {m: int(r.sum()) for m, r in runs.items()}
    full_rows = sum(int((d == NUM_SEGMENTS).sum()) for d in durations.values())
    overall = _extent_model(a, v, present)
    distinct = kinds["both"] & ~(a == v).all(2)
    nested_v, nested_a = distinct & ~(a & ~v).any(2), distinct & ~(v & ~a).any(2)
    solo = present & (present.sum(1, keepdims=True) == 1)  # the only event class of its video
    return {
        "videos": len(a),
        "events": n_events,
        "rows": {m: len(r) for m, r in rows.items()},
        "runs_total": n_runs,
        "modality_mix": {k: round(float(m.sum() / max(1, n_events)), 6) for k, m in kinds.items()},
        "class_modality_mix": per_class,
        "both_coincide": overall["both_coincide"],
        "nested_edge_rates": {"v_holds_a": _nested_edge_rates(v[nested_v], a[nested_v]),
                              "a_holds_v": _nested_edge_rates(a[nested_a], v[nested_a])},
        "both_distinct_nesting": overall["both_distinct_nesting"],
        "both_overlap": round(float((a & v).any(2)[kinds["both"]].mean()) if kinds["both"].any() else 0.0, 6),
        "duration_hist": {m: _hist(d, range(1, NUM_SEGMENTS + 1)) for m, d in durations.items()},
        "runs_hist": {m: {"1": _hist(r, [1])["1"], "2": _hist(r, [2])["2"],
                          "3+": round(float(np.mean(r >= 3)) if len(r) else 0.0, 6)}
                      for m, r in runs.items()},
        # "About 40 % of events span all 10 s" in the LLP paper counts eval-CSV rows (= runs here); the
        # per-row figure counts each (video, class, modality) once; both are given.
        "full_span_runs": round(full_rows / max(1, sum(n_runs.values())), 6),
        "full_span_rows": round(full_rows / max(1, sum(len(d) for d in durations.values())), 6),
        "full_span": {m: round(float(np.mean(d == NUM_SEGMENTS)) if len(d) else 0.0, 6)
                      for m, d in durations.items()},
        "edge_rates": {m: _edge_rates(r, runs[m]) for m, r in rows.items()},
        # Extents depend on the video: the only event of a video usually spans the whole clip (LLP: far
        # more often than an event sharing its video), so the extent model is kept per context.
        "extent_model": {"solo": _extent_model(a, v, solo), "multi": _extent_model(a, v, present & ~solo)},
    }


# Class coupling in time: do the events of two distinct classes of one video share segments more or less often than
# independent placement gives? For x = class i's extent in modality m1 and y = class j's in m2 (10 segments each),
# lift = sum |x & y| / sum |x| |y| / 10 over the videos where both are present: 1 when placed independently and
# uniformly, below 1 when the two take turns. On LLP most pairs are near 1 but some take turns (a person is seen
# speaking or singing, seldom both at once: Speech seen / Singing seen 0.14); SynthLLP's `turn_taking` knob reproduces
# the pairs listed under truth["turn_taking"] (bench/class_coupling.py reports the full picture).
MODALITY_PAIRS = ("aa", "av", "va", "vv")  # modality of class i, modality of class j
TURN_TAKING_MIN_VIDEOS = 15  # class pairs seen in fewer videos are left out (their lift is mostly noise)
TURN_TAKING_MAX_LIFT = 0.85  # pairs below this lift take turns


def pair_terms(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For extents x, y (N, T, C): |x_i & y_j| and |x_i| |y_j| / T, each (N, C, C), and the mask of the pairs i != j
    where both extents are non-empty."""
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    inter = np.einsum("ntc,ntd->ncd", xf, yf)  # (N, C, C)
    xs, ys = xf.sum(1), yf.sum(1)  # (N, C)
    expect = xs[:, :, None] * ys[:, None, :] / x.shape[1]  # (N, C, C)
    mask = (xs[:, :, None] > 0) & (ys[:, None, :] > 0) & ~np.eye(x.shape[2], dtype=bool)
    return inter, expect, mask


def class_coupling(gt_audio: np.ndarray, gt_visual: np.ndarray, min_pairs: int = TURN_TAKING_MIN_VIDEOS) -> dict:
    """Per modality pair: pooled lift, share of pairs that overlap at all, and the lift of every class pair seen in
    `min_pairs` videos or more (with the occurrence-weighted mean |log lift|; pairs that never share a segment, lift
    0, are counted apart), over the videos of the (N, T, C) truth with two classes or more."""
    audio, visual = np.asarray(gt_audio) > 0, np.asarray(gt_visual) > 0
    streams = {"a": audio, "v": visual}
    multi = (audio.any(1) | visual.any(1)).sum(1) >= 2  # (N,)
    out = {"videos": int(len(audio)), "multi_class_videos": int(multi.sum()), "min_pairs": min_pairs}
    for m1, m2 in MODALITY_PAIRS:
        inter, expect, mask = pair_terms(streams[m1][multi], streams[m2][multi])
        n = mask.sum(0)  # (C, C) occurrences of each class pair
        keep = n >= min_pairs
        pair_lift = inter.sum(0, where=mask)[keep] / expect.sum(0, where=mask)[keep]
        pair_apart = (mask & (inter == 0)).sum(0)[keep] / n[keep]  # share of its videos where they never meet
        rows = [{"first": CLASSES[i], "second": CLASSES[j], "pairs": int(n[i, j]), "lift": round(float(lift), 4),
                 "apart": round(float(share), 4)}
                for (i, j), lift, share in zip(np.argwhere(keep), pair_lift, pair_apart, strict=True)]
        apart = pair_lift == 0  # never in the same segment: |log lift| is infinite, so counted, not averaged
        weights = n[keep][~apart]
        out[m1 + m2] = {
            "pairs": int(mask.sum()),
            "lift": round(float(inter[mask].sum() / expect[mask].sum()), 4) if mask.any() else None,
            "overlap": round(float((inter[mask] > 0).mean()), 4) if mask.any() else None,
            "class_pairs": len(rows),
            "mean_abs_log_lift": (round(float((np.abs(np.log(pair_lift[~apart])) * weights).sum() / weights.sum()), 4)
                                  if len(weights) else None),
            "class_pairs_apart": int(apart.sum()),
            "per_class_pair": sorted(rows, key=lambda r: (-r["pairs"], r["first"], r["second"])),
        }
    return out


def turn_taking_pairs(coupling: dict, max_lift: float = TURN_TAKING_MAX_LIFT) -> list[dict]:
    """The class pairs of `class_coupling` output whose lift is below `max_lift`, each once (av of (i, j) is va of
    (j, i); aa and vv list both orders): the first (class, modality) before the second in class then modality order."""
    names = {"a": "audio", "v": "visual"}
    out: dict[tuple, dict] = {}
    for m1, m2 in MODALITY_PAIRS:
        for p in coupling[m1 + m2]["per_class_pair"]:
            if p["lift"] >= max_lift:
                continue
            one, two = (CLASSES.index(p["first"]), m1), (CLASSES.index(p["second"]), m2)
            (c1, n1), (c2, n2) = sorted((one, two))
            out[(c1, n1, c2, n2)] = {"first": CLASSES[c1], "first_modality": names[n1], "second": CLASSES[c2],
                                     "second_modality": names[n2], "videos": p["pairs"], "lift": p["lift"],
                                     "apart": p["apart"]}
    return [out[k] for k in sorted(out)]


KIND_COUPLING_MIN_VIDEOS = 30  # class pairs seen together in fewer videos are left out (a 3-way share needs more)


def event_kinds(gt_audio: np.ndarray, gt_visual: np.ndarray) -> np.ndarray:
    """(N, C) int8 kind of every event of the (N, T, C) truth, indexed as EVENT_TYPES (0 audio-only, 1 visual-only,
    2 both); -1 where the class is absent."""
    heard, seen = (np.asarray(gt_audio) > 0).any(1), (np.asarray(gt_visual) > 0).any(1)
    kinds = np.full(heard.shape, -1, np.int8)
    kinds[heard & ~seen], kinds[~heard & seen], kinds[heard & seen] = 0, 1, 2
    return kinds


def _pooled_kind_divergence(kinds: np.ndarray, min_videos: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray]:
    """Occurrence-weighted mean over class pairs (c, d) of KL(kinds of c where d is present || kinds of c), in nats;
    with the (C, C, 3) conditional counts, (C, 3) marginal counts, (C, C) mask of the pairs counted and (K,) each
    counted pair's KL (in np.argwhere(mask) order)."""
    present = kinds >= 0  # (N, C)
    onehot = (kinds[..., None] == np.arange(len(EVENT_TYPES))).astype(np.int64)  # (N, C, 3)
    base = onehot.sum(0)  # (C, 3)
    cond = np.einsum("nd,nck->cdk", present.astype(np.int64), onehot)  # (C, C, 3): kinds of c where d is present
    n = cond.sum(2)  # (C, C) videos holding both
    keep = (n >= min_videos) & ~np.eye(len(n), dtype=bool)
    if not keep.any():
        return float("nan"), cond, base, keep, np.zeros(0)
    p = cond[keep] / n[keep][:, None]  # (K, 3)
    q = (base / np.maximum(base.sum(1, keepdims=True), 1))[np.nonzero(keep)[0]]  # (K, 3): c's own shares
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / np.where(q > 0, q, 1)), 0.0).sum(1)
    return float((terms * n[keep]).sum() / n[keep].sum()), cond, base, keep, terms


def kind_coupling(gt_audio: np.ndarray, gt_visual: np.ndarray, min_videos: int = KIND_COUPLING_MIN_VIDEOS,
                  permutations: int = 200, seed: int = 0, top: int = 10) -> dict:
    """Does an event's kind (heard only, seen only, both) depend on which other classes share its video?

    For every ordered class pair (c, d) present together in `min_videos` videos or more, the divergence (KL, nats) of
    c's kinds in those videos from c's kinds in all its videos, averaged with the pairs' video counts as weights. A
    finite sample diverges even when kinds are drawn independently of the other classes, so the same figure is taken
    `permutations` times with each class's kinds shuffled among its own videos (the classes present and each class's
    own kind shares are kept; only the link to the other classes is broken): `excess` is the observed figure less the
    shuffles' mean, `p` the share of shuffles at or above it. `pairs` lists the `top` pairs contributing most (video
    count x divergence), with c's kind shares in all its videos and where d is present."""
    kinds = event_kinds(gt_audio, gt_visual)
    observed, cond, base, keep, divergences = _pooled_kind_divergence(kinds, min_videos)
    out = {"videos": int(len(kinds)), "min_videos": min_videos, "class_pairs": int(keep.sum()),
           "divergence": None if np.isnan(observed) else round(observed, 5)}
    if np.isnan(observed):
        return out
    rng = np.random.default_rng(seed)
    null = []
    for _ in range(permutations):
        shuffled = kinds.copy()
        for c in range(kinds.shape[1]):
            rows = np.flatnonzero(kinds[:, c] >= 0)
            shuffled[rows, c] = kinds[rng.permutation(rows), c]
        null.append(_pooled_kind_divergence(shuffled, min_videos)[0])
    out.update(permutations=permutations, seed=seed, shuffled_mean=None, shuffled_p95=None, p=None, excess=None)
    if null:  # permutations=0 asks for the observed figure alone (no NaN written in its place)
        null_mean = float(np.mean(null))
        out.update(shuffled_mean=round(null_mean, 5), shuffled_p95=round(float(np.percentile(null, 95)), 5),
                   p=round(float(np.mean(np.array(null) >= observed)), 4), excess=round(observed - null_mean, 5))
    rows = []
    for (c, d), kl in zip(np.argwhere(keep), divergences, strict=True):  # argwhere and boolean masks: row-major
        n = int(cond[c, d].sum())
        p, q = cond[c, d] / n, base[c] / base[c].sum()
        rows.append({"class": CLASSES[c], "given": CLASSES[d], "videos": n, "divergence": round(float(kl), 4),
                     "kinds": dict(zip(EVENT_TYPES, np.round(q, 3).tolist(), strict=True)),
                     "kinds_given": dict(zip(EVENT_TYPES, np.round(p, 3).tolist(), strict=True))})
    out["pairs"] = sorted(rows, key=lambda r: -r["videos"] * r["divergence"])[:top]
    return out


def weak_oracle_scores(labels: np.ndarray, gt_audio: np.ndarray, gt_visual: np.ndarray) -> dict[str, float]:
    """The ten official figures of the "weak labels on every segment, both modalities" predictor.

    No gating is needed: the prediction is the weak (N, C) labels broadcast over all T segments. Its scores
    measure the temporal and modality structure of the truth alone (the SynthLLP calibration target).
    """
    pred = np.repeat((np.asarray(labels) > 0)[:, None, :], NUM_SEGMENTS, axis=1)  # (N, T, C)
    return {k: round(v, 4) for k, v in score(pred, pred, gt_audio, gt_visual).summary.items()}


def label_set_kinds(gt_audio: np.ndarray, gt_visual: np.ndarray) -> dict[str, dict[str, int]]:
    """Per label set of two classes or more in the (N, T, C) truth, how many of its videos hold each pattern of kinds:
    {"Dog,Speech": {"both,audio_only": 90, ...}}, the kinds (EVENT_TYPES) in the set's class order. What SynthLLP's
    kind_coupling knob draws from, so a video's classes take their kinds together as on LLP."""
    kinds = event_kinds(gt_audio, gt_visual)
    out: dict[str, Counter] = {}
    for row in kinds:
        present = np.flatnonzero(row >= 0)
        if len(present) >= 2:
            out.setdefault(label_set_name(present), Counter())[",".join(EVENT_TYPES[k] for k in row[present])] += 1
    return {name: dict(sorted(out[name].items(), key=lambda kv: (-kv[1], kv[0]))) for name in sorted(out)}


def dataset_statistics(ds: LLPDataset, top_pairs: int = 20, turn_taking: bool = False,
                       kind_patterns: bool = False) -> dict:
    """JSON-able statistics of an LLP folder; truth figures only over the splits that have dense truth. With
    `turn_taking` (make_llp_stats: what SynthLLP's turn_taking knob reads), truth also lists the class pairs that take
    turns in time, and with `kind_patterns` (what its kind_coupling knob reads) each label set's patterns of kinds;
    both off elsewhere: no page shows them, and they grow with the folder."""
    splits = {s: ds.split(s) for s in ds.available_splits}
    out: dict = {"splits": {s: len(sp) for s, sp in splits.items()}}
    if "train" in splits:
        out["train"] = label_statistics(splits["train"].labels, top_pairs)
    out["label_count_by_split"] = {s: label_statistics(sp.labels, 0)["label_count"]
                                   for s, sp in splits.items()}
    truth_splits = [s for s in SPLITS if s in splits and s != "train" and splits[s].has_truth]
    if truth_splits:
        gt_a = np.concatenate([splits[s].gt_audio for s in truth_splits])
        gt_v = np.concatenate([splits[s].gt_visual for s in truth_splits])
        weak = np.concatenate([splits[s].labels for s in truth_splits]) > 0
        union = (gt_a.any(1) | gt_v.any(1))  # (N, C)
        truth = truth_statistics(gt_a, gt_v)
        if turn_taking:  # lift below TURN_TAKING_MAX_LIFT in TURN_TAKING_MIN_VIDEOS videos or more
            truth["turn_taking"] = {"min_videos": TURN_TAKING_MIN_VIDEOS, "max_lift": TURN_TAKING_MAX_LIFT,
                                    "pairs": turn_taking_pairs(class_coupling(gt_a, gt_v))}
        truth["splits"] = truth_splits
        truth["weak_differs_from_truth_videos"] = int((weak != union).any(1).sum())
        truth["truth_label_sets"] = label_statistics(union, 0)["label_sets"]
        if kind_patterns:
            truth["label_set_kinds"] = label_set_kinds(gt_a, gt_v)
        out["truth"] = truth
        out["weak_oracle"] = {s: weak_oracle_scores(splits[s].labels, splits[s].gt_audio, splits[s].gt_visual)
                              for s in truth_splits}
    return out


def format_statistics(stats: dict) -> str:
    """A readable plain-text report of `dataset_statistics` output (for the CLI)."""
    lines = ["Videos: " + ", ".join(f"{s} {n}" for s, n in stats["splits"].items())]
    for split, dist in stats.get("label_count_by_split", {}).items():
        shares = ", ".join(f"{k}: {100 * f:.1f}%" for k, f in dist.items())
        lines.append(f"Labels per video ({split}): {shares}")
    train, truth = stats.get("train"), stats.get("truth")
    lines.append("")
    head = f"{'class':<24}{'train %':>8}"
    if truth:
        head += f"{'events':>8}{'A-only':>8}{'V-only':>8}{'both':>8}"
    lines.append(head)
    for name in CLASSES:
        row = f"{name:<24}{100 * train['class_frequency'][name]:>8.1f}" if train else f"{name:<24}{'-':>8}"
        if truth:
            mix = truth["class_modality_mix"][name]
            row += f"{mix['events']:>8}" + "".join(f"{100 * mix[k]:>8.1f}" for k in EVENT_TYPES)
        lines.append(row)
    if train:
        lines += ["", "Top label pairs (train): " + ", ".join(
            f"{p['pair']} {100 * p['fraction']:.1f}%" for p in train["top_pairs"][:8])]
    if truth:
        mix = truth["modality_mix"]
        lines += [
            "",
            f"Dense truth of {'+'.join(truth['splits'])}: {truth['events']} events — audio-only "
            f"{100 * mix['audio_only']:.1f}%, visual-only {100 * mix['visual_only']:.1f}%, "
            f"both {100 * mix['both']:.1f}%; "
            f"audio = visual extent in {100 * truth['both_coincide']:.1f}% of 'both' events",
            f"Full 10-s span: {100 * truth['full_span_runs']:.1f}% of runs (eval rows), "
            f"{100 * truth['full_span_rows']:.1f}% of (video, class, modality) rows",
        ]
        for m in ("audio", "visual"):
            dur = " ".join(f"{k}:{100 * f:.0f}" for k, f in truth["duration_hist"][m].items())
            runs = ", ".join(f"{k}: {100 * f:.1f}%" for k, f in truth["runs_hist"][m].items())
            lines.append(f"{m:<7} duration % (segments:share) {dur} | runs {runs}")
    for split, figures in stats.get("weak_oracle", {}).items():
        lines.append(f"Weak labels on every segment ({split}): " + ", ".join(
            f"{k} {v:.1f}" for k, v in figures.items()))
    return "\n".join(lines)
