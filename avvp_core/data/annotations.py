"""Parsing the LLP annotation CSVs (tab-separated) and building dense ground truth as the official code does.

Weak files: `filename<TAB>event_labels` (comma-separated class names). Eval files: `filename<TAB>onset<TAB>
offset<TAB>event_labels` with one class per row and integer seconds; a row marks segments onset <= t < offset.
Quirks of the real files are reproduced, never raised: rows with onset >= offset are no-ops and rows whose
filename matches no video of the split are ignored (both counted in an `AnnotationReport`); same-class rows
of a video are OR-ed. Anything the official code could not have read at all is an `InputError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..constants import CLASS_INDEX, NUM_CLASSES, NUM_SEGMENTS, VIDEO_ID_LEN
from ..errors import InputError
from ..untrusted import read_text

WEAK_COLUMNS = ("filename", "event_labels")
EVAL_COLUMNS = ("filename", "onset", "offset", "event_labels")
MAX_CSV_BYTES = 64 * 2**20  # the released files are under 1 MB
# A split's filename names its feature files (feats/<stream>/<first 11 characters>.npy), so it is checked before
# any path is built from it: 11 characters of YouTube's id alphabet, then _start_end in ASCII seconds (the released
# files have five with one decimal, e.g. AP0061o0Nvk_101.8_111.8). Nothing else can reach outside feats/.
FILENAME_RE = re.compile(r"[A-Za-z0-9_-]{11}_[0-9]+(\.[0-9]+)?_[0-9]+(\.[0-9]+)?", re.ASCII)
SECONDS_RE = re.compile(r"-?[0-9]+", re.ASCII)  # int() would also take "0_5", "+3" and non-ASCII digits
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class AnnotationReport:
    """What was ignored while building dense truth from one eval file (the official code ignores it silently)."""

    file: str
    rows: int = 0
    empty_rows: int = 0  # onset >= offset: marks no segment
    unmatched_rows: int = 0  # filename is no video of the split(s) being built
    duplicate_rows: int = 0  # identical to an earlier row: harmless, OR-ed
    unmatched_names: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.rows} rows"]
        if self.empty_rows:
            parts.append(f"{self.empty_rows} with onset >= offset ignored")
        if self.unmatched_rows:
            parts.append(f"{self.unmatched_rows} naming no video ignored")
        if self.duplicate_rows:
            parts.append(f"{self.duplicate_rows} duplicates")
        return f"{Path(self.file).name}: " + ", ".join(parts)


def _read_table(path: str | Path, columns: tuple[str, ...]) -> list[list[str]]:
    """Rows of a tab-separated file with exactly `columns` as header; one-line InputError otherwise."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise InputError("file not found", path, "an LLP folder holds the five AVVP_*.csv files")
    text = read_text(path, MAX_CSV_BYTES)  # a regular, readable, bounded UTF-8 file or one line saying why not
    bad = _CONTROL_RE.search(text)
    if bad:
        lineno = text.count("\n", 0, bad.start()) + 1
        raise InputError(f"line {lineno}: control character {bad.group()!r} (e.g. a NUL byte); a tab-separated text "
                         "file is expected", path)
    lines = text.splitlines()
    if not lines:
        raise InputError("file is empty", path)
    header = lines[0].strip().split("\t")
    if tuple(h.strip() for h in header) != columns:
        shown = lines[0][:80]
        sep_hint = " (comma-separated? LLP files are tab-separated)" if "," in shown and "\t" not in shown else ""
        raise InputError(f"expected tab-separated columns {', '.join(columns)}; header is {shown!r}{sep_hint}", path)
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != len(columns):
            raise InputError(f"line {lineno}: expected {len(columns)} tab-separated fields, found {len(cells)}", path)
        rows.append(cells)
    return rows


