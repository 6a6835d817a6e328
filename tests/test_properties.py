"""Property-based tests (hypothesis) of the annotation reader and of the PRED.npz scoring path.

The scorer's own properties on arrays (permutation, perfect = 100, bounds, duplication, loop parity) live in
test_metrics.py; here they are checked through the file contract `score` uses (load_prediction_file aligns
rows by filename), and the CSV parser and dense-truth builder are checked against a direct construction.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avvp_core.constants import CLASSES, METRIC_KEYS, NUM_CLASSES, NUM_SEGMENTS
from avvp_core.data.annotations import dense_truth, read_eval_csv, read_weak_csv
from avvp_core.metrics import score
from avvp_core.predictions import load_prediction_file

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

video_ids = st.text(ID_CHARS, min_size=11, max_size=11)
filenames = st.builds(lambda vid, start: f"{vid}_{start}_{start + 10}", video_ids, st.integers(0, 590))
label_sets = st.sets(st.sampled_from(CLASSES), min_size=1, max_size=4).map(sorted)
newlines = st.sampled_from(["\n", "\r\n"])


def _read(reader, text: str):
    """Write `text` to a CSV file as UTF-8 bytes (line endings kept) and parse it with `reader`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "AVVP_test.csv"
        path.write_bytes(text.encode("utf-8"))
        return reader(path)


@st.composite
def weak_files(draw):
    ids = draw(st.lists(video_ids, min_size=1, max_size=12, unique=True))
    names = [f"{vid}_{s}_{s + 10}" for vid in ids for s in [draw(st.integers(0, 590)) // 10 * 10]]
    labels = [draw(label_sets) for _ in ids]
    return names, labels


@SETTINGS
@given(weak_files(), newlines, st.booleans())
def test_weak_csv_round_trips(weak, newline, trailing_blank):
    names, labels = weak
    body = "".join(f"{n}\t{','.join(ls)}{newline}" for n, ls in zip(names, labels, strict=True))
    text = f"filename\tevent_labels{newline}{body}" + (newline if trailing_blank else "")
    read_names, multi_hot = _read(read_weak_csv, text)
    assert read_names == names
    assert multi_hot.shape == (len(names), NUM_CLASSES) and multi_hot.dtype == np.float32
    for row, ls in zip(multi_hot, labels, strict=True):
        assert [CLASSES[i] for i in np.flatnonzero(row)] == sorted(ls, key=CLASSES.index)


eval_rows = st.lists(st.tuples(st.integers(0, 5), st.integers(0, NUM_SEGMENTS), st.integers(0, NUM_SEGMENTS),
                               st.sampled_from(CLASSES)), max_size=40)


@SETTINGS
@given(st.lists(filenames, min_size=1, max_size=5, unique=True), eval_rows, newlines)
def test_eval_csv_round_trips(pool, rows, newline):
    rows = [(pool[i % len(pool)], on, off, cls) for i, on, off, cls in rows]
    body = "".join(f"{f}\t{on}\t{off}\t{cls}{newline}" for f, on, off, cls in rows)
    parsed = _read(read_eval_csv, f"filename\tonset\toffset\tevent_labels{newline}{body}")
    assert [(f, on, off, CLASSES[c]) for f, on, off, c in parsed.tolist()] == rows


@SETTINGS
@given(st.lists(filenames, min_size=1, max_size=5, unique=True), st.lists(filenames, max_size=2), eval_rows,
       st.randoms(use_true_random=False))
def test_dense_truth_is_the_union_of_half_open_rows_in_any_order(videos, strangers, rows, rnd):
    """Truth = OR of [onset, offset) per (video, class); onset >= offset and unknown names mark nothing; the
    counts of ignored and duplicate rows match a direct count; the row order changes nothing."""
    pool = videos + [s for s in strangers if s not in videos]
    table = np.zeros(len(rows), dtype=[("filename", object), ("onset", np.int64), ("offset", np.int64),
                                       ("cls", np.int64)])
    for j, (i, on, off, cls) in enumerate(rows):
        table[j] = (pool[i % len(pool)], on, off, CLASSES.index(cls))
    truth, report = dense_truth(videos, table)
    expected = np.zeros((len(videos), NUM_SEGMENTS, NUM_CLASSES), dtype=np.uint8)
    for name, on, off, cls in table.tolist():
        if name in videos:
            for t in range(on, off):
                expected[videos.index(name), t, cls] = 1
    np.testing.assert_array_equal(truth, expected)
    keys = table.tolist()
    assert report.rows == len(rows)
    assert report.unmatched_rows == sum(name not in videos for name, *_ in keys)
    assert report.empty_rows == sum(name in videos and on >= off for name, on, off, _ in keys)
    assert report.duplicate_rows == len(keys) - len(set(map(tuple, keys)))
    order = list(range(len(rows)))
    rnd.shuffle(order)
    shuffled, shuffled_report = dense_truth(videos, table[order])
    np.testing.assert_array_equal(shuffled, truth)
    assert (shuffled_report.empty_rows, shuffled_report.unmatched_rows, shuffled_report.duplicate_rows) == (
        report.empty_rows, report.unmatched_rows, report.duplicate_rows)


# ------------------------------------------------------------------------------- scoring through PRED.npz


@st.composite
def scored_split(draw):
    """A split of n videos with sparse truth and random probabilities (drawn from a seed: dense enough)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 8))
    names = [f"v{i:010d}_0_10" for i in range(n)]
    gt_a = (rng.random((n, NUM_SEGMENTS, NUM_CLASSES)) < 0.05).astype(np.uint8)
    gt_v = (rng.random((n, NUM_SEGMENTS, NUM_CLASSES)) < 0.05).astype(np.uint8)
    probs = {k: rng.random(shape).astype(np.float32)
             for k, shape in (("audio", (n, NUM_SEGMENTS, NUM_CLASSES)), ("visual", (n, NUM_SEGMENTS, NUM_CLASSES)),
                              ("video", (n, NUM_CLASSES)))}
    return names, gt_a, gt_v, probs, draw(st.permutations(range(n)))


def _score_file(arrays: dict[str, np.ndarray], names: list[str], gt_a, gt_v) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pred.npz"
        np.savez(path, **arrays)
        preds = load_prediction_file(path, names)
    return score(*preds.decisions(), gt_a, gt_v).summary


@SETTINGS
@given(scored_split())
def test_pred_file_row_order_never_changes_the_scores_and_scores_are_percentages(split):
    names, gt_a, gt_v, probs, order = split
    arrays = {"filenames": np.array(names), **probs}
    base = _score_file(arrays, names, gt_a, gt_v)
    permuted = _score_file({k: v[list(order)] for k, v in arrays.items()}, names, gt_a, gt_v)
    assert set(base) == set(METRIC_KEYS)
    for key in METRIC_KEYS:
        assert permuted[key] == pytest.approx(base[key], abs=1e-9)
        assert 0.0 <= base[key] <= 100.0


@SETTINGS
@given(scored_split())
def test_a_perfect_pred_file_scores_100_in_any_row_order(split):
    names, gt_a, gt_v, _, order = split
    arrays = {"filenames": np.array(names)[list(order)], "audio": gt_a[list(order)].astype(np.float32),
              "visual": gt_v[list(order)].astype(np.float32)}
    assert all(v == pytest.approx(100.0) for v in _score_file(arrays, names, gt_a, gt_v).values())
