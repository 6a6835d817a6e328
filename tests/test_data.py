"""The LLP reader on real-file quirks and bad input, and the consolidated feature cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from avvp_core.constants import CLASSES
from avvp_core.data import LLPDataset, dense_truth, read_eval_csv, read_weak_csv
from avvp_core.errors import InputError
from tests.conftest import LLP_ANNOTATIONS

WEAK = "filename\tevent_labels\n"
EVAL = "filename\tonset\toffset\tevent_labels\n"


def write_folder(root: Path, n_train=3, n_val=2, n_test=2, audio_rows="", visual_rows="", feats=True,
                 frames=10) -> Path:
    """A minimal LLP folder: ids vid000000XX_0_10, labels Speech / Dog, random float32 features."""
    root.mkdir(parents=True, exist_ok=True)
    names = {s: [f"{s[:2]}{i:09d}_0_10" for i in range(n)] for s, n in (("train", n_train), ("val", n_val),
                                                                           ("test", n_test))}
    files = {"train": "AVVP_train.csv", "val": "AVVP_val_pd.csv", "test": "AVVP_test_pd.csv"}
    for split, fname in files.items():
        (root / fname).write_text(WEAK + "".join(f"{n}\tSpeech,Dog\n" for n in names[split]))
    (root / "AVVP_eval_audio.csv").write_text(EVAL + audio_rows)
    (root / "AVVP_eval_visual.csv").write_text(EVAL + visual_rows)
    if feats:
        rng = np.random.default_rng(0)
        for stream, shape in (("vggish", (10, 128)), ("res152", (frames, 2048)), ("r2plus1d_18", (10, 512))):
            (root / "feats" / stream).mkdir(parents=True, exist_ok=True)
            for split_names in names.values():
                for n in split_names:
                    np.save(root / "feats" / stream / f"{n[:11]}.npy", rng.standard_normal(shape).astype(np.float32))
    return root


def test_dense_truth_is_half_open_ored_and_ignores_quirks(tmp_path):
    rows = ("va000000000_0_10\t0\t4\tSpeech\n"  # segments 0..3
            "va000000000_0_10\t3\t5\tSpeech\n"  # overlaps: OR-ed -> 0..4
            "va000000000_0_10\t9\t9\tDog\n"  # zero length: no segment
            "va000000000_0_10\t9\t0\tDog\n"  # reversed: no segment
            "VMTJRpjbE_150_160\t0\t10\tDog\n"  # mangled filename: ignored
            "va000000001_0_10\t8\t10\tDog\n"  # segments 8, 9
            "va000000001_0_10\t8\t10\tDog\n")  # duplicate: harmless
    ds = LLPDataset(write_folder(tmp_path / "d", audio_rows=rows, feats=False))
    val = ds.split("val")
    speech, dog = CLASSES.index("Speech"), CLASSES.index("Dog")
    assert val.gt_audio[0, :, speech].tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert val.gt_audio[0, :, dog].sum() == 0
    assert val.gt_audio[1, :, dog].tolist() == [0] * 8 + [1, 1]
    assert val.gt_visual.sum() == 0  # no visual rows: all-zero truth, video still counted
    report = ds.reports[0]
    assert (report.empty_rows, report.unmatched_rows, report.duplicate_rows) == (2, 1, 1)
    assert report.unmatched_names == ["VMTJRpjbE_150_160"]
    assert ds.split("train").gt_audio is None  # LLP has no train truth; oracle mode is explicit


@pytest.mark.parametrize(
    "content, message",
    [
        ("filename,event_labels\nabcdefghijk_0_10,Speech\n", "comma-separated"),
        ("name\tlabels\nabcdefghijk_0_10\tSpeech\n", "expected tab-separated columns"),
        (WEAK + "abcdefghijk_0_10\tSpeach\n", "unknown class name 'Speach'"),
        (WEAK + "abcdefghijk_0_10\tSpeech\nabcdefghijk_5_15\tDog\n", "already on line 2"),
        (WEAK + "abc\tSpeech\n", "shorter than an 11-character"),
        (WEAK + "abcdefghijk_0_10\tSpeech\textra\n", "expected 2 tab-separated fields"),
        ("", "file is empty"),
    ],
)
def test_weak_csv_errors_are_one_line_and_name_the_file(tmp_path, content, message):
    path = tmp_path / "AVVP_train.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_weak_csv(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    "row, message",
    [
        ("abcdefghijk_0_10\t0\t11\tSpeech\n", "outside 0..10"),
        ("abcdefghijk_0_10\t-1\t3\tSpeech\n", "outside 0..10"),
        ("abcdefghijk_0_10\t0.5\t3\tSpeech\n", "not whole seconds"),
        ("abcdefghijk_0_10\t0\t3\tSpeech,Dog\n", "exactly one class"),
        ("abcdefghijk_0_10\t0\t3\tMoose\n", "unknown class name"),
    ],
)
def test_eval_csv_errors(tmp_path, row, message):
    path = tmp_path / "AVVP_eval_audio.csv"
    path.write_text(EVAL + row)
    with pytest.raises(InputError, match=message):
        read_eval_csv(path)


def test_missing_csv_and_folder(tmp_path):
    with pytest.raises(InputError, match="data folder not found"):
        LLPDataset(tmp_path / "nope")
    root = write_folder(tmp_path / "d", feats=False)
    (root / "AVVP_test_pd.csv").unlink()
    with pytest.raises(InputError, match="AVVP_test_pd.csv: file not found"):
        LLPDataset(root).split("test")


def test_overlapping_splits_are_refused(tmp_path):
    root = write_folder(tmp_path / "d", feats=False)
    (root / "AVVP_val_pd.csv").write_text(WEAK + "tr000000000_0_10\tDog\n")
    with pytest.raises(InputError, match="in both train and val"):
        LLPDataset(root).split("val")


# ------------------------------------------------------------------------------------------------- cache


@pytest.mark.parametrize("frames", [10, 80])
def test_cache_matches_per_file_features(tmp_path, frames):
    root = write_folder(tmp_path / "d", frames=frames)
    ds = LLPDataset(root)
    cache = ds.feature_cache("val")
    rows = cache.load_rows()
    for i, name in enumerate(ds.split("val").filenames):
        for stream in ("vggish", "res152", "r2plus1d_18"):
            np.testing.assert_array_equal(rows[stream][i], np.load(root / "feats" / stream / f"{name[:11]}.npy"))
    assert rows["res152"].shape == (2, frames, 2048)
    assert cache.arrays["vggish"].dtype == np.float32  # random normals are not float16-exact: stored losslessly


def test_cache_is_reused_then_rebuilt_when_a_source_changes(tmp_path):
    root = write_folder(tmp_path / "d")
    first = LLPDataset(root).feature_cache("train")
    built = (first.folder / "manifest.json").stat().st_mtime_ns
    again = LLPDataset(root).feature_cache("train")
    assert again.folder == first.folder and (again.folder / "manifest.json").stat().st_mtime_ns == built
    target = root / "feats" / "vggish" / "tr000000001.npy"
    new = np.full((10, 128), 0.5, dtype=np.float32)
    time.sleep(0.01)
    np.save(target, new)
    os.utime(target, ns=(time.time_ns(), time.time_ns()))
    rebuilt = LLPDataset(root).feature_cache("train")
    assert rebuilt.folder != first.folder and not first.folder.exists()  # stale cache removed
    np.testing.assert_array_equal(rebuilt.load_rows()["vggish"][1], new)
    assert rebuilt.content_hash != first.content_hash


def test_float16_exact_features_are_cached_at_half_size(tmp_path):
    root = write_folder(tmp_path / "d")
    for path in (root / "feats" / "vggish").glob("*.npy"):
        np.save(path, np.load(path).astype(np.float16).astype(np.float32))
    cache = LLPDataset(root).feature_cache("val")
    assert cache.arrays["vggish"].dtype == np.float16 and cache.arrays["res152"].dtype == np.float32
    assert cache.load_rows()["vggish"].dtype == np.float32


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.unlink(), "feature files missing"),
        (lambda p: np.save(p, np.zeros((10, 127), np.float32)), "shape (10, 127)"),
        (lambda p: np.save(p, np.zeros((10, 128), np.float64)), "dtype float64"),
        (lambda p: np.save(p, np.full((10, 128), np.nan, np.float32)), "NaN or Inf"),
        (lambda p: p.write_bytes(b"garbage"), "unreadable .npy"),
    ],
)
def test_bad_feature_files_fail_clearly_and_leave_no_cache(tmp_path, damage, message):
    root = write_folder(tmp_path / "d")
    damage(root / "feats" / "vggish" / "va000000001.npy")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LLPDataset(root).feature_cache("val")
    leftovers = list((root / ".avvp_cache").glob("val-*")) if (root / ".avvp_cache").exists() else []
    assert leftovers == []


# -------------------------------------------------------------------------------------------- real LLP


@pytest.mark.skipif(not LLP_ANNOTATIONS.is_dir(), reason="shared/llp_annotations not present")
def test_real_llp_annotations_parse_with_reference_counts():
    ds = LLPDataset(LLP_ANNOTATIONS)
    assert [len(ds.split(s)) for s in ("train", "val", "test")] == [10000, 649, 1200]
    val, test = ds.split("val"), ds.split("test")
    # Cross-check figures of the reference notes (2024 audio file).
    assert (val.gt_audio.sum(), val.gt_visual.sum(), (val.gt_audio & val.gt_visual).sum()) == (8089, 6115, 5078)
    assert (test.gt_audio.sum(), test.gt_visual.sum(), (test.gt_audio & test.gt_visual).sum()) == (14576, 11789, 9592)
    audio_report = ds.reports[0]
    assert "19jWnmYnlD8_30_400" in audio_report.unmatched_names and "VMTJRpjbE_150_160" in audio_report.unmatched_names
    labels = ds.split("train").labels.sum(axis=1)
    assert [(labels == k).sum() for k in (1, 2, 3)] == [4032, 5879, 89]


@pytest.mark.skipif(not (LLP_ANNOTATIONS / "legacy_pre2024").is_dir(), reason="legacy audio file not present")
def test_legacy_audio_file_reproduces_the_pre2024_cell_counts():
    names = LLPDataset(LLP_ANNOTATIONS).split("test").filenames
    truth, report = dense_truth(names, read_eval_csv(LLP_ANNOTATIONS / "legacy_pre2024" / "AVVP_eval_audio.csv"))
    assert truth.sum() == 14568
    assert "Baby_cry_infant_cry" in report.unmatched_names  # the class string in the filename column
