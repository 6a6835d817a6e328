"""The parsed-annotations cache (avvp_core/data/annotation_cache.py): a hit gives exactly what parsing gives, any
edit of a CSV is a miss, and a damaged or forged cache file is a miss (the CSVs are parsed again), never an error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avvp_core.constants import CLASSES
from avvp_core.data import LLPDataset
from avvp_core.data import annotation_cache as ac
from avvp_core.metrics import score
from avvp_core.predictions import Predictions


@pytest.fixture()
def data(tiny_data, tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(ac, "MIN_CACHED_BYTES", 0)  # tiny's CSVs are far below the size from which caching pays
    return Path(shutil.copytree(tiny_data, tmp_path / "llp", ignore=shutil.ignore_patterns(".avvp_cache")))


def test_small_folders_are_not_cached(tiny_data, tmp_path):
    folder = Path(shutil.copytree(tiny_data, tmp_path / "llp", ignore=shutil.ignore_patterns(".avvp_cache")))
    assert ac.csv_key(folder) is None  # LLP-sized CSVs parse in a blink: nothing is written into the folder
    LLPDataset(folder).split("test")
    assert not (folder / ".avvp_cache").exists()


def _state(ds: LLPDataset) -> dict:
    """Everything the annotations give: names, labels and truth per split, and the reports."""
    out = {}
    for name in ds.available_splits:
        sp = ds.split(name)
        out[name] = (sp.filenames, sp.labels, sp.gt_audio, sp.gt_visual)
    return {"splits": out, "reports": [vars(r) for r in ds.reports]}


def _assert_same(a: dict, b: dict) -> None:
    assert a["reports"] == b["reports"]
    assert a["splits"].keys() == b["splits"].keys()
    for name, (names, labels, ga, gv) in a["splits"].items():
        names2, labels2, ga2, gv2 = b["splits"][name]
        assert names == names2
        assert labels.dtype == labels2.dtype == np.float32 and np.array_equal(labels, labels2)
        if ga is None:
            assert ga2 is None and gv2 is None
        else:
            for x, y in ((ga, ga2), (gv, gv2)):
                assert x.dtype == y.dtype == np.uint8 and np.array_equal(x, y)


def _cache_files(data: Path) -> list[Path]:
    return sorted((data / ".avvp_cache").glob("annotations-*.npz"))


def test_a_hit_gives_exactly_what_parsing_gives(data):
    parsed = LLPDataset(data)
    assert parsed._cached_annotations is None  # nothing cached yet: the CSVs were parsed
    first = _state(parsed)
    assert len(_cache_files(data)) == 1
    cached = LLPDataset(data)
    assert cached._cached_annotations is not None  # read from the cache this time
    _assert_same(first, _state(cached))
    # and the figures score gives from either are the same
    sp_a, sp_b = parsed.split("test"), cached.split("test")
    rng = np.random.default_rng(0)
    pa, pv = (rng.random(sp_a.gt_audio.shape) > 0.7 for _ in range(2))
    assert score(pa, pv, sp_a.gt_audio, sp_a.gt_visual).summary == score(pa, pv, sp_b.gt_audio,
                                                                         sp_b.gt_visual).summary


def test_reports_of_ignored_rows_survive_the_cache(data):
    with open(data / "AVVP_eval_audio.csv", "a") as fh:
        fh.write("zzzzzzzzzzz_0_10\t0\t5\tSpeech\n")  # names no video: reported, ignored
        fh.write(f"{LLPDataset(data).split('test').filenames[0]}\t4\t4\tDog\n")  # onset == offset: a no-op
    first = _state(LLPDataset(data))
    assert any(r["unmatched_rows"] == 1 and r["empty_rows"] == 1 for r in first["reports"])
    cached = LLPDataset(data)
    _assert_same(first, _state(cached))
    assert cached._cached_annotations is not None


def test_an_edited_csv_is_a_miss(data):
    before = _state(LLPDataset(data))
    test_csv = data / "AVVP_test_pd.csv"
    lines = test_csv.read_text().splitlines()
    name = lines[1].split("\t")[0]
    lines[1] = f"{name}\tDog"  # a different label set for the first test video
    test_csv.write_text("\n".join(lines) + "\n")
    after = LLPDataset(data)
    assert after._cached_annotations is None
    labels = after.split("test").labels
    assert labels[0].tolist() == [1.0 if c == "Dog" else 0.0 for c in CLASSES]
    assert not np.array_equal(labels, before["splits"]["test"][1])
    assert len(_cache_files(data)) == 2  # one file per key; the new one is a hit next time
    assert LLPDataset(data)._cached_annotations is not None


def _forge(path: Path, **replace) -> None:
    """Rewrite a cache file with some members replaced (a forged or damaged cache)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(replace)
    np.savez(path.with_suffix(""), **arrays)  # np.savez adds the .npz


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bad filename", "wrong shape", "meta key", "meta json",
                                    "shared id", "report type"])
