"""Features page speed: a t-SNE of 10,000 segment features cold (model run + openTSNE) and from the disk cache.

    python bench/bench_tsne.py [--data DIR] [--checkpoint DIR] [--split test] [--kind "audio + visual segments"]
                               [--points 10000] [--method t-SNE]

Without --checkpoint, a seeded, untrained HAN (demo width) is saved to a temporary folder (t-SNE time depends on the
number of points and the feature width, hardly on training). Without --data, SynthLLP `mini` in data/ is used: its
test split has 500 videos, so audio + visual segments give exactly 10,000 points. The cache goes to a temporary
folder, so "cold" is really cold; "cached" is the same call again (read the .npz, label the points).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import REPO, machine_info

from avvp_core.analysis import features as F
from avvp_core.data import LLPDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO / "data" / "synthllp-mini"))
    parser.add_argument("--checkpoint")
    parser.add_argument("--split", default="test")
    parser.add_argument("--kind", default="audio + visual segments", choices=F.SEGMENT_KINDS + F.TOKEN_KINDS)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--method", default="t-SNE", choices=F.methods())
    args = parser.parse_args()
    print(machine_info())
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

    split = LLPDataset(args.data).split(args.split)
    fingerprint = split.dataset.fingerprint()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            import torch

            from avvp_core.checkpoints import save_checkpoint
            from avvp_core.models import create_model

            torch.manual_seed(0)
            checkpoint = str(Path(tmp) / "han")
            save_checkpoint(checkpoint, create_model("han", width="demo"), {"data": {"fingerprint": fingerprint}})
        timed = {}
        project = F.project

        def timed_project(*a, **k):
            start = time.perf_counter()
            try:
                return project(*a, **k)
            finally:
                timed["projection"] = time.perf_counter() - start

        F.project = timed_project  # measure the projection alone inside the cold call
        cache = Path(tmp) / "cache"
        start = time.perf_counter()
        frame = F.embedding(checkpoint, split, args.kind, args.method, args.points, data_fingerprint=fingerprint,
                            cache_dir=cache)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        again = F.embedding(checkpoint, split, args.kind, args.method, args.points, data_fingerprint=fingerprint,
                            cache_dir=cache)
        cached = time.perf_counter() - start
        assert len(again) == len(frame)
    print(f"{args.method} of {len(frame)} points ({args.kind}, {args.split} of {Path(args.data).name}, "
          f"checkpoint {'untrained HAN demo' if args.checkpoint is None else args.checkpoint})")
    print(f"cold:   {cold:7.2f} s  (of which {args.method} {timed.get('projection', float('nan')):.2f} s; the rest is "
          "loading the model, extracting the features, hashing, writing the cache)")
    print(f"cached: {cached:7.2f} s  (read the .npz from disk and label the points)")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
