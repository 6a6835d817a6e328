"""The papers' claims measured where SynthLLP is calibrated: every claim's pair of zoo entries (avvp_core/claims.py)
trained on SynthLLP `full` (LLP's sizes, 10,000 training videos) at paper width, 3 seeds, each run a separate
`python -m avvp_core train` process (--jobs of them at a time), then checkpoints/claims_full.json: the setting,
every run's test figures per seed, mean ± std per entry, each claim's verdict with its rule, and the commands.

    python bench/claims_matrix.py                          # CPU: days; resumable, rerun the same command
    python bench/claims_matrix.py --device cuda --jobs 12  # one GPU (see below)

Resumable at two levels: a finished run (its metrics.json complete) is not started again, and an interrupted one
resumes from its last epoch (the trainer's own resume; multi-stage recipes keep finished stages). The record is
rewritten after every run that finishes, so a stopped matrix leaves what it measured (claims with a missing run
read "not measured"). Budget "llp_steps" is the rule, but on `full` it changes nothing (10,000 videos: LLP's own
steps), so these are the papers' schedules as written.

GPU session (prepared, not yet run: the session that wrote this had no GPU): in the repository root,
    python -m avvp_core synth runs/bench/synthllp-full --preset full --seed 0      # ~30 s (bench/RESULTS.md)
    python bench/claims_matrix.py --data runs/bench/synthllp-full --device cuda --jobs 12 --threads 1
12 entries x 3 seeds = 36 processes; the multi-stage recipes (ma, jomold, jomold_dgm, capc, two trainings each,
and cms) are the long ones. At paper width a run is small for one GPU (batch 16-128 of 10 segments), so many
processes share it; --threads 1 keeps 12 processes within 16 cores. The ~10 minutes issue 19 hopes for is not
measured (on 2 CPU cores HAN alone takes about 40 minutes a seed, bench/RESULTS.md); time one entry first,
    python bench/claims_matrix.py --data runs/bench/synthllp-full --device cuda --entries han --seeds 1 --jobs 1 \
        --out runs/timing --record runs/timing/claims.json
and size --jobs (and the session) from it. A stopped matrix resumes with the same command.

Carried runs: a run the existing record (--record) measured whose folder is not under --out (run folders are not
committed, so a fresh checkout or a session whose scratch space was wiped has none) is not trained again: its
figures, loss log and wall seconds are carried into the new record, provided the record's setting (data fingerprint,
width, budget, epochs, device) and the run's train command (less the interpreter and its --data / --out paths) are
this matrix's. The record lists them under `carried`. The new record spans the earlier one's entries and seeds as
well as this invocation's, so a subset (`--entries han --seeds 2`) adds to it. `--no-carry` ignores the earlier
record: its runs are trained again, and the record spans this invocation alone.

Shared first stages: MMT + CAPC's stage 1 is MMT's own training (the same bits on one machine, mmt_recipe.py), so
where the same seed's MMT run is finished under --out when the matrix starts, the CAPC run adopts it (`train
--base-from`, its stages/base/metrics.json names the source) and trains only stages 2 and 3; its `run_seconds` then
counts those.

`--record-only` trains nothing and rewrites the record from the finished runs, with the verdict code as it is now
(e.g. to ship a part-way record written by an older process). `run_seconds`: the wall seconds of the process that
finished each run, kept beside its folder (`<run>.wall.json`) so a record rebuilt in a later session keeps them all; a
run resumed across sessions counts its last part there, and every part in its `train_seconds`.

`--status` trains and writes nothing: one line per planned run, read from the run folders while trainings run (a
probe of each stage folder's lock tells running from stopped; the few minutes of a label step between two stages
read "stopped"): done or carried (with its test segment / event Type@AV), running or stopped
(each stage: done, adopted, or its epoch of N; the last epochs' duration and the training time left at that pace, a
later stage's steps weighted by their cost against the first stage's as measured on the other runs of its recipe under
--out, e.g. CAPC's final stage x2.4 on `full`, else at the same time per step; a multi-stage run's label steps are not
counted), or waiting.

Plumbing test (tests/test_claims_matrix.py): `--data <tiny> --width demo --epochs 1 --entries han mgn --seeds 1 2`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from common import BENCH_DATA, REPO

from avvp_core import claims
from avvp_core.checkpoint_schema import check_metrics, finite_number
from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.fileio import write_json
from avvp_core.jobs import read_jsonl
from avvp_core.training.loop import lock_holder
from avvp_core.training.recipes import adopts_base, budget_plan
from avvp_core.zoo import ENTRIES

DEFAULT_SEEDS = (1, 2, 3)
RECORD = REPO / "checkpoints" / claims.CLAIMS_FULL


def claim_entries() -> list[str]:
    """Every zoo entry some claim compares, in zoo order."""
    needed = {n for c in claims.CLAIMS for n in (c.candidate, c.baseline)}
    return [n for n in ENTRIES if n in needed]


def train_command(args: argparse.Namespace, entry: str, seed: int, folder: Path) -> list[str]:
    e = ENTRIES[entry]
    cmd = [sys.executable, "-m", "avvp_core", "train", "--data", str(args.data), "--model", e.model,
           "--recipe", e.recipe, "--width", args.width, "--seed", str(seed), "--budget", "llp_steps",
           "--device", args.device, "--out", str(folder)]
    cmd += [x for k, v in e.model_overrides.items() for x in ("--set", f"{k}={v!r}")]
    cmd += [x for k, v in e.train_overrides.items() for x in ("--train-set", f"{k}={v!r}")]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    base = plain_base(args.out, entry, seed)
    if base is not None:
        cmd += ["--base-from", str(base)]
    return cmd


def plain_base(runs_dir: Path, entry: str, seed: int) -> Path | None:
    """For an entry whose recipe's first stage is the model's own training (capc: `adopts_base`), the finished run of
    the zoo entry that is that training (recipe plain, same model and options), same seed, under `runs_dir`: the
    run adopts it (`train --base-from`, checked there to be the same configuration) instead of training it again.
    MMT + CAPC adopts MMT's run; None when there is none yet (the stage is then trained)."""
    e = ENTRIES[entry]
    if not adopts_base(e.recipe):
        return None
    for name, other in ENTRIES.items():
        if (other.recipe, other.model, other.model_overrides, other.train_overrides) == (
                "plain", e.model, e.model_overrides, e.train_overrides):
            folder = runs_dir / f"{name}-s{seed}"
            if _complete(folder) is not None:
                return folder
    return None


