"""Scale paths: the column-wise annotation readers agree with the row-by-row rules they replace, and
bench/bench_scale.py's code paths run end to end at a tiny size (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avvp_core.constants import CLASSES, NUM_CLASSES, NUM_SEGMENTS
from avvp_core.data.annotations import _read_table, dense_truth, read_eval_csv
from tests.conftest import bench_main, bench_script

REPO = Path(__file__).resolve().parents[1]


def _loop_truth(filenames, rows):
    """The official construction, one row at a time (the form dense_truth had before it went column-wise)."""
    index = {name: i for i, name in enumerate(filenames)}
    truth = np.zeros((len(filenames), NUM_SEGMENTS, NUM_CLASSES), dtype=np.uint8)
    seen, dup, empty, unmatched = set(), 0, 0, {}
    for filename, on, off, cls in rows.tolist():
        dup += (filename, on, off, cls) in seen
        seen.add((filename, on, off, cls))
        if filename not in index:
            unmatched[filename] = None
            continue
        if on >= off:
            empty += 1
            continue
        truth[index[filename], on:off, cls] = 1
    return truth, dup, empty, list(unmatched)


@pytest.mark.parametrize("seed", range(5))
def test_dense_truth_matches_the_row_loop(seed):
    rng = np.random.default_rng(seed)
    filenames = [f"vid{i:08d}_0_10" for i in range(40)]
    pool = filenames + [f"zzz{i:08d}_0_10" for i in range(5)]  # some rows name no video
    n = 300
    rows = np.zeros(n, dtype=[("filename", object), ("onset", np.int64), ("offset", np.int64), ("cls", np.int64)])
    rows["filename"] = [pool[i] for i in rng.integers(0, len(pool), n)]
    rows["onset"], rows["offset"] = rng.integers(0, 11, n), rng.integers(0, 11, n)  # onset >= offset included
    rows["cls"] = rng.integers(0, NUM_CLASSES, n)
    rows[-20:] = rows[:20]  # duplicates
    truth, report = dense_truth(filenames, rows)
    want, dup, empty, unmatched = _loop_truth(filenames, rows)
    np.testing.assert_array_equal(truth, want)
    assert (report.duplicate_rows, report.empty_rows, report.unmatched_names) == (dup, empty, unmatched)
    assert report.unmatched_rows == sum(f not in set(filenames) for f in rows["filename"])


def test_untidy_tables_take_the_careful_path(tmp_path):
    """Blank lines, spaces around cells and odd whitespace read exactly as the row-by-row reader strips them."""
    header = "filename\tonset\toffset\tevent_labels\n"
    tidy = f"a_0_10\t1\t3\t{CLASSES[0]}\nb_0_10\t0\t10\t{CLASSES[1]}\n"
    untidy = f" a_0_10\t1 \t3\t{CLASSES[0]}\n\n  \nb_0_10\t0\t10\t{CLASSES[1]}\u00a0\n"
    for name, body in (("tidy.csv", tidy), ("untidy.csv", untidy)):
        (tmp_path / name).write_text(header + body)
    cols = ("filename", "onset", "offset", "event_labels")
    assert _read_table(tmp_path / "tidy.csv", cols) == _read_table(tmp_path / "untidy.csv", cols)
    a, b = read_eval_csv(tmp_path / "tidy.csv"), read_eval_csv(tmp_path / "untidy.csv")
    assert a.tolist() == b.tolist() == [("a_0_10", 1, 3, 0), ("b_0_10", 0, 10, 1)]


@pytest.mark.parametrize("bad, message", [("x\t1\t3\tDog,Cat", "exactly one class"), ("x\t1\t12\tDog", "outside 0..10"),
                                          ("x\tone\t3\tDog", "not whole seconds"), ("x\t1\t3\tDogs", "unknown class")])
def test_bad_rows_still_name_their_line(tmp_path, bad, message):
    from avvp_core.errors import InputError

    path = tmp_path / "eval.csv"
    path.write_text("filename\tonset\toffset\tevent_labels\n" + "y\t0\t1\tDog\n" * 3 + bad + "\n")
    with pytest.raises(InputError, match=message) as info:
        read_eval_csv(path)
    assert "line 5" in str(info.value)


def test_bench_scale_smoke(tmp_path):
    """Every step of the scale benchmark at one tiny size, and its growth verdict between two sizes: the code paths
    run, the JSON holds every figure (each step is a subprocess: a few seconds of start-up)."""
    def bench(json_name: str, *argv: str) -> tuple[subprocess.CompletedProcess, dict]:
        out = tmp_path / json_name
        proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench_scale.py"), *argv, "--repeats", "1",
                               "--work", str(tmp_path / "w"), "--json", str(out)],
                              capture_output=True, text=True, cwd=REPO, timeout=600)
        assert out.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc, json.loads(out.read_text())

    proc, results = bench("every-step.json", "--sizes", "20")
    assert results["machine"]
    steps = results["results"]["20"]
    errors = {k: v["error"] for k, v in steps.items() if "error" in v}
    assert not errors, errors
    assert {"score", "loop", "stats", "cache", "predict", "evaluate", "compare", "errors", "timelines",
            "features", "thresholds", "thresholds_tune"} <= set(steps)
    assert all(v["per_video_ms"] > 0 for v in steps.values())
    # the verdict is about timings only, which a tiny run cannot judge; exit status follows the failures listed
    assert (proc.returncode != 0) == bool(results["failures"]), proc.stdout[-2000:] + proc.stderr[-2000:]
    # Two sizes on the cheapest step, main() in this process (its `score` commands are still subprocesses): the
    # growth column and verdict are reached
    scale = bench_script("bench_scale")
    proc = bench_main(scale, "--sizes", "20", "40", "--only", "score", "--repeats", "1", "--work", tmp_path / "w2",
                      "--json", tmp_path / "growth.json")
    results = json.loads((tmp_path / "growth.json").read_text())
    assert set(results["results"]) == {"20", "40"} and "growth" in results["results"]["40"]["score"]
    assert (proc.returncode != 0) == bool(results["failures"]), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "growth" in proc.stdout
    # The verdict itself (a pure function of the per-size figures), on the first run's figures as the smaller size and
    # a larger one where one step's per-video cost doubles: only that step fails, by name, and the rest get a growth.
    verdicts = scale.verdicts
    larger = {step: {**figures, "per_video_ms": figures["per_video_ms"] * (2.0 if step == "predict" else 1.0)}
              for step, figures in steps.items()}
    sized = {20: steps, 40: larger}
    failures = verdicts(sized)
    assert len(failures) == 1 and failures[0].startswith("predict: per-video cost grows 2.00x from 20 to 40")
    assert sized[40]["score"]["growth"] == 1.0
    assert verdicts({20: steps, 40: {**larger, "score": {"error": "boom"}}})[0] == "score at 40: boom"


def test_weak_labels_fast_and_careful_paths_agree(tmp_path):
    from avvp_core.data.annotations import read_weak_csv
    from avvp_core.errors import InputError

    header = "filename\tevent_labels\n"
    (tmp_path / "tidy.csv").write_text(header + f"aaaaaaaaaaa_0_10\t{CLASSES[0]},{CLASSES[3]}\nbbbbbbbbbbb_5_15\t"
                                       f"{CLASSES[3]},{CLASSES[3]}\n")
    (tmp_path / "spaced.csv").write_text(header + f"aaaaaaaaaaa_0_10\t{CLASSES[0]}, {CLASSES[3]}\nbbbbbbbbbbb_5_15\t"
                                         f"{CLASSES[3]}\n")
    a, b = read_weak_csv(tmp_path / "tidy.csv"), read_weak_csv(tmp_path / "spaced.csv")
    assert a[0] == b[0] and (a[1] == b[1]).all() and a[1].sum() == 3
    (tmp_path / "dup.csv").write_text(header + "aaaaaaaaaaa_0_10\tDog\naaaaaaaaaaa_9_19\tCat\n")
    with pytest.raises(InputError, match="line 3: video id 'aaaaaaaaaaa' already on line 2"):
        read_weak_csv(tmp_path / "dup.csv")


def test_checkpoint_scan_skips_data_and_hidden_folders_and_its_stamp_follows_the_cards(tmp_path):
    import shutil

    from avvp_core.checkpoints import checkpoint_problems, list_checkpoints, scan_stamp

    shipped = REPO / "checkpoints" / "han"
    shutil.copytree(shipped, tmp_path / "runs" / "han", ignore=shutil.ignore_patterns("model.pt"))
    data = tmp_path / "runs" / "some-data"
    (data / "feats" / "deep").mkdir(parents=True)
    (data / "AVVP_train.csv").write_text("filename\tevent_labels\n")
    (data / "feats" / "deep" / "config.json").write_text("{}")  # inside a dataset: never a checkpoint
    (tmp_path / "runs" / ".cache").mkdir()
    (tmp_path / "runs" / ".cache" / "config.json").write_text("{}")
    root = tmp_path / "runs"
    assert [c.path.name for c in list_checkpoints(root)] == ["han"] and checkpoint_problems(root) == []
    before = scan_stamp(root)
    assert before == scan_stamp(root) and len(before) == 4  # config, metrics, log and step log of the one card
    metrics = root / "han" / "metrics.json"
    metrics.write_text(metrics.read_text() + " ")
    assert scan_stamp(root) != before  # a changed card invalidates the cached scan


def test_bench_training_compares_the_two_adams_in_one_run(tmp_path):
    """bench_training --adam both: each model trained with torch's loop and with fused Adam (as training builds it),
    and the ratio of their steps in the fused row."""
    out = tmp_path / "training.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench_training.py"), "--models", "han", "--width",
                           "demo", "--frames", "10", "--threads", "1", "--seconds", "0", "--min-steps", "1",
                           "--adam", "both", "--probe-repeats", "1", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [(r["model"], r["adam"]) for r in rows] == [("han", "loop"), ("han", "fused")]
    assert rows[1]["loop_over_fused"] == rows[0]["step_ms"] / rows[1]["step_ms"] > 0
    assert "fused Adam:" in proc.stdout


def test_training_uses_fused_adam_and_a_resumed_loop_state_keeps_the_loop():
    import torch

    from avvp_core.training.loop import TrainConfig, make_optimizer

    model = torch.nn.Linear(3, 2)
    cfg = TrainConfig()
    fused = make_optimizer(model, cfg, torch.device("cpu"))
    assert fused.param_groups[0]["fused"] is True
    loop = make_optimizer(model, cfg, torch.device("cpu"), fused=False)
    model(torch.ones(1, 3)).sum().backward()
    loop.step()
    fused.load_state_dict(loop.state_dict())  # what a resume does with a state written before the change
    assert not fused.param_groups[0]["fused"]
    fused.step()
