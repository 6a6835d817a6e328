"""Comparing checkpoints: runs of one configuration (same model, recipe, build and training config, any seed) are
aggregated as mean ± standard deviation over seeds; every configuration gets its delta against a baseline."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..constants import CLASSES, METRIC_KEYS


def configuration_key(card: Any) -> str:
    """Identity of a configuration: everything that built and trained the model except the seed."""
    cfg = card.config
    train = {k: v for k, v in (cfg.get("train") or {}).items() if k not in ("seed", "device")}
    return json.dumps({"model": cfg.get("model"), "model_config": cfg.get("model_config"), "recipe": cfg.get("recipe"),
                       "train": train}, sort_keys=True)


def configuration_label(card: Any) -> str:
    cfg = card.config
    recipe = cfg.get("recipe") or "plain"
    return f"{cfg.get('model')}" + ("" if recipe == "plain" else f" + {recipe}") + f" ({cfg.get('width', 'custom')})"


def _distinct_labels(first_cards: dict[str, Any]) -> dict[str, str]:
    """Readable labels; configurations that would share one get the build/training settings that tell them apart."""
    labels = {key: configuration_label(card) for key, card in first_cards.items()}
    for label in {v for v in labels.values() if list(labels.values()).count(v) > 1}:
        keys = [k for k, v in labels.items() if v == label]
        flat = {k: {**{f"train.{a}": b for a, b in json.loads(k)["train"].items()},
                    **{a: b for a, b in (json.loads(k)["model_config"] or {}).items()}} for k in keys}
        differing = sorted({f for k in keys for f in flat[k] if len({json.dumps(flat[j].get(f)) for j in keys}) > 1})
        for k in keys:
            settings = ", ".join(f"{f.removeprefix('train.')}={flat[k].get(f)}" for f in differing)
            labels[k] = f"{label} [{settings}]"
    return labels


def without_figures(cards: list[Any], split: str = "test") -> list[Any]:
    """The cards that have no figures on `split` (e.g. trained with eval_test off: val figures only)."""
    return [card for card in cards if not card.metrics.get(split)]


def aggregate(cards: list[Any], split: str = "test") -> pd.DataFrame:
    """One row per configuration: label, runs, seeds, then for every figure its mean and '<figure> ±' std.
    Cards without figures on `split` are left out (`without_figures` names them); with none left the frame is
    empty but keeps its columns."""
    groups: dict[str, list[Any]] = {}
    for card in cards:
        if (card.metrics.get(split) or {}):
            groups.setdefault(configuration_key(card), []).append(card)
    labels = _distinct_labels({key: members[0] for key, members in groups.items()})
    rows = []
    for key, members in groups.items():
        table = np.array([[m.metrics[split][k] for k in METRIC_KEYS] for m in members])  # (runs, 10)
        std = table.std(axis=0, ddof=1) if len(members) > 1 else np.full(len(METRIC_KEYS), np.nan)
        row: dict[str, Any] = {"configuration": labels[key], "runs": len(members),
                               "seeds": ", ".join(str(m.config.get("seed")) for m in members)}
        for i, key in enumerate(METRIC_KEYS):
            row[key] = table[:, i].mean()
            row[f"{key} ±"] = std[i]
        rows.append(row)
    columns = ["configuration", "runs", "seeds", *(c for k in METRIC_KEYS for c in (k, f"{k} ±"))]
    return pd.DataFrame(rows, columns=columns)


def with_deltas(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds 'Δ <figure>' columns: each configuration's mean minus the baseline configuration's mean."""
    out = frame.copy()
    base = frame[frame["configuration"] == baseline]
    if base.empty:
        return out
    for key in METRIC_KEYS:
        out[f"Δ {key}"] = frame[key] - float(base[key].iloc[0])
    return out


def per_class_frame(per_class: dict[str, dict[str, np.ndarray]], level: str = "segment") -> pd.DataFrame:
    """Long table of per-class F1 (percent) per model and modality, from ScoreReport.per_class of each model."""
    rows = []
    for model, classes in per_class.items():
        for modality, key in (("audio", "audio"), ("visual", "visual"), ("audio-visual", "av")):
            values = classes[f"{level}/{key}"]
            rows += [{"model": model, "modality": modality, "class": CLASSES[c], "F1": float(values[c])}
                     for c in range(len(CLASSES))]
    return pd.DataFrame(rows)


def published_frame(cards: list[Any]) -> pd.DataFrame:
    """The papers' published LLP test figures for the (model, recipe) pairs among `cards`, with their sources."""
    from ..published import published_for

    seen, rows = set(), []
    for card in cards:
        pair = (card.config.get("model"), card.config.get("recipe") or "plain")
        if pair in seen:
            continue
        seen.add(pair)
        for result in published_for(*pair):
            rows.append({"ours": configuration_label(card), "published method": result.method,
                         "source": f"paper {result.paper}, {result.table}", **result.figures})
    return pd.DataFrame(rows)
