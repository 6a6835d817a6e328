"""An LLP folder (real or SynthLLP) as splits of aligned arrays: weak labels, dense truth, cached features.

    folder/AVVP_train.csv, AVVP_val_pd.csv, AVVP_test_pd.csv      weak labels (split = file membership)
    folder/AVVP_eval_audio.csv, AVVP_eval_visual.csv              dense truth of val + test
    folder/feats/{vggish,res152,r2plus1d_18}/<11-char id>.npy     features (optional for scoring)
    folder/SYNTH_train_eval_{audio,visual}.csv, synthllp.json      SynthLLP only: train truth (oracle) + knobs

Dense truth of the train split is read only when `oracle=True` is asked for by name: label-refinement
recipes are measured against it, never trained on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..constants import EVAL_FILES, MODALITIES, SPLIT_FILES, SPLITS, SYNTH_META_FILE, TRAIN_EVAL_FILES, VIDEO_ID_LEN
from ..errors import InputError
from ..untrusted import read_text
from . import annotation_cache
from .annotations import AnnotationReport, dense_truth, read_eval_csv, read_weak_csv
from .cache import FeatureCache, ProgressFn, default_cache_root


@dataclass
class Split:
    """One split, everything aligned with its CSV's file order. Truth arrays are (N, T, C) uint8."""

    name: str
    filenames: list[str]
    labels: np.ndarray  # (N, C) float32 weak video-level labels
    gt_audio: np.ndarray | None = None  # None for LLP's train split (no dense truth exists)
    gt_visual: np.ndarray | None = None
    dataset: LLPDataset | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.filenames)

    @property
    def video_ids(self) -> list[str]:
        return [f[:VIDEO_ID_LEN] for f in self.filenames]

    @property
    def has_truth(self) -> bool:
        return self.gt_audio is not None

    def features(self, progress: ProgressFn | None = None) -> FeatureCache:
        """The split's consolidated feature cache (built on first use)."""
        if self.dataset is None:
            raise InputError(f"split {self.name!r} is not attached to a data folder")
        return self.dataset.feature_cache(self.name, progress)


def _data_folder(root: str | Path) -> Path:
    """The folder as a Path, or one line saying why it cannot be one (any string a user may type in a field)."""
    text = str(root)
    shown = repr(text[:200] + ("…" if len(text) > 200 else "")) if "\0" in text or len(text) > 200 else text
    if "\0" in text:
        raise InputError("the path contains a NUL byte", shown)
    try:
        path = Path(root).expanduser()
    except RuntimeError:  # "~nosuchuser/x"
        raise InputError("no such user for '~'", shown) from None
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise InputError("data folder not found", shown) from None
    except OSError as exc:
        raise InputError(f"data folder cannot be read ({exc.strerror or exc})", shown) from None
    if not stat.S_ISDIR(mode):
        raise InputError("data folder not found (this is a file, not a folder)", shown)
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        owner = path.stat().st_uid
        mine = "" if owner == os.getuid() else f", owned by user id {owner}"
        raise InputError(f"data folder cannot be read ({exc.strerror or exc}{mine})", shown) from None
    return path


