"""Scoring speed: the vectorised scorer vs the per-video loop form of the official protocol, side by side on
the same predictions (SynthLLP `full` test split: 1,200 videos), identical numbers required.

    python bench/bench_scoring.py [--data DIR] [--repeats 5]

Without --data, SynthLLP `full` is generated into runs/bench/synthllp-full (annotations are all it needs).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from common import BENCH_DATA, machine_info

from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.metrics import gate, score
from avvp_core.metrics_reference import score_loop


def ensure_full(path: Path) -> Path:
    if not (path / "AVVP_test_pd.csv").is_file():
        from avvp_core.data.synthetic import generate

        generate(path, preset="full", seed=0)
    return path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, default=BENCH_DATA)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(machine_info())
    split = LLPDataset(ensure_full(args.data)).split("test")
    n = len(split)
    rng = np.random.default_rng(0)
    # Probabilities shaped like a trained model's: high where the truth is, noisy elsewhere.
    audio = np.clip(0.7 * split.gt_audio + rng.normal(0.2, 0.25, split.gt_audio.shape), 0, 1).astype(np.float32)
    visual = np.clip(0.7 * split.gt_visual + rng.normal(0.2, 0.25, split.gt_visual.shape), 0, 1).astype(np.float32)
    video = np.clip(0.8 * split.labels + rng.normal(0.1, 0.2, split.labels.shape), 0, 1).astype(np.float32)

    def fast():
        pa, pv = gate(audio, visual, video=video)
        return score(pa, pv, split.gt_audio, split.gt_visual).summary

    def slow():
        pa, pv = gate(audio, visual, video=video)
        return score_loop(pa, pv, split.gt_audio, split.gt_visual)

    fast(), slow()  # warm-up (imports, run table)
    t_fast, t_slow = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        a = fast()
        t_fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = slow()
        t_slow.append(time.perf_counter() - t0)
    worst = max(abs(a[k] - b[k]) for k in METRIC_KEYS)
    mf, ms = statistics.median(t_fast), statistics.median(t_slow)
    print(f"videos: {n}; repeats: {args.repeats} (medians)")
    print(f"vectorised score (gate + score): {mf * 1000:.1f} ms")
    print(f"per-video loop baseline:         {ms * 1000:.1f} ms")
    print(f"speed-up: {ms / mf:.1f}x (target >= 20x); max |difference| over the ten figures: {worst:.2e}")


if __name__ == "__main__":
    main()
