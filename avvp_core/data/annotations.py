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

_OTHER_SPACE = re.compile(r"[^\S\t\n]")  # any whitespace but tab and newline (one character class: a fast scan)


_ASCII_OTHER_SPACE = " \r\x0b\x0c\x1c\x1d\x1e\x1f"  # str.isspace() in ASCII, but tab and newline


def _other_space(body: str) -> bool:
    """Any whitespace but tab and newline in `body`. ASCII text (the released files) is scanned once per character
    with str's own search, ~10x faster than the regular expression, which the rest of Unicode still needs."""
    if body.isascii():
        return any(ch in body for ch in _ASCII_OTHER_SPACE)
    return _OTHER_SPACE.search(body) is not None


def _tidy(body: str) -> bool:
    """True when `body` (lines joined by newlines) has no blank line, no empty cell and no whitespace around a cell."""
    return not (_other_space(body) or "\t\t" in body or "\t\n" in body or "\n\t" in body or "\n\n" in body
                or body[:1] in ("\t", "\n") or body[-1:] in ("\t", "\n"))


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


def _read_columns(path: str | Path, columns: tuple[str, ...]) -> list[list[str]]:
    """The cells of a tab-separated file with exactly `columns` as header, column by column; one-line InputError
    otherwise."""
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
    width = len(columns)
    # Fast path (the released files, SynthLLP's): no blank line and no whitespace around any cell, checked by one scan
    # of the text, so one split of the whole body gives exactly the cells of the loop below, which handles everything
    # else. Every line but the first starts with a "\n"-marked cell; they all sit at multiples of `width` exactly when
    # every line has `width` cells (tidy cells are never empty and hold no newline).
    n_rows = len(lines) - 1
    body = "\n".join(lines[1:])
    if n_rows and _tidy(body):
        cells = body.replace("\n", "\t\n").split("\t")
        if len(cells) == width * n_rows and all(c[:1] == "\n" for c in cells[width::width]):
            cols = [cells[i::width] for i in range(width)]
            cols[0] = [cols[0][0], *(c[1:] for c in cols[0][1:])]
            return cols
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != width:
            raise InputError(f"line {lineno}: expected {width} tab-separated fields, found {len(cells)}", path)
        rows.append(cells)
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in columns]


def _read_table(path: str | Path, columns: tuple[str, ...]) -> list[list[str]]:
    """Rows of a tab-separated file with exactly `columns` as header; one-line InputError otherwise."""
    return [list(row) for row in zip(*_read_columns(path, columns), strict=True)]


def _class_ids(labels: str, path: Path, lineno: int) -> list[int]:
    if not labels.strip():  # an unlabelled video (`extract`'s list of the user's own videos)
        return []
    ids = []
    for name in labels.split(","):
        name = name.strip()
        if name not in CLASS_INDEX:
            raise InputError(f"line {lineno}: unknown class name {name!r}", path, "the 25 LLP class names are expected")
        ids.append(CLASS_INDEX[name])
    return ids


def _label_table(label_cells: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """(row -> label-set index, (U, C) float32 multi-hot table of the U distinct label cells), or None when a cell
    names an unknown class. A split has a few hundred distinct label sets: each is parsed once."""
    distinct = dict.fromkeys(label_cells)
    table = np.zeros((len(distinct), NUM_CLASSES), dtype=np.float32)
    for u, cell in enumerate(distinct):
        try:
            table[u, [CLASS_INDEX[name] for name in cell.split(",")]] = 1.0  # a repeated label is harmless
        except KeyError:
            return None
        distinct[cell] = u
    return np.fromiter(map(distinct.__getitem__, label_cells), dtype=np.int64, count=len(label_cells)), table


def read_weak_csv(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Filenames (file order) and their multi-hot video-level labels (N, C) float32."""
    path = Path(path)
    filenames, label_cells = _read_columns(path, WEAK_COLUMNS)
    # fast path, whole columns at once: every filename an id + _start_end (the same rule as the loop: nothing that
    # could name a path outside the data folder), ids unique, every label a known class name as written; any other
    # file goes through the loop below, which names the first offending line
    if (all(FILENAME_RE.fullmatch(f) for f in filenames)
            and len({f[:VIDEO_ID_LEN] for f in filenames}) == len(filenames)):
        looked_up = _label_table(label_cells)
        if looked_up is not None:
            row_set, table = looked_up
            return filenames, table[row_set]
    labels = np.zeros((len(filenames), NUM_CLASSES), dtype=np.float32)
    seen: dict[str, int] = {}
    for i, (filename, event_labels) in enumerate(zip(filenames, label_cells, strict=True)):
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
    return filenames, labels


# Whole seconds as written in the fast path: 0..T in plain ASCII digits (int() would also take "0_5", "+3", " 3" and
# non-ASCII digits; "03" and "-0" go to the loop, which reads them as the official code does).
_SECONDS = {str(t): t for t in range(NUM_SEGMENTS + 1)}


def read_eval_csv(path: str | Path) -> np.ndarray:
    """Eval rows as a structured array (filename, onset, offset, cls), file order, after validation."""
    path = Path(path)
    names, onsets, offsets, label_cells = _read_columns(path, EVAL_COLUMNS)
    fields = [("filename", object), ("onset", np.int64), ("offset", np.int64), ("cls", np.int64)]
    out = np.zeros(len(names), dtype=fields)
    # fast path, column by column: whole seconds in range and one known class per row; any other row sends the whole
    # file through the row-by-row loop below, which names the first offending line
    try:
        out["cls"] = [CLASS_INDEX[c] for c in label_cells]
        out["onset"] = [_SECONDS[x] for x in onsets]
        out["offset"] = [_SECONDS[x] for x in offsets]
    except KeyError:
        pass
    else:
        out["filename"] = names
        return out
    for i, (filename, onset, offset, event_labels) in enumerate(zip(names, onsets, offsets, label_cells,
                                                                    strict=True)):
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
    if not len(rows):
        return truth, report
    # Column-wise: one dictionary look-up per row, then array operations (a row-by-row loop took ~1 s per 100k rows).
    names = rows["filename"].tolist()
    video = np.fromiter(map(index.get, names, [-1] * len(names)), dtype=np.int64, count=len(names))
    on, off, cls = (np.asarray(rows[k], dtype=np.int64) for k in ("onset", "offset", "cls"))
    unmatched = video < 0
    unmatched_names = dict.fromkeys(names[i] for i in np.flatnonzero(unmatched))  # first-seen order
    report.unmatched_rows = int(unmatched.sum())
    report.unmatched_names = list(unmatched_names)
    # identical rows (harmless, OR-ed): the same (file, onset, offset, class), an unmatched file named by its rank
    ident = video.copy()
    if report.unmatched_rows:
        rank = {name: len(filenames) + k for k, name in enumerate(unmatched_names)}
        ident[unmatched] = [rank[names[i]] for i in np.flatnonzero(unmatched)]
    span = NUM_SEGMENTS + 1
    key = ((ident * span + on) * span + off) * NUM_CLASSES + cls
    key.sort()  # a sort and a neighbour comparison: np.unique's hashing took 0.1 s per 200k rows
    report.duplicate_rows = int(np.count_nonzero(key[1:] == key[:-1]))
    marks = ~unmatched & (on < off)
    report.empty_rows = int((~unmatched & (on >= off)).sum())
    seg = np.arange(NUM_SEGMENTS)
    r, t = np.nonzero(marks[:, None] & (seg >= on[:, None]) & (seg < off[:, None]))  # (row, segment) cells to mark
    truth[video[r], t, cls[r]] = 1
    return truth, report