class LLPDataset:
    """A data folder in the LLP layout. Splits are parsed lazily and memoised."""

    def __init__(self, root: str | Path, cache_root: str | Path | None = None, oracle: bool = False):
        self.root = _data_folder(root)
        self.cache_root = Path(cache_root) if cache_root else None
        self.oracle = oracle  # explicit, named: train dense truth (SynthLLP only) is exposed only then
        self.reports: list[AnnotationReport] = []
        self._splits: dict[str, Split] = {}
        self._caches: dict[str, FeatureCache] = {}

    # --- annotations -------------------------------------------------------------------------------------
    @cached_property
    def _annotation_cache(self) -> tuple[Path | None, str | None]:
        """(cache file, key) of the parsed annotations; (None, None) when the CSVs cannot be hashed."""
        key = annotation_cache.csv_key(self.root)
        if key is None:
            return None, None
        root = self.cache_root if self.cache_root is not None else default_cache_root(self.root)
        return annotation_cache.cache_file(root, key), key

    @cached_property
    def _cached_annotations(self):
        path, key = self._annotation_cache
        cached = annotation_cache.load(path, key) if path is not None else None
        return cached if cached is not None and cached[0] else None  # no split at all: parse, and say why

    @cached_property
    def _weak(self) -> dict[str, tuple[list[str], np.ndarray]]:
        if self._cached_annotations is not None:
            return self._cached_annotations[0]
        weak = {s: read_weak_csv(self.root / SPLIT_FILES[s]) for s in SPLITS if (self.root / SPLIT_FILES[s]).exists()}
        if not weak:  # e.g. `stats /`: an empty table would read as "valid folder, no videos"
            raise InputError(f"not an LLP folder: none of {', '.join(SPLIT_FILES.values())} is here", self.root)
        owner: dict[str, str] = {}
        for split, (names, _) in weak.items():
            for name in names:
                vid = name[:VIDEO_ID_LEN]
                if vid in owner:
                    raise InputError(f"video {vid} is in both {owner[vid]} and {split}", self.root / SPLIT_FILES[split],
                                     "splits must be disjoint")
                owner[vid] = split
        return weak

    @cached_property
    def _eval_truth(self) -> dict[str, dict[str, np.ndarray]]:
        """Dense truth of val and test, built over their union so 'unmatched' means 'no val/test video'. Read from
        the annotation cache when its key (the CSVs' bytes) matches; written to it after a parse."""
        if self._cached_annotations is not None:
            _, truth, reports = self._cached_annotations
            self.reports.extend(reports)
            return truth
        first_report = len(self.reports)
        out = self._parse_eval_truth()
        path, key = self._annotation_cache
        # written only if the CSVs still hash to the key they were read under (an edit while parsing: no cache)
        if path is not None and annotation_cache.csv_key(self.root) == key:
            annotation_cache.save(path, key, self._weak, out, self.reports[first_report:])
        return out

    def _parse_eval_truth(self) -> dict[str, dict[str, np.ndarray]]:
        annotated = [s for s in ("val", "test") if s in self._weak]
        if not annotated or not any((self.root / f).is_file() for f in EVAL_FILES.values()):
            return {}  # no eval file at all (e.g. `extract`'s folder of unlabelled videos): no dense truth
        names = [n for s in annotated for n in self._weak[s][0]]
        bounds = np.cumsum([0] + [len(self._weak[s][0]) for s in annotated])
        out: dict[str, dict[str, np.ndarray]] = {s: {} for s in annotated}
        for modality in MODALITIES:
            path = self.root / EVAL_FILES[modality]
            truth, report = dense_truth(names, read_eval_csv(path), path)
            self.reports.append(report)
            for i, split in enumerate(annotated):
                out[split][modality] = truth[bounds[i]:bounds[i + 1]]
        return out

    @property
    def available_splits(self) -> list[str]:
        return [s for s in SPLITS if s in self._weak]

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        if name in self._splits:
            return self._splits[name]
        if name not in self._weak:
            raise InputError("file not found", self.root / SPLIT_FILES[name], f"needed for the {name} split")
        filenames, labels = self._weak[name]
        if not filenames:
            raise InputError("split has no videos", self.root / SPLIT_FILES[name])
        split = Split(name, filenames, labels, dataset=self)
        if name in self._eval_truth:
            split.gt_audio, split.gt_visual = self._eval_truth[name]["audio"], self._eval_truth[name]["visual"]
        elif name == "train" and self.oracle:
            split.gt_audio, split.gt_visual = self.oracle_train_truth()
        self._splits[name] = split
        return split

    def oracle_train_truth(self) -> tuple[np.ndarray, np.ndarray]:
        """SynthLLP's dense truth of the train split: for measuring label refinement, never for training."""
        if not self.oracle:
            raise InputError("train dense truth is readable only in oracle mode (LLPDataset(..., oracle=True))")
        names = self._weak["train"][0]
        truth = []
        for modality in MODALITIES:
            path = self.root / TRAIN_EVAL_FILES[modality]
            if not path.is_file():
                raise InputError("file not found", path, "train dense truth exists only for SynthLLP folders")
            t, report = dense_truth(names, read_eval_csv(path), path)
            self.reports.append(report)
            truth.append(t)
        return truth[0], truth[1]

    @property
    def has_train_truth(self) -> bool:
        return all((self.root / f).is_file() for f in TRAIN_EVAL_FILES.values())

    # --- features ----------------------------------------------------------------------------------------
    @property
    def has_features(self) -> bool:
        return (self.root / "feats").is_dir()

    def feature_cache(self, split: str, progress: ProgressFn | None = None) -> FeatureCache:
        if split not in self._caches:
            names = self.split(split).filenames
            self._caches[split] = FeatureCache.open_or_build(self.root, split, names, self.cache_root, progress)
        return self._caches[split]

    # --- identity ----------------------------------------------------------------------------------------
    @property
    def synth_meta(self) -> dict | None:
        path = self.root / SYNTH_META_FILE
        if not path.exists():
            return None
        try:
            meta = json.loads(read_text(path, 1 << 20))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"not valid JSON ({str(exc)[:80]})", path) from None
        if not isinstance(meta, dict):
            raise InputError("expected a JSON object (SynthLLP's generator settings)", path)
        return meta

    def annotations_fingerprint(self) -> str:
        """sha256 over the annotation files present (what `score` depends on)."""
        h = hashlib.sha256()
        for fname in [*SPLIT_FILES.values(), *EVAL_FILES.values()]:
            path = self.root / fname
            h.update(fname.encode() + (path.read_bytes() if path.is_file() else b"<absent>"))
        return h.hexdigest()

    def fingerprint(self, splits: tuple[str, ...] = SPLITS, progress: ProgressFn | None = None) -> str:
        """Data identity recorded in checkpoints: annotations + content hash of each split's features."""
        h = hashlib.sha256(self.annotations_fingerprint().encode())
        for split in splits:
            if split in self._weak:
                h.update(f"{split}:{self.feature_cache(split, progress).content_hash}".encode())
        return h.hexdigest()[:16]
