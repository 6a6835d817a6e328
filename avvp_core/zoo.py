"""The demo zoo: every method of our papers trained on SynthLLP `mini` with fixed seeds, shipped in checkpoints/.

    python -m avvp_core zoo [--data DIR] [--out checkpoints/] [--work runs/zoo] [--only NAME ...] [--seeds N ...]
                            [--no-export | --export-only]

Each entry is a registered model + recipe at demo width, trained by the same recipes a user runs, in a work folder
(resumable; multi-stage recipes keep their stages there), then exported: weights in float16 (kept only when every
val and test figure stays within 0.1 point of float32; else float16 for the large tensors only, "mixed", under the
same test; else float32), the card (configuration, data fingerprint,
seed, the ten val and test figures *of the shipped weights*, training time, machine), the epoch log and, for DGM
runs, the per-step log (both with their numbers to 6 significant digits, every key kept: a 200-epoch log stays
small). `tests/test_zoo.py` regenerates SynthLLP mini and requires the shipped figures back.

Seeds (issue 19): `--seeds 1 2 3` trains every entry once per seed, each (entry, seed) in its own resumable work
folder: seed 1 in `WORK/<entry>` (the folder the zoo always used, so runs under way resume), seed N in
`WORK/<entry>-seed<N>`. While a zoo process trains a folder it holds a lock on it (`training.loop.folder_lock`,
on `WORK/.locks/<folder>`); another zoo process skips that (entry, seed) and goes on to the next, so several processes
may run the same command side by side, or split the seeds or entries between them. The export of an entry gathers
*every* finished seed of it in WORK trained with seed 1's options (whichever process trained it; an unfinished or
differently trained one is named and left out): `checkpoints/<entry>/` ships seed 1's weights (the model the pages
inspect) and its card's `seeds` block (metrics.json, and the entry's row in zoo.json) holds each seed's ten val and
test figures (float32), selected epoch and training seconds, their mean and sample standard deviation, and the
command that retrains them. Exports are serialised by a lock on `WORK/.locks/export`. `--no-export` only trains;
`--export-only` only exports (what parallel training processes left in WORK, once at the end). The default,
`--seeds 1`, is the zoo as it always was.

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
import math
import platform
import re
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint_schema import (
    check_figures,
    check_log_row,
    check_seeds,
    check_step_row,
    finite_number,
    read_json_object,
    read_jsonl,
)
from .checkpoints import (
    CONFIG,
    LOG,
    METRICS,
    WEIGHTS,
    Card,
    load_checkpoint,
    load_state_dict,
    read_card,
    save_weights,
    stored_in_float16,
)
from .claims import seed_span, seeds_block
from .constants import METRIC_KEYS
from .data.dataset import LLPDataset
from .errors import InputError
from .evaluation import evaluate
from .fileio import write_json, write_text
from .training.loop import STEP_LOG, FolderBusy, folder_lock
from .training.recipes import RecipeContext, run_recipe

ZOO_FILE = "zoo.json"
ZOO_SEED = 1  # training seed of every entry's shipped model (the data is SynthLLP mini, seed 0)
LOG_DIGITS = 6  # significant digits of the numbers in an exported log (a loss of 0.0012 keeps its precision)
ZOO_BUDGET = "llp_steps"  # recipes.apply_budget
LOCKS = ".locks"  # under WORK: one folder per lock (folder_lock), hidden from checkpoint listings
EXPORT_LOCK = f"{LOCKS}/export"  # serialises the exports of processes sharing WORK
HALF_TOLERANCE = 0.1  # points: the most any figure may move when the weights are stored in float16
# Storage tried in turn, the first within HALF_TOLERANCE ships: every floating tensor in float16 ("float16"), then
# float16 for the tensors of at least 4,096 / 65,536 elements only ("mixed": norms, biases, tokens and small
# projections keep float32), else float32. Measured on the retrained zoo (issue 19): MGN at demo width moves a figure
# by 0.1 in float16 and by 0.0 with its tensors under 4,096 elements in float32 (5.4 MB instead of 10.9); CM-Co + CM-S
# moves by 0.33 unless its tensors under 65,536 elements stay float32 (2.0 MB instead of 3.0). Three seeds' zoo fits
# the 30 MB budget only so.
HALF_MIN_ELEMENTS = (0, 4096, 65536)


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


def _float16_round_trip(model: torch.nn.Module, min_elements: int) -> torch.nn.Module:
    """A copy of `model` whose floating tensors of at least `min_elements` elements went through float16, evaluated in
    float32 like every load."""
    rounded = copy.deepcopy(model)
    rounded.load_state_dict({k: v.half().float() if stored_in_float16(v, min_elements) else v
                             for k, v in rounded.state_dict().items()})
    return rounded


def _same_tensors(a: Path, b: Path) -> bool:
    try:
        x, y = load_state_dict(a), load_state_dict(b)
    except InputError:  # nothing shipped yet, or a broken file: write the new one
        return False
    return x.keys() == y.keys() and all(x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]) for k in x)


@dataclass(frozen=True)
class SeedRun:
    """One finished training of an entry in the work folder."""

    seed: int
    folder: Path
    card: Card


def work_folder(work: str | Path, entry: ZooEntry, seed: int) -> Path:
    """Where `entry` trains with `seed`: seed 1 in WORK/<entry>, the folder the zoo used before it had seeds (runs
    under way resume there), any other in WORK/<entry>-seed<N>."""
    return Path(work) / (entry.name if seed == ZOO_SEED else f"{entry.name}-seed{seed}")


def seed_folders(work: str | Path, entry: ZooEntry) -> dict[int, Path]:
    """The work folders of `entry` present in WORK, by seed: seed 1 (the shipped one) first, then the others from the
    smallest; `work_folder` is the naming."""
    work = Path(work)
    found = {ZOO_SEED: work / entry.name} if (work / entry.name).is_dir() else {}
    pattern = re.compile(rf"{re.escape(entry.name)}-seed(0|[1-9][0-9]{{0,8}})")
    if work.is_dir():
        for folder in work.iterdir():
            match = pattern.fullmatch(folder.name)
            if match and int(match.group(1)) != ZOO_SEED and folder.is_dir() and not folder.is_symlink():
                found[int(match.group(1))] = folder
    return dict(sorted(found.items(), key=lambda item: (item[0] != ZOO_SEED, item[0])))


def _trained_like(config: dict[str, Any]) -> dict[str, Any]:
    """What must agree between seeds of one entry: everything that built and trained it except the seed (and the
    device, which does not change what is trained)."""
    train = {k: v for k, v in (config.get("train") or {}).items() if k not in ("seed", "device")}
    return {"model": config.get("model"), "recipe": config.get("recipe"), "width": config.get("width"),
            "model_config": config.get("model_config"), "train": train,
            "data": (config.get("data") or {}).get("fingerprint")}


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    for key in a:
        if isinstance(a[key], dict) and isinstance(b.get(key), dict):
            inner = [k for k in dict.fromkeys([*a[key], *b[key]]) if a[key].get(k) != b[key].get(k)]
            if inner:
                k = inner[0]
                return f"{key}.{k} {a[key].get(k)!r} vs {b[key].get(k)!r}"
        elif a[key] != b.get(key):
            return f"{key} {a[key]!r} vs {b.get(key)!r}"
    return "?"


def finished_seeds(work: str | Path, entry: ZooEntry, log: Callable[[str], None] = print) -> list[SeedRun]:
    """Every finished training of `entry` in WORK that can stand beside seed 1's (same options but the seed), seed 1
    first when it is finished. What is left out is logged with the reason: unfinished (perhaps training in another
    process), unreadable, a card naming another seed, or trained with other options than seed 1."""
    runs = []
    for seed, folder in seed_folders(work, entry).items():
        try:
            card = read_card(folder) if (folder / METRICS).is_file() else None
        except InputError as exc:
            log(f"[zoo] {entry.name} seed {seed}: left out ({exc})")
            continue
        if card is None or not card.metrics.get("complete"):
            log(f"[zoo] {entry.name} seed {seed}: not finished in {folder} (still training, or interrupted: rerun "
                f"zoo --seeds {seed} --only {entry.name}); left out")
            continue
        if card.config.get("seed") != seed:
            log(f"[zoo] {entry.name} seed {seed}: {folder} holds seed {card.config.get('seed')!r}; left out")
            continue
        runs.append(SeedRun(seed, folder, card))
    if not runs or runs[0].seed != ZOO_SEED:
        return runs
    like = _trained_like(runs[0].card.config)
    kept = [runs[0]]
    for run in runs[1:]:
        other = _trained_like(run.card.config)
        if other != like:
            log(f"[zoo] {entry.name} seed {run.seed}: trained with other options than seed {ZOO_SEED} "
                f"({_first_difference(other, like)}); left out")
            continue
        kept.append(run)
    return kept


def _is_finished(folder: Path) -> bool:
    try:
        return (folder / METRICS).is_file() and bool(read_card(folder).metrics.get("complete"))
    except InputError:  # the training itself reports what is wrong with the folder
        return False


def retrain_command(entry: ZooEntry, seeds: Sequence[int]) -> str:
    """The command that retrains an entry's seeds with the options its card records (resumable; the export then
    gathers them)."""
    return f"python -m avvp_core zoo --as-shipped --seeds {' '.join(map(str, seeds))} --only {entry.name}"


def seed_summary(runs: list[dict[str, Any]], inspected: int, retrain: str) -> dict[str, Any]:
    """The card's `seeds` block: each seed's figures, their mean and sample standard deviation (n - 1; null with one
    seed) per split and figure, which seed the folder's weights are, and how to retrain them all."""
    splits = [s for s in ("val", "test") if all(isinstance(r.get(s), dict) for r in runs)]
    mean = {s: {k: statistics.fmean(r[s][k] for r in runs) for k in METRIC_KEYS} for s in splits}
    std = {s: {k: statistics.stdev(r[s][k] for r in runs) for k in METRIC_KEYS} for s in splits} if len(runs) > 1 \
        else None
    return {"seeds": [r["seed"] for r in runs], "inspected": inspected, "runs": runs, "mean": mean, "std": std,
            "retrain": retrain}


