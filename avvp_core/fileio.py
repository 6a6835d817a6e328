"""Atomic writes: every file AVVP Lab writes appears whole or not at all (temp file + rename).

A temporary's name carries the writing process's id (`.<name>.pid<PID>-<host>.<random>.tmp`), so the next write of the
same file removes what a killed writer left, and only that: a temporary whose process still runs is kept. A write
that fails (full disk, read-only or unwritable folder, a folder in the file's place) is one-line `InputError`
naming the file, which is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

_LEGACY_RE = re.compile(r"[a-z0-9_]{8}")  # tempfile's random part, as earlier versions named temporaries
_RUN_STARTED = time.time()
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import (setting and restoring it is the only portable way to read it)


def temp_prefix(name: str, pid: int | None = None) -> str:
    """Prefix of this process's temporaries for `name` (see `remove_stale_temporaries`). The host tag keeps a
    machine sharing the folder (NFS home, shared data) from judging another machine's process ids."""
    return f".{name}.pid{os.getpid() if pid is None else pid}-{_HOST}."


def _owner_gone(pid: int, mtime: float) -> bool:
    """True when process `pid` is not the one that last wrote a temporary modified at `mtime`."""
    if pid == os.getpid():
        return False  # another thread of this process may be writing it
    try:
        started = os.stat(f"/proc/{pid}").st_ctime
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel whether the process exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    return started > mtime + 1.0  # the pid was reused by a process started after the temporary's last write


def remove_stale_temporaries(folder: str | Path, name: str, suffix: str = "") -> list[Path]:
    """Remove `.<name>.pid<PID>.*<suffix>` entries of `folder` (files or folders) whose writing process is gone:
    what a killed writer left. Temporaries of earlier versions (`.<name>.<8 random characters><suffix>`, no pid)
    are removed when older than this run. Returns what was removed; never raises (a cleanup must not stop a write)."""
    removed = []
    prefix = f".{name}."
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.name.endswith(suffix):
            continue
        rest = entry.name[len(prefix):len(entry.name) - len(suffix)]
        pid, _, host = (rest[3:].split(".", 1)[0] if rest.startswith("pid") and "." in rest else "").partition("-")
        legacy = _LEGACY_RE.fullmatch(rest)
        if not (pid.isascii() and pid.isdigit() and host == _HOST) and not legacy:
            continue  # not ours to judge: another machine's, or no temporary of ours at all
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
            if not (_owner_gone(int(pid), mtime) if pid else mtime < _RUN_STARTED):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def write_error(exc: OSError, path: str | Path, what: str = "cannot write") -> InputError:
    """A failed write as one line naming the file (full disk, permissions, read-only disk, a folder in the way)."""
    reason = exc.strerror or str(exc)
    hint = {errno.ENOSPC: "free some space or write elsewhere", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "the disk is mounted read-only"}.get(exc.errno)
    return InputError(f"{what} ({reason}); nothing was changed", path, hint)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsync'ed and renamed onto `path`."""
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent, path.name, ".tmp")
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; our files are ordinary, shareable files
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno is None:
            raise
        raise write_error(exc, path) from None
    finally:
        if tmp_path is not None and tmp_path.exists():
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
    """Append one line and fsync: a JSON-lines log loses at most the line being written."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")
        fh.flush()
        os.fsync(fh.fileno())
