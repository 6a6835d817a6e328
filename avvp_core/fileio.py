"""Atomic writes: every file AVVP Lab writes appears whole or not at all (temp file + rename)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import (setting and restoring it is the only portable way to read it)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsync'ed and renamed onto `path`."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder; give a file name to write", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", path) from None
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; our files are ordinary, shareable files
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, path)
        except OSError as exc:  # a full disk (ENOSPC), a quota, a vanished folder: the old file stays as it was
            raise InputError(f"could not be written ({exc.strerror or exc}); the previous file, if any, is "
                             "unchanged", path) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """np.save, atomically, without pickles (object arrays are refused)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    write_bytes(path, buf.getvalue())


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes(path, buf.getvalue())


def append_line(path: str | Path, line: str) -> None:
    """Append one line and fsync: a JSON-lines log loses at most the line being written, and a failed append (a full
    disk) is cut back off, so the file never ends in half a line."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise InputError(f"cannot be appended to ({exc.strerror or exc})", path) from None
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise InputError(f"could not be written ({exc.strerror or exc}); nothing was appended", path) from None
    finally:
        os.close(fd)
