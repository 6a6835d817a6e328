"""Do the events of two classes of one video co-occur in time? The dense truth of LLP against SynthLLP's.

    python bench/class_coupling.py --data ../shared/llp_annotations runs/bench/synthllp-full [--json out.json]

A candidate for what CM-Co (paper 001) exploits on LLP and SynthLLP might lack (issue 19 item 6): its co-attention
relates the class tokens of the audio, visual and audio-visual streams segment by segment, so it could learn that
where one class is heard another is seen. SynthLLP draws each class's extents independently of the other classes of
its video (data/synthetic.py, sample_truth), so it has no such coupling beyond what placement alone gives.

For every video of the dense truth (val + test) with two classes or more, and every ordered pair of distinct classes
(i, j) present there in modalities m1 (of i) and m2 (of j), with x = i's m1 extent and y = j's m2 extent (10 segments):
- lift = sum of |x & y| over the pairs / sum of |x| |y| / 10: 1 when the two extents are placed independently and
  uniformly in time, above 1 when they co-occur more than that, below when they take turns;
- overlap = the share of pairs whose extents share a segment at all;
- per class pair with at least --min-pairs occurrences, the same lift, and the occurrence-weighted mean of |log lift|
  over those class pairs (how far pairs stray from 1 either way; pooled lift can hide pairs that cancel); a class pair
  whose extents never share a segment (lift 0, |log lift| infinite) is counted apart instead.
Only annotations are read (no features): a folder with the LLP CSVs is enough.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from common import machine_info

from avvp_core.data import LLPDataset
from avvp_core.data.stats import MODALITY_PAIRS as PAIRS
from avvp_core.data.stats import class_coupling as coupling  # the core computes it (SynthLLP's turn_taking knob)


def dense_truth(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, C) bool audio and visual truth of the val and test splits of the LLP folder `root`."""
    ds = LLPDataset(root)
    splits = [ds.split(s) for s in ("val", "test")]
    return (np.concatenate([s.gt_audio for s in splits]).astype(bool),
            np.concatenate([s.gt_visual for s in splits]).astype(bool))


def _report(name: str, res: dict, top: int) -> None:
    print(f"{name}: {res['videos']} videos, {res['multi_class_videos']} with two classes or more")
    for key in PAIRS:
        r = res[key]
        print(f"  {key}: {r['pairs']} pairs, lift {r['lift']}, overlap {r['overlap']}; {r['class_pairs']} class pairs "
              f"with >= {res['min_pairs']}: mean |log lift| {r['mean_abs_log_lift']}, "
              f"{r['class_pairs_apart']} never in the same segment")
        far = sorted(r["per_class_pair"], key=lambda p: -abs(math.log(p["lift"])) if p["lift"] else -math.inf)[:top]
        for p in far:
            print(f"      {p['first']:>22} {key[0]} / {p['second']:<22} {key[1]}  n={p['pairs']:4d}  "
                  f"lift {p['lift']:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+", required=True, help="LLP-layout folders with dense val/test truth")
    p.add_argument("--min-pairs", type=int, default=15, help="class pairs with fewer occurrences are left out")
    p.add_argument("--top", type=int, default=3, help="class pairs printed per modality pair, farthest from 1 first")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    print(machine_info())
    out = {}
    for root in args.data:
        out[str(root)] = coupling(*dense_truth(root), args.min_pairs)
        _report(str(root), out[str(root)], args.top)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
