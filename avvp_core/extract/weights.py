"""The extractors' published weights: where they come from, where they are kept, how they are checked and loaded.

    res152       resnet152-394f9c45.pth           torchvision ResNet152_Weights.IMAGENET1K_V1 (not V2/DEFAULT)
    r2plus1d_18  r2plus1d_18-91a641e6.pth         torchvision R2Plus1D_18_Weights.KINETICS400_V1
    vggish       vggish-10086976.pth              torchvggish v0.1 release (the AudioSet VGGish, ported)
    vggish PCA   vggish_pca_params-970ea276.pth   torchvggish v0.1 release (only for the postprocessed variant)

Files are downloaded on first use into `~/.cache/avvp_lab/extractors/` (`AVVP_EXTRACTOR_DIR` overrides). What is
verified: the first 8 hex digits of the file's SHA-256 equal the digits in its published name (torch.hub's
check_hash convention, 32 bits: it catches truncated and wrong files, it is not a full cryptographic pin), then
the state dict's names and shapes equal the architecture's exactly. Files are read with `weights_only=True`: no
code is ever unpickled (the PCA file's numpy arrays are admitted through numpy's array-rebuilding functions only).
Offline, the error is one line: which file is missing, where to put it and the checksum it must have.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import tempfile
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError

TORCHVISION = "https://download.pytorch.org/models/"
TORCHVGGISH = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"


@dataclass(frozen=True)
class WeightFile:
    key: str
    filename: str
    url: str
    source: str

    @property
    def sha256_prefix(self) -> str:
        return re.search(r"-([0-9a-f]{8,})\.", self.filename).group(1)


FILES = {
    "res152": WeightFile("res152", "resnet152-394f9c45.pth", TORCHVISION + "resnet152-394f9c45.pth",
                         "torchvision ResNet152_Weights.IMAGENET1K_V1"),
    "r2plus1d_18": WeightFile("r2plus1d_18", "r2plus1d_18-91a641e6.pth", TORCHVISION + "r2plus1d_18-91a641e6.pth",
                              "torchvision R2Plus1D_18_Weights.KINETICS400_V1"),
    "vggish": WeightFile("vggish", "vggish-10086976.pth", TORCHVGGISH + "vggish-10086976.pth",
                         "torchvggish v0.1 (AudioSet VGGish)"),
    "vggish_pca": WeightFile("vggish_pca", "vggish_pca_params-970ea276.pth",
                             TORCHVGGISH + "vggish_pca_params-970ea276.pth", "torchvggish v0.1 (AudioSet PCA)"),
}
MAX_WEIGHT_BYTES = 1024 * 1024 * 1024  # the largest (VGGish) is about 290 MB
ProgressFn = Callable[[float, str], None]


class MissingWeights(InputError):
    """A weight file is absent and could not be downloaded (offline): one line saying what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("AVVP_EXTRACTOR_DIR") or Path.home() / ".cache" / "avvp_lab" / "extractors")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def missing_message(spec: WeightFile, reason: str = "missing") -> str:
    return (f"extractor weights {spec.filename} {reason}: put it in {cache_dir()} (sha256 starts with "
            f"{spec.sha256_prefix}; {spec.source}, {spec.url})")


def verify(spec: WeightFile, path: Path) -> None:
    digest = sha256_of(path)
    if not digest.startswith(spec.sha256_prefix):
        raise InputError(f"checksum mismatch: sha256 {digest[:8]}…, expected {spec.sha256_prefix}…", path,
                         f"delete it; it is downloaded again ({spec.url})")


def download(spec: WeightFile, progress: ProgressFn | None = None, timeout: float = 30.0) -> Path:
    """Fetch one file into the cache folder (temporary name, checked, then renamed); MissingWeights when offline."""
    target = cache_dir() / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(spec.url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            if total > MAX_WEIGHT_BYTES:
                raise MissingWeights(missing_message(spec, f"is announced as {total} bytes, over the limit"))
            got = 0
            for chunk in iter(lambda: response.read(1 << 20), b""):
                got += len(chunk)
                if got > MAX_WEIGHT_BYTES:
                    raise MissingWeights(missing_message(spec, "download ran over the size limit"))
                out.write(chunk)
                if progress and total:
                    progress(got / total, f"downloading {spec.filename}: {got >> 20} of {total >> 20} MB")
        verify(spec, Path(tmp))
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:  # URLError, timeouts, HTTP errors, disk
        if isinstance(exc, InputError):
            raise
        raise MissingWeights(missing_message(spec, f"missing and not downloadable ({type(exc).__name__})")) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def ensure(key: str, download_missing: bool = True, progress: ProgressFn | None = None) -> Path:
    """The verified local path of a weight file, downloaded when absent (unless `download_missing` is False).
    A file is hashed once per size and modification time (remembered in a small sidecar)."""
    spec = FILES[key]
    path = cache_dir() / spec.filename
    if not path.is_file():
        if not download_missing:
            raise MissingWeights(missing_message(spec))
        return download(spec, progress)
    stamp = path.with_name(f".{spec.filename}.verified")
    st = path.stat()
    mark = f"{st.st_size}:{st.st_mtime_ns}"
    if not (stamp.is_file() and stamp.read_text() == mark):
        verify(spec, path)
        with contextlib.suppress(OSError):  # a read-only folder: verify again next time
            stamp.write_text(mark)
    return path


def missing(keys: tuple[str, ...]) -> list[WeightFile]:
    """The weight files of `keys` not yet in the cache folder (no network, no hashing)."""
    return [FILES[k] for k in keys if not (cache_dir() / FILES[k].filename).is_file()]


def load_tensors(path: Path) -> dict:
    """A state dict read tensors-only; numpy arrays (the PCA file) are admitted through numpy's rebuild functions."""
    from numpy._core import multiarray

    # Files written under numpy 1 name the rebuild function numpy.core.multiarray._reconstruct: admit both names.
    old_name = (multiarray._reconstruct, "numpy.core.multiarray._reconstruct")
    safe = [np.ndarray, np.dtype, multiarray._reconstruct, old_name, type(np.dtype(np.float64)),
            type(np.dtype(np.float32))]
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(safe):
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" such as {found.group(1)}" if found else ""
        raise InputError(f"refused to load: the file holds pickled objects{what}, not only tensors", path) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"unreadable weights file ({str(exc)[:80]})", path) from None
    if not isinstance(state, dict):
        raise InputError("expected a dict of tensors", path)
    return state


def load_into(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    """Load a published state dict into one of our modules, refusing any difference of names or shapes."""
    state = load_tensors(path)
    expected = model.state_dict()
    # torchvision's 2017 ResNet files predate BatchNorm's `num_batches_tracked` counter (unused in eval mode):
    # load_state_dict fills it in for files without it, as torchvision's own loading does.
    missing_keys = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    extra = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing_keys or extra or reshaped:
        first = (missing_keys or extra or reshaped)[0]
        raise InputError(f"does not fit the architecture ({len(missing_keys)} missing, {len(extra)} unexpected, "
                         f"{len(reshaped)} of another shape; e.g. {first})", path)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return model
