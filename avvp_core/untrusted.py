"""Reading files a user gave us: regular files only, and every size bounded before anything is allocated.

A FIFO or device in place of a data file would block `open()` or `read()` forever, so files are opened with
O_NONBLOCK and refused unless fstat says "regular file". A `.npy` header is only a claim: the shape times the
itemsize it declares is checked against the bytes the file (or, inside a `.npz`, the zip directory) really
holds before an array is allocated, so a 100-byte file cannot ask for terabytes. A `.npz` is read member by
member, and only the members asked for: an unused member is never inflated.
"""

from __future__ import annotations

import fcntl
import io
import math
import os
import stat
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import ZIP_READ_ERRORS, InputError

NPY_MAGIC = b"\x93NUMPY"
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
_HEADER_LIMIT = 10_000  # numpy's own default bound on a header's size


def human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.2f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def open_regular(path: str | Path) -> BinaryIO:
    """Open `path` for reading if it is a regular file; one-line InputError for anything else, never a hang."""
    try:
        # O_NONBLOCK: opening a FIFO for reading blocks until a writer appears; with it, open returns at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except ValueError:  # "embedded null byte"
        raise InputError("the path contains a NUL byte", repr(str(path).replace("\0", "\\0"))) from None
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except PermissionError:
        raise InputError("not readable (permission denied)", path) from None
    except OSError as exc:
        raise InputError(f"cannot open ({exc.strerror or exc})", path) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
            raise InputError(f"is {kind}, not a regular file", path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str | Path, limit: int) -> str:
    """A regular file's UTF-8 text, at most `limit` bytes; one-line InputError otherwise."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise InputError(f"is {human(size)}, more than the {human(limit)} accepted", path)
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror or exc})", path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path) from None


def _read_header(fh: BinaryIO, where: str | Path, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    head = fh.read(len(NPY_MAGIC))
    if head.startswith(b"PK"):
        raise InputError(f"{what} is a zip (.npz) archive, not a .npy array", where)
    if head != NPY_MAGIC:
        raise InputError(f"{what} is not a .npy array (no NUMPY header)", where)
    version = tuple(fh.read(2))
    try:
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=_HEADER_LIMIT)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=_HEADER_LIMIT)
        else:
            raise InputError(f"{what} has an unsupported .npy version {version}", where)
    # numpy reads the header's dict with tokenize and ast.literal_eval: a damaged one raises any of these, TokenError
    # (a NUL inside the dict ends the token stream mid-statement) included.
    except (ValueError, SyntaxError, TypeError, EOFError, OSError, tokenize.TokenError) as exc:
        raise InputError(f"{what} has an unreadable .npy header ({str(exc).splitlines()[0][:80]})", where) from None
    if dtype.hasobject:
        raise InputError(f"{what} holds pickled Python objects, which are never loaded (a .npy/.npz without pickled "
                         "objects is expected)", where)
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise InputError(f"{what} declares an invalid shape {shape}", where)
    return tuple(shape), bool(fortran), dtype


def _read_body(fh: BinaryIO, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, where: str | Path,
               what: str) -> np.ndarray:
    nbytes = math.prod(shape) * dtype.itemsize
    buf = bytearray(nbytes)  # bounded by the caller's checks against the real size
    view, got = memoryview(buf), 0
    try:
        while got < nbytes:
            n = fh.readinto(view[got:])
            if not n:
                break
            got += n
    except ZIP_READ_ERRORS as exc:
        raise InputError(f"{what} cannot be read ({str(exc).splitlines()[0][:80]})", where) from None
    if got < nbytes:
        raise InputError(f"{what} is truncated ({human(got)} of {human(nbytes)})", where)
    array = np.frombuffer(buf, dtype=dtype)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _check_claim(shape: tuple[int, ...], dtype: np.dtype, available: int, where: str | Path, what: str,
                 limit: int | None) -> None:
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > available:
        raise InputError(f"{what} declares shape {shape} of {dtype} ({human(nbytes)}) but holds only "
                         f"{human(available)} of data (truncated or forged header)", where)
    if limit is not None and nbytes > limit:
        raise InputError(f"{what} is {human(nbytes)}, more than the {human(limit)} accepted", where)


def npy_header(path: str | Path) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) a regular .npy file declares, checked against its size; reads only the header."""
    with open_regular(path) as fh:
        shape, _, dtype = _read_header(fh, path, "the file")
        _check_claim(shape, dtype, os.fstat(fh.fileno()).st_size - fh.tell(), path, "the file", None)
    return shape, dtype


