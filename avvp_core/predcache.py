"""Predictions of a checkpoint on a split, kept on disk: a split that any session, server or the background warm-up
computed once is a read (milliseconds) instead of a forward pass (about a second for the twelve checkpoints Compare
shows, several on a loaded machine). No Streamlit here.

- Where: `<data cache>/predictions/<key>.npz` (the data folder's cache, as the feature and embedding caches), a
  PRED.npz of `score`'s contract plus a `key` member. The key hashes the cache version, the code that turns weights
  into probabilities (models, data feeding, `predict`), the checkpoint's weights and config (content hash), the data
  fingerprint and the split: a retrained checkpoint, regenerated data or changed model code is a new key, so a stale
  file is never read (old files are pruned by age and total size).
- Read as an untrusted file: `predictions.load_prediction_file` bounds every member from its header before inflating
  it, checks shapes, values in [0, 1] and that the filenames are exactly the split's; the `key` member must match. A
  file that fails any check is logged in one line and recomputed (and overwritten), never a traceback.
- Written atomically (`fileio.save_npz`: temporary file, then rename): a reader never sees half a file.
- One computation per key across processes: the computing process holds an exclusive `flock` on `<key>.lock`; a
  page that needs the same key waits for it and reads the result, and the warm-up skips a key a page is computing.
- The warm-up (`python -m avvp_core.predcache DATA CHECKPOINT...`), started by the app the first time a page asks for
  predictions, fills the cache for every checkpoint of the data in use, val first (the split no page shows by
  default, so the page's own first view and the warm-up do not compute the same keys), below the server's priority
  and on one thread, so the first switch to the other split finds its predictions ready; on SynthLLP it also renders
  the video Timelines opens each split on.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .errors import InputError

CACHE_VERSION = 1
FOLDER = "predictions"
MAX_FILES = 256  # pruned oldest first beyond these bounds (each file: ~2 KB per video)
MAX_BYTES = 2 * 2**30
WARM_SPLITS = ("val", "test")  # val first: every page opens on test, which the page itself computes
WARM_LOCK = ".warm.lock"
_KEY_CHARS = 64

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def code_stamp() -> str:
    """Hash of the sources that turn weights and features into probabilities: a change to a model's forward pass is
    a new cache key, not a stale prediction shown as the model's."""
    h = hashlib.sha256()
    files = [*sorted((PACKAGE / "models").rglob("*.py")), *sorted((PACKAGE / "data").rglob("*.py")),
             PACKAGE / "evaluation.py", PACKAGE / "checkpoints.py", PACKAGE / "checkpoint_schema.py",
             PACKAGE / "schema.py", PACKAGE / "predictions.py", Path(__file__).resolve()]
    for path in files:
        if path.is_file():
            h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cache_folder(dataset, cache_dir: str | Path | None = None) -> Path:
    from .data.cache import default_cache_root

    base = Path(cache_dir) if cache_dir else (dataset.cache_root or default_cache_root(dataset.root))
    return base / FOLDER


def cache_key(checkpoint: str | Path, split_name: str, data_fingerprint: str) -> str:
    from .analysis.features import weights_hash

    raw = json.dumps([CACHE_VERSION, code_stamp(), weights_hash(checkpoint), data_fingerprint, split_name])
    return hashlib.sha256(raw.encode()).hexdigest()[:_KEY_CHARS]


def cache_path(checkpoint: str | Path, split, data_fingerprint: str | None = None,
               cache_dir: str | Path | None = None) -> Path:
    """Where the predictions of `checkpoint` on `split` (a data.Split attached to its dataset) are, or will be."""
    if split.dataset is None:
        raise InputError(f"split {split.name!r} is not attached to a data folder")
    fingerprint = data_fingerprint or split.dataset.fingerprint()
    key = cache_key(checkpoint, split.name, fingerprint)
    return cache_folder(split.dataset, cache_dir) / f"{key}.npz"


def _key_check(path: Path):
    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * _KEY_CHARS:
            raise InputError(f"`key` must be one string of at most {_KEY_CHARS} characters", path)

    return check


def read(path: Path, split, quiet: bool = False):
    """The cached Predictions at `path`, or None when there is no file; a file that is not exactly what this key
    must hold (damaged, truncated, another key's, wrong videos or values) is logged in one line and treated as
    absent, so the caller recomputes and overwrites it."""
    from .predictions import load_prediction_file
    from .untrusted import NpzMembers

    if not path.exists():
        return None
    try:
        with NpzMembers(path) as npz:
            if "key" not in npz:
                raise InputError("no `key` member", path)
            key = str(npz.read("key", _key_check(path)))
        if key != path.stem:
            raise InputError(f"holds the predictions of key {key[:12]}…, not {path.stem[:12]}…", path)
        preds = load_prediction_file(path, split.filenames)
        if preds.video is None or preds.video_audio is None or preds.video_visual is None:
            raise InputError("lacks the video-level probabilities", path)
    except InputError as exc:
        if not quiet:
            log.warning("prediction cache: %s; recomputing", exc)
        return None
    preds.source = None  # what callers see is the checkpoint's prediction, not a file they gave
    return preds


def write(path: Path, preds) -> None:
    """Store atomically; a cache that cannot be written (read-only data folder, full disk) only costs the next
    session a recomputation, so it is logged, not raised."""
    from .fileio import save_npz

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = preds.npz_arrays()
        arrays.pop("gating", None)  # the gating is the caller's (the card's), not part of what the model computed
        save_npz(path, key=np.array(path.stem), **arrays)
    except (InputError, OSError) as exc:
        log.warning("prediction cache: cannot write %s (%s)", path, exc)
        return
    prune(path.parent, keep=path)


