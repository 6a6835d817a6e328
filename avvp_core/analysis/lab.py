"""The Lab page's experiment: a small SynthLLP made from a few knobs, two small models trained on it side by side.

Sizes and training settings are chosen so that two demo-width models train together in about a minute on two CPU
cores (measured: HAN and MMT, 30 epochs on 600 training videos, 56 s wall with one thread each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..data.synthetic import GENERATOR_VERSION, KNOBS, SYNTH_META_FILE, resolve_knobs

# knob -> (min, max, step, short help); defaults are SynthLLP's (the real LLP's figures)
LAB_KNOBS: dict[str, tuple[float, float, float, str]] = {
    "audio_only_rate": (0.0, 0.9, 0.05, "share of events that are heard but not seen"),
    "visual_only_rate": (0.0, 0.9, 0.05, "share of events that are seen but not heard"),
    "imbalance": (0.0, 3.0, 0.25, "how unequal the audio and visual salience of classes is (0: equal)"),
    "separation": (1.0, 8.0, 0.5, "how far apart the classes are in feature space (higher: easier)"),
}
LAB_SIZES = {"n_train": 600, "n_val": 100, "n_test": 100}
LAB_PRESET = "tiny"  # only names the preset in synthllp.json: the sizes above replace the preset's
LAB_TRAIN = {"epochs": 30, "batch_size": 16, "lr": 1e-3, "train_options": {"lr_step": 25}}
LAB_MODELS = ("han", "mmt")
# Knob settings the page offers in one click (the rest keep default_knobs()); measured by bench/lab_presets.py, whose
# figures (several seeds) the page shows beside each preset: PRESET_RESULTS.
PRESETS: dict[str, dict[str, Any]] = {
    "LLP's mix (default)": {"knobs": {}, "note": "the real LLP's shares: 35 % audio-only, 5 % visual-only events"},
    "Mostly audio-only": {"knobs": {"audio_only_rate": 0.9},
                          "note": "90 % of the events are heard but not seen: where audio leak should hurt most"},
    "Mostly audio-visual": {"knobs": {"audio_only_rate": 0.05, "visual_only_rate": 0.05},
                            "note": "almost every event is both heard and seen: little to leak"},
    "Mostly visual-only": {"knobs": {"audio_only_rate": 0.05, "visual_only_rate": 0.6},
                           "note": "60 % of the events are seen but not heard: the leak runs the other way"},
}

EXPECTATIONS = """\
**What the papers predict.** HAN fuses audio and vision at its input, so a sound that is heard but not seen leaks
into the visual predictions ("audio leak"). MMT (paper 000) lets the modalities talk only through one compact
messenger token each: the more events are *audio-only*, the more that should pay off, mostly on the **visual** and
**audio-visual** figures. With a large salience *imbalance* one modality learns faster than the other, which is what
DGM (paper 004, see the Imbalance page) corrects. With few videos and epochs the two models can land anywhere:
what you see below is what was measured on this run, nothing else."""


def default_knobs() -> dict[str, float]:
    return {k: round(float(KNOBS[k]["default"]), 2) for k in LAB_KNOBS}


def data_name(knobs: dict[str, float], seed: int = 0) -> str:
    """A folder name that spells out the knobs and the generator version (same knobs, same folder: generated once;
    a generator upgrade changes the other knobs' defaults, so it gets new folders and runs, never stale ones)."""
    k = {name: float(knobs.get(name, KNOBS[name]["default"])) for name in LAB_KNOBS}
    return (f"lab-g{GENERATOR_VERSION}-a{k['audio_only_rate']:.2f}-v{k['visual_only_rate']:.2f}-i{k['imbalance']:.2f}"
            f"-s{k['separation']:.1f}-d{seed}")


def run_name(data: str, model: str, epochs: int, seed: int) -> str:
    return f"{data}-{model}-e{epochs}-s{seed}"


def synth_knobs(knobs: dict[str, float]) -> dict[str, Any]:
    """What to pass to the generator: the Lab's knobs plus its sizes (checked as the generator does: raises
    InputError for out-of-range values or audio-only + visual-only shares of 1 or more)."""
    out = {**{k: float(v) for k, v in knobs.items() if k in LAB_KNOBS}, **LAB_SIZES}
    resolve_knobs(LAB_PRESET, **out)
    return out


def measured_summary(table: pd.DataFrame, level: str = "segment") -> str:
    """One sentence with the measured differences of the second run over the first (figures_table's delta row)."""
    if len(table) < 3:
        return ""
    delta = table.iloc[2]
    names = {"audio": "audio", "visual": "visual", "av": "audio-visual", "type": "Type@AV", "event": "Event@AV"}
    parts = [f"{label} {delta[f'{level}/{fig}']:+.1f}" for fig, label in names.items()]
    return f"Measured here ({level} level, test split), {table.index[2]}: " + ", ".join(parts) + " F1 points."


def data_ready(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "AVVP_train.csv").is_file() and (folder / SYNTH_META_FILE).is_file()


__all__ = ["EXPECTATIONS", "LAB_KNOBS", "LAB_MODELS", "LAB_SIZES", "LAB_TRAIN", "data_name", "data_ready",
           "default_knobs", "measured_summary", "run_name",
           "synth_knobs"]
