"""Loading speed: one full pass over a training split from the consolidated cache vs per-file `np.load`
through a torch DataLoader (the official loaders' way), side by side and interleaved; cache build time reported.

    python bench/bench_loading.py [--data DIR] [--batch 16] [--repeats 3] [--threads N] [--keep-cache] [--profile]
                                  [--feeder-from GIT_REV]

Without --data, SynthLLP `full` is generated into runs/bench/synthllp-full. The cache is deleted first so
its build time is measured cold (unless --keep-cache); the page cache is warm for both loaders (they read the
same files). Each repeat runs both passes back to back (a fresh `SplitFeeder` each time, so opening the cache
is included); the figures are medians over the repeats, so load from other jobs hits both sides alike.
--profile prints cProfile's top entries for one cache pass. --feeder-from REV also times the feeder as it was at a
git revision (its source read with `git show`), in the same repeats: a before/after measured side by side.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import subprocess
import sys
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


def feeder_at(rev: str) -> type:
    """`SplitFeeder` as it was at git revision `rev` (imported from a temporary copy, inside the package)."""
    import importlib.util
    import tempfile

    source = subprocess.run(["git", "show", f"{rev}:avvp_core/training/feeder.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    path = Path(tempfile.mkdtemp()) / "feeder.py"
    path.write_text(source)
    name = f"avvp_core.training._feeder_at_{rev}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.SplitFeeder


def cache_pass(split, batch: int, feeder_cls: type = SplitFeeder) -> int:
    feeder = feeder_cls(split)
    rows = 0
    for b in feeder.batches(batch, shuffle=True, generator=torch.Generator().manual_seed(0)):
        rows += len(b)
    return rows


def per_file_pass(root: Path, split, batch: int) -> int:
    loader = torch.utils.data.DataLoader(PerFileDataset(root, split.filenames, split.labels), batch_size=batch,
                                         shuffle=True, num_workers=0)
    return sum(len(b[0]) for b in loader)


def timed(fn, *args) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = fn(*args)
    return time.perf_counter() - t0, rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, default=BENCH_DATA)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--split", default="train")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    p.add_argument("--keep-cache", action="store_true", help="reuse an existing cache (no cold build time)")
    p.add_argument("--profile", action="store_true", help="print cProfile's top entries for one cache pass")
    p.add_argument("--feeder-from", metavar="REV", help="also time SplitFeeder as at this git revision")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_info())
    root = ensure_full(args.data)
    if not args.keep_cache:
        shutil.rmtree(default_cache_root(root), ignore_errors=True)
    ds = LLPDataset(root)
    split = ds.split(args.split)

    build, _ = timed(ds.feature_cache, args.split)
    old_cls = feeder_at(args.feeder_from) if args.feeder_from else None
    cached, per_file, old = [], [], []
    for _ in range(args.repeats):
        t, rows = timed(cache_pass, split, args.batch)
        cached.append(t)
        if old_cls is not None:
            t, rows_old = timed(cache_pass, split, args.batch, old_cls)
            old.append(t)
            assert rows_old == rows
        t, rows_pf = timed(per_file_pass, root, split, args.batch)
        per_file.append(t)
        assert rows == rows_pf == len(split)
    c, f = statistics.median(cached), statistics.median(per_file)
    print(f"split {args.split}: {len(split)} videos, batch {args.batch}, {args.repeats} repeats (medians; all runs)")
    print(f"cache build ({'reused' if args.keep_cache else 'cold'}, once): {build:.2f} s")
    print(f"full pass from the cache (incl. opening it): {c:.3f} s   {' '.join(f'{x:.3f}' for x in cached)}")
    print(f"full pass per-file np.load + DataLoader:      {f:.3f} s   {' '.join(f'{x:.3f}' for x in per_file)}")
    print(f"speed-up: {f / c:.1f}x (target >= 10x)")
    if old:
        o = statistics.median(old)
        print(f"feeder at {args.feeder_from}: {o:.3f} s   {' '.join(f'{x:.3f}' for x in old)}; speed-up over per-file "
              f"{f / o:.1f}x; current feeder {o / c:.1f}x faster")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(cache_pass, split, args.batch)
        pstats.Stats(prof).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main()
