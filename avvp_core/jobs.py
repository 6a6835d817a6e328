"""Background trainings: each job is a detached `python -m avvp_core train ...` process writing into its own run
folder under RUNS_DIR, with a small JSON record (job.json) and its console output (job.log) beside the checkpoint.

A job outlives the page and the browser (own session, no terminal): its state is read back from the folder alone —
pid liveness, metrics.json ("complete": true) and the record's "cancelled" flag give running / finished / failed /
cancelled. Cancel sends SIGTERM to the job's process group; the trainer's train_state.pt (written after every epoch)
survives, so resume simply starts the same command again into the same folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths
from .errors import InputError
from .fileio import write_json

JOB_FILE, JOB_LOG = "job.json", "job.log"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
STATUSES = ("running", "finished", "failed", "cancelled")
_CHILDREN: dict[int, subprocess.Popen] = {}  # processes started by this process: polled, so none stays a zombie


@dataclass
class Job:
    """A run folder's job as seen now: its record, status and how far training got."""

    folder: Path
    record: dict[str, Any]
    status: str  # one of STATUSES
    epochs_done: int
    epochs_total: int | None
    message: str = ""  # why it failed (the last error line of job.log), empty otherwise
    alive: bool = False  # its process still exists (a finished job's may be writing its last files)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def running(self) -> bool:
        return self.status == "running"

    def summary(self) -> dict[str, Any]:
        """One table row for the job list."""
        r = self.record
        total = f"/{self.epochs_total}" if self.epochs_total else ""
        return {"job": self.name, "model": r.get("model"), "recipe": r.get("recipe"), "width": r.get("width"),
                "status": self.status, "epoch": f"{self.epochs_done}{total}",
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.get("started", 0))),
                "data": Path(r.get("data", "")).name}


# --- names and folders -------------------------------------------------------------------------------------------
def runs_root(runs_dir: str | Path | None = None) -> Path:
    return Path(runs_dir) if runs_dir is not None else Path(paths.RUNS_DIR)  # read at call time (tests patch it)