def load_npy(path: str | Path, limit: int | None = None, expect: set[tuple[int, ...]] | None = None) -> np.ndarray:
    """A plain .npy array from a regular file. The declared size is checked against the file's size (and `limit`),
    and the shape against `expect`, before anything is allocated."""
    with open_regular(path) as fh:
        shape, fortran, dtype = _read_header(fh, path, "the file")
        if expect is not None and shape not in expect:
            want = " or ".join(str(s) for s in sorted(expect))
            raise InputError(f"shape {shape}, expected {want}", path)
        _check_claim(shape, dtype, os.fstat(fh.fileno()).st_size - fh.tell(), path, "the file", limit)
        return _read_body(fh, shape, fortran, dtype, path, "the file")


class NpzMembers:
    """The arrays of a .npz, read one at a time on request; members never asked for are never inflated."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open_regular(path)
        try:
            self._zip = zipfile.ZipFile(self._fh)
            infos = self._zip.infolist()
        except (*ZIP_READ_ERRORS, ValueError) as exc:
            self._fh.close()
            raise InputError(f"not a readable .npz without pickled objects ({str(exc).splitlines()[0][:80]})",
                             path) from None
        # np.savez names members "<key>.npy"; np.load also answers a member without the suffix by its full name.
        self._infos = {}
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            self._infos.setdefault(key, info)

    def __enter__(self) -> NpzMembers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._fh.close()

    @property
    def keys(self) -> list[str]:
        return list(self._infos)

    def __contains__(self, key: str) -> bool:
        return key in self._infos

    def read(self, key: str, check=None, limit: int | None = None) -> np.ndarray:
        """Member `key` as an array. `check(shape, dtype)` may refuse it from its header, before it is inflated;
        the declared size is checked against the member's uncompressed size in the zip directory and `limit`."""
        info = self._infos[key]
        what = f"member `{key}`"
        start = self._stored_start(info)
        if start is not None:
            return self._read_stored(info, start, check, limit, what)
        try:
            with self._zip.open(info) as member:
                shape, fortran, dtype = _read_header(member, self.path, what)
                if check is not None:
                    check(shape, dtype)
                _check_claim(shape, dtype, info.file_size - member.tell(), self.path, what, limit)
                return _read_body(member, shape, fortran, dtype, self.path, what)
        except ZIP_READ_ERRORS as exc:
            raise InputError(f"{what} cannot be read ({str(exc).splitlines()[0][:80]})", self.path) from None

    def _stored_start(self, info: zipfile.ZipInfo) -> int | None:
        """Where a stored (uncompressed, unencrypted) member's bytes begin, from its local header; None for any other
        member (read through zipfile) or a local header that does not add up (zipfile then says what is wrong)."""
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
        try:
            self._fh.seek(info.header_offset)
            local = self._fh.read(_LOCAL_HEADER.size)
            size = os.fstat(self._fh.fileno()).st_size
        except OSError:
            return None
        if len(local) != _LOCAL_HEADER.size or local[:4] != zipfile.stringFileHeader:
            return None
        name_len, extra_len = _LOCAL_HEADER.unpack(local)[-2:]
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        return start if start + info.file_size <= size else None

    def _read_stored(self, info: zipfile.ZipInfo, start: int, check, limit: int | None, what: str) -> np.ndarray:
        """A stored member read straight into its array (zipfile would read it into a bytes object first and then
        copy it: at 200 MB, a third of `score`'s loading), then checked against the zip directory's CRC-32."""
        window = _Window(self._fh, start, info.file_size)
        try:
            shape, fortran, dtype = _read_header(window, self.path, what)
            if check is not None:
                check(shape, dtype)
            header_len = window.tell()
            _check_claim(shape, dtype, info.file_size - header_len, self.path, what, limit)
            array = _read_body(window, shape, fortran, dtype, self.path, what)
            self._fh.seek(start)
            crc = zlib.crc32(self._fh.read(header_len))
            tail = info.file_size - header_len - array.nbytes  # bytes after the array (none from np.savez)
            crc = zlib.crc32(array.reshape(-1, order="A").view(np.uint8) if array.size else b"", crc)
            if tail:
                self._fh.seek(start + header_len + array.nbytes)
                crc = zlib.crc32(self._fh.read(tail), crc)
        except OSError as exc:
            raise InputError(f"{what} cannot be read ({str(exc).splitlines()[0][:80]})", self.path) from None
        if crc != info.CRC:
            raise InputError(f"{what} is damaged (its CRC-32 does not match the zip directory's)", self.path)
        return array


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip local file header (30 bytes): name and extra lengths last


class _Window(io.RawIOBase):
    """Bytes [start, start + size) of an open file as a file object: reads stop at the member's end."""

    def __init__(self, fh: BinaryIO, start: int, size: int):
        super().__init__()
        self._fh, self._start, self._end, self._pos = fh, start, start + size, start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._end - self._pos)
        if n <= 0:
            return 0
        self._fh.seek(self._pos)
        got = self._fh.readinto(memoryview(buffer).cast("B")[:n])
        self._pos += got or 0
        return got or 0

    def tell(self) -> int:
        return self._pos - self._start