def _seed_row(seed: int, figures: dict[str, dict[str, float]], metrics: dict[str, Any], seconds: float
              ) -> dict[str, Any]:
    return {"seed": seed, **figures, "selected_epoch": metrics.get("selected_epoch"),
            "train_seconds": round(seconds, 1)}


def _significant(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{LOG_DIGITS}g}")
    return value


def compact_log(source: Path, target: Path, check_row) -> None:
    """Copy a JSON-lines log with every number to LOG_DIGITS significant digits, every key and row kept: a 200-epoch
    log (llp_steps budget on mini) is 5x the epochs of the old zoo's, and 17-digit floats are noise."""
    rows = read_jsonl(source, check_row)
    write_text(target, "".join(json.dumps({k: _significant(v) for k, v in row.items()}) + "\n" for row in rows))


def export(entry: ZooEntry, trained: Path, data: LLPDataset, out: Path, seconds: float,
           others: Sequence[SeedRun] = ()) -> dict[str, Any]:
    """Copy a finished training into `out/<name>/`: float16 weights when harmless, figures of what ships; `others`,
    the entry's other finished seeds, join the card's `seeds` block (figures measured here from their weights)."""
    model, card = load_checkpoint(trained)
    full = _figures(model, data, card.gating)
    deltas, half_from, half = [], None, None  # deltas[0]: all in float16; deltas[-1]: what ships, if any float16
    for min_elements in HALF_MIN_ELEMENTS:
        figures = _figures(_float16_round_trip(model, min_elements), data, card.gating)
        deltas.append(_max_delta(full, figures))
        if deltas[-1] <= HALF_TOLERANCE:
            half_from, half = min_elements, figures
            break
    use_half = half_from is not None
    dtype = "float32" if not use_half else "float16" if half_from == 0 else "mixed"
    seed = card.config.get("seed", ZOO_SEED)
    seed_rows = [_seed_row(seed, full, card.metrics, seconds)]
    for run in others:
        other_model, other_card = load_checkpoint(run.folder)
        seed_rows.append(_seed_row(run.seed, _figures(other_model, data, other_card.gating), other_card.metrics,
                                   _stage_seconds(run.folder)))
    seeds = seed_summary(seed_rows, seed, retrain_command(entry, [r["seed"] for r in seed_rows]))
    target = out / entry.name
    tmp = out / f".{entry.name}.tmp"
    recover_exports(out, [entry.name])
    tmp.mkdir(parents=True)
    save_weights(tmp / WEIGHTS, model, half=use_half, half_min_elements=half_from or 0)
    if _same_tensors(target / WEIGHTS, tmp / WEIGHTS):  # a re-export of unchanged weights keeps the shipped file
        shutil.copyfile(target / WEIGHTS, tmp / WEIGHTS)  # byte for byte: no binary churn in the repository
    stored = {"float16_min_elements": half_from, "weights_max_delta": round(deltas[-1], 4)} if use_half else {}
    config = {**card.config, "weights_dtype": dtype,
              "zoo": {"entry": entry.name, "title": entry.title, "seed": seed,
                      "train_seconds": round(seconds, 1), "machine": machine(),
                      "float16_max_delta": round(deltas[0], 4), **stored}}
    metrics = {**card.metrics, **(half if use_half else full), "complete": True, "float32": full, "seeds": seeds}
    write_json(tmp / CONFIG, config)
    write_json(tmp / METRICS, metrics)
    for name, check in ((LOG, check_log_row), (STEP_LOG, check_step_row)):
        if (trained / name).is_file():
            compact_log(trained / name, tmp / name, check)
    old = out / f".{entry.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)  # a kill from here on leaves the previous export beside the new one, never neither
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return {"name": entry.name, "title": entry.title, "model": entry.model, "recipe": entry.recipe,
            "width": config.get("width"), "weights_dtype": config["weights_dtype"],
            "train_seconds": round(seconds, 1), "val": metrics["val"], "test": metrics["test"], "seeds": seeds}