def _finished_metrics(folder: Path) -> dict | None:
    """The metrics.json of a finished training in `folder` (it says complete), else None. A recipe's earlier stages
    (stages/<name>) have one too, without test figures."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) and metrics.get("complete") else None


def _complete(folder: Path) -> dict | None:
    """A finished run: its metrics.json, with the test figures the record needs."""
    metrics = _finished_metrics(folder)
    return metrics if metrics is not None and "test" in metrics else None


CARRY_SETTING = ("fingerprint", "width", "budget", "epochs_override", "device")  # what a carried run must share


def _identity(command: str) -> list[str] | None:
    """A train command less what does not decide its figures: the interpreter, the --data / --out paths (the
    record's data fingerprint stands for the data) and --base-from (an adopted first stage is, checked, the one the
    run would train). None for a command shlex cannot split."""
    try:
        argv, out = shlex.split(command)[1:], []
    except ValueError:
        return None
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in ("--data", "--out", "--base-from") and i + 1 < len(argv):
            skip = True
        else:
            out.append(arg)
    return out


def _carried_seed(entry: object, where: str) -> dict:
    """A seed entry of an earlier record, rebuilt from the keys build_record writes and checked as a checkpoint's
    metrics.json is (checkpoint_schema.check_metrics: ten figures in 0..100, the removal record, epoch and seconds),
    its loss log finite numbers. InputError naming `where` when anything is off."""
    if not isinstance(entry, dict):
        raise InputError("a seed entry is not an object", where)
    keys = ("test", "refinement", "selected_epoch", "train_seconds")
    metrics = {k: entry[k] for k in keys if entry.get(k) is not None}
    check_metrics({"test": None, **metrics}, where)  # a missing test is refused as one that is not an object
    log, folder = entry.get("log", []), entry.get("folder")
    if not (isinstance(log, list) and all(isinstance(r, dict) and all(finite_number(v) for v in r.values())
                                          for r in log)):
        raise InputError("its loss log is not a list of rows of finite numbers", where)
    if not isinstance(folder, str | None):
        raise InputError("its folder is not a path", where)
    return {"test": {k: metrics["test"][k] for k in METRIC_KEYS}, "refinement": entry.get("refinement"),
            "selected_epoch": entry.get("selected_epoch"), "log": log, "train_seconds": entry.get("train_seconds"),
            "folder": folder}


def previous_record(args: argparse.Namespace, setting: dict) -> dict | None:
    """The existing record at --record (None when there is none). InputError, naming the file, when it is unreadable
    or from another setting (CARRY_SETTING): writing over it would lose what it measured, so that takes --no-carry."""
    old = claims.read_full(args.record)
    if old is not None:
        differs = [k for k in CARRY_SETTING if old["setting"].get(k) != setting.get(k)]
        if differs:
            raise InputError(f"a record of another setting ({', '.join(differs)} differ): give this matrix its own "
                             "--record, or --no-carry to replace it", args.record)
    return old


def _old_scope(old: dict) -> tuple[list[str], list[int]]:
    """The zoo entries and seeds an earlier record spans (names it does not know are left out)."""
    entries = [n for n in (old.get("entries") or {}) if n in ENTRIES] if isinstance(old.get("entries"), dict) else []
    seeds = old["setting"].get("seeds")
    seeds = [s for s in seeds if isinstance(s, int) and not isinstance(s, bool)] if isinstance(seeds, list) else []
    return entries, seeds


def carried_runs(args: argparse.Namespace, old: dict | None, commands: dict[str, str]) -> tuple[dict, dict]:
    """The runs the earlier record (previous_record) measured that this matrix would train with the same command,
    whose folders are not under --out: (run name -> its seed entry, run name -> wall seconds)."""
    if old is None:
        return {}, {}
    runs, seconds = {}, {}
    old_seconds = old.get("run_seconds") if isinstance(old.get("run_seconds"), dict) else {}
    entries = old.get("entries") if isinstance(old.get("entries"), dict) else {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("seeds"), dict):
            continue
        old_commands = entry.get("commands") if isinstance(entry.get("commands"), dict) else {}
        for seed, measured in entry["seeds"].items():
            run = f"{name}-s{seed}"
            before = _identity(old_commands[seed]) if isinstance(old_commands.get(seed), str) else None
            if run not in commands or before is None or before != _identity(commands[run]) or (args.out / run).exists():
                continue
            try:
                runs[run] = _carried_seed(measured, f"{args.record} ({run})")
            except InputError as exc:
                print(f"not carried, trained again: {exc}", flush=True)
                continue
            if finite_number(old_seconds.get(run)):
                seconds[run] = float(old_seconds[run])
    return runs, seconds


def _matrix_command(args: argparse.Namespace, entries: list[str], seeds: list[int]) -> str:
    """The command that trains (or resumes) the whole record: its entries and seeds, this invocation's settings."""
    def shown(path: Path) -> str:  # relative to the repository when inside it, as a user would type it
        resolved = path.absolute()  # not resolve(): a run folder linked from elsewhere still reads as typed
        return str(resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else path)

    cmd = ["python", "bench/claims_matrix.py", "--data", shown(args.data), "--width", args.width,
           "--device", args.device, "--jobs", str(args.jobs), "--out", shown(args.out), "--record", shown(args.record)]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--epochs", str(args.epochs)] if args.epochs is not None else []
    cmd += ["--entries", *entries] if entries != claim_entries() else []
    cmd += ["--seeds", *map(str, seeds)] if list(seeds) != list(DEFAULT_SEEDS) else []
    return shlex.join(cmd)


