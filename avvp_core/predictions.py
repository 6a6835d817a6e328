"""Predictions of a model on a split, and the PRED.npz file contract of `score` (numpy only, no torch).

PRED.npz: `filenames` (N strings, exactly the split CSV's filename values, any order); `audio` and `visual`
(N, 10, 25) segment probabilities in [0, 1] or 0/1; optional `video` (N, 25) for fused gating (it gates both
modalities) and/or `video_audio` + `video_visual` (N, 25) for modality-specific gating; optional `gating`, one
string (`fused` | `modality` | `none`) naming the gating to score with (`predict` writes the model's paper
gating). `score --gating` overrides it; a file holding both kinds of video probabilities and no `gating` is
refused unless `--gating` says which to use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .constants import NUM_CLASSES, NUM_SEGMENTS
from .errors import InputError
from .metrics import gate
from .untrusted import NpzMembers

GATINGS = ("fused", "modality", "none")
MAX_FILENAME_CHARS = 256  # a filename is ~17 characters; the bound keeps `filenames` from asking for gigabytes
MAX_FILENAMES_BYTES = 64 * 2**20


@dataclass
class Predictions:
    filenames: list[str]
    audio: np.ndarray  # (N, T, C) segment probabilities
    visual: np.ndarray  # (N, T, C)
    video: np.ndarray | None = None  # (N, C) fused p
    video_audio: np.ndarray | None = None  # (N, C) a_prob
    video_visual: np.ndarray | None = None  # (N, C) v_prob
    gating: str | None = None  # the gating to score with when none is asked for (PRED.npz `gating`)
    source: str | None = None  # the file these came from, named in errors

    def npz_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"filenames": np.array(self.filenames), "audio": self.audio, "visual": self.visual}
        for key in ("video", "video_audio", "video_visual"):
            if getattr(self, key) is not None:
                arrays[key] = getattr(self, key)
        if self.gating is not None:
            arrays["gating"] = np.array(self.gating)
        return arrays

    def default_gating(self) -> str:
        if self.gating is not None:
            return self.gating
        if self.video is not None and self.video_audio is not None:
            raise InputError("holds both `video` and `video_audio` + `video_visual` and no `gating`: choose with "
                             "--gating fused or --gating modality", self.source)
        if self.video is not None:
            return "fused"
        return "modality" if self.video_audio is not None else "none"

    def check_gating(self, gating: str) -> None:
        if gating not in GATINGS:
            raise InputError(f"unknown gating {gating!r}; choose one of {', '.join(GATINGS)}", self.source)
        if gating == "fused" and self.video is None:
            raise InputError("fused gating needs the `video` probabilities", self.source)
        if gating == "modality" and (self.video_audio is None or self.video_visual is None):
            raise InputError("modality gating needs `video_audio` and `video_visual`", self.source)

    def decisions(self, gating: str | None = None, **thresholds: float) -> tuple[np.ndarray, np.ndarray]:
        """Binary (N, T, C) audio and visual decisions under the given video-level gating; `thresholds`
        (`audio_threshold`, `visual_threshold`, `video_threshold`: metrics.gate) move the protocol's 0.5."""
        gating = gating or self.default_gating()
        self.check_gating(gating)
        if gating == "fused":
            return gate(self.audio, self.visual, video=self.video, **thresholds)
        if gating == "modality":
            return gate(self.audio, self.visual, video_audio=self.video_audio, video_visual=self.video_visual,
                        **thresholds)
        return gate(self.audio, self.visual, **thresholds)

    def subset(self, rows: np.ndarray) -> Predictions:
        pick = lambda a: None if a is None else a[rows]
        return Predictions([self.filenames[i] for i in rows], self.audio[rows], self.visual[rows],
                           pick(self.video), pick(self.video_audio), pick(self.video_visual), self.gating,
                           self.source)


def _read_gating(npz: NpzMembers, path: Path) -> str:
    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if dtype.kind not in "US" or math.prod(shape) != 1 or dtype.itemsize > 64:
            raise InputError(f"`gating` must be one string ({' | '.join(GATINGS)}); found shape {shape} of {dtype}",
                             path)

    value = npz.read("gating", check).reshape(-1)[0]
    value = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    if value not in GATINGS:
        raise InputError(f"`gating` is {value!r}; expected one of {', '.join(GATINGS)}", path)
    return value


