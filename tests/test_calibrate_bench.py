"""bench/calibrate_han.py, the record of issue 9's calibration: the whole script on SynthLLP `tiny` (one epoch at demo
width, seconds), its --merge table, a refinement recipe's table and gain over HAN (--baseline), and its refusals: a
reused run folder or a baseline trained on other data, one table of two recipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from avvp_core.data.synthetic import generate
from tests.conftest import bench_main, bench_script

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPT = str(BENCH / "calibrate_han.py")


def _run_script(*args: str) -> subprocess.CompletedProcess:
    """The script as a user runs it."""
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300)


def _run(*args: str) -> subprocess.CompletedProcess:
    """The script's main() in this process: the merges and refusals after the first run train nothing."""
    return bench_main(bench_script("calibrate_han"), *args)


def test_trains_scores_and_merges_then_refuses_a_run_on_other_data(tiny_data, tmp_path):
    out, record = tmp_path / "runs", tmp_path / "seed1.json"
    proc = _run_script("--data", str(tiny_data), "--width", "demo", "--seeds", "1", "--epochs", "1", "--out", str(out),
                "--json", str(record))
    assert proc.returncode == 0, proc.stderr
    assert "real LLP HAN" in proc.stdout and "segment/type" in proc.stdout and "54.0" in proc.stdout
    assert "calibration band" in proc.stdout and "single- / multi-modality events" in proc.stdout
    saved = json.loads(record.read_text())
    run = saved["runs"][0]
    assert saved["seeds"] == [1] and 0 <= run["segment/type"] <= 100 and 0 <= run["single"] <= 100
    assert (out / "han-plain-demo-s1" / "metrics.json").is_file()
    card = json.loads((out / "han-plain-demo-s1" / "config.json").read_text())
    assert saved["args"]["budget"] == card["train"]["budget"] == "llp_steps"  # the rule mini is calibrated under

    merged = _run("--merge", str(record), str(record))  # two copies of one run: spread 0
    assert merged.returncode == 0, merged.stderr
    assert "2 runs, seeds [1, 1]" in merged.stdout
    type_row = next(line for line in merged.stdout.splitlines() if line.startswith("segment/type"))
    assert type_row.split()[3] == "0.00" and f"{run['segment/type']:.2f}" in type_row

    # a refinement recipe's saved runs print beside its own published row, with their gain over plain HAN
    ma_record = tmp_path / "ma.json"
    ma_saved = {**saved, "args": {**saved["args"], "recipe": "ma"},
                "runs": [{**run, "segment/type": run["segment/type"] + 1.25, "event/type": run["event/type"] - 0.5}]}
    ma_record.write_text(json.dumps(ma_saved))
    ma = _run("--merge", str(ma_record), "--baseline", str(record))
    assert ma.returncode == 0, ma.stderr
    assert "real LLP HAN+MA" in ma.stdout and "58.9" in ma.stdout and "calibration band" not in ma.stdout
    assert "gain over HAN (Type@AV, segment / event): +1.25 / -0.50 (s1 +1.25 / -0.50); real LLP +4.9 / +5.3; " \
           "above HAN in every seed at both levels: False" in ma.stdout
    mixed = _run("--merge", str(ma_record), str(record))
    assert mixed.returncode != 0 and "different recipes" in mixed.stderr

    other = generate(tmp_path / "other", preset="tiny", seed=5)  # same layout, other videos
    refused = _run("--data", str(other), "--width", "demo", "--seeds", "1", "--epochs", "1", "--out", str(out))
    assert refused.returncode != 0
    assert "han-plain-demo-s1" in refused.stderr and "trained on data" in refused.stderr
    wrong_baseline = _run("--data", str(other), "--width", "demo", "--recipe", "ma", "--seeds", "1",
                          "--baseline", str(record), "--out", str(tmp_path / "unused"))
    assert wrong_baseline.returncode != 0
    assert "seed1.json" in wrong_baseline.stderr and "other data" in wrong_baseline.stderr
