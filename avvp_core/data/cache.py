"""Consolidated, memory-mapped feature cache: one .npy per stream and split instead of thousands of files.

Layout: `<cache_root>/<split>-<source signature>/{manifest.json, vggish.npy, res152.npy, r2plus1d_18.npy}`.
The source signature hashes every source file's name, size and mtime, so any change to the per-video
files gives a new folder name and the cache is rebuilt; a folder is built under a temporary name and
renamed into place, so a killed build never leaves a half cache that looks complete. The manifest holds
a content hash of the consolidated arrays (the data fingerprint checkpoints record).

Arrays are stored in float16 when every value of a stream survives the round trip exactly (true of
SynthLLP, whose generator quantises on purpose), else float32: lossless either way, half the disk when
possible. Readers always get float32 out of `load_rows`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..constants import FEATURE_DIMS, FRAMES_PER_SEGMENT, NUM_SEGMENTS, STREAMS
from ..errors import InputError
from ..fileio import write_json

CACHE_VERSION = 1
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
            except FileNotFoundError:
                missing.setdefault(stream, []).append(path.name)
                continue
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
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"unreadable .npy ({str(exc).splitlines()[0][:80]})", path) from None
    dim = FEATURE_DIMS[stream]
    allowed = {(NUM_SEGMENTS, dim)} | ({(NUM_SEGMENTS * FRAMES_PER_SEGMENT, dim)} if stream == "res152" else set())
    if arr.shape not in allowed:
        want = " or ".join(str(s) for s in sorted(allowed))
        raise InputError(f"shape {arr.shape}, expected {want}", path)
    if arr.dtype != np.float32:
        # The official loaders feed these arrays to nn.Linear unconverted, which needs float32.
        raise InputError(f"dtype {arr.dtype}, expected float32 (as the released LLP features)", path)
    if not np.isfinite(arr).all():
        raise InputError("contains NaN or Inf", path)
    return arr


def _build(data_root: Path, filenames: list[str], target: Path, signature: str, progress: ProgressFn | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        streams = {}
        content = hashlib.sha256()
        n = len(filenames)
        for s_idx, stream in enumerate(STREAMS):
            first = _read_feature(feature_path(data_root, stream, filenames[0]), stream)
            out = np.lib.format.open_memmap(tmp / f"{stream}.f32.npy", mode="w+", dtype=np.float32,
                                            shape=(n, *first.shape))  # (N, T or 8T, D)
            exact_fp16 = True
            for i, name in enumerate(filenames):
                arr = first if i == 0 else _read_feature(feature_path(data_root, stream, name), stream)
                if arr.shape != first.shape:
                    raise InputError(f"shape {arr.shape} differs from {first.shape} of {filenames[0][:11]}.npy",
                                     feature_path(data_root, stream, name))
                out[i] = arr
                if exact_fp16:
                    exact_fp16 = bool(np.array_equal(arr.astype(np.float16).astype(np.float32), arr))
                if progress and i % 256 == 0:
                    progress((s_idx + i / n) / len(STREAMS), f"caching {stream} {i}/{n}")
            out.flush()
            if exact_fp16:  # converted in chunks into a mapped file: memory stays flat whatever the split's size
                half = np.lib.format.open_memmap(tmp / f"{stream}.npy", mode="w+", dtype=np.float16, shape=out.shape)
                for start in range(0, n, 4096):
                    half[start:start + 4096] = out[start:start + 4096]
                half.flush()
                del half
            else:
                os.replace(tmp / f"{stream}.f32.npy", tmp / f"{stream}.npy")
            del out
            (tmp / f"{stream}.f32.npy").unlink(missing_ok=True)
            stored = np.load(tmp / f"{stream}.npy", mmap_mode="r")
            content.update(f"{stream}{stored.shape}".encode())
            for start in range(0, n, 512):  # chunked: a real LLP res152 split is several GB
                content.update(np.asarray(stored[start:start + 512], dtype=np.float32).tobytes())
            streams[stream] = {"shape": list(stored.shape), "dtype": str(stored.dtype)}
        manifest = {
            "version": CACHE_VERSION,
            "filenames": filenames,
            "source_signature": signature,
            "content_hash": content.hexdigest(),
            "streams": streams,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(tmp / "manifest.json", manifest)
        os.replace(tmp, target)  # atomic: the folder appears complete or not at all
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class FeatureCache:
    """The consolidated features of one split: memory-mapped arrays aligned with the split's file order."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.manifest = json.loads((folder / "manifest.json").read_text())
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
        cache_root = cache_root or default_cache_root(data_root)
        cache_root.mkdir(parents=True, exist_ok=True)
        signature = source_signature(data_root, filenames)
        target = cache_root / f"{split}-{signature[:20]}"
        if not (target / "manifest.json").is_file():
            _build(data_root, filenames, target, signature, progress)
            for stale in cache_root.glob(f"{split}-*"):  # older caches of this split: superseded
                if stale != target and stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
        cache = cls(target)
        if cache.manifest.get("filenames") != filenames:
            raise InputError("cache manifest does not list this split's videos; delete the folder to rebuild", target)
        return cache
