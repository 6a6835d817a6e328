"""The disk cache of predictions (avvp_core.predcache): a read equals the forward pass, a changed checkpoint, data or
split is another key, a damaged file is recomputed with one log line (never a traceback), and the warm-up fills both
splits and leaves alone a key another process is computing."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avvp_core import predcache
from avvp_core.checkpoints import load_checkpoint, save_weights
from avvp_core.data import LLPDataset
from avvp_core.evaluation import predict

ARRAYS = ("audio", "visual", "video", "video_audio", "video_visual")


@pytest.fixture
def han(tiny_han, tmp_path) -> Path:
    """A private copy of the tiny HAN checkpoint (its weights are rewritten by some tests)."""
    return Path(shutil.copytree(tiny_han / "han", tmp_path / "han"))


@pytest.fixture
def split(tiny_data):
    return LLPDataset(tiny_data).split("val")


def _same(a, b) -> None:
    assert a.filenames == b.filenames
    for key in ARRAYS:
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def _counting(monkeypatch) -> list[str]:
    """Record every real forward pass predcache runs."""
    calls = []
    real = predcache._compute

    def compute(checkpoint, split):
        calls.append(str(checkpoint))
        return real(checkpoint, split)

    monkeypatch.setattr(predcache, "_compute", compute)
    return calls


def test_second_call_is_a_read_equal_to_the_forward_pass(han, split, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    first = predcache.predictions(han, split, cache_dir=tmp_path / "cache")
    path = predcache.cache_path(han, split, cache_dir=tmp_path / "cache")
    assert path.is_file() and path.parent.name == "predictions"
    again = predcache.predictions(han, split, cache_dir=tmp_path / "cache")
    assert calls == [str(han)]  # one forward pass, then a read
    _same(first, again)
    _same(again, predict(load_checkpoint(han)[0], split))
    assert again.source is None and again.gating is None  # the card's gating decides, as for a fresh forward pass


def test_retrained_weights_data_and_split_are_new_keys(han, split, tiny_data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    before = predcache.predictions(han, split, cache_dir=cache)
    old = predcache.cache_path(han, split, cache_dir=cache)
    model, _ = load_checkpoint(han)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_weights(han / "model.pt", model)  # a retraining into the same folder
    new = predcache.cache_path(han, split, cache_dir=cache)
    assert new != old
    calls = _counting(monkeypatch)
    after = predcache.predictions(han, split, cache_dir=cache)
    assert calls == [str(han)]
    _same(after, predict(load_checkpoint(han)[0], split))
    assert not np.array_equal(after.audio, before.audio)
    test = LLPDataset(tiny_data).split("test")
    assert predcache.cache_path(han, test, cache_dir=cache) != new
    assert predcache.cache_path(han, split, data_fingerprint="0" * 16, cache_dir=cache) != new


def _damage_garbage(path: Path) -> None:
    path.write_bytes(b"not a zip at all")


def _damage_truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_other_key(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["key"] = np.array("f" * 64)
    np.savez(path, **arrays)


def _damage_values(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["audio"] = arrays["audio"] * 7.0  # outside [0, 1]
    np.savez(path, **arrays)


def _damage_videos(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez(path, **{k: (v[1:] if v.ndim else v) for k, v in arrays.items()})  # one video short


def _damage_pickle(path: Path) -> None:
    np.savez(path, key=np.array(path.stem), filenames=np.array([{"x": 1}], dtype=object))


@pytest.mark.parametrize("damage", [_damage_garbage, _damage_truncated, _damage_other_key, _damage_values,
                                    _damage_videos, _damage_pickle])
def test_a_damaged_file_is_recomputed_with_one_log_line(damage, han, split, tmp_path, monkeypatch, caplog):
    cache = tmp_path / "cache"
    good = predcache.predictions(han, split, cache_dir=cache)
    path = predcache.cache_path(han, split, cache_dir=cache)
    damage(path)
    calls = _counting(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="avvp_core.predcache"):
        again = predcache.predictions(han, split, cache_dir=cache)
    assert calls == [str(han)]
    _same(again, good)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and str(path) in lines[0] and "\n" not in lines[0], lines
    _same(predcache.read(path, split), good)  # overwritten with a good file


def test_unwritable_cache_still_answers(han, split, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    with caplog.at_level(logging.WARNING, logger="avvp_core.predcache"):
        preds = predcache.predictions(han, split, cache_dir=blocker)
    _same(preds, predict(load_checkpoint(han)[0], split))
    assert any("cannot write" in r.getMessage() for r in caplog.records)


def test_warm_fills_both_splits_and_skips_a_key_being_computed(han, tiny_data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    dataset = LLPDataset(tiny_data)
    busy = predcache.cache_path(han, dataset.split("test"), cache_dir=cache)
    busy.parent.mkdir(parents=True)
    with open(busy.with_suffix(".lock"), "a+") as fh:  # a page computing test right now
        fcntl.flock(fh, fcntl.LOCK_EX)
        done = predcache.warm(dataset, [han, tmp_path / "missing"], cache_dir=cache)
    assert done == {"computed": 1, "cached": 0, "busy": 1, "failed": 2}  # a missing checkpoint is skipped, not raised
    assert predcache.cache_path(han, dataset.split("val"), cache_dir=cache).is_file() and not busy.exists()
    calls = _counting(monkeypatch)
    done = predcache.warm(dataset, [han], cache_dir=cache)
    assert done["computed"] == 1 and done["cached"] == 1 and calls == [str(han)]


def test_prune_keeps_the_newest_within_bounds(tmp_path, monkeypatch):
    monkeypatch.setattr(predcache, "MAX_FILES", 2)
    for i in range(4):
        path = tmp_path / f"{i}.npz"
        path.write_bytes(b"x")
        path.with_suffix(".lock").write_bytes(b"")
        os.utime(path, (i, i))
    predcache.prune(tmp_path, keep=tmp_path / "0.npz")
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["0.npz", "2.npz", "3.npz"]
    assert not (tmp_path / "1.lock").exists()


def test_warm_command_and_its_start_once_per_server(han, tiny_data, monkeypatch):
    monkeypatch.setattr(predcache.os, "nice", lambda n: 0)  # the command lowers its own priority; not the tests'
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    assert predcache.main([str(tiny_data), str(han), "--splits", "val"]) == 0
    dataset = LLPDataset(tiny_data)
    path = predcache.cache_path(han, dataset.split("val"))
    try:
        assert predcache.read(path, dataset.split("val")) is not None
        from avvp_core.videos import render_path, video_truth

        video = render_path(dataset, dataset.split("val").filenames[0], *video_truth(dataset, "val", 0))
        assert video.is_file()  # the video Timelines opens val on (a render cache, like the features')
    finally:
        path.unlink()  # tiny_data is shared by the session
        path.with_suffix(".lock").unlink()
    started = []
    monkeypatch.setattr(predcache.subprocess, "Popen", lambda argv, **kw: started.append(argv))
    monkeypatch.setattr(predcache, "_started", set())
    assert predcache.start_warm(tiny_data, [han], stamp=1)
    assert not predcache.start_warm(tiny_data, [han], stamp=1)  # every rerun asks; one process per version
    assert predcache.start_warm(tiny_data, [han], stamp=2)  # retrained: warmed again
    assert len(started) == 2 and started[0][1:3] == ["-m", "avvp_core.predcache"]


def test_a_renders_filmstrip_is_decoded_once_then_read(tiny_data, tmp_path, monkeypatch, caplog):
    from avvp_core import videos

    render = Path(shutil.copy(videos.synth_video(LLPDataset(tiny_data), "val", 1), tmp_path))
    decoded = []
    real = videos.filmstrip
    monkeypatch.setattr(videos, "filmstrip", lambda *a, **k: decoded.append(1) or real(*a, **k))
    first = videos.cached_filmstrip(render, crop_header=True)
    cache = videos.strip_path(render, crop_header=True)
    assert cache.is_file() and first.dtype == np.uint8 and first.shape[1] == 10 * 128
    np.testing.assert_array_equal(videos.cached_filmstrip(render, crop_header=True), first)
    assert len(decoded) == 1
    assert videos.strip_path(render) != cache  # uncropped: another strip
    np.save(cache, np.zeros((4, 4), dtype=np.float64))  # damaged: decoded again, one log line, rewritten
    with caplog.at_level(logging.WARNING, logger="avvp_core.videos"):
        np.testing.assert_array_equal(videos.cached_filmstrip(render, crop_header=True), first)
    assert len(decoded) == 2 and len(caplog.records) == 1 and str(cache) in caplog.records[0].getMessage()
    later = render.stat().st_mtime_ns + 10**9
    os.utime(render, ns=(later, later))  # re-rendered: a new name, the old strip is never read
    assert videos.strip_path(render, crop_header=True) != cache
    assert videos.strip_path(videos.DEMO_DIR / "x.0123456789ab.mp4") is None  # shipped assets are never written