def _class_ids(labels: str, path: Path, lineno: int) -> list[int]:
    ids = []
    for name in labels.split(","):
        name = name.strip()
        if name not in CLASS_INDEX:
            raise InputError(f"line {lineno}: unknown class name {name!r}", path, "the 25 LLP class names are expected")
        ids.append(CLASS_INDEX[name])
    return ids


def read_weak_csv(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Filenames (file order) and their multi-hot video-level labels (N, C) float32."""
    path = Path(path)
    rows = _read_table(path, WEAK_COLUMNS)
    filenames: list[str] = []
    labels = np.zeros((len(rows), NUM_CLASSES), dtype=np.float32)
    seen: dict[str, int] = {}
    for i, (filename, event_labels) in enumerate(rows):
        lineno = i + 2
        if len(filename) < VIDEO_ID_LEN:
            raise InputError(f"line {lineno}: filename {filename!r} is shorter than an 11-character video id", path)
        if not FILENAME_RE.fullmatch(filename):
            raise InputError(f"line {lineno}: filename {filename[:60]!r} is not an 11-character YouTube id "
                             "([A-Za-z0-9_-]) followed by _start_end in ASCII digits", path)
        vid = filename[:VIDEO_ID_LEN]
        if vid in seen:
            raise InputError(f"line {lineno}: video id {vid!r} already on line {seen[vid]}", path)
        seen[vid] = lineno
        labels[i, _class_ids(event_labels, path, lineno)] = 1.0  # a repeated label is harmless (one-hot)
        filenames.append(filename)
    return filenames, labels


def read_eval_csv(path: str | Path) -> np.ndarray:
    """Eval rows as a structured array (filename, onset, offset, cls), file order, after validation."""
    path = Path(path)
    rows = _read_table(path, EVAL_COLUMNS)
    fields = [("filename", object), ("onset", np.int64), ("offset", np.int64), ("cls", np.int64)]
    out = np.zeros(len(rows), dtype=fields)
    for i, (filename, onset, offset, event_labels) in enumerate(rows):
        lineno = i + 2
        if not (SECONDS_RE.fullmatch(onset) and SECONDS_RE.fullmatch(offset)):
            raise InputError(f"line {lineno}: onset/offset {onset[:20]!r}/{offset[:20]!r} are not whole seconds in "
                             "ASCII digits", path)
        on, off = int(onset), int(offset)
        if not (0 <= on <= NUM_SEGMENTS and 0 <= off <= NUM_SEGMENTS):
            raise InputError(f"line {lineno}: onset/offset {on}/{off} outside 0..{NUM_SEGMENTS} seconds", path)
        ids = _class_ids(event_labels, path, lineno)
        if len(ids) != 1:
            raise InputError(f"line {lineno}: eval rows carry exactly one class, found {event_labels!r}", path)
        out[i] = (filename, on, off, ids[0])
    return out


def dense_truth(filenames: list[str], rows: np.ndarray, file: str | Path = "") -> tuple[np.ndarray, AnnotationReport]:
    """Dense (N, T, C) uint8 truth for `filenames` from eval rows, exactly as the official GT construction.

    A row matches a video only by exact filename equality (the official rule; the 8 mangled names of the
    real files therefore match nothing).
    """
    index = {name: i for i, name in enumerate(filenames)}
    truth = np.zeros((len(filenames), NUM_SEGMENTS, NUM_CLASSES), dtype=np.uint8)  # (N, T, C)
    report = AnnotationReport(file=str(file), rows=len(rows))
    unmatched: dict[str, None] = {}
    seen: set[tuple] = set()
    for filename, on, off, cls in rows.tolist():
        key = (filename, on, off, cls)
        if key in seen:
            report.duplicate_rows += 1
        seen.add(key)
        video = index.get(filename)
        if video is None:
            report.unmatched_rows += 1
            unmatched[filename] = None
            continue
        if on >= off:
            report.empty_rows += 1
            continue
        truth[video, on:off, cls] = 1
    report.unmatched_names = list(unmatched)
    return truth, report
