"""Dataset statistics: the committed real-LLP figures, and SynthLLP's generated figures against them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from avvp_core.constants import CLASSES, METRIC_KEYS, SPLIT_FILES
from avvp_core.data.dataset import LLPDataset
from avvp_core.data.make_llp_stats import DEFAULT_OUT, main
from avvp_core.data.stats import (
    dataset_statistics,
    format_statistics,
    label_set_name,
    label_statistics,
    run_counts,
    truth_statistics,
    weak_oracle_scores,
)
from avvp_core.data.synthetic import resolve_knobs, sample_annotations

LLP = Path(os.environ.get("AVVP_LLP_ANNOTATIONS",
                          Path(__file__).resolve().parents[2] / "shared" / "llp_annotations"))
needs_llp = pytest.mark.skipif(not (LLP / "AVVP_eval_audio.csv").is_file(),
                               reason=f"real LLP annotation CSVs not at {LLP}")
REAL = json.loads(DEFAULT_OUT.read_text())


@pytest.fixture(scope="module")
def generated():
    """Labels + dense truth only (no features): train-sized and test-sized samples with default knobs."""
    knobs = resolve_knobs("mini")
    train = sample_annotations(3000, np.random.Generator(np.random.PCG64(11)), knobs, "train")
    test = sample_annotations(2000, np.random.Generator(np.random.PCG64(12)), knobs, "test")
    return train, test


def test_helpers():
    assert label_set_name([3, 0]) == "Speech,Dog" == label_set_name([0, 3, 3])
    rows = np.array([[1, 1, 0, 0, 1, 0, 1, 1, 1, 0], [1] * 10, [0] * 9 + [1]])
    assert run_counts(rows).tolist() == [3, 1, 1]


def test_committed_figures_are_the_real_llp_ones():
    train = REAL["train"]
    assert REAL["splits"] == {"train": 10000, "val": 649, "test": 1200}
    assert train["label_count"] == {"1": 0.4032, "2": 0.5879, "3": 0.0089}
    assert list(train["class_frequency"]) == list(CLASSES)
    freq = train["class_frequency"]
    assert (freq["Speech"], freq["Violin_fiddle"], freq["Singing"], freq["Telephone_bell_ringing"]) == (
        0.4988, 0.1457, 0.1172, 0.0099)
    assert [p["pair"] for p in train["top_pairs"][:4]] == [
        "Speech,Dog", "Speech,Violin_fiddle", "Speech,Singing", "Cello,Violin_fiddle"]
    truth = REAL["truth"]
    mix = truth["modality_mix"]
    assert mix["both"] == pytest.approx(0.60, abs=0.01) and mix["audio_only"] == pytest.approx(0.35, abs=0.01)
    assert truth["class_modality_mix"]["Speech"]["audio_only"] == pytest.approx(0.77, abs=0.01)
    assert truth["full_span_runs"] == pytest.approx(0.41, abs=0.01)  # "about 40 % of events span all 10 s"
    for split in ("val", "test"):
        assert list(REAL["weak_oracle"][split]) == list(METRIC_KEYS)
    assert REAL["weak_oracle"]["test"]["segment/type"] == pytest.approx(63.0, abs=0.1)


def test_generated_labels_follow_llp_train(generated):
    labels, _, _ = generated[0]
    stats, real = label_statistics(labels), REAL["train"]
    for k, f in real["label_count"].items():
        assert abs(stats["label_count"].get(k, 0) - f) < 0.03, k
    for c in CLASSES:
        assert abs(stats["class_frequency"][c] - real["class_frequency"][c]) < 0.025, c
    got = {p["pair"]: p["fraction"] for p in stats["top_pairs"]}
    for pair in real["top_pairs"][:8]:
        assert abs(got.get(pair["pair"], 0) - pair["fraction"]) < 0.015, pair["pair"]


def test_generated_truth_follows_llp_val_test(generated):
    _, a, v = generated[1]
    stats, real = truth_statistics(a, v), REAL["truth"]
    for k, f in real["modality_mix"].items():
        assert abs(stats["modality_mix"][k] - f) < 0.03, k
    for c in ("Speech", "Violin_fiddle", "Singing", "Dog", "Car"):
        for k in ("audio_only", "visual_only", "both"):
            assert abs(stats["class_modality_mix"][c][k] - real["class_modality_mix"][c][k]) < 0.06, (c, k)
    assert abs(stats["both_coincide"] - real["both_coincide"]) < 0.04
    assert stats["both_overlap"] == 1.0
    assert abs(stats["full_span_runs"] - real["full_span_runs"]) < 0.04
    for m in ("audio", "visual"):
        for k, f in real["duration_hist"][m].items():
            assert abs(stats["duration_hist"][m][k] - f) < 0.03, (m, k)
        for k, f in real["runs_hist"][m].items():
            assert abs(stats["runs_hist"][m][k] - f) < 0.03, (m, k)


def test_weak_oracle_calibration_within_five_points(generated):
    labels, a, v = generated[1]
    got = weak_oracle_scores(labels, a, v)
    for key in METRIC_KEYS:
        assert abs(got[key] - REAL["weak_oracle"]["test"][key]) < 5.0, key


def test_dataset_statistics_on_synthllp(tiny_data):
    stats = dataset_statistics(LLPDataset(tiny_data))
    assert stats["splits"] == {"train": 60, "val": 20, "test": 20}
    assert stats["truth"]["splits"] == ["val", "test"]
    assert stats["truth"]["weak_differs_from_truth_videos"] == 0
    assert set(stats["weak_oracle"]) == {"val", "test"}
    assert json.loads(json.dumps(stats)) == stats  # JSON-able as it is
    text = format_statistics(stats)
    assert "Videos: train 60, val 20, test 20" in text and "Speech" in text and "Weak labels on every" in text


def test_statistics_skip_truth_when_there_is_none(tiny_data, tmp_path):
    shutil.copy(tiny_data / SPLIT_FILES["train"], tmp_path / SPLIT_FILES["train"])
    stats = dataset_statistics(LLPDataset(tmp_path))
    assert stats["splits"] == {"train": 60} and "truth" not in stats and "weak_oracle" not in stats
    assert "Videos: train 60" in format_statistics(stats)


@needs_llp
def test_real_statistics_regenerate_the_committed_file(tmp_path, capsys):
    stats = json.loads(json.dumps(dataset_statistics(LLPDataset(LLP), turn_taking=True, kind_patterns=True)))
    assert stats == {k: v for k, v in REAL.items() if k != "source"}
    assert main([str(LLP), "--out", str(tmp_path / "stats.json")]) == 0
    assert (tmp_path / "stats.json").read_bytes() == DEFAULT_OUT.read_bytes()
    assert "Speech" in capsys.readouterr().out
