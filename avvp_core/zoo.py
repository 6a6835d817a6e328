"""The demo zoo: every method of our papers trained on SynthLLP `mini` with fixed seeds, shipped in checkpoints/.

    python -m avvp_core zoo [--data DIR] [--out checkpoints/] [--work runs/zoo] [--only NAME ...]

Each entry is a registered model + recipe at demo width, trained by the same recipes a user runs, in a work folder
(resumable; multi-stage recipes keep their stages there), then exported: weights in float16 (kept only when every
val and test figure stays within 0.1 point of float32, else float32), the card (configuration, data fingerprint,
seed, the ten val and test figures *of the shipped weights*, training time, machine), the epoch log and, for DGM
runs, the per-step log. `tests/test_zoo.py` regenerates SynthLLP mini and requires the shipped figures back.

Budget (TrainConfig.budget, recipes.apply_budget): the zoo trains with "llp_steps": each recipe keeps its paper
batch and its epoch-counted schedule (epochs, LR step, warm-ups) is scaled so that a run on the 2,000 mini training
videos sees the optimiser steps the recipe gives on LLP's 10,000 in every phase (HAN: 200 epochs of 125 steps, LR
drops after 6,250, 12,500, 18,750 steps, as on LLP). The zoo shipped before issue 19 was trained with "llp_batch"
(batches above 16 shrunk, epochs as written: batch-16 recipes got a fifth of LLP's steps); its cards record that
(`train.budget`) and every other option it was trained with, and `zoo --as-shipped` retrains an entry from its
card's recorded options instead of the current defaults.
"""

from __future__ import annotations

import copy
import json
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoints import CONFIG, LOG, METRICS, WEIGHTS, load_checkpoint, load_state_dict, read_card, save_weights
from .constants import METRIC_KEYS
from .data.dataset import LLPDataset
from .errors import InputError
from .evaluation import evaluate
from .fileio import write_json, write_text
from .training.loop import STEP_LOG
from .training.recipes import RecipeContext, run_recipe

ZOO_FILE = "zoo.json"
ZOO_SEED = 1  # training seed of every entry (the data is SynthLLP mini, seed 0)
ZOO_BUDGET = "llp_steps"  # recipes.apply_budget
HALF_TOLERANCE = 0.1  # points: the most any figure may move when the weights are stored in float16


@dataclass(frozen=True)
class ZooEntry:
    name: str  # folder name under checkpoints/
    model: str
    recipe: str
    title: str  # what the leaderboard calls it
    model_overrides: dict[str, Any] = field(default_factory=dict)
    train_overrides: dict[str, Any] = field(default_factory=dict)


ZOO: tuple[ZooEntry, ...] = (
    ZooEntry("han", "han", "plain", "HAN"),
    ZooEntry("han-ma", "han", "ma", "HAN + MA"),
    ZooEntry("han-jomold", "han", "jomold", "HAN + JoMoLD"),
    ZooEntry("mmt", "mmt", "plain", "MMT"),
    ZooEntry("mmt-nomsg", "mmt_nomsg", "plain", "MMT, No MSG (full cross-modal context)"),
    ZooEntry("mmt-capc", "mmt", "capc", "MMT + CAPC (three stages)"),
    # Paper 000 compares messengers with No MSG after CAPC's three stages (Tab. 3): the messenger claim's baseline.
    ZooEntry("mmt-nomsg-capc", "mmt_nomsg", "capc", "MMT, No MSG + CAPC (three stages)"),
    ZooEntry("cmco", "cmco", "plain", "CM-Co"),
    ZooEntry("cmco-cms", "cmco", "cms", "CM-Co + CM-S"),
    ZooEntry("mgn", "mgn", "plain", "MGN"),
    ZooEntry("cmpie", "cmpie", "plain", "CM-PIE"),
    ZooEntry("msdu-jomold", "msdu", "jomold", "MSDU + JoMoLD"),
    ZooEntry("msdu-jomold-dgm", "msdu", "jomold_dgm", "MSDU + JoMoLD + DGM"),
)
ENTRIES = {e.name: e for e in ZOO}