def run_folder(name: str, runs_dir: str | Path | None = None) -> Path:
    """The folder of job `name`: always a direct child of the runs folder (no separators, no '..')."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name) or ".." in name:
        raise InputError(f"run name {name!r}: use letters, digits, '-', '_' or '.' (at most 64 characters)")
    return runs_root(runs_dir) / name


def default_name(model: str, recipe: str, width: str, seed: int | None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{model}-{recipe}-{width}" + (f"-s{seed}" if seed is not None else "") + f"-{stamp}"


# --- reading logs ------------------------------------------------------------------------------------------------
def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file being written: a missing file is empty, a cut or garbled line is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def progress(folder: str | Path) -> dict[str, Any]:
    """What a run has written so far: per-epoch rows (log.jsonl), per-step rows (steps.jsonl, e.g. DGM's omega and
    mu), and the per-epoch rows of the intermediate stages of multi-stage recipes (stages/<stage>/log.jsonl)."""
    folder = Path(folder)
    stages = {}
    if (folder / "stages").is_dir():
        for sub in sorted((folder / "stages").iterdir(), key=lambda p: p.stat().st_mtime):
            if sub.is_dir():
                stages[sub.name] = read_jsonl(sub / "log.jsonl")
    return {"epochs": read_jsonl(folder / "log.jsonl"), "steps": read_jsonl(folder / "steps.jsonl"), "stages": stages}


def log_tail(folder: str | Path, lines: int = 20) -> str:
    path = Path(folder) / JOB_LOG
    if not path.is_file():
        return ""
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 16384))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def parse_options(text: str) -> dict[str, Any]:
    """KEY=VALUE pairs, one per line or comma-separated, as the CLI's --set / --train-set read them (values are
    Python literals when they parse as one: 16, 0.5, True, 'x'; plain strings otherwise)."""
    from .cli import _kv

    return _kv([item.strip() for line in (text or "").splitlines() for item in line.split(",") if item.strip()])


# --- processes ---------------------------------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks) of a live pid from /proc, None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[0], fields[19]


def _start_token(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def _alive(pid: int | None, start: str | None) -> bool:
    """Is the job's process still running? Reaps it when it is our own finished child; a pid reused by another
    process (different start time) counts as dead."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _CHILDREN.pop(pid, None)
        return False
    try:  # our child from an earlier import of this module (e.g. a reloaded app): reap it if it has exited
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except (ChildProcessError, OSError):
        pass
    if not Path("/proc").is_dir():  # pragma: no cover - non-Linux fallback
        try:
            os.kill(pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return start is None or stat[1] == start


def _launch(folder: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Start the record's command detached (own session, output to job.log) and return the updated record."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(paths.REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    if record.get("threads"):
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(record["threads"])
    with open(folder / JOB_LOG, "ab") as log:
        log.write(f"\n$ {' '.join(record['argv'])}\n".encode())
        log.flush()
        proc = subprocess.Popen([sys.executable, *record["argv"]], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=paths.REPO_ROOT, env=env, start_new_session=True,
                                close_fds=True)
    _CHILDREN[proc.pid] = proc
    now = time.time()
    record = {**record, "pid": proc.pid, "pid_start": _start_token(proc.pid), "cancelled": False,
              "attempts": [*record.get("attempts", []), now], "last_start": now}
    record.setdefault("started", now)
    write_json(folder / JOB_FILE, record)
    return record


# --- the job API -------------------------------------------------------------------------------------------------
def validate(model: str, recipe: str, width: str, model_options: dict[str, Any],
             train_options: dict[str, Any]) -> int | None:
    """Refuse a bad configuration before anything starts (same checks as the trainer). Returns the epochs the final
    stage will train, as far as it is known up front (None for multi-stage recipes that set their own)."""
    from .models import model_info, resolve_config
    from .training.loop import TrainConfig
    from .training.recipes import RECIPES

    if recipe not in RECIPES:
        raise InputError(f"unknown recipe {recipe!r}; choose one of {', '.join(sorted(RECIPES))}")
    resolve_config(model, width, **model_options)
    cfg = TrainConfig.from_dict({**model_info(model).train, **train_options})
    return cfg.epochs if (recipe in ("plain", "dgm") or "epochs" in train_options) else None


def start(data: str | Path, model: str, recipe: str = "plain", width: str = "demo", name: str | None = None, *,
          epochs: int | None = None, batch_size: int | None = None, lr: float | None = None, seed: int | None = None,
          model_options: dict[str, Any] | None = None, train_options: dict[str, Any] | None = None,
          threads: int | None = None, runs_dir: str | Path | None = None, llp_steps: bool = False,
          budget: str | None = None) -> Job:
    """Start training `model` with `recipe` on the data folder `data` in the background, into RUNS_DIR/<name>.

    `model_options` are the model's build options (the CLI's --set), `train_options` TrainConfig values (--train-set);
    epochs, batch_size, lr and seed, when given, override both. Raises InputError for a bad name, a folder that
    already exists, a missing data folder or options the model or trainer would refuse. `budget` sizes the recipe's
    schedule (the CLI's --budget; `llp_steps=True` is budget "llp_steps": LLP's optimiser steps in every phase, a
    no-op on LLP itself)."""
    budget = budget or ("llp_steps" if llp_steps else None)
    data = Path(data).expanduser().resolve()
    if not (data / "AVVP_train.csv").is_file():
        raise InputError("not an LLP / SynthLLP data folder (no AVVP_train.csv)", data)
    model_options, train_options = dict(model_options or {}), dict(train_options or {})
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr), ("seed", seed)):
        if value is not None:
            train_options[key] = value
    total = validate(model, recipe, width, model_options, train_options)
    if budget not in (None, "epochs") and "epochs" not in train_options:
        total = None  # sized for the data when training starts; its config.json says it then
    name = default_name(model, recipe, width, train_options.get("seed")) if name is None else name
    folder = run_folder(name, runs_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()  # atomic: of two starts with one name, only one gets the folder
    except FileExistsError:
        raise InputError(f"run {name!r} already exists", folder, "choose another name, or resume it") from None
    argv = ["-m", "avvp_core", "train", "--data", str(data), "--model", model, "--recipe", recipe, "--width", width,
            "--out", str(folder)] + (["--budget", budget] if budget else [])
    argv += [x for k, v in model_options.items() for x in ("--set", f"{k}={v!r}")]
    argv += [x for k, v in train_options.items() for x in ("--train-set", f"{k}={v!r}")]
    record = {"name": name, "data": str(data), "model": model, "recipe": recipe, "width": width,
              "model_options": model_options, "train_options": train_options, "epochs": total, "threads": threads,
              "argv": argv}
    return _job(folder, _launch(folder, record))


def _job(folder: Path, record: dict[str, Any]) -> Job:
    metrics = _read_json(folder / "metrics.json")
    epochs = read_jsonl(folder / "log.jsonl")
    config = _read_json(folder / "config.json")
    total = (config.get("train") or {}).get("epochs") or record.get("epochs")
    message = ""
    alive = _alive(record.get("pid"), record.get("pid_start"))
    if metrics.get("complete"):
        status = "finished"
    elif alive:
        status = "running"
    elif record.get("cancelled"):
        status = "cancelled"
    else:
        status = "failed"
        tail = log_tail(folder, 40).splitlines()
        errors = [x for x in tail if x.startswith("error:") or "Error" in x.split(":")[0]]
        message = (errors or tail or ["the process ended without finishing (no output)"])[-1]
    done = max((int(r.get("epoch", 0)) for r in epochs), default=0)
    return Job(folder, record, status, done, int(total) if total else None, message, alive)


def get(name: str, runs_dir: str | Path | None = None) -> Job:
    folder = run_folder(name, runs_dir)
    record = _read_json(folder / JOB_FILE)
    if not record:
        raise InputError(f"no job named {name!r}", folder)
    return _job(folder, record)


def list_jobs(runs_dir: str | Path | None = None) -> list[Job]:
    """Every job under the runs folder (folders with a job.json), newest first."""
    root = runs_root(runs_dir)
    if not root.is_dir():
        return []
    jobs = [_job(rec.parent, record) for rec in root.glob(f"*/{JOB_FILE}") if (record := _read_json(rec))]
    return sorted(jobs, key=lambda j: j.record.get("last_start", 0), reverse=True)


def cancel(name: str, runs_dir: str | Path | None = None, wait_s: float = 10.0) -> Job:
    """SIGTERM to the job's process group; the folder keeps the last finished epoch's state for `resume`."""
    job = get(name, runs_dir)
    if not job.running:
        raise InputError(f"job {name!r} is {job.status}, not running")
    write_json(job.folder / JOB_FILE, {**job.record, "cancelled": True})
    pid = job.record["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and _alive(pid, job.record.get("pid_start")):
        time.sleep(0.05)
    return get(name, runs_dir)


def resume(name: str, runs_dir: str | Path | None = None) -> Job:
    """Start a cancelled or failed job again with the same command: the trainer continues after its last epoch."""
    job = get(name, runs_dir)
    if job.status in ("running", "finished"):
        raise InputError(f"job {name!r} is {job.status}; only cancelled or failed jobs resume")
    lock = job.folder / ".lock"  # left by the killed trainer: free it if it names the job's own (dead) process
    if lock.is_file() and lock.read_text().strip() == str(job.record.get("pid")):
        lock.unlink(missing_ok=True)
    return _job(job.folder, _launch(job.folder, job.record))


def wait(name: str, timeout: float = 120.0, runs_dir: str | Path | None = None, poll: float = 0.2) -> Job:
    """Block until the job's process has ended (or `timeout` seconds pass); returns its state then."""
    deadline = time.monotonic() + timeout
    job = get(name, runs_dir)
    while (job.running or job.alive) and time.monotonic() < deadline:
        time.sleep(poll)
        job = get(name, runs_dir)
    return job


__all__ = ["JOB_FILE", "JOB_LOG", "Job", "cancel", "get", "list_jobs", "log_tail", "parse_options", "progress",
           "read_jsonl", "resume", "run_folder", "start", "validate", "wait"]