def test_a_damaged_or_forged_cache_is_a_miss(data, damage):
    first = _state(LLPDataset(data))
    (path,) = _cache_files(data)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        names = z["test_names"].copy()
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "bad filename":  # names build feature paths: a forged one must never reach them
        names[0] = "../../etc/passwd_0_1"
        _forge(path, test_names=names)
    elif damage == "wrong shape":
        _forge(path, test_labels=np.zeros((3, 4), dtype=np.uint8))
    elif damage == "meta key":
        _forge(path, meta=np.array(json.dumps({**meta, "key": "0" * 64})))
    elif damage == "meta json":
        _forge(path, meta=np.array("{not json"))
    elif damage == "shared id":
        val = LLPDataset(data).split("val").filenames
        names[0] = val[0]
        _forge(path, test_names=names.astype(f"<U{max(len(val[0]), names.dtype.itemsize // 4)}"))
    elif damage == "report type":
        _forge(path, meta=np.array(json.dumps({**meta, "reports": [{"file": 1}]})))
    again = LLPDataset(data)
    assert again._cached_annotations is None
    _assert_same(first, _state(again))  # parsed again, same result
    assert LLPDataset(data)._cached_annotations is not None  # and the cache file was replaced by a good one


def test_an_unwritable_cache_folder_is_no_error(data, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    ds = LLPDataset(data, cache_root=blocker / "cache")
    state = _state(ds)
    assert state["splits"]["test"][2] is not None
    assert not (blocker.parent / "cache").exists()


def test_key_changes_with_any_csv_and_is_none_for_an_oversized_one(data, monkeypatch):
    key = ac.csv_key(data)
    (data / "AVVP_eval_visual.csv").write_text((data / "AVVP_eval_visual.csv").read_text() + "\n")
    assert ac.csv_key(data) != key
    monkeypatch.setattr(ac, "MAX_CSV_BYTES", 10)
    assert ac.csv_key(data) is None


def test_predictions_in_split_order_are_not_copied(tiny_data, tmp_path):
    """load_prediction_file keeps arrays already in the split's order as they are (what `predict` writes)."""
    from avvp_core.fileio import save_npz
    from avvp_core.predictions import load_prediction_file

    sp = LLPDataset(tiny_data).split("test")
    rng = np.random.default_rng(1)
    preds = Predictions(sp.filenames, rng.random(sp.gt_audio.shape, dtype=np.float32),
                        rng.random(sp.gt_audio.shape, dtype=np.float32))
    save_npz(tmp_path / "p.npz", **preds.npz_arrays())
    same = load_prediction_file(tmp_path / "p.npz", sp.filenames)
    assert np.array_equal(same.audio, preds.audio)
    shuffled = list(reversed(sp.filenames))
    back = load_prediction_file(tmp_path / "p.npz", shuffled)
    assert np.array_equal(back.audio, preds.audio[::-1])
