"""Batches from a split's consolidated cache: no per-video files, no DataLoader workers.

Small splits (the SynthLLP presets, LLP with segment-averaged res152) are tensors over copy-on-write maps of
the cache files: no copy at opening (the page cache is the in-memory copy, shared with every process reading the
same cache), one `index_select` per batch, then the cast to float32. Larger ones (LLP with 80 res152 frames:
~6.5 GB for train) are read per batch from the memory map in sorted row order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..data.dataset import Split
from ..schema import Batch

IN_MEMORY_LIMIT = 3 * 2**30  # bytes


class SplitFeeder:
    def __init__(self, split: Split, progress=None):
        self.split = split
        cache = split.features(progress)
        self._arrays = cache.arrays
        self.in_memory = sum(a.nbytes for a in self._arrays.values()) <= IN_MEMORY_LIMIT
        if self.in_memory:
            # Kept in the cache's dtype (float16 for SynthLLP: half the memory) and not copied: mode "c" maps are
            # writable views (no torch warning) whose writes, if any, would stay private. Copying the split into RAM
            # first cost more than a whole pass (bench/bench_loading.py).
            self._tensors = {k: torch.from_numpy(np.load(v.filename, mmap_mode="c")) for k, v in self._arrays.items()}
        self.labels = torch.from_numpy(np.ascontiguousarray(split.labels))

    def __len__(self) -> int:
        return len(self.split)

    def rows(self, index: torch.Tensor) -> Batch:
        if self.in_memory:
            # index_select, not v[index]: the advanced-indexing kernel was 3-4x slower on float16 rows.
            streams = {k: torch.index_select(v, 0, index).float() for k, v in self._tensors.items()}
        else:
            order = np.sort(index.numpy())  # sorted reads from the memory map, then back to batch order
            back = np.searchsorted(order, index.numpy())
            streams = {k: torch.from_numpy(np.ascontiguousarray(v[order])[back]).float()
                       for k, v in self._arrays.items()}
        return Batch(streams["vggish"], streams["res152"], streams["r2plus1d_18"], self.labels[index], index=index)

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
                ) -> Iterator[Batch]:
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            yield self.rows(order[start:start + batch_size])
