"""Batches from a split's consolidated cache: no per-video files, no DataLoader workers.

Small splits (the SynthLLP presets, LLP with segment-averaged res152) are held in memory as tensors;
larger ones (LLP with 80 res152 frames: ~6.5 GB for train) are read per batch from the memory map.
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
            # Kept in the cache's dtype (float16 for SynthLLP: half the memory); batches are cast to float32
            # by torch, which is far faster than numpy's float16 conversion.
            self._tensors = {k: torch.from_numpy(np.array(v)) for k, v in self._arrays.items()}  # copy into RAM
        self.labels = torch.from_numpy(np.ascontiguousarray(split.labels))

    def __len__(self) -> int:
        return len(self.split)

    def rows(self, index: torch.Tensor) -> Batch:
        if self.in_memory:
            streams = {k: v[index].float() for k, v in self._tensors.items()}
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
