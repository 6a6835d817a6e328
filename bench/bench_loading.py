"""Loading speed: one full pass over a training split from the consolidated cache vs per-file `np.load`
through a torch DataLoader (the official loaders' way), side by side; cache build time reported.

    python bench/bench_loading.py [--data DIR] [--batch 16]

Without --data, SynthLLP `full` is generated into runs/bench/synthllp-full. The cache is deleted first so
its build time is measured cold (the page cache is warm for both loaders: they read the same files).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from bench_scoring import ensure_full
from common import BENCH_DATA, machine_info

from avvp_core.data import LLPDataset
from avvp_core.data.cache import default_cache_root, feature_path
from avvp_core.training.feeder import SplitFeeder


class PerFileDataset(torch.utils.data.Dataset):
    """The official pattern: one np.load per stream per video, labels from the CSV row."""

    def __init__(self, root: Path, filenames: list[str], labels: np.ndarray):
        self.root, self.filenames, self.labels = root, filenames, labels

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, i: int):
        name = self.filenames[i]
        return (torch.from_numpy(np.load(feature_path(self.root, "vggish", name))),
                torch.from_numpy(np.load(feature_path(self.root, "res152", name))),
                torch.from_numpy(np.load(feature_path(self.root, "r2plus1d_18", name))),
                torch.from_numpy(self.labels[i]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, default=BENCH_DATA)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--split", default="train")
    args = p.parse_args()
    print(machine_info())
    root = ensure_full(args.data)
    cache_root = default_cache_root(root)
    shutil.rmtree(cache_root, ignore_errors=True)
    ds = LLPDataset(root)
    split = ds.split(args.split)

    t0 = time.perf_counter()
    ds.feature_cache(args.split)
    build = time.perf_counter() - t0

    t0 = time.perf_counter()
    feeder = SplitFeeder(split)
    rows = 0
    for batch in feeder.batches(args.batch, shuffle=True, generator=torch.Generator().manual_seed(0)):
        rows += len(batch)
    cached = time.perf_counter() - t0

    loader = torch.utils.data.DataLoader(PerFileDataset(root, split.filenames, split.labels), batch_size=args.batch,
                                         shuffle=True, num_workers=0)
    t0 = time.perf_counter()
    rows_pf = sum(len(b[0]) for b in loader)
    per_file = time.perf_counter() - t0
    assert rows == rows_pf == len(split)
    print(f"split {args.split}: {len(split)} videos, batch {args.batch}")
    print(f"cache build (cold, once): {build:.2f} s")
    print(f"full pass from the cache (incl. opening it): {cached:.3f} s")
    print(f"full pass per-file np.load + DataLoader:      {per_file:.3f} s")
    print(f"speed-up: {per_file / cached:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
