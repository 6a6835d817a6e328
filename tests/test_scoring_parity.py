"""`score` against the independent per-video loop form of the official protocol on real truth: the shared
LLP annotations (val and test, 2024 and legacy audio files) and SynthLLP, random predictions, fused and
modality-specific gating. Agreement to 1e-6 on every figure."""

from __future__ import annotations

import numpy as np
import pytest

from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset, dense_truth, read_eval_csv
from avvp_core.metrics import gate, score
from avvp_core.metrics_reference import score_loop
from tests.conftest import LLP_ANNOTATIONS


def _random_predictions(n: int, seed: int):
    rng = np.random.default_rng(seed)
    # Temporally smooth probabilities (runs of varied length), sparse classes, like a trained model's.
    base = rng.random((n, 1, 25)) ** 3
    wobble = np.cumsum(rng.normal(0, 0.15, (n, 10, 25)), axis=1)
    audio = np.clip(base + wobble, 0, 1).astype(np.float32)
    visual = np.clip(base + wobble[:, ::-1] * 0.8, 0, 1).astype(np.float32)
    return audio, visual, rng.random((n, 25)).astype(np.float32), rng.random((n, 2, 25)).astype(np.float32)


def _assert_parity(gt_a, gt_v, seed):
    audio, visual, video, modal = _random_predictions(len(gt_a), seed)
    for gated in (gate(audio, visual, video=video),
                  gate(audio, visual, video_audio=modal[:, 0], video_visual=modal[:, 1])):
        fast = score(*gated, gt_a, gt_v).summary
        slow = score_loop(*gated, gt_a, gt_v)
        for key in METRIC_KEYS:
            assert abs(fast[key] - slow[key]) < 1e-6, key


@pytest.mark.skipif(not LLP_ANNOTATIONS.is_dir(), reason="shared/llp_annotations not present")
@pytest.mark.parametrize("split", ["val", "test"])
@pytest.mark.parametrize("audio_file", ["2024", "legacy"])
def test_parity_on_real_llp_annotations(split, audio_file):
    ds = LLPDataset(LLP_ANNOTATIONS)
    sp = ds.split(split)
    gt_a = sp.gt_audio
    if audio_file == "legacy":
        legacy = LLP_ANNOTATIONS / "legacy_pre2024" / "AVVP_eval_audio.csv"
        if not legacy.is_file():
            pytest.skip("legacy audio file not present")
        gt_a, _ = dense_truth(sp.filenames, read_eval_csv(legacy))
    _assert_parity(gt_a, sp.gt_visual, seed=len(split) + len(audio_file))


def test_parity_on_synthllp(tiny_data):
    ds = LLPDataset(tiny_data)
    for seed, split in enumerate(("val", "test")):
        sp = ds.split(split)
        _assert_parity(sp.gt_audio, sp.gt_visual, seed)