def select(names: list[str] | None) -> list[ZooEntry]:
    if not names:
        return list(ZOO)
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        raise InputError(f"unknown zoo entr{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                         f"choose from {', '.join(ENTRIES)}")
    return [ENTRIES[n] for n in names]


def _figures(model: torch.nn.Module, data: LLPDataset, gating: str) -> dict[str, dict[str, float]]:
    return {split: evaluate(model, data.split(split), gating).summary for split in ("val", "test")}


def _max_delta(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> float:
    return max(abs(a[s][k] - b[s][k]) for s in a for k in METRIC_KEYS)


def _same_tensors(a: Path, b: Path) -> bool:
    try:
        x, y = load_state_dict(a), load_state_dict(b)
    except InputError:  # nothing shipped yet, or a broken file: write the new one
        return False
    return x.keys() == y.keys() and all(x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]) for k in x)


def export(entry: ZooEntry, trained: Path, data: LLPDataset, out: Path, seconds: float) -> dict[str, Any]:
    """Copy a finished training into `out/<name>/`: float16 weights when harmless, figures of what ships."""
    model, card = load_checkpoint(trained)
    full = _figures(model, data, card.gating)
    half_model = copy.deepcopy(model).half().float()  # the float16 round trip, evaluated in float32 like every load
    half = _figures(half_model, data, card.gating)
    use_half = _max_delta(full, half) <= HALF_TOLERANCE
    target = out / entry.name
    tmp = out / f".{entry.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_weights(tmp / WEIGHTS, model, half=use_half)
    if _same_tensors(target / WEIGHTS, tmp / WEIGHTS):  # a re-export of unchanged weights keeps the shipped file
        shutil.copyfile(target / WEIGHTS, tmp / WEIGHTS)  # byte for byte: no binary churn in the repository
    config = {**card.config, "weights_dtype": "float16" if use_half else "float32",
              "zoo": {"entry": entry.name, "title": entry.title, "seed": card.config.get("seed", ZOO_SEED),
                      "train_seconds": round(seconds, 1), "machine": machine(),
                      "float16_max_delta": round(_max_delta(full, half), 4)}}
    metrics = {**card.metrics, **(half if use_half else full), "complete": True, "float32": full}
    write_json(tmp / CONFIG, config)
    write_json(tmp / METRICS, metrics)
    for name in (LOG, STEP_LOG):
        if (trained / name).is_file():
            shutil.copyfile(trained / name, tmp / name)
    old = out / f".{entry.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)  # a kill from here on leaves the previous export beside the new one, never neither
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return {"name": entry.name, "title": entry.title, "model": entry.model, "recipe": entry.recipe,
            "width": config.get("width"), "weights_dtype": config["weights_dtype"],
            "train_seconds": round(seconds, 1), "val": metrics["val"], "test": metrics["test"]}


def machine() -> str:
    threads = torch.get_num_threads()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {threads} threads, {gpu}"


def _stage_seconds(folder: Path) -> float:
    """Training time of a recipe: its final fit plus every stage's (from their metrics.json)."""
    total = 0.0
    for metrics in [folder / METRICS, *sorted((folder / "stages").glob(f"*/{METRICS}"))]:
        if metrics.is_file():
            total += float(json.loads(metrics.read_text()).get("train_seconds") or 0.0)
    return total


# Options a card records that say where a run went, not how it trained: not replayed by --as-shipped.
_NOT_REPLAYED = ("device", "eval_test")


