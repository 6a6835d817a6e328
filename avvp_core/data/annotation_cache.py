"""A data folder's parsed annotations (weak labels of every split, dense truth of val and test, the ignored-row
reports), cached by the bytes of its five CSVs.

Parsing the CSVs is most of what `score` costs on a large split (100k test videos: ~1 s of a ~3 s command, the
loading of the prediction file and the scoring being the rest), and users score many prediction files against
the same split. The cache file sits in the feature cache's folder (`<data>/.avvp_cache` or AVVP_CACHE_DIR's):

    annotations-<first 24 hex digits of the key>.npz
        meta            one JSON string: version, key, split sizes, eval splits, the AnnotationReports
        <split>_names   (N,) unicode filenames, file order
        <split>_labels  (N, 4) uint8: the (N, 25) weak labels, bits packed along classes
        <split>_audio, <split>_visual   (N, 10, 4) uint8: dense truth, bits packed along classes (val, test)

The key is sha256 over each CSV's name and bytes, so any edit of any CSV is a miss (and a rebuild), never a stale
hit. The file is untrusted when read, like every file: sizes are bounded from the meta before anything is read,
every filename is checked as the CSV reader checks it (it names feature files), and anything wrong is a miss:
the CSVs are parsed again and the file replaced. Writing is best effort (atomic; a read-only folder just means
no cache).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import EVAL_FILES, MODALITIES, NUM_CLASSES, NUM_SEGMENTS, SPLIT_FILES, SPLITS, VIDEO_ID_LEN
from ..errors import InputError
from ..fileio import save_npz
from ..untrusted import NpzMembers, open_regular
from .annotations import FILENAME_RE, MAX_CSV_BYTES, AnnotationReport

CACHE_VERSION = 1
ANNOTATION_FILES = (*SPLIT_FILES.values(), *EVAL_FILES.values())
MAX_VIDEOS = 10_000_000  # per split; a 64 MB CSV holds fewer than 4M lines
MAX_META_BYTES = 16 * 2**20
MAX_NAME_CHARS = 64  # an LLP filename is 11 + ~14 characters
PACKED_CLASSES = -(-NUM_CLASSES // 8)
# The five CSVs together from this size on are cached: about 4x LLP's (1.1 MB for its 11,849 videos, parsed in
# ~0.1 s); at 100k videos (17 MB) the parse takes ~1 s and the cache ~0.2 s.
MIN_CACHED_BYTES = 4 * 2**20

Weak = dict[str, tuple[list[str], np.ndarray]]
EvalTruth = dict[str, dict[str, np.ndarray]]


def csv_key(root: Path) -> str | None:
    """sha256 over the five CSVs' names and bytes (absent files named as absent); None when they are too small for
    a cache to pay (under MIN_CACHED_BYTES together: LLP's own parse in ~0.1 s, and no file is written into the
    folder), or when one cannot be read within the CSV size bound (the parser then says why, in one line)."""
    # the sizes first: a folder too small to cache (LLP itself, every test folder) is never read here
    try:
        declared = sum(os.stat(root / name).st_size for name in ANNOTATION_FILES if os.path.lexists(root / name))
    except OSError:
        return None
    if declared < MIN_CACHED_BYTES:
        return None
    h = hashlib.sha256(f"avvp-annotations/{CACHE_VERSION}".encode())
    total = 0
    for name in ANNOTATION_FILES:
        path = root / name
        if not os.path.lexists(path):
            h.update(f"{name}:<absent>".encode())
            continue
        try:
            with open_regular(path) as fh:
                data = fh.read(MAX_CSV_BYTES + 1)
        except (InputError, OSError):
            return None
        if len(data) > MAX_CSV_BYTES:
            return None
        h.update(f"{name}:{len(data)}:".encode() + data)
        total += len(data)
    return h.hexdigest() if total >= MIN_CACHED_BYTES else None


def cache_file(cache_root: Path, key: str) -> Path:
    return cache_root / f"annotations-{key[:24]}.npz"


def _pack(x: np.ndarray) -> np.ndarray:
    return np.packbits(np.asarray(x) != 0, axis=-1)


def save(path: Path, key: str, weak: Weak, truth: EvalTruth, reports: list[AnnotationReport]) -> None:
    """Write the cache file atomically; any failure leaves no file and is not an error (the cache is optional)."""
    meta = {"version": CACHE_VERSION, "key": key, "splits": {s: len(weak[s][0]) for s in weak},
            "eval_splits": list(truth), "reports": [vars(r) for r in reports]}
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for split, (names, labels) in weak.items():
        arrays[f"{split}_names"] = np.array(names, dtype=f"<U{max(1, max(map(len, names), default=1))}")
        arrays[f"{split}_labels"] = _pack(labels)
    for split, by_modality in truth.items():
        for modality in MODALITIES:
            arrays[f"{split}_{modality}"] = _pack(by_modality[modality])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz(path, **arrays)
    except (OSError, InputError):
        pass


def _report(raw: Any) -> AnnotationReport:
    fields = {"file": str, "rows": int, "empty_rows": int, "unmatched_rows": int, "duplicate_rows": int,
              "unmatched_names": list}
    if not isinstance(raw, dict) or set(raw) != set(fields) or not all(
            isinstance(raw[k], t) and not isinstance(raw[k], bool) for k, t in fields.items()):
        raise ValueError("report")
    if not all(isinstance(n, str) for n in raw["unmatched_names"]):
        raise ValueError("report names")
    return AnnotationReport(**raw)


def _checked_meta(npz: NpzMembers, key: str) -> dict[str, Any]:
    def scalar_string(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if shape != () or dtype.kind != "U":
            raise ValueError("meta")

    meta = json.loads(str(npz.read("meta", scalar_string, limit=MAX_META_BYTES)))
    if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION or meta.get("key") != key:
        raise ValueError("meta version or key")
    splits, eval_splits = meta.get("splits"), meta.get("eval_splits")
    if not isinstance(splits, dict) or not set(splits) <= set(SPLITS) or not all(
            type(n) is int and 0 <= n <= MAX_VIDEOS for n in splits.values()):
        raise ValueError("meta splits")
    if not isinstance(eval_splits, list) or not set(eval_splits) <= set(splits) & {"val", "test"}:
        raise ValueError("meta eval splits")
    if not isinstance(meta.get("reports"), list):
        raise ValueError("meta reports")
    return meta


def _member(npz: NpzMembers, name: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    def check(found: tuple[int, ...], dtype: np.dtype) -> None:
        if found != shape or dtype.kind != kind or (kind == "u" and dtype.itemsize != 1) \
                or (kind == "U" and dtype.itemsize > 4 * MAX_NAME_CHARS):
            raise ValueError(name)

    return npz.read(name, check)


def load(path: Path, key: str) -> tuple[Weak, EvalTruth, list[AnnotationReport]] | None:
    """The cached annotations for `key`, or None (no file, another key, or anything wrong with the file)."""
    if not path.is_file():
        return None
    try:
        with NpzMembers(path) as npz:
            meta = _checked_meta(npz, key)
            weak: Weak = {}
            ids: set[str] = set()
            for split, n in meta["splits"].items():
                names = _member(npz, f"{split}_names", (n,), "U").tolist()
                # the CSV reader's rules: the names build feature paths, ids are unique across splits
                if not all(FILENAME_RE.fullmatch(f) for f in names):
                    raise ValueError("filename")
                split_ids = {f[:VIDEO_ID_LEN] for f in names}
                if len(split_ids) != n or not ids.isdisjoint(split_ids):
                    raise ValueError("ids")
                ids |= split_ids
                packed = _member(npz, f"{split}_labels", (n, PACKED_CLASSES), "u")
                weak[split] = (names, np.unpackbits(packed, axis=-1, count=NUM_CLASSES).astype(np.float32))
            truth: EvalTruth = {}
            for split in meta["eval_splits"]:
                shape = (meta["splits"][split], NUM_SEGMENTS, PACKED_CLASSES)
                truth[split] = {m: np.unpackbits(_member(npz, f"{split}_{m}", shape, "u"), axis=-1,
                                                 count=NUM_CLASSES) for m in MODALITIES}
            reports = [_report(r) for r in meta["reports"]]
    except (InputError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return weak, truth, reports
