"""Checkpoints are folders: everything needed to rebuild, judge and plot a trained model.

    config.json    model name + build config, width, recipe, train config, seed, data fingerprint, code version
    model.pt       state dict only (float32; the shipped zoo stores float16, or float16 for its large tensors only:
                   config `weights_dtype` "float16" / "mixed"); loaded with weights_only=True, every tensor as float32
    metrics.json   the ten val and test figures, selected epoch, training time
    log.jsonl      one JSON line per epoch (losses per part, val figures, learning rate)

Every file is written atomically. Listing checkpoints reads only the JSON files. Loading never unpickles
arbitrary objects: a weights file holding anything but tensors and plain containers is refused.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .checkpoint_schema import (
    CHECKPOINT_FORMAT,
    MAX_PARAMETERS,
    check_config,
    check_log_row,
    check_metrics,
    check_step_row,
    declared_tensors,
    read_json_object,
    read_jsonl,
)
from .constants import CLASSES
from .errors import InputError
from .fileio import atomic_path, write_json
from .models import create_model, model_info

FORMAT = CHECKPOINT_FORMAT
CONFIG, WEIGHTS, METRICS, LOG = "config.json", "model.pt", "metrics.json", "log.jsonl"
STEPS = "steps.jsonl"


@dataclass
class Card:
    """A checkpoint's JSON side: what the app lists and compares without touching the weights."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] | None = field(default=None, repr=False)  # log.jsonl as read_card checked it

    @property
    def name(self) -> str:
        return self.config.get("name") or self.path.name

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def gating(self) -> str:
        return self.config.get("gating") or model_info(self.model).gating

    def log(self) -> list[dict[str, Any]]:
        """Epoch rows (log.jsonl), checked: a card from read_card returns the rows it validated."""
        if self.rows is None:
            self.rows = read_log(self.path / LOG)
        return self.rows

    def steps(self) -> list[dict[str, Any]]:
        """Per-step rows (steps.jsonl, DGM's omega and mu), checked like the epoch log."""
        return read_jsonl(self.path / STEPS, check_step_row)


def read_log(path: Path) -> list[dict[str, Any]]:
    """A checkpoint's epoch log, every row checked (a cut last line is skipped, any other bad line refused)."""
    return read_jsonl(path, check_log_row)


def stored_in_float16(tensor: torch.Tensor, min_elements: int = 0) -> bool:
    """Whether a half-precision save stores this tensor in float16: floating, of at least `min_elements` elements."""
    return tensor.is_floating_point() and tensor.numel() >= min_elements


