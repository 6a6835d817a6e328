"""The default benchmark (SynthLLP `mini`, seed 0), made in the background on first start: no Streamlit here.

The app must not wait for it: Home shows what ships (the demo videos, the zoo's cards) at once, and the pages that
need the data say so until it is there. So the generation runs in its own process (`python -m avvp_core.firststart
DATA`), which outlives reruns, page switches and the browser, and never competes with the server for the GIL.

- One generation at a time, across sessions and servers: the process holds an exclusive `flock` on
  `<data>/.<name>.lock` while it works. The kernel drops the lock when the process ends, killed or not, so a crash
  never leaves a stale lock; a second process that finds the lock taken exits at once.
- A partial folder is never used: everything (features and their consolidated cache) is written under
  `<data>/.<name>.staging` and renamed into place only when complete; a staging folder left by a killed process is
  deleted by the next generation.
- Progress is a small JSON file, `<data>/.<name>.progress.json` (atomic writes), that every session reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .checkpoint_schema import finite_number, read_json_object
from .fileio import write_json

PRESET, SEED = "mini", 0


def _side(data: Path, suffix: str) -> Path:
    return data.parent / f".{data.name}.{suffix}"


def lock_path(data: Path) -> Path:
    return _side(data, "lock")


def progress_path(data: Path) -> Path:
    return _side(data, "progress.json")


def staging_path(data: Path) -> Path:
    return _side(data, "staging")


def log_path(data: Path) -> Path:
    return _side(data, "log")


@dataclass(frozen=True)
class Status:
    state: str  # "ready", "running", "failed" or "missing" (absent, or written by another generator version)
    fraction: float = 0.0
    message: str = ""


def is_current(data: Path) -> bool:
    """The folder is complete (it appears by rename only when it is) and made by this generator version."""
    if not (data / "AVVP_train.csv").is_file():
        return False  # a fresh clone's first page: answered without importing the generator
    from .data.synthetic import default_data_outdated

    return default_data_outdated(data) is None


def _locked(data: Path) -> bool:
    """Whether some process holds the generation lock now (tested by trying to take it, and letting go)."""
    path = lock_path(data)
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _read_progress(data: Path) -> dict:
    try:
        return read_json_object(progress_path(data))
    except (OSError, ValueError):  # InputError (a ValueError) when absent or no JSON object
        return {}


def _fraction(record: dict) -> float:
    """The progress bar's value: every page reads the record while the generation runs, and a hand-edited or
    foreign value must not break them."""
    value = record.get("fraction")
    return min(max(float(value), 0.0), 1.0) if finite_number(value) else 0.0


def status(data: str | Path) -> Status:
    data = Path(data)
    if _locked(data):
        record = _read_progress(data)
        return Status("running", _fraction(record), str(record.get("message", "starting")))
    if is_current(data):
        return Status("ready", 1.0)
    record = _read_progress(data)
    if record.get("state") == "failed":
        return Status("failed", _fraction(record), str(record.get("message", "")))
    return Status("missing")


_spawned: dict[str, subprocess.Popen] = {}  # per data folder, in this server process


def start(data: str | Path, preset: str = PRESET, retry: bool = False) -> Status:
    """Start the background generation unless it runs or the data is ready; returns the status. Idempotent: a rerun
    or another session calling it while the process starts does not start a second one (and if two servers race,
    the second process finds the lock taken and exits). A failed generation is started again only with `retry`."""
    data = Path(data)
    now = status(data)
    if now.state in ("ready", "running") or (now.state == "failed" and not retry):
        return now
    proc = _spawned.get(str(data))
    if proc is not None and proc.poll() is None:  # started a moment ago, not holding the lock yet
        return Status("running", 0.0, "starting")
    data.parent.mkdir(parents=True, exist_ok=True)
    write_json(progress_path(data), {"state": "running", "fraction": 0.0, "message": "starting", "pid": None})
    with open(log_path(data), "ab") as log:
        _spawned[str(data)] = subprocess.Popen(
            [sys.executable, "-m", "avvp_core.firststart", str(data), "--preset", preset],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            cwd=Path(__file__).resolve().parents[1])
    return Status("running", 0.0, "starting")


def generate(data: Path, preset: str = PRESET, seed: int = SEED) -> int:
    """The background process: take the lock (or exit: another process generates), write into the staging folder,
    rename into place. Returns an exit status."""
    data.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(data), "a+") as fh:  # the lock lives as long as this file is open, or the process
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        return _generate_locked(data, preset, seed)


def _generate_locked(data: Path, preset: str, seed: int) -> int:
    from .data.synthetic import generate_and_cache
    from .errors import InputError

    if is_current(data):
        write_json(progress_path(data), {"state": "ready", "fraction": 1.0, "message": "ready"})
        return 0
    staging = staging_path(data)
    # what a killed generation left (the staging folder, the generator's own temporary folders beside it): never
    # used, never resumed
    for leftover in [staging, *staging.parent.glob(f".{staging.name}.*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.01 or fraction >= 1.0:
            last[0] = fraction
            write_json(progress_path(data), {"state": "running", "fraction": round(fraction, 4), "message": message,
                                             "pid": os.getpid()})

    t0 = time.monotonic()
    try:
        generate_and_cache(staging, preset=preset, seed=seed, progress=report)
        if data.exists():  # another generator version's folder: replaced whole, never mixed
            trash = _side(data, f"old-{os.getpid()}")
            os.replace(data, trash)
            os.replace(staging, data)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, data)
    except (InputError, OSError) as exc:
        write_json(progress_path(data), {"state": "failed", "fraction": last[0], "message": str(exc)})
        shutil.rmtree(staging, ignore_errors=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json(progress_path(data), {"state": "ready", "fraction": 1.0,
                                     "message": f"ready in {time.monotonic() - t0:.0f} s"})
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m avvp_core.firststart", description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--preset", default=PRESET)
    args = p.parse_args(argv)
    with contextlib.suppress(OSError):  # below the server: on 2 cores the first pages must not wait for the generation
        os.nice(10)
    return generate(Path(args.data), args.preset)


if __name__ == "__main__":
    raise SystemExit(main())