def _filenames_check(path: Path, n_split: int):
    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        if dtype.kind not in "US":
            raise InputError(f"`filenames` has dtype {dtype}, expected strings", path)
        if dtype.itemsize > 4 * MAX_FILENAME_CHARS:
            raise InputError(f"`filenames` holds strings of dtype {dtype}; at most {MAX_FILENAME_CHARS} characters "
                             "are expected", path)

    return check


def _names(array: np.ndarray, path: Path) -> list[str]:
    if array.dtype.kind == "S":
        try:
            return [x.decode("utf-8") for x in array.reshape(-1).tolist()]
        except UnicodeDecodeError:
            raise InputError("`filenames` holds bytes that are not UTF-8", path) from None
    return [str(x) for x in array.reshape(-1).tolist()]


def _array_check(key: str, n: int, path: Path):
    shape = (n, NUM_SEGMENTS, NUM_CLASSES) if key in ("audio", "visual") else (n, NUM_CLASSES)

    def check(found: tuple[int, ...], dtype: np.dtype) -> None:
        if found != shape:
            raise InputError(f"`{key}` has shape {found}, expected {shape} (videos, segments, classes)", path)
        if dtype.kind not in "biuf":
            raise InputError(f"`{key}` has dtype {dtype}, expected numbers", path)

    return check


def _check_values(key: str, a: np.ndarray, path: Path) -> None:
    """Probabilities or 0/1: finite and within [0, 1] (a logit or a percentage would be thresholded wrongly)."""
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InputError(f"`{key}` contains NaN or Inf", path)
    if a.size and a.dtype != bool:
        low, high = a.min(), a.max()
        if low < 0 or high > 1:
            raise InputError(f"`{key}` holds values from {low:.4g} to {high:.4g}; probabilities in [0, 1] or 0/1 "
                             "decisions are expected", path)


def load_prediction_file(path: str | Path, filenames: list[str]) -> Predictions:
    """Read PRED.npz and align it with `filenames` (the split's file order). One-line InputError on any problem.

    Only the members of the contract are read, each refused from its .npy header (shape, dtype, declared size
    against the zip directory) before it is inflated; any other member is ignored unread.
    """
    path = Path(path)
    n_split = len(filenames)
    with NpzMembers(path) as npz:
        for key in ("filenames", "audio", "visual"):
            if key not in npz:
                raise InputError(f"missing array {key!r} (has: {', '.join(sorted(npz.keys)) or 'nothing'})", path)
        if ("video_audio" in npz) != ("video_visual" in npz):
            raise InputError("`video_audio` and `video_visual` come together", path)
        recorded = _read_gating(npz, path) if "gating" in npz else None
        arrays = {"filenames": npz.read("filenames", _filenames_check(path, n_split), limit=MAX_FILENAMES_BYTES)}
        names = _names(arrays["filenames"], path)
        n = len(names)
        if n == n_split:  # else the alignment below says which videos are missing or extra
            for key in ("audio", "visual", "video", "video_audio", "video_visual"):
                if key in npz:
                    arrays[key] = npz.read(key, _array_check(key, n, path))
    if len(set(names)) != n:
        raise InputError("`filenames` has duplicates", path)
    wanted = set(filenames)
    missing, extra = wanted - set(names), set(names) - wanted
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} videos of the split missing (e.g. {sorted(missing)[0]})")
        if extra:
            parts.append(f"{len(extra)} not in the split (e.g. {sorted(extra)[0]})")
        raise InputError("filenames do not match the split: " + "; ".join(parts), path)
    for key in ("audio", "visual", "video", "video_audio", "video_visual"):
        if key in arrays:
            _check_values(key, arrays[key], path)
    # one index for the whole file (built once: per video it made `score` quadratic in the number of videos)
    position = {name: i for i, name in enumerate(names)}
    order = np.fromiter((position[f] for f in filenames), dtype=np.int64, count=len(filenames))
    if np.array_equal(order, np.arange(len(order))):  # already in split order (as `predict` writes): no copy
        get = lambda k: arrays.get(k)
    else:
        get = lambda k: arrays[k][order] if k in arrays else None
    preds = Predictions(list(filenames), get("audio"), get("visual"), get("video"), get("video_audio"),
                        get("video_visual"), gating=recorded, source=str(path))
    if recorded is not None:
        preds.check_gating(recorded)  # a recorded gating the file cannot serve is refused now, not at scoring
    return preds