def recover_exports(out: str | Path, names: list[str] | None = None) -> list[str]:
    """Finish or undo exports a kill interrupted; returns what was done, one line per entry.

    `export` swaps a folder in two renames (`X` -> `.X.old`, `.X.tmp` -> `X`). Killed between them, `X` is missing:
    the previous export comes back (`.X.old` -> `X`), since zoo.json still describes it; the unfinished new one is
    dropped and the next `zoo` run exports it again. Leftover `.X.tmp` and `.X.old` beside a complete `X` are removed.
    Both are hidden folders, never listed as checkpoints. `names` limits the repair to those entries (an export
    repairs its own entry only: another zoo process may be exporting another one)."""
    out = Path(out)
    done: list[str] = []
    if not out.is_dir():
        return done
    names = list(ENTRIES) if names is None else names
    for name in names:
        old, target = out / f".{name}.old", out / name
        if old.is_dir() and not old.is_symlink() and not target.exists():
            old.rename(target)
            done.append(f"{name}: restored the previous export (an export was interrupted)")
    for leftover in [p for name in names for p in (out / f".{name}.old", out / f".{name}.tmp")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
            done.append(f"removed {leftover.name} (left by an interrupted export)")
    return done


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
_NOT_REPLAYED = ("device", "eval_test", "log_test")


def shipped_options(out: str | Path, entry: ZooEntry) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model options, training options) that the shipped card of `entry` under `out` records: training with them
    replays how it was trained (recorded values win over today's defaults; user-given, so not rescaled)."""
    card = read_card(Path(out) / entry.name)
    train = {k: v for k, v in (card.config.get("train") or {}).items() if k not in _NOT_REPLAYED}
    train.setdefault("budget", "llp_batch")  # cards written before the key existed were trained so
    return dict(card.config.get("model_config") or {}), train


def train_zoo(data_root: str | Path, out: str | Path, work: str | Path, names: list[str] | None = None,
              device: str = "cpu", log: Callable[[str], None] = print, budget: str = ZOO_BUDGET,
              as_shipped: bool = False, seeds: Sequence[int] = (ZOO_SEED,), train: bool = True,
              export_entries: bool = True) -> list[dict[str, Any]]:
    """Train (or resume) every chosen entry with every seed of `seeds`, then export each entry with all its finished
    seeds in `work`; returns the chosen entries' rows of `out/zoo.json` (those exported so far). `as_shipped`: each
    entry with the options its shipped card records (reproduces the shipped zoo) instead of today's defaults.
    `train=False` only exports; `export_entries=False` only trains (parallel processes, exported once at the end).
    An (entry, seed) another zoo process is training is skipped here (its folder lock); the export of an entry
    whose seed 1 is not finished is skipped with a line saying so. A training refused with an InputError (e.g. a
    folder holding another configuration) is logged and the others go on; the error is raised at the end."""
    entries = select(names)
    data = LLPDataset(data_root)
    out, work = Path(out), Path(work)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / ZOO_FILE
    if export_entries:
        with folder_lock(work / EXPORT_LOCK, wait=True):  # another process may be exporting one of these entries
            for line in recover_exports(out, [e.name for e in entries]):
                log(f"[zoo] {line}")
    data_record = {"fingerprint": data.fingerprint(), "synth": data.synth_meta and {
        k: data.synth_meta.get(k) for k in ("generator_version", "preset", "seed")}}
    failed: list[str] = []
    for entry in entries:
        t0 = time.monotonic()
        if train:
            model_overrides, train_overrides = dict(entry.model_overrides), dict(entry.train_overrides)
            if as_shipped:
                model_overrides, train_overrides = shipped_options(out, entry)
            for seed in seeds:
                folder = work_folder(work, entry, seed)
                try:
                    with folder_lock(work / LOCKS / folder.name):  # held for all the recipe's stages
                        done = _is_finished(folder)  # then run_recipe only checks it was trained with these options
                        log(f"[zoo] {entry.name}: {entry.model} with recipe {entry.recipe} (demo width, seed {seed}, "
                            f"budget {train_overrides.get('budget', budget)}) "
                            + (f"already finished in {folder}" if done else f"in {folder}"))
                        ctx = RecipeContext(data, entry.model, folder, "demo", model_overrides,
                                            {**train_overrides, "seed": seed, "device": device}, terminal=False,
                                            budget=budget)
                        run_recipe(entry.recipe, ctx)
                except FolderBusy as exc:  # another process trains it: the export gathers it once it is finished
                    log(f"[zoo] {entry.name} seed {seed}: skipped here, another process (pid {exc.holder}) is "
                        f"training it in {folder}")
                except InputError as exc:  # e.g. a folder trained with other options: the other trainings go on
                    failed.append(f"{entry.name} seed {seed}: {exc}")
                    log(f"[zoo] {failed[-1]}")
        if not export_entries:
            continue
        with folder_lock(work / EXPORT_LOCK, wait=True):  # one export at a time: zoo.json is read, changed, written
            runs = finished_seeds(work, entry, log)
            if not runs or runs[0].seed != ZOO_SEED:
                log(f"[zoo] {entry.name}: not exported, seed {ZOO_SEED} (the shipped model) is not finished in "
                    f"{work_folder(work, entry, ZOO_SEED)}")
                continue
            row = export(entry, runs[0].folder, data, out, _stage_seconds(runs[0].folder), runs[1:])
            # re-read: another zoo process may have exported other entries meanwhile
            index = read_index(index_path) if index_path.is_file() else {"entries": {}}
            index["entries"][entry.name] = row
            index["entries"] = {e.name: index["entries"][e.name] for e in ZOO if e.name in index["entries"]}
            index["data"] = data_record
            write_json(index_path, index)
            write_text(out / "README.md", render_readme(out))
        test, over = row["test"], row["seeds"]
        spread = ""
        if over["std"] is not None and "test" in over["mean"]:
            m, sd = over["mean"]["test"], over["std"]["test"]
            spread = (f"; over seeds {', '.join(map(str, over['seeds']))}: {m['segment/type']:.1f} ± "
                      f"{sd['segment/type']:.1f} / {m['event/type']:.1f} ± {sd['event/type']:.1f}")
        log(f"[zoo] {entry.name}: test segment Type@AV {test['segment/type']:.1f}, event Type@AV "
            f"{test['event/type']:.1f} (seed {ZOO_SEED}, {row['weights_dtype']}; {row['train_seconds']:.0f} s of "
            f"training, {time.monotonic() - t0:.0f} s here){spread}")
    if failed:  # after every other (entry, seed) has trained and been exported: a long unattended run does the rest
        raise InputError(f"{len(failed)} zoo training{'s' if len(failed) > 1 else ''} failed (each named above); "
                         f"first: {failed[0]}")
    if not index_path.is_file():
        return []
    index = read_index(index_path)
    return [index["entries"][e.name] for e in entries if e.name in index["entries"]]


def read_index(path: Path) -> dict[str, Any]:
    """A zoo.json, checked for what `zoo` and render_readme read from it: `data` an object, each row of `entries` an
    object with its model, recipe, weights dtype, training seconds, test figures and (with several seeds) its
    `seeds` block. The index is rewritten by every export, and may be hand-edited or cut; InputError (one line)."""
    index = read_json_object(path)
    entries, data = index.get("entries"), index.get("data")
    if not isinstance(entries, dict) or not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str) \
            or not isinstance(data.get("synth", {}), dict):
        raise InputError("not a zoo index (an object with `entries` and a `data` record of its data's fingerprint); "
                         "export the zoo again", path)
    for name, row in entries.items():
        where = f"{path} (entry {name[:40]!r})"
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("model", "recipe",
                                                                                      "weights_dtype")):
            raise InputError("a row must be an object with its model, recipe and weights_dtype", where)
        if not finite_number(row.get("train_seconds")):
            raise InputError("train_seconds must be a number", where)
        check_figures(row.get("test"), "test", where)
        if "seeds" in row:
            check_seeds(row["seeds"], "seeds", where)
    return index