def prune(folder: Path, keep: Path | None = None) -> None:
    """Oldest files first until at most MAX_FILES files and MAX_BYTES remain (keys of old weights or data are never
    read again)."""
    try:
        files = []
        for p in folder.glob("*.npz"):
            with contextlib.suppress(OSError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
    except OSError:
        return
    files.sort(reverse=True)
    total = 0
    for i, (_, size, p) in enumerate(files):
        total += size
        if p != keep and (i >= MAX_FILES or total > MAX_BYTES):
            with contextlib.suppress(OSError):
                p.unlink()
                p.with_suffix(".lock").unlink()


@contextlib.contextmanager
def _key_lock(path: Path, wait: bool = True) -> Iterator[bool]:
    """Exclusive flock on `<key>.lock` (dropped by the kernel when the holder dies: never stale). Yields whether it
    is held; with `wait`, blocks until it is. Without a writable folder there is nothing to coordinate: yields True."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115 (closed by the `with` below, after the yield)
    except OSError:
        yield True
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _compute(checkpoint: str | Path, split):
    from .checkpoints import load_checkpoint
    from .evaluation import predict

    model, _ = load_checkpoint(checkpoint)
    return predict(model, split, source=str(checkpoint))


def predictions(checkpoint: str | Path, split, data_fingerprint: str | None = None,
                cache_dir: str | Path | None = None):
    """All probabilities of `checkpoint` on `split`: from the disk cache when there, else computed (waiting for a
    process already computing the same key) and stored. Raises InputError for a checkpoint that cannot be loaded."""
    path = cache_path(checkpoint, split, data_fingerprint, cache_dir)
    found = read(path, split)
    if found is not None:
        return found
    with _key_lock(path):
        found = read(path, split, quiet=True)  # another process may have written it while this one waited
        if found is not None:
            return found
        preds = _compute(checkpoint, split)
        write(path, preds)
    return preds


def warm(dataset, checkpoints: Iterable[str | Path], splits: Iterable[str] = WARM_SPLITS,
         data_fingerprint: str | None = None, cache_dir: str | Path | None = None) -> dict[str, int]:
    """Fill the cache for every (split, checkpoint) not there yet; a key another process is computing is skipped,
    as is a checkpoint that cannot be loaded (the page that shows it says why). Returns counts for the log."""
    fingerprint = data_fingerprint or dataset.fingerprint()
    done = {"computed": 0, "cached": 0, "busy": 0, "failed": 0}
    checkpoints = list(checkpoints)
    for name in splits:
        if name not in dataset.available_splits:
            continue
        split = dataset.split(name)
        for checkpoint in checkpoints:
            try:
                path = cache_path(checkpoint, split, fingerprint, cache_dir)
                if read(path, split) is not None:
                    done["cached"] += 1
                    continue
                with _key_lock(path, wait=False) as held:
                    if not held:
                        done["busy"] += 1
                        continue
                    if read(path, split, quiet=True) is None:
                        write(path, _compute(checkpoint, split))
                done["computed"] += 1
            except InputError as exc:
                log.warning("warm-up: %s", exc)
                done["failed"] += 1
    return done


def warm_videos(dataset, splits: Iterable[str] = WARM_SPLITS) -> int:
    """Render the video Timelines opens a split on (its first row), and its filmstrip, when the data is SynthLLP and
    they are not on disk yet (a second or so each); a real LLP folder's own files need nothing. Returns how many
    are ready."""
    from .videos import cached_filmstrip, synth_video

    ready = 0
    if not dataset.synth_meta:
        return ready
    for name in splits:
        if name in dataset.available_splits and len(dataset.split(name)):
            try:
                cached_filmstrip(synth_video(dataset, name, 0), crop_header=True)  # as Timelines asks for it
                ready += 1
            except (InputError, OSError) as exc:
                log.warning("warm-up: video of %s row 0 not rendered (%s)", name, exc)
    return ready


_started: set[tuple] = set()  # per server process: (data, checkpoints) already handed to a warm-up


def start_warm(data_root: str | Path, checkpoints: Iterable[str | Path], stamp: object = None) -> bool:
    """Start the background warm-up for these checkpoints on this data, once per server process and `stamp` (the
    caller's identity of the checkpoints' versions); a second server's or a concurrent warm-up exits at once on the
    warm lock. Returns whether a process was started."""
    checkpoints = [str(c) for c in checkpoints]
    signature = (str(data_root), tuple(checkpoints), stamp)
    if signature in _started or not checkpoints:
        return False
    _started.add(signature)
    try:
        subprocess.Popen([sys.executable, "-m", "avvp_core.predcache", str(data_root), *checkpoints],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, cwd=PACKAGE.parent)
    except OSError as exc:  # the pages compute what they need themselves
        log.warning("warm-up not started: %s", exc)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m avvp_core.predcache", description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--splits", nargs="+", default=list(WARM_SPLITS))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.suppress(OSError):  # below the server, on one core: it must not slow the page being used
        os.nice(5)
    import torch

    from .data import LLPDataset

    torch.set_num_threads(1)
    try:
        dataset = LLPDataset(args.data)
        folder = cache_folder(dataset)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / WARM_LOCK, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another warm-up works on this data
            done = warm(dataset, args.checkpoints, args.splits)
            done["videos"] = warm_videos(dataset, args.splits)
    except (InputError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("prediction warm-up on %s: %s", args.data, done)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
