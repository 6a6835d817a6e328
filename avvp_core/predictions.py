"""Predictions of a model on a split, and the PRED.npz file contract of `score` (numpy only, no torch).

PRED.npz: `filenames` (N strings, exactly the split CSV's filename values, any order); `audio` and `visual`
(N, 10, 25) segment probabilities or 0/1; optional `video` (N, 25) fused gating both modalities, or
`video_audio` and `video_visual` (N, 25) for modality-specific gating.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .constants import NUM_CLASSES, NUM_SEGMENTS
from .errors import InputError
from .metrics import gate

GATINGS = ("fused", "modality", "none")


@dataclass
class Predictions:
    filenames: list[str]
    audio: np.ndarray  # (N, T, C) segment probabilities
    visual: np.ndarray  # (N, T, C)
    video: np.ndarray | None = None  # (N, C) fused p
    video_audio: np.ndarray | None = None  # (N, C) a_prob
    video_visual: np.ndarray | None = None  # (N, C) v_prob

    def npz_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"filenames": np.array(self.filenames), "audio": self.audio, "visual": self.visual}
        for key in ("video", "video_audio", "video_visual"):
            if getattr(self, key) is not None:
                arrays[key] = getattr(self, key)
        return arrays

    def default_gating(self) -> str:
        if self.video is not None:
            return "fused"
        return "modality" if self.video_audio is not None else "none"

    def decisions(self, gating: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Binary (N, T, C) audio and visual decisions under the given video-level gating."""
        gating = gating or self.default_gating()
        if gating == "fused":
            if self.video is None:
                raise InputError("fused gating needs the `video` probabilities")
            return gate(self.audio, self.visual, video=self.video)
        if gating == "modality":
            if self.video_audio is None or self.video_visual is None:
                raise InputError("modality gating needs `video_audio` and `video_visual`")
            return gate(self.audio, self.visual, video_audio=self.video_audio, video_visual=self.video_visual)
        if gating == "none":
            return gate(self.audio, self.visual)
        raise InputError(f"unknown gating {gating!r}; choose one of {', '.join(GATINGS)}")

    def subset(self, rows: np.ndarray) -> Predictions:
        pick = lambda a: None if a is None else a[rows]
        return Predictions([self.filenames[i] for i in rows], self.audio[rows], self.visual[rows],
                           pick(self.video), pick(self.video_audio), pick(self.video_visual))


def load_prediction_file(path: str | Path, filenames: list[str]) -> Predictions:
    """Read PRED.npz and align it with `filenames` (the split's file order). One-line InputError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"not a readable .npz without pickled objects ({str(exc)[:80]})", path) from None
    for key in ("filenames", "audio", "visual"):
        if key not in arrays:
            raise InputError(f"missing array {key!r} (has: {', '.join(sorted(arrays)) or 'nothing'})", path)
    if "video" in arrays and ("video_audio" in arrays or "video_visual" in arrays):
        raise InputError("give either `video` (fused gating) or `video_audio` + `video_visual`, not both", path)
    if ("video_audio" in arrays) != ("video_visual" in arrays):
        raise InputError("`video_audio` and `video_visual` come together", path)
    names = [str(x) for x in arrays["filenames"].reshape(-1)]
    n = len(names)
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
    shapes = {"audio": (n, NUM_SEGMENTS, NUM_CLASSES), "visual": (n, NUM_SEGMENTS, NUM_CLASSES),
              "video": (n, NUM_CLASSES), "video_audio": (n, NUM_CLASSES), "video_visual": (n, NUM_CLASSES)}
    for key, shape in shapes.items():
        if key not in arrays:
            continue
        a = arrays[key]
        if a.shape != shape:
            raise InputError(f"`{key}` has shape {a.shape}, expected {shape} (videos, segments, classes)", path)
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise InputError(f"`{key}` has dtype {a.dtype}, expected numbers", path)
        if a.dtype.kind == "f" and not np.isfinite(a).all():  # integers and booleans are always finite
            raise InputError(f"`{key}` contains NaN or Inf", path)
    # one index for the whole file (built once: per video it made `score` quadratic in the number of videos)
    position = {name: i for i, name in enumerate(names)}
    order = np.fromiter((position[f] for f in filenames), dtype=np.int64, count=len(filenames))
    get = lambda k: arrays[k][order] if k in arrays else None
    return Predictions(list(filenames), get("audio"), get("visual"), get("video"), get("video_audio"),
                       get("video_visual"))