def zoo_runs(out: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Per shipped entry, its runs as claims.check wants them: one per seed on the card. Test figures come from the
    card's `seeds` block where it has one (each seed's float32 weights, as the leaderboard's mean); the epoch log
    and the refinement record only ship for the inspected seed, so the loss-gap and label-precision claims rest on
    that seed alone, and the figure claims on every seed."""
    runs = {}
    for folder in shipped(out):
        try:
            card = read_card(folder)
        except InputError:  # a damaged folder: listed as such by checkpoint_problems, left out of the claims
            continue
        inspected = {"test": card.metrics.get("test"), "log": card.log(), "refinement": card.metrics.get("refinement")}
        block = card.metrics.get("seeds") or {}
        seeds = block.get("runs") or []
        if len(seeds) < 2:
            runs[folder.name] = [inspected]
            continue
        runs[folder.name] = [{"test": r.get("test"), "seed": r.get("seed"),
                              **({"log": inspected["log"], "refinement": inspected["refinement"]}
                                 if r.get("seed") == block.get("inspected") else {})}
                             for r in seeds]
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
    index = read_index(out / ZOO_FILE)
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
        "- Weights in float16 where every figure stays within 0.1 point of float32; where it does not, float16 for"
        " the large tensors only and float32 for the rest (`mixed`: `zoo.float16_min_elements` on the card) under the"
        " same test, else float32 (`weights_dtype` on each card); loading never unpickles objects"
        " (`weights_only=True`).",
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
    lines += _seeds_section(index["entries"])
    entries = {n: {"model": r["model"], "recipe": r["recipe"]} for n, r in index["entries"].items()}
    total_minutes = sum(r["train_seconds"] for r in index["entries"].values()) / 60
    lines += ["", "## The papers' claims on SynthLLP", "",
              _claims_seeds_note(index["entries"]), "",
              claims.markdown(claims.check(zoo_runs(out), entries)), "",
              f"Reproduce: `python -m avvp_core zoo --as-shipped` (all entries, each with the options its card "
              f"records: {total_minutes:.0f} minutes of training on the",
              "cards' machine, 2 CPU cores) or",
              "`python -m avvp_core zoo --as-shipped --only han mmt` (some); intermediate stages stay in `runs/zoo/`."
              " Without `--as-shipped` the zoo trains with today's defaults.", ""]
    return "\n".join(lines)


def _claims_seeds_note(rows: dict[str, dict[str, Any]]) -> str:
    """Which seeds the claims table below compares (claims.check takes every seed the cards hold)."""
    span = seed_span(rows)
    if span is None:
        return "Seed 1 only: one training per entry, so no difference below is tested against seed noise."
    return (f"Mean ± sample standard deviation over each entry's seeds ({span} per entry, the table above); a "
            "difference smaller than the pooled standard deviation is marked as within the seeds' spread, and so is a "
            "verdict with no larger difference.")


def _seeds_section(rows: dict[str, dict[str, Any]]) -> list[str]:
    """README lines for entries trained with several seeds (none when every entry has one: the README of a
    single-seed zoo is what it always was)."""
    multi = {n: seeds_block(r) for n, r in rows.items() if len(seeds_block(r).get("seeds", [])) > 1}
    if not multi:
        return []
    keys = ("segment/type", "segment/event", "event/type", "event/event")
    lines = ["", "## Over seeds (test; mean ± sample standard deviation)", "",
             "The leaderboard above is seed 1: the weights in each folder, which the app's pages inspect. Each card's "
             "`seeds` block (metrics.json, and zoo.json) holds every seed's ten val and test figures (float32), "
             "selected epoch and training time; only seed 1's weights ship (the size budget).", "",
             "| entry | seeds | seg Type@AV | seg Event@AV | ev Type@AV | ev Event@AV | train s (all seeds) |",
             "|---" * 7 + "|"]
    for name, block in multi.items():
        m, sd = block["mean"]["test"], block["std"]["test"]
        seconds = sum(r["train_seconds"] or 0.0 for r in block["runs"])
        figs = " | ".join(f"{m[k]:.1f} ± {sd[k]:.1f}" for k in keys)
        lines.append(f"| {name} | {', '.join(map(str, block['seeds']))} | {figs} | {seconds:.0f} |")
    seeds = sorted({s for block in multi.values() for s in block["seeds"]})
    total = sum(r["train_seconds"] or 0.0 for block in multi.values() for r in block["runs"]) / 60
    lines += ["", f"Retrain every seed: `python -m avvp_core zoo --as-shipped --seeds {' '.join(map(str, seeds))}` "
              f"({total:.0f} minutes of training over all seeds; each card's `seeds.retrain` gives its own command).",
              ""]
    return lines


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
    try:
        names = read_json_object(index).get("entries")
    except InputError:
        return []
    if not isinstance(names, dict):
        return []
    return [out / n for n in names if isinstance(n, str) and n in ENTRIES and (out / n / CONFIG).is_file()]


__all__ = ["ENTRIES", "ZOO", "SeedRun", "ZooEntry", "export", "finished_seeds", "read_index", "recover_exports",
           "render_readme", "seed_folders", "seed_summary", "select", "shipped", "train_zoo", "work_folder", "zoo_runs"]
