"""Checkpoints are folders: everything needed to rebuild, judge and plot a trained model.

    config.json    model name + build config, width, recipe, train config, seed, data fingerprint, code version
    model.pt       state dict only (float32, or float16 for the shipped zoo); loaded with weights_only=True
    metrics.json   the ten val and test figures, selected epoch, training time
    log.jsonl      one JSON line per epoch (losses per part, val figures, learning rate)

Every file is written atomically. Listing checkpoints reads only the JSON files. Loading never unpickles
arbitrary objects: a weights file holding anything but tensors and plain containers is refused.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .constants import CLASSES
from .errors import InputError
from .fileio import atomic_path, write_json
from .models import create_model, model_info

FORMAT = "avvp-lab-checkpoint/1"
CONFIG, WEIGHTS, METRICS, LOG = "config.json", "model.pt", "metrics.json", "log.jsonl"


@dataclass
class Card:
    """A checkpoint's JSON side: what the app lists and compares without touching the weights."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)

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
        path = self.path / LOG
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill mid-write: skip it
                continue
        return rows


def save_weights(path: Path, model: torch.nn.Module, half: bool = False) -> None:
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)  # through a file object: the archive's inner name is fixed, so the bytes depend on
        # the tensors only (a path would name it after the random temporary file)


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
    if not path.is_file():
        raise InputError("missing", path, "a checkpoint folder holds config.json, model.pt and metrics.json")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", path)
    return data


def read_card(folder: str | Path) -> Card:
    folder = Path(folder)
    config = _read_json(folder / CONFIG)
    if config.get("format") != FORMAT or "model" not in config:
        raise InputError(f"not an AVVP Lab checkpoint (format {config.get('format')!r})", folder / CONFIG,
                         "official HAN state dicts are imported with `python -m avvp_core convert`")
    if not isinstance(config.get("model_config", {}), dict):
        raise InputError("`model_config` is not a JSON object", folder / CONFIG)
    try:
        model_info(str(config["model"]))
    except InputError as exc:  # e.g. a checkpoint of a model this version does not have
        raise InputError(str(exc), folder / CONFIG) from None
    metrics = _read_json(folder / METRICS) if (folder / METRICS).is_file() else {}
    return Card(folder, config, metrics)


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
    size and modification time. A cache keyed by it is invalidated by a new, changed or removed checkpoint."""
    stamp = []
    for config in _config_files(Path(root)) if Path(root).is_dir() else []:
        for path in (config, config.parent / METRICS):
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


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors only: `weights_only=True` refuses pickled code or arbitrary objects instead of running them."""
    if not path.is_file():
        raise InputError("missing", path, "the checkpoint has no weights file")
    try:
        with warnings.catch_warnings():  # torch warns on stderr about old pickle protocols before refusing them
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" such as {found.group(1)}" if found else ""
        raise InputError(f"refused to load: the file holds pickled objects{what}, not only tensors", path,
                         "weights are loaded tensors-only; re-save the model's state_dict()") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"unreadable weights file, truncated or not a torch file ({str(exc)[:80]})", path) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("expected a state dict of tensors", path)
    return state


def _state_mismatch(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    """What differs between a model's state dict and a loaded one (names, shapes), in a few words; "" if none."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if reshaped:
        k = reshaped[0]
        parts.append(f"{len(reshaped)} of another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                     f"{tuple(expected[k].shape)} in the model)")
    return "; ".join(parts)


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Card]:
    """Rebuild the model from config.json and load its weights (float32), in eval mode."""
    card = read_card(folder)
    try:
        model = create_model(card.model, **card.config.get("model_config", {}))
    except InputError as exc:  # an option this version of the model does not have
        raise InputError(str(exc), card.path / CONFIG) from None
    state = load_state_dict(card.path / WEIGHTS)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    problem = _state_mismatch(model.state_dict(), state)
    if problem:
        raise InputError(f"weights do not fit model {card.model!r} as config.json builds it: {problem}",
                         card.path / WEIGHTS, "weights of another model or width?")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:160]
        raise InputError(f"weights do not fit model {card.model!r} with this config ({detail})",
                         card.path / WEIGHTS) from None
    return model.to(device).eval(), card