def _setting(args: argparse.Namespace, data: LLPDataset, seeds: list[int]) -> dict:
    meta = data.synth_meta or {}
    return {"data": str(args.data), "fingerprint": data.fingerprint(), "preset": meta.get("preset"),
            "synth_seed": meta.get("seed"), "generator_version": meta.get("generator_version"),
            "train_videos": len(data.split("train")), "width": args.width, "seeds": list(seeds),
            "budget": "llp_steps", "epochs_override": args.epochs, "device": args.device}


def _run(cmd: list[str], folder: Path, threads: int) -> tuple[int, float]:
    folder.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    with open(folder.parent / f"{folder.name}.log", "a") as log:
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO).returncode
    return rc, time.perf_counter() - t0


def _loss_log(folder: Path) -> list[dict]:
    """The per-epoch audio / visual losses (all the loss-gap claim reads), not the whole log."""
    rows = []
    path = folder / "log.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows.append({k: r[k] for k in ("epoch", "loss/audio", "loss/visual") if k in r})
    return rows


def _wall_file(folder: Path) -> Path:
    """Beside the run folder: the wall seconds its process took, so a record rebuilt in a later session keeps them."""
    return folder.parent / f"{folder.name}.wall.json"


def _wall_seconds(runs_dir: Path, names: list[str]) -> dict[str, float]:
    out = {}
    for name in names:
        try:
            value = json.loads(_wall_file(runs_dir / name).read_text()).get("seconds")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def build_record(args: argparse.Namespace, entries: list[str], seeds_planned: list[int], runs_dir: Path,
                 commands: dict[str, str], seconds: dict[str, float], carried: tuple[dict, dict] = ({}, {})) -> dict:
    """The record of entries x seeds_planned from the finished run folders under runs_dir, and the carried runs
    (carried_runs) whose folders are not there."""
    data = LLPDataset(args.data)
    carried_seeds, carried_seconds = carried
    per_entry, runs, used = {}, {}, []
    for name in entries:
        seeds = {}
        for seed in seeds_planned:
            folder = runs_dir / f"{name}-s{seed}"
            metrics = _complete(folder)
            if metrics is None:
                if folder.name in carried_seeds:
                    seeds[str(seed)] = carried_seeds[folder.name]
                    used.append(folder.name)
                continue
            seeds[str(seed)] = {"test": metrics["test"], "refinement": metrics.get("refinement"),
                                "selected_epoch": metrics.get("selected_epoch"), "log": _loss_log(folder),
                                "train_seconds": metrics.get("train_seconds"), "folder": str(folder)}
        table = np.array([[s["test"][k] for k in METRIC_KEYS] for s in seeds.values()]) if seeds else None
        e = ENTRIES[name]
        per_entry[name] = {
            "model": e.model, "recipe": e.recipe, "seeds": seeds,
            "mean": None if table is None else dict(zip(METRIC_KEYS, table.mean(0).round(4).tolist(), strict=True)),
            "std": None if table is None or len(table) < 2 else dict(zip(METRIC_KEYS, table.std(0, ddof=1).round(4)
                                                                         .tolist(), strict=True)),
            "commands": {s: commands[f"{name}-s{s}"] for s in map(str, seeds_planned) if f"{name}-s{s}" in commands}}
        runs[name] = [{**run, "seed": int(seed)} for seed, run in seeds.items()]  # paired by seed (claims.check)
    done = [f"{name}-s{seed}" for name, e in per_entry.items() for seed in e["seeds"]]  # the finished runs
    seconds = {**{k: v for k, v in carried_seconds.items() if k in used}, **_wall_seconds(runs_dir, done),
               **{k: v for k, v in seconds.items() if k in done}}
    rows = claims.check(runs, {n: {"model": ENTRIES[n].model, "recipe": ENTRIES[n].recipe} for n in entries})
    return {
        "format": claims.FULL_FORMAT,
        "setting": _setting(args, data, seeds_planned),
        "rule": claims.VERDICT_RULE,
        "claims": rows,
        "entries": per_entry,
        "complete": all(len(per_entry[n]["seeds"]) == len(seeds_planned) for n in entries),
        "matrix_command": _matrix_command(args, entries, seeds_planned),  # what trains (or resumes) all of it
        "run_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "carried": sorted(used),  # measured by an earlier matrix whose run folders are not under --out
    }


