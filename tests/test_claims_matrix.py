"""bench/claims_matrix.py's plumbing on SynthLLP tiny (demo width, one epoch, seconds): parallel train processes,
the record with per-seed figures, mean ± std, verdicts and commands, and the resume that starts nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import bench_main, bench_script

from avvp_core import claims

SCRIPT = str(Path(__file__).resolve().parents[1] / "bench" / "claims_matrix.py")
_MATRIX = bench_script("claims_matrix")


def _run_script(*args: str) -> subprocess.CompletedProcess:
    """The script as a user runs it (its trainings are subprocesses either way)."""
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=600)


def _run(*args: str) -> subprocess.CompletedProcess:
    """The script's main() in this process (the record-only calls below train nothing)."""
    return bench_main(_MATRIX, *args)


def test_trains_the_pairs_in_parallel_writes_the_record_and_resumes(tiny_data, tmp_path):
    out, record = tmp_path / "runs", tmp_path / "claims_full.json"
    common = ("--data", str(tiny_data), "--width", "demo", "--epochs", "1", "--entries", "han", "mgn",
              "--seeds", "1", "2", "--out", str(out), "--record", str(record))
    proc = _run_script(*common, "--jobs", "2", "--threads", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 runs to go, 2 at a time" in proc.stdout
    saved = json.loads(record.read_text())
    assert claims.read_full(record) == saved and saved["complete"]
    assert saved["setting"]["seeds"] == [1, 2] and saved["setting"]["width"] == "demo"
    han = saved["entries"]["han"]
    assert set(han["seeds"]) == {"1", "2"} and han["seeds"]["1"]["test"] != han["seeds"]["2"]["test"]
    for key, mean in han["mean"].items():  # mean and std of the two seeds' figures
        a, b = (han["seeds"][s]["test"][key] for s in ("1", "2"))
        assert abs(mean - (a + b) / 2) < 1e-3 and abs(han["std"][key] - abs(a - b) / 2 ** 0.5) < 1e-3
    assert "--budget llp_steps" in han["commands"]["1"] and "--seed 1" in han["commands"]["1"]
    rows = {r["claim"]: r for r in saved["claims"]}
    mgn = rows["MGN beats HAN"]
    assert mgn["verdict"] in claims.RISE_VERDICTS
    assert "±" in mgn["measured"] and "seeds" in mgn["measured"]
    assert rows["CM-PIE beats HAN"]["verdict"] == "not measured"  # not in this matrix
    assert saved["rule"] == claims.VERDICT_RULE
    assert (out / "han-s1" / "metrics.json").is_file() and (out / "han-s1.log").is_file()

    assert set(saved["run_seconds"]) == {"han-s1", "han-s2", "mgn-s1", "mgn-s2"}

    again = _run(*common, "--jobs", "2")  # everything finished: nothing is started again
    assert again.returncode == 0 and "0 runs to go" in again.stdout
    rebuilt = json.loads(record.read_text())
    assert rebuilt["entries"]["han"]["mean"] == han["mean"]
    # a later session's record keeps every run's wall seconds (they sit beside the run folders), not only its own
    assert rebuilt["run_seconds"] == saved["run_seconds"]

    # --record-only trains nothing, even with a run missing, and rewrites the record from what finished
    for path in (out / "mgn-s2" / "metrics.json", out / "mgn-s2.wall.json"):
        path.unlink()
    only = _run(*common, "--record-only")
    assert only.returncode == 0 and "1 runs not finished, none started" in only.stdout, only.stdout + only.stderr
    partial = json.loads(record.read_text())
    assert not partial["complete"] and set(partial["entries"]["mgn"]["seeds"]) == {"1"}
    assert "mgn-s2" not in partial["run_seconds"] and not (out / "mgn-s2" / "metrics.json").exists()
    assert partial["carried"] == []  # every measured run's folder is here

    # run folders gone (a fresh checkout, a wiped scratch space): the record's runs are carried, not trained again
    out.rename(tmp_path / "elsewhere")
    carried = _run(*common, "--record-only")
    assert carried.returncode == 0, carried.stdout + carried.stderr
    assert "3 runs measured earlier" in carried.stdout and "1 runs not finished" in carried.stdout
    kept = json.loads(record.read_text())
    assert kept["carried"] == ["han-s1", "han-s2", "mgn-s1"] and kept["entries"]["han"]["mean"] == han["mean"]
    assert kept["run_seconds"] == {k: v for k, v in saved["run_seconds"].items() if k != "mgn-s2"}
    assert kept["claims"] == partial["claims"]

    # what is not carried: a run whose figure is not a finite number
    kept["entries"]["han"]["seeds"]["1"]["test"]["segment/type"] = float("nan")
    record.write_text(json.dumps(kept))
    damaged = _run(*common, "--record-only")
    assert "2 runs measured earlier" in damaged.stdout and "2 runs not finished" in damaged.stdout
    assert "not carried, trained again:" in damaged.stdout and "(han-s1): figure test/segment/type" in damaged.stdout
    assert json.loads(record.read_text())["carried"] == ["han-s2", "mgn-s1"]

    # a subset adds to the record instead of replacing it (its scope is merged with the earlier record's)
    subset = ("--data", str(tiny_data), "--width", "demo", "--epochs", "1", "--out", str(out), "--record", str(record))
    merged = _run(*subset, "--entries", "han", "--seeds", "1", "--record-only")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    rec = json.loads(record.read_text())
    assert set(rec["entries"]) == {"han", "mgn"} and rec["setting"]["seeds"] == [1, 2]
    assert rec["carried"] == ["han-s2", "mgn-s1"] and "--entries han mgn --seeds 1 2" in rec["matrix_command"]

    # a record of another setting is not written over (that would lose it) unless --no-carry says so
    other = json.loads(record.read_text())
    other["setting"]["fingerprint"] = "0" * 16
    record.write_text(json.dumps(other))
    refused = _run(*common, "--record-only")
    assert refused.returncode == 2 and "a record of another setting (fingerprint differ)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and json.loads(record.read_text()) == other
    replaced = _run(*common, "--record-only", "--no-carry")
    assert replaced.returncode == 0 and "4 runs not finished" in replaced.stdout
    assert json.loads(record.read_text())["carried"] == []
    record.write_text("{not json")
    assert "not valid JSON" in _run(*common, "--record-only").stderr


def test_refuses_unknown_entries(tmp_path):
    proc = _run("--entries", "nope", "--data", str(tmp_path))
    assert proc.returncode == 2 and "unknown zoo entries nope" in proc.stderr


def test_capc_adopts_the_same_seeds_finished_mmt_run(tiny_data, tmp_path):
    out, record = tmp_path / "runs", tmp_path / "claims_full.json"
    common = ("--data", str(tiny_data), "--width", "demo", "--epochs", "1", "--seeds", "1", "--out", str(out),
              "--record", str(record), "--threads", "1")
    assert _run(*common, "--entries", "mmt").returncode == 0
    proc = _run(*common, "--entries", "mmt", "mmt-capc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 runs to go" in proc.stdout  # MMT finished: only the CAPC run, whose stage 1 it is
    command = json.loads(record.read_text())["entries"]["mmt-capc"]["commands"]["1"]
    assert f"--base-from {out / 'mmt-s1'}" in command
    base = json.loads((out / "mmt-capc-s1" / "stages" / "base" / "metrics.json").read_text())
    assert base["adopted_from"]["name"] == "mmt-s1"
    assert base["test"] == json.loads((out / "mmt-s1" / "metrics.json").read_text())["test"]

    # --status reads the folders and trains and writes nothing: done, stopped, running (lock held) and waiting runs
    status_args = (*common, "--entries", "mmt", "mmt-capc", "mgn", "--status")
    before = record.read_text()
    lines = {line.split()[0]: line for line in _run(*status_args).stdout.splitlines()}
    assert lines["mmt-s1"].split()[1] == "done" and "selected epoch 1" in lines["mmt-s1"]
    assert lines["mgn-s1"].split()[1] == "waiting" and not (out / "mgn-s1").exists()
    (out / "mmt-capc-s1" / "metrics.json").unlink()  # its last stage as if interrupted after its one epoch
    stopped = {line.split()[0]: line for line in _run(*status_args).stdout.splitlines()}["mmt-capc-s1"]
    assert stopped.split()[1] == "stopped" and "base done (adopted from mmt-s1); final epoch 1 of 1" in stopped
    assert "0 min of training left" in stopped
    from avvp_core.training.loop import folder_lock

    with folder_lock(out / "mmt-capc-s1"):  # a training holds the folder
        status = _run(*status_args).stdout
    running = {line.split()[0]: line for line in status.splitlines()}["mmt-capc-s1"]
    assert running.split()[1] == "running" and f"(pid {os.getpid()})" in running
    assert "1 done, 1 running, 1 waiting of 3 runs" in status and record.read_text() == before
    with folder_lock(out / "mmt-capc-s1" / "stages" / "base"):  # a first stage trains in its own folder
        status = _run(*status_args).stdout
    running = {line.split()[0]: line for line in status.splitlines()}["mmt-capc-s1"]
    assert running.split()[1] == "running" and f"(pid {os.getpid()})" in running
    missing = _run("--data", str(tmp_path / "no-data"), "--status")  # nothing generated for a look
    assert missing.returncode == 2 and "no SynthLLP data at" in missing.stderr and not (tmp_path / "no-data").exists()


def test_the_pace_behind_the_time_left_is_not_inflated_by_one_paused_epoch():
    pace = _MATRIX.recent_epoch_seconds
    assert pace([709.0]) == 709.0
    assert pace([709.0, 151.0]) == 151.0  # the first epoch spanned a pause: the shorter of two
    assert pace([100.0, 2000.0, 98.0, 102.0, 97.0]) == 98.0  # the median of the last three
    assert pace([90.0, 1900.0, 95.0]) == 95.0


def _log(folder: Path, epoch_seconds: list[float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    total, rows = 0.0, []
    for i, s in enumerate(epoch_seconds, 1):
        total += s
        rows.append(json.dumps({"epoch": i, "seconds": total}))
    (folder / "log.jsonl").write_text("\n".join(rows) + "\n")


def test_the_time_left_counts_a_costlier_later_stage_at_its_measured_cost(tmp_path):
    plan = [{"stage": "base", "epochs": 10, "steps_per_epoch": 10},
            {"stage": "final", "epochs": 10, "steps_per_epoch": 10}]
    # a finished CAPC run of another model: its final stage took three times its base's time per step
    _log(tmp_path / "mmt-capc-s1" / "stages" / "base", [100.0] * 10)
    _log(tmp_path / "mmt-capc-s1", [300.0] * 10)
    _log(tmp_path / "mmt-capc-s2" / "stages" / "base", [100.0] * 2)  # too few epochs to count
    ratios = _MATRIX.stage_cost_ratios(tmp_path, "capc", plan)
    assert ratios == {"final": 3.0}
    assert _MATRIX.stage_cost_ratios(tmp_path, "ma", plan) == {}  # no run of that recipe
    # MMT No MSG + CAPC, 4 base epochs at 120 s: 6 base epochs and 10 final ones left
    run = tmp_path / "mmt-nomsg-capc-s1"
    _log(run / "stages" / "base", [120.0] * 4)
    (run / "stages" / "base" / "config.json").write_text(json.dumps({"train": {"epochs": 10}}))
    state, progress, _ = _MATRIX.run_status(run, plan, None, ratios)
    assert state == "stopped" and "base epoch 4 of 10 (last epochs 2 min each)" in progress
    assert "about 72 min of training left" in progress and "final x3.0" in progress  # 6 x 2 + 10 x 6 min
    assert "about 32 min of training left" in _MATRIX.run_status(run, plan, None)[1]  # at the base stage's pace