def shipped_options(out: str | Path, entry: ZooEntry) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model options, training options) that the shipped card of `entry` under `out` records: training with them
    replays how it was trained (recorded values win over today's defaults; user-given, so not rescaled)."""
    card = read_card(Path(out) / entry.name)
    train = {k: v for k, v in (card.config.get("train") or {}).items() if k not in _NOT_REPLAYED}
    train.setdefault("budget", "llp_batch")  # cards written before the key existed were trained so
    return dict(card.config.get("model_config") or {}), train


def train_zoo(data_root: str | Path, out: str | Path, work: str | Path, names: list[str] | None = None,
              device: str = "cpu", log: Callable[[str], None] = print, budget: str = ZOO_BUDGET,
              as_shipped: bool = False) -> list[dict[str, Any]]:
    """Train (or resume) and export the chosen entries; returns their rows of `out/zoo.json`. `as_shipped`: each
    entry with the options its shipped card records (reproduces the shipped zoo) instead of today's defaults."""
    entries = select(names)
    data = LLPDataset(data_root)
    out, work = Path(out), Path(work)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / ZOO_FILE
    data_record = {"fingerprint": data.fingerprint(), "synth": data.synth_meta and {
        k: data.synth_meta.get(k) for k in ("generator_version", "preset", "seed")}}
    for entry in entries:
        t0 = time.monotonic()
        model_overrides, train_overrides = dict(entry.model_overrides), dict(entry.train_overrides)
        if as_shipped:
            model_overrides, train_overrides = shipped_options(out, entry)
        log(f"[zoo] {entry.name}: {entry.model} with recipe {entry.recipe} (demo width, seed {ZOO_SEED}, budget "
            f"{train_overrides.get('budget', budget)})")
        ctx = RecipeContext(data, entry.model, work / entry.name, "demo", model_overrides,
                            {"seed": ZOO_SEED, **train_overrides, "device": device}, terminal=False, budget=budget)
        run_recipe(entry.recipe, ctx)
        row = export(entry, work / entry.name, data, out, _stage_seconds(work / entry.name))
        # re-read: another zoo process may have exported other entries meanwhile
        index = json.loads(index_path.read_text()) if index_path.is_file() else {"entries": {}}
        index["entries"][entry.name] = row
        index["entries"] = {e.name: index["entries"][e.name] for e in ZOO if e.name in index["entries"]}  # zoo order
        index["data"] = data_record
        write_json(index_path, index)
        test = row["test"]
        write_text(out / "README.md", render_readme(out))
        log(f"[zoo] {entry.name}: test segment Type@AV {test['segment/type']:.1f}, event Type@AV "
            f"{test['event/type']:.1f} ({row['weights_dtype']}; {row['train_seconds']:.0f} s of training, "
            f"{time.monotonic() - t0:.0f} s here)")
    index = json.loads(index_path.read_text())
    return [index["entries"][e.name] for e in entries]


def zoo_runs(out: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Per shipped entry, its one run as claims.check wants it (test figures, epoch log, refinement record)."""
    runs = {}
    for folder in shipped(out):
        card = read_card(folder)
        runs[folder.name] = [{"test": card.metrics["test"], "log": card.log(),
                              "refinement": card.metrics.get("refinement")}]
    return runs


def _same_features_note(synth: dict[str, Any]) -> str:
    """A zoo trained before a generator change that left its preset's features as they were (test_zoo checks the
    fingerprint) says so, so the version a reader sees in the app does not look like a stale zoo."""
    from .data.synthetic import GENERATOR_VERSION

    old = synth.get("generator_version")
    return "" if old in (None, GENERATOR_VERSION) else f"; generator {GENERATOR_VERSION} writes the same features"


def render_readme(out: str | Path) -> str:
    """checkpoints/README.md from zoo.json and the cards: the leaderboard, the claims table, how to reproduce."""
    from . import claims
    from .published import published_for

    out = Path(out)
    index = json.loads((out / ZOO_FILE).read_text())
    data = index["data"]
    synth = data.get("synth") or {}
    lines = [
        "# checkpoints/ — the demo zoo",
        "",
        "Every method of our papers trained on the embedded benchmark, so the app shows trained models the moment",
        "it opens. Written by `python -m avvp_core zoo` (this file included); `tests/test_zoo.py` regenerates the",
        "data and requires every figure below back within 0.1 point.",
        "",
        f"- Data: SynthLLP `{synth.get('preset')}` (seed {synth.get('seed')}, generator "
        f"{synth.get('generator_version')}{_same_features_note(synth)}), fingerprint `{data['fingerprint']}`; test "
        "split, 500 videos. Its difficulty is calibrated so that HAN scores about what it scores on the real LLP "
        "test set (`bench/calibrate_han.py`, `bench/RESULTS.md`).",
        f"- Training: the registered recipes at **demo width** (see each `config.json`), seed {ZOO_SEED}; "
        + _budget_note(out),
        "- Weights in float16 where every figure stays within 0.1 point of float32 (`weights_dtype` on each card);"
        " loading never unpickles objects (`weights_only=True`).",
        "- Times are training seconds on the machine named in each card (`zoo.machine`), often with other work"
        " sharing its 2 CPU cores.",
        "",
        "## Leaderboard (test; segment level, then event level)",
        "",
        "| entry | model | recipe | seg A | seg V | seg AV | seg Type@AV | seg Event@AV | ev A | ev V | ev AV |"
        " ev Type@AV | ev Event@AV | published LLP seg / ev Type@AV | weights | train s |",
        "|---" * 16 + "|",
    ]
    for name, row in index["entries"].items():
        t = row["test"]
        pub = [r for r in published_for(row["model"], row["recipe"]) if r.figures.get("segment/type") is not None]
        pub_text = (f"{pub[0].figures['segment/type']:.1f} / " + (
            f"{pub[0].figures['event/type']:.1f}" if pub[0].figures.get("event/type") is not None else "–")
            + f" ({pub[0].method}, paper {pub[0].paper})") if pub else "–"
        figs = " | ".join(f"{t[k]:.1f}" for k in METRIC_KEYS)
        lines.append(f"| {name} | {row['model']} | {row['recipe']} | {figs} | {pub_text} | {row['weights_dtype']}"
                     f" | {row['train_seconds']:.0f} |")
    entries = {n: {"model": r["model"], "recipe": r["recipe"]} for n, r in index["entries"].items()}
    total_minutes = sum(r["train_seconds"] for r in index["entries"].values()) / 60
    lines += ["", "## The papers' claims on SynthLLP", "",
              "Seed 1 only (bench/RESULTS.md has seeds 1-3 for HAN, MA and JoMoLD).", "",
              claims.markdown(claims.check(zoo_runs(out), entries)), "",
              f"Reproduce: `python -m avvp_core zoo --as-shipped` (all entries, each with the options its card "
              f"records: {total_minutes:.0f} minutes of training on the",
              "cards' machine, 2 CPU cores) or",
              "`python -m avvp_core zoo --as-shipped --only han mmt` (some); intermediate stages stay in `runs/zoo/`."
              " Without `--as-shipped` the zoo trains with today's defaults.", ""]
    return "\n".join(lines)


BUDGET_NOTES = {
    "llp_steps": "schedules in LLP's optimiser steps (budget `llp_steps`: paper batch, epochs and LR steps scaled so "
                 "every phase has the steps it has on LLP's 10,000 videos; each card's `steps` gives its schedule in "
                 "optimiser steps).",
    "llp_batch": "batches above 16 scaled to LLP's steps per epoch, epochs as the papers write them (budget "
                 "`llp_batch`, the rule before issue 19: MMT and CM-Co 64 -> 16, JoMoLD/MSDU 128 -> 25; batch-16 "
                 "recipes got a fifth of LLP's steps).",
    "epochs": "the papers' schedules as written (budget `epochs`).",
}


def _budget_note(out: Path) -> str:
    """How the shipped cards' schedules were sized, from the cards (a card without `train.budget` predates the key
    and was trained with "llp_batch")."""
    budgets = sorted({(read_card(f).config.get("train") or {}).get("budget", "llp_batch") for f in shipped(out)})
    if len(budgets) == 1:
        return BUDGET_NOTES[budgets[0]]
    return "budgets differ by entry (" + ", ".join(budgets) + "; see each card's `train.budget`)."


def shipped(out: str | Path) -> list[Path]:
    """The zoo's checkpoint folders under `out` (those listed in zoo.json that exist)."""
    out = Path(out)
    index = out / ZOO_FILE
    if not index.is_file():
        return []
    names = json.loads(index.read_text()).get("entries", {})
    return [out / n for n in names if (out / n / CONFIG).is_file()]


__all__ = ["ENTRIES", "ZOO", "ZooEntry", "export", "render_readme", "select", "shipped", "train_zoo", "zoo_runs"]