def _stage_folders(run: Path, stages: list[str]) -> list[Path]:
    """Where each training stage of a recipe writes: the last into the run folder itself, the earlier ones into
    stages/<name> (RecipeContext.fit's layout: e.g. MA's and CAPC's base, JoMoLD's estimator)."""
    return [run / "stages" / name for name in stages[:-1]] + [run]


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def recent_epoch_seconds(durations: list[float]) -> float:
    """The pace of a run: the median of its last three epochs' durations, of two the shorter (an epoch that spans a
    pause, e.g. trainings stopped for a test run, reads long and would inflate the time left)."""
    last = sorted(durations[-3:])
    return last[(len(last) - 1) // 2]


def _epoch_durations(rows: list[dict]) -> list[float]:
    """Each logged epoch's duration: "seconds" is the training time up to the end of each epoch (a resumed run's
    too)."""
    return np.diff([0.0, *(r["seconds"] for r in rows if finite_number(r.get("seconds")))]).tolist()


def _stage_step_seconds(folder: Path, steps_per_epoch: int) -> float | None:
    """A stage folder's pace in seconds per optimiser step (recent_epoch_seconds), None before its third epoch."""
    durations = _epoch_durations(read_jsonl(folder / "log.jsonl"))
    return recent_epoch_seconds(durations) / steps_per_epoch if len(durations) >= 3 else None


def stage_cost_ratios(out: Path, recipe: str, plan: list[dict]) -> dict[str, float]:
    """Per stage of a multi-stage recipe: its seconds per step over its first stage's, the median over the run folders
    under `out` of every entry trained with that recipe (any model, any seed: the model's cost cancels in the ratio).
    CAPC's final stage runs a second forward per step (the swapped audio) and, measured on `full`, takes 2.4 times its
    base's time per step (median of the three MMT + CAPC runs); without this a run still in its base stage would read
    about 60 % of its time left. Steps per epoch come from `plan` (the same batch in every stage of these recipes)."""
    names = [s["stage"] for s in plan]
    ratios: dict[str, list[float]] = {n: [] for n in names[1:]}
    for entry in (n for n, e in ENTRIES.items() if e.recipe == recipe):
        for run in sorted(out.glob(f"{entry}-s*")):
            paces = [_stage_step_seconds(f, s["steps_per_epoch"])
                     for f, s in zip(_stage_folders(run, names), plan, strict=True)]
            for name, pace in zip(names[1:], paces[1:], strict=True):
                if paces[0] and pace:
                    ratios[name].append(pace / paces[0])
    return {n: float(np.median(r)) for n, r in ratios.items() if r}


def run_status(run: Path, plan: list[dict], carried: dict | None,
               cost_ratios: dict[str, float] | None = None) -> tuple[str, str, str]:
    """(state, progress, test figures) of one planned run, read from its folder without disturbing a training in
    it: done (metrics.json complete), carried (measured by the earlier record), running (a process holds its lock),
    stopped (part-trained, resumes when the matrix is rerun) or waiting (not started). The time left counts each stage
    still to train at the current stage's pace times `cost_ratios` (stage_cost_ratios; 1 for a stage without one)."""
    metrics = _complete(run)
    measured = metrics or carried
    if measured is not None:
        test = measured["test"]
        figures = f"{test['segment/type']:.2f} / {test['event/type']:.2f}"
        seconds = measured.get("train_seconds")  # the last stage's (each stage's metrics.json has its own)
        how = f"selected epoch {measured.get('selected_epoch')}"
        if finite_number(seconds):
            how += f", {_hours(seconds)} of training" + (" in its last stage" if len(plan) > 1 else "")
        return ("done" if metrics else "carried"), how, figures
    if not run.exists():
        return "waiting", "", ""
    folders = _stage_folders(run, [r["stage"] for r in plan])
    # each stage's training locks its own folder (a multi-stage run's first stages write under stages/); the label
    # steps between stages hold no lock, so for those minutes a running run reads "stopped"
    holder = next((pid for pid in map(lock_holder, folders) if pid is not None), None)
    ratios = {plan[0]["stage"]: 1.0, **(cost_ratios or {})}
    parts, left, per_step, paced = [], [], None, 1.0
    for stage, folder in zip(plan, folders, strict=True):
        name = stage["stage"]
        if folder != run and (finished := _finished_metrics(folder)) is not None:
            source = finished.get("adopted_from")
            parts.append(f"{name} done" + (f" (adopted from {source['name']})" if isinstance(source, dict)
                                            and isinstance(source.get("name"), str) else ""))
            continue
        rows = read_jsonl(folder / "log.jsonl")
        try:
            epochs = int(json.loads((folder / "config.json").read_text())["train"]["epochs"])
        except (OSError, ValueError, KeyError, TypeError):
            epochs = stage["epochs"]
        done = len(rows)
        parts.append(f"{name} epoch {done} of {epochs}" if done or (folder / "config.json").is_file()
                     else f"{name} not started")
        durations = _epoch_durations(rows)
        if durations and per_step is None:
            recent = recent_epoch_seconds(durations)
            per_step, paced = recent / stage["steps_per_epoch"], ratios.get(name, 1.0)
            parts[-1] += f" (last epochs {_hours(recent)} each)"
        left.append((epochs - done) * stage["steps_per_epoch"] * ratios.get(name, 1.0))
    progress = "; ".join(parts)
    if per_step is not None:
        later = [f"{n} x{r:.1f}" for n, r in ratios.items() if n != plan[0]["stage"] and abs(r - paced) > 0.05]
        progress += (f"; about {_hours(per_step / paced * sum(left))} of training left at that pace"
                     + (f" (a step's cost against the first stage's, measured on the other runs of its recipe: "
                        f"{', '.join(later)})" if later else ""))
    return ("running" if holder else "stopped"), progress + (f" (pid {holder})" if holder else ""), ""


def print_status(args: argparse.Namespace, entries: list[str], seeds: list[int], carried: dict) -> None:
    """One line per planned run of the matrix: what is done, running, stopped or waiting, and how far each is."""
    n_train = len(LLPDataset(args.data).split("train"))
    plans, ratios = {}, {}  # per entry: the same for every seed
    for name in entries:
        e = ENTRIES[name]
        plans[name] = budget_plan(e.model, e.recipe, n_train, {**e.train_overrides, "budget": "llp_steps",
                                  **({"epochs": args.epochs} if args.epochs is not None else {})}, width=args.width)
        ratios[name] = stage_cost_ratios(args.out, e.recipe, plans[name]) if len(plans[name]) > 1 else {}
    rows = []
    for seed in seeds:
        for name in entries:
            run = args.out / f"{name}-s{seed}"
            rows.append((run.name, *run_status(run, plans[name], carried.get(run.name), ratios[name])))
    width = max(len(r[0]) for r in rows)
    print(f"{'run':<{width}}  {'state':<8}  {'seg / ev Type@AV':<16}  progress")
    for name, state, progress, figures in rows:
        print(f"{name:<{width}}  {state:<8}  {figures:<16}  {progress}".rstrip())
    counts = {s: sum(r[1] == s for r in rows) for s in ("done", "carried", "running", "stopped", "waiting")}
    print(", ".join(f"{v} {k}" for k, v in counts.items() if v) + f" of {len(rows)} runs")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=BENCH_DATA, help="SynthLLP full (generated there when missing)")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "claims_full", help="run folders (resumable)")
    p.add_argument("--record", type=Path, default=RECORD, help="the JSON record (default checkpoints/claims_full.json)")
    p.add_argument("--width", choices=("paper", "demo"), default="paper")
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    p.add_argument("--entries", nargs="+", metavar="NAME", help="only these zoo entries (default: every claim's)")
    p.add_argument("--jobs", type=int, default=1, help="training processes at a time")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per process (default: cores / jobs)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--epochs", type=int, default=None, help="override every stage's epochs (plumbing tests only)")
    p.add_argument("--no-carry", action="store_true",
                   help="train again the runs the existing record measured whose folders are not under --out")
    p.add_argument("--record-only", action="store_true",
                   help="train nothing: rewrite the record from the finished runs (after a change to the verdicts)")
    p.add_argument("--status", action="store_true",
                   help="train and write nothing: one line per planned run (done, running, stopped or waiting), "
                        "its epochs so far and the training time left at its recent pace")
    args = p.parse_args(argv)
    entries = args.entries or claim_entries()
    unknown = [n for n in entries if n not in ENTRIES]
    if unknown:
        print(f"error: unknown zoo entries {', '.join(unknown)}; choose from {', '.join(ENTRIES)}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    if not (args.data / "AVVP_train.csv").is_file():
        if args.status:  # it writes nothing, so it does not generate the data the first training would
            print(f"error: no SynthLLP data at {args.data} (the matrix generates it when it first trains)",
                  file=sys.stderr)
            return 2
        from avvp_core.data.synthetic import generate_and_cache

        print(f"generating SynthLLP full (seed 0) into {args.data}", flush=True)
        generate_and_cache(args.data, preset="full", seed=0)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    seeds = list(args.seeds)
    try:
        old = None if args.no_carry else previous_record(args, _setting(args, LLPDataset(args.data), seeds))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The record spans this invocation's entries and seeds and, merged in, those of the earlier record it carries from
    # (a subset run such as `--entries han --seeds 2` adds to the record instead of replacing it).
    record_entries, record_seeds = entries, seeds
    if old is not None:
        old_entries, old_seeds = _old_scope(old)
        record_entries = [n for n in ENTRIES if n in entries or n in old_entries]
        record_seeds = sorted(set(seeds) | set(old_seeds))
    todo, commands, seconds = [], {}, {}
    for seed in record_seeds:
        for name in record_entries:
            folder = args.out / f"{name}-s{seed}"
            commands[folder.name] = shlex.join(train_command(args, name, seed, folder))
    carried = carried_runs(args, old, commands)
    # Seed-major: a matrix stopped part-way (on 2 CPU cores it takes days) has one seed of every claim's pair before
    # it has a second seed of any, so the record judges as many claims as the time allowed.
    for seed in seeds:
        for name in entries:
            folder = args.out / f"{name}-s{seed}"
            if _complete(folder) is None and folder.name not in carried[0]:
                todo.append((folder, train_command(args, name, seed, folder)))
    if args.status:
        print_status(args, record_entries, record_seeds, carried[0])
        return 0
    if carried[0]:
        print(f"carried from {args.record}: {len(carried[0])} runs measured earlier ({', '.join(sorted(carried[0]))})",
              flush=True)
    if args.record_only:
        print(f"{len(entries)} entries x {len(args.seeds)} seeds: {len(todo)} runs not finished, none started "
              "(--record-only)", flush=True)
        todo = []
    else:
        print(f"{len(entries)} entries x {len(args.seeds)} seeds: {len(todo)} runs to go, {args.jobs} at a time, "
              f"{threads} threads each, device {args.device}", flush=True)
    failed = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(_run, cmd, folder, threads): folder for folder, cmd in todo}
        for future in as_completed(futures):
            folder = futures[future]
            rc, secs = future.result()
            seconds[folder.name] = secs
            if rc == 0:
                write_json(_wall_file(folder), {"seconds": round(secs, 1)})
            else:
                failed.append(folder.name)
            print(f"{folder.name}: {'done' if rc == 0 else f'FAILED (exit {rc}, see {folder}.log)'} in {secs:.0f} s",
                  flush=True)
            write_json(args.record, build_record(args, record_entries, record_seeds, args.out, commands, seconds,
                                                 carried))
    record = build_record(args, record_entries, record_seeds, args.out, commands, seconds, carried)
    write_json(args.record, record)
    print(claims.markdown(record["claims"]))
    print(f"record: {args.record} ({'complete' if record['complete'] else 'incomplete'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