def save_weights(path: Path, model: torch.nn.Module, half: bool = False, half_min_elements: int = 0) -> None:
    """`half`: floating tensors of at least `half_min_elements` elements are stored in float16 (0: all of them)."""
    state = {k: (v.half() if half and stored_in_float16(v, half_min_elements) else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        try:
            torch.save(state, fh)  # through a file object: the archive's inner name is fixed, so the bytes depend on
            # the tensors only (a path would name it after the random temporary file)
        except RuntimeError as exc:  # torch's writer reports a full disk as a RuntimeError about stream positions
            needed = sum(v.numel() * v.element_size() for v in state.values()) + 65536
            free = os.statvfs(tmp.parent)
            if free.f_bavail * free.f_frsize < needed:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
            raise OSError(errno.EIO, f"torch could not write the weights: {' '.join(str(exc).split())[:80]}") from None


def save_checkpoint(folder: str | Path, model: torch.nn.Module, config: dict[str, Any],
                    metrics: dict[str, Any] | None = None, half: bool = False) -> Card:
    """Write (or overwrite) the checkpoint's weights, config and metrics; the log is appended by the trainer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "model": model.arch, "model_config": model.config, "classes": list(CLASSES),
            "code_version": __version__, "weights_dtype": "float16" if half else "float32", **config}
    save_weights(folder / WEIGHTS, model, half)
    write_json(folder / CONFIG, full)
    if metrics is not None:
        write_json(folder / METRICS, metrics)
    return Card(folder, full, metrics or {})


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file() and not path.exists():
        raise InputError("missing", path, "a checkpoint folder holds config.json, model.pt and metrics.json")
    return read_json_object(path)


def read_card(folder: str | Path) -> Card:
    """A checkpoint's JSON files, each read size- and depth-bounded and checked against its schema
    (checkpoint_schema): a damaged or hostile file is an InputError naming it, never a card a page trips over."""
    folder = Path(folder)
    config = _read_json(folder / CONFIG)
    check_config(config, folder / CONFIG, FORMAT)
    try:
        model_info(str(config["model"]))
    except InputError as exc:  # e.g. a checkpoint of a model this version does not have
        raise InputError(str(exc), folder / CONFIG) from None
    metrics = _read_json(folder / METRICS) if (folder / METRICS).exists() else {}
    check_metrics(metrics, folder / METRICS)
    rows = read_log(folder / LOG)
    if (folder / STEPS).exists():
        read_jsonl(folder / STEPS, check_step_row)
    return Card(folder, config, metrics, rows)


def _config_files(root: Path) -> list[Path]:
    """Every config.json under `root`, sorted. Not descended: intermediate stages of multi-stage recipes, hidden
    folders (caches) and data folders (a checkpoint root may hold a dataset: feats/ has three files per video, and
    every page lists checkpoints)."""
    configs = []
    for folder, dirs, files in os.walk(root):
        if CONFIG in files:
            configs.append(Path(folder) / CONFIG)
        dirs[:] = [d for d in dirs if d != "stages" and not d.startswith(".")
                   and not os.path.isfile(os.path.join(folder, d, "AVVP_train.csv"))]
    return sorted(configs)


def scan_stamp(root: str | Path) -> tuple:
    """What `list_checkpoints(root)` depends on, from file metadata only (no JSON read): each card file's path,
    size and modification time (the logs too: read_card validates them). A cache keyed by it is invalidated by a
    new, changed or removed checkpoint."""
    stamp = []
    for config in _config_files(Path(root)) if Path(root).is_dir() else []:
        for path in (config, *(config.parent / name for name in (METRICS, LOG, STEPS))):
            try:
                st = path.stat()
                stamp.append((str(path), st.st_size, st.st_mtime_ns))
            except OSError:
                stamp.append((str(path), -1, -1))
    return tuple(stamp)


def _scan(root: Path) -> list[Card | InputError]:
    """A card, or why there is none, for every folder under `root` holding a config.json (stages excluded)."""
    found: list[Card | InputError] = []
    if not root.is_dir():
        return found
    for config in _config_files(root):
        try:
            found.append(read_card(config.parent))
        except InputError as exc:
            found.append(exc)
    return found


def list_checkpoints(root: str | Path) -> list[Card]:
    """Every checkpoint folder under `root` (recursively), JSON only; unreadable folders are skipped."""
    return [c for c in _scan(Path(root)) if isinstance(c, Card)]


def checkpoint_problems(root: str | Path) -> list[str]:
    """One line per folder under `root` that `list_checkpoints` skips: which file, what is wrong (JSON only)."""
    return [str(c) for c in _scan(Path(root)) if isinstance(c, InputError)]


def load_state_dict(path: Path, expected: dict[str, tuple[int, ...]] | None = None,
                    what: str = "") -> dict[str, torch.Tensor]:
    """Tensors only: `weights_only=True` refuses pickled code or arbitrary objects instead of running them.

    The file is first inspected without allocating (checkpoint_schema.declared_tensors): its declared tensors must
    fit in the bytes it holds and, when `expected` (name -> shape) is given, match those names and shapes, so a
    file asking for more memory than it holds, or for another model, is refused before torch reads a tensor.
    """
    declared = declared_tensors(path)
    if expected is not None:
        problem = _state_mismatch(expected, {k: v.shape for k, v in declared.items()})
        if problem:
            raise InputError(f"weights do not fit {what or 'the model'}: {problem}", path,
                             "weights of another model or width?")
    try:
        with warnings.catch_warnings():  # torch warns on stderr about old pickle protocols before refusing them
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" such as {found.group(1)}" if found else ""
        raise InputError(f"refused to load: the file holds pickled objects{what}, not only tensors", path,
                         "weights are loaded tensors-only; re-save the model's state_dict()") from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError, TypeError) as exc:
        raise InputError(f"unreadable weights file, truncated or not a torch file ({str(exc)[:80]})", path) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("expected a state dict of tensors", path)
    return state


def meta_model(name: str, config: dict[str, Any], where: str | Path | None = None) -> torch.nn.Module:
    """The model built on torch's `meta` device (shapes only, no memory), refused above MAX_PARAMETERS: what a
    config asks for is known before a byte is allocated for it."""
    try:
        with torch.device("meta"):
            model = create_model(name, **config)
    except InputError as exc:
        raise InputError(str(exc), where) from None
    except (AssertionError, ValueError, RuntimeError, TypeError, ZeroDivisionError, OverflowError) as exc:
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise InputError(f"model {name!r} cannot be built with this configuration ({detail})", where) from None
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise InputError(f"model {name!r} with this configuration has {count:,} parameters, over the limit of "
                         f"{MAX_PARAMETERS:,}", where)
    return model


def _state_mismatch(expected: dict[str, Any], state: dict[str, Any]) -> str:
    """What differs between a model's state dict and a loaded one (names, shapes), in a few words; "" if none.
    Values are tensors or shapes."""
    shape = lambda v: tuple(v.shape) if hasattr(v, "shape") else tuple(v)  # noqa: E731
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and shape(state[k]) != shape(expected[k])]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if reshaped:
        k = reshaped[0]
        parts.append(f"{len(reshaped)} of another shape (e.g. {k}: {shape(state[k])} in the file, "
                     f"{shape(expected[k])} in the model)")
    return "; ".join(parts)


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Card]:
    """Rebuild the model from config.json and load its weights (float32), in eval mode."""
    card = read_card(folder)
    config = card.config.get("model_config", {})
    # Shapes first, memory last: the config's model on the meta device (bounded parameter count), then the weights'
    # declared shapes against it, and only then the real model and the tensors.
    shapes = {k: tuple(v.shape) for k, v in meta_model(card.model, config, card.path / CONFIG).state_dict().items()}
    state = load_state_dict(card.path / WEIGHTS, shapes, f"model {card.model!r} as config.json builds it")
    model = create_model(card.model, **config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:160]
        raise InputError(f"weights do not fit model {card.model!r} with this config ({detail})",
                         card.path / WEIGHTS) from None
    return model.to(device).eval(), card
