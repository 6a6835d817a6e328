"""`python -m avvp_core ...` end to end: synth, stats, score (the PRED.npz contract and its errors), train,
evaluate, predict, models — bad input is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avvp_core.cli import main
from avvp_core.constants import EVAL_FILES, METRIC_KEYS, SPLIT_FILES
from avvp_core.data import LLPDataset

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avvp_core", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300)


@pytest.fixture()
def csv_only(tiny_data, tmp_path) -> Path:
    """The annotation CSVs without any features: `score` must work on such a folder."""
    root = tmp_path / "csv_only"
    root.mkdir()
    for name in [*SPLIT_FILES.values(), *EVAL_FILES.values()]:
        shutil.copy(tiny_data / name, root / name)
    return root


def _pred_file(path: Path, split, **override) -> Path:
    rng = np.random.default_rng(0)
    n = len(split)
    arrays = {"filenames": np.array(split.filenames), "audio": rng.random((n, 10, 25), dtype=np.float32),
              "visual": rng.random((n, 10, 25), dtype=np.float32), "video": rng.random((n, 25), dtype=np.float32)}
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_score_contract_keys_and_json(csv_only, tmp_path):
    split = LLPDataset(csv_only).split("test")
    pred = _pred_file(tmp_path / "pred.npz", split)
    proc = run_cli("score", "--data", str(csv_only), "--split", "test", "--pred", str(pred),
                   "--json", str(tmp_path / "out.json"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert set(out) == {*METRIC_KEYS, "videos"} and out["videos"] == len(split)
    assert json.loads(proc.stdout) == out
    assert out["segment/type"] == pytest.approx((out["segment/audio"] + out["segment/visual"] + out["segment/av"]) / 3)


def test_score_is_order_free_and_perfect_scores_100(csv_only, tmp_path, capsys):
    split = LLPDataset(csv_only).split("val")
    perfect = _pred_file(tmp_path / "p.npz", split, audio=split.gt_audio.astype(np.float32),
                         visual=split.gt_visual.astype(np.float32), video=None)
    assert main(["score", "--data", str(csv_only), "--split", "val", "--pred", str(perfect)]) == 0
    assert all(v == 100.0 for k, v in json.loads(capsys.readouterr().out).items() if k != "videos")
    a = _pred_file(tmp_path / "a.npz", split)
    with np.load(a) as npz:
        order = np.arange(len(split))[::-1]
        np.savez(tmp_path / "b.npz", **{k: npz[k][order] for k in npz.files})
    assert main(["score", "--data", str(csv_only), "--split", "val", "--pred", str(a)]) == 0
    first = capsys.readouterr().out
    assert main(["score", "--data", str(csv_only), "--split", "val", "--pred", str(tmp_path / "b.npz")]) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    "override, message",
    [
        ({"filenames": "drop-one"}, "videos of the split missing"),
        ({"filenames": "add-one"}, "not in the split"),
        ({"audio": np.zeros((20, 10, 24), np.float32)}, "`audio` has shape (20, 10, 24)"),
        ({"visual": np.full((20, 10, 25), np.nan, np.float32)}, "`visual` contains NaN"),
        ({"video": np.zeros((20, 24), np.float32)}, "`video` has shape"),
        ({"video_audio": np.zeros((20, 25), np.float32)}, "come together"),  # issue 20: `video` + both is valid
    ],
)
def test_score_bad_predictions_exit_2_without_traceback(csv_only, tmp_path, override, message):
    split = LLPDataset(csv_only).split("test")
    if override.get("filenames") == "drop-one":
        override = {k: (v[1:] if v is not None else None) for k, v in {
            "filenames": np.array(split.filenames), "audio": np.zeros((20, 10, 25), np.float32),
            "visual": np.zeros((20, 10, 25), np.float32), "video": np.zeros((20, 25), np.float32)}.items()}
    elif override.get("filenames") == "add-one":
        override = {"filenames": np.array(split.filenames[:-1] + ["zzzzzzzzzzz_0_10"])}
    pred = _pred_file(tmp_path / "bad.npz", split, **override)
    proc = run_cli("score", "--data", str(csv_only), "--split", "test", "--pred", str(pred))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr and str(pred) in proc.stderr


def test_score_refuses_pickled_npz(csv_only, tmp_path):
    split = LLPDataset(csv_only).split("test")
    np.savez(tmp_path / "obj.npz", filenames=np.array(split.filenames, dtype=object),
             audio=np.zeros((20, 10, 25)), visual=np.zeros((20, 10, 25)))
    proc = run_cli("score", "--data", str(csv_only), "--split", "test", "--pred", str(tmp_path / "obj.npz"))
    assert proc.returncode == 2 and "pickled" in proc.stderr


def test_synth_stats_models(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", str(out), "--preset", "tiny", "--seed", "3", "--noise", "0.5"]) == 0
    meta = json.loads((out / "synthllp.json").read_text())
    assert meta["seed"] == 3 and meta["knobs"]["noise"] == 0.5
    assert main(["synth", str(out), "--preset", "tiny"]) == 2  # exists: refuses without --overwrite
    assert main(["stats", str(out)]) == 0
    assert "Videos: train 60, val 20, test 20" in capsys.readouterr().out
    assert main(["stats", str(out), "--json", str(tmp_path / "stats.json")]) == 0
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["splits"] == {"train": 60, "val": 20, "test": 20}
    proc = run_cli("models")
    assert proc.returncode == 0 and "han" in proc.stdout and "4,569,675" in proc.stdout


def test_train_evaluate_predict_agree(tiny_data, tmp_path):
    ckpt = tmp_path / "han"
    proc = run_cli("train", "--data", str(tiny_data), "--model", "han", "--epochs", "1", "--set", "dim=32",
                   "--set", "ffn_dim=32", "--out", str(ckpt))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("evaluate", "--data", str(tiny_data), "--checkpoint", str(ckpt), "--json", str(tmp_path / "e.json"))
    assert proc.returncode == 0, proc.stderr
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated["gating"] == "fused" and evaluated["split"] == "test"
    proc = run_cli("predict", "--data", str(tiny_data), "--checkpoint", str(ckpt), "--split", "test",
                   "--out", str(tmp_path / "p.npz"))
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "p.npz") as npz:
        assert set(npz.files) == {"filenames", "audio", "visual", "video", "video_audio", "video_visual", "gating"}
        assert str(npz["gating"]) == "fused"  # the model's paper gating, recorded (issue 20)
    # Both kinds of video probabilities are present: score follows the recorded gating, or --gating.
    assert main(["score", "--data", str(tiny_data), "--split", "test", "--pred", str(tmp_path / "p.npz"),
                 "--gating", "fused", "--json", str(tmp_path / "s.json")]) == 0
    scored = json.loads((tmp_path / "s.json").read_text())
    assert all(scored[key] == evaluated[key] for key in METRIC_KEYS)
    for key in METRIC_KEYS:
        assert evaluated[key] == pytest.approx(json.loads((ckpt / "metrics.json").read_text())["test"][key])


def test_train_base_from_that_cannot_be_adopted_is_one_line(tiny_data, tmp_path):
    for recipe, base, message in (("capc", tmp_path / "none", "not a finished training"),
                                  ("ma", tmp_path / "none", "cannot take a finished run")):
        proc = run_cli("train", "--data", str(tiny_data), "--model", "mmt", "--recipe", recipe, "--width", "demo",
                       "--base-from", str(base), "--out", str(tmp_path / recipe))
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_bad_input_is_one_line(tmp_path):
    proc = run_cli("train", "--data", str(tmp_path / "nope"), "--model", "han", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "data folder not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("evaluate", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "none"))
    assert proc.returncode == 2 and "config.json: missing" in proc.stderr
