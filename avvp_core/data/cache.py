"""Consolidated, memory-mapped feature cache: one .npy per stream and split instead of thousands of files.

Layout: `<cache_root>/<split>-<source signature>/{manifest.json, vggish.npy, res152.npy, r2plus1d_18.npy}`.
The source signature hashes every source file's name, size and mtime, so any change to the per-video
files gives a new folder name and the cache is rebuilt; a folder is built under a temporary name and
renamed into place, so a killed build never leaves a half cache that looks complete; the temporary's name carries
the builder's process id, and the next build removes those whose builder is gone. Arrays are written as streams
(not through a memory map, which dies with SIGBUS when the disk fills): a full disk is a one-line error, and the
temporary folder is removed. The manifest holds a content hash of the consolidated arrays (the data fingerprint
checkpoints record).

Arrays are stored in float16 when every value of a stream survives the round trip exactly (true of
SynthLLP, whose generator quantises on purpose), else float32: lossless either way, half the disk when
possible. Readers always get float32 out of `load_rows`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..checkpoint_schema import MB, parse_json, read_bounded
from ..constants import FEATURE_DIMS, FRAMES_PER_SEGMENT, NUM_SEGMENTS, STREAMS
from ..errors import InputError
from ..fileio import remove_stale_temporaries, temp_prefix, write_error, write_json
from ..untrusted import load_npy

CACHE_VERSION = 1
# Extracted features are activations of modest size (released LLP: well under 1e3). A finite value beyond this bound
# is no feature: it overflows the models into NaN, so it is refused at the file that holds it.
MAX_FEATURE_MAGNITUDE = 1e6
MAX_MANIFEST_BYTES = 64 * MB  # the filenames of a split: LLP's train split lists 10,000 in 250 KB
ProgressFn = Callable[[float, str], None]


def default_cache_root(data_root: Path) -> Path:
    """`<data>/.avvp_cache` when the data folder is writable, else a per-folder cache under ~/.cache."""
    env = os.environ.get("AVVP_CACHE_DIR")
    if env:
        return Path(env) / hashlib.sha1(str(data_root.resolve()).encode()).hexdigest()[:16]
    if os.access(data_root, os.W_OK):
        return data_root / ".avvp_cache"
    digest = hashlib.sha1(str(data_root.resolve()).encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "avvp_lab" / digest


def feature_path(data_root: Path, stream: str, filename: str) -> Path:
    return data_root / "feats" / stream / f"{filename[:11]}.npy"


def source_signature(data_root: Path, filenames: list[str]) -> str:
    """Hash of (stream, file, size, mtime) for every source file: cheap (stat only), changes with any edit."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    missing: dict[str, list[str]] = {}
    for stream in STREAMS:
        for name in filenames:
            path = feature_path(data_root, stream, name)
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                missing.setdefault(stream, []).append(path.name)
                continue
            except OSError as exc:  # e.g. a feats/ folder this user may not enter
                raise InputError(f"cannot read ({exc.strerror or exc})", path) from None
            h.update(f"{stream}/{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    if missing:
        stream, names = next(iter(missing.items()))
        total = sum(len(v) for v in missing.values())
        raise InputError(
            f"{total} feature files missing ({len(names)} of {len(filenames)} in feats/{stream}, e.g. {names[0]})",
            data_root / "feats" / stream,
            "every video of the split needs feats/vggish, feats/res152 and feats/r2plus1d_18/<id>.npy",
        )
    return h.hexdigest()


def _read_feature(path: Path, stream: str) -> np.ndarray:
    dim = FEATURE_DIMS[stream]
    allowed = {(NUM_SEGMENTS, dim)} | ({(NUM_SEGMENTS * FRAMES_PER_SEGMENT, dim)} if stream == "res152" else set())
    try:
        # Header first: shape and declared size are checked before the body is read (a forged header cannot ask
        # for terabytes); a FIFO or device in the file's place is refused, not waited on.
        arr = load_npy(path, expect=allowed)
    except InputError as exc:
        message = str(exc)
        if message.startswith(f"{path}: shape "):
            raise
        raise InputError(f"unreadable .npy ({message.removeprefix(f'{path}: ')})", path) from None
    if arr.dtype != np.float32:
        # The official loaders feed these arrays to nn.Linear unconverted, which needs float32.
        raise InputError(f"dtype {arr.dtype}, expected float32 (as the released LLP features)", path)
    if not np.isfinite(arr).all():
        raise InputError("contains NaN or Inf", path)
    peak = float(np.abs(arr).max())
    if peak > MAX_FEATURE_MAGNITUDE:
        raise InputError(f"holds values of magnitude up to {peak:.3g}, beyond {MAX_FEATURE_MAGNITUDE:.0e}: not "
                         "extracted features (they would overflow the models into NaN)", path)
    return arr


def _write_header(fh, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_1_0(
        fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})


def _exact_in_fp16(arr: np.ndarray) -> bool:
    with np.errstate(over="ignore"):  # values beyond float16's range are simply not exact, not worth a warning
        return bool(np.array_equal(arr.astype(np.float16).astype(np.float32), arr))


def _build(data_root: Path, filenames: list[str], target: Path, signature: str, progress: ProgressFn | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), dir=target.parent))
    try:
        streams = {}
        content = hashlib.sha256()
        n = len(filenames)
        for s_idx, stream in enumerate(STREAMS):
            first = _read_feature(feature_path(data_root, stream, filenames[0]), stream)
            shape = (n, *first.shape)  # (N, T or 8T, D)
            exact_fp16 = True
            with open(tmp / f"{stream}.f32.npy", "wb") as out:
                _write_header(out, np.float32, shape)
                for i, name in enumerate(filenames):
                    arr = first if i == 0 else _read_feature(feature_path(data_root, stream, name), stream)
                    if arr.shape != first.shape:
                        raise InputError(f"shape {arr.shape} differs from {first.shape} of {filenames[0][:11]}.npy",
                                         feature_path(data_root, stream, name))
                    out.write(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
                    if exact_fp16:
                        exact_fp16 = _exact_in_fp16(arr)
                    if progress and i % 256 == 0:
                        progress((s_idx + i / n) / len(STREAMS), f"caching {stream} {i}/{n}")
                out.flush()
                os.fsync(out.fileno())
            if exact_fp16:
                f32 = np.load(tmp / f"{stream}.f32.npy", mmap_mode="r")  # whole on disk: reading it cannot fault
                with open(tmp / f"{stream}.npy", "wb") as out:
                    _write_header(out, np.float16, shape)
                    for start in range(0, n, 512):
                        out.write(np.asarray(f32[start:start + 512]).astype(np.float16).tobytes())
                    out.flush()
                    os.fsync(out.fileno())
                del f32
                (tmp / f"{stream}.f32.npy").unlink()
            else:
                os.replace(tmp / f"{stream}.f32.npy", tmp / f"{stream}.npy")
            stored = np.load(tmp / f"{stream}.npy", mmap_mode="r")
            content.update(f"{stream}{stored.shape}".encode())
            for start in range(0, n, 512):  # chunked: a real LLP res152 split is several GB
                content.update(np.asarray(stored[start:start + 512], dtype=np.float32).tobytes())
            streams[stream] = {"shape": list(stored.shape), "dtype": str(stored.dtype)}
            del stored
        manifest = {
            "version": CACHE_VERSION,
            "filenames": filenames,
            "source_signature": signature,
            "content_hash": content.hexdigest(),
            "streams": streams,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(tmp / "manifest.json", manifest)
        try:
            os.replace(tmp, target)  # atomic: the folder appears complete or not at all
        except OSError as exc:
            # Another process finished the same build first (rename onto a non-empty folder): use its cache.
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not (target / "manifest.json").is_file():
                raise
    except OSError as exc:
        if exc.errno is None:
            raise
        raise write_error(exc, target.parent, "cannot build the feature cache") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _remove_killed_builds(cache_root: Path, split: str) -> None:
    """Temporary folders of this split's builds whose builder is gone (killed), whatever their source signature."""
    try:
        names = {e.name[1:].split(".", 1)[0] for e in os.scandir(cache_root) if e.name.startswith(f".{split}-")}
    except OSError:
        return
    for name in names:
        remove_stale_temporaries(cache_root, name)


def _prepare_root(cache_root: Path, data_root: Path, explicit: bool) -> None:
    """Create the cache folder, or say in one line why there is nowhere to build the cache."""
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache_root):  # a real probe: os.access says yes to root everywhere
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if explicit:
            message = f"cannot create the feature cache here ({reason})"
        elif os.environ.get("AVVP_CACHE_DIR"):
            message = f"cannot create the feature cache in AVVP_CACHE_DIR ({reason})"
        else:
            message = (f"cannot create the feature cache ({reason}): the data folder {data_root} is not writable "
                       "and neither is this fallback under $HOME")
        raise InputError(message, cache_root, "set AVVP_CACHE_DIR to a writable folder") from None


class FeatureCache:
    """The consolidated features of one split: memory-mapped arrays aligned with the split's file order."""

    def __init__(self, folder: Path):
        self.folder = folder
        path = folder / "manifest.json"
        # a cache folder outlives versions and may be copied or hand-edited: the fingerprint and the row count come
        # from this file
        self.manifest = parse_json(read_bounded(path, MAX_MANIFEST_BYTES), path)
        if not isinstance(self.manifest, dict) or not isinstance(self.manifest.get("content_hash"), str) \
                or not isinstance(self.manifest.get("filenames"), list):
            raise InputError("not a feature cache manifest (an object with its filenames and content_hash); delete "
                             "the folder to rebuild it", path)
        self.arrays = {s: np.load(folder / f"{s}.npy", mmap_mode="r") for s in STREAMS}

    @property
    def content_hash(self) -> str:
        return self.manifest["content_hash"]

    def __len__(self) -> int:
        return len(self.manifest["filenames"])

    def load_rows(self, rows: np.ndarray | slice | None = None) -> dict[str, np.ndarray]:
        """float32 features of the given rows (all rows by default), read in one go per stream."""
        sel = slice(None) if rows is None else rows
        return {s: np.asarray(a[sel], dtype=np.float32) for s, a in self.arrays.items()}

    @classmethod
    def open_or_build(
        cls, data_root: Path, split: str, filenames: list[str], cache_root: Path | None = None,
        progress: ProgressFn | None = None,
    ) -> FeatureCache:
        signature = source_signature(data_root, filenames)
        explicit = cache_root is not None
        cache_root = cache_root or default_cache_root(data_root)
        target = cache_root / f"{split}-{signature[:20]}"
        if not (target / "manifest.json").is_file():
            _prepare_root(cache_root, data_root, explicit)
            _remove_killed_builds(cache_root, split)
            _build(data_root, filenames, target, signature, progress)
            for stale in cache_root.glob(f"{split}-*"):  # older caches of this split: superseded
                if stale != target and stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
        cache = cls(target)
        if cache.manifest.get("filenames") != filenames:
            raise InputError("cache manifest does not list this split's videos; delete the folder to rebuild", target)
        return cache
