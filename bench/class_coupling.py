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

from avvp_core.constants import CLASSES
from avvp_core.data import LLPDataset

PAIRS = ("aa", "av", "va", "vv")  # modality of class i, modality of class j


def dense_truth(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, C) bool audio and visual truth of the val and test splits of the LLP folder `root`."""
    ds = LLPDataset(root)
    splits = [ds.split(s) for s in ("val", "test")]
    return (np.concatenate([s.gt_audio for s in splits]).astype(bool),
            np.concatenate([s.gt_visual for s in splits]).astype(bool))


def pair_terms(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For extents x, y (N, T, C): |x_i & y_j| and |x_i| |y_j| / T, each (N, C, C), and the mask of the pairs i != j
    where both extents are non-empty."""
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    inter = np.einsum("ntc,ntd->ncd", xf, yf)  # (N, C, C)
    xs, ys = xf.sum(1), yf.sum(1)  # (N, C)
    expect = xs[:, :, None] * ys[:, None, :] / x.shape[1]  # (N, C, C)
    mask = (xs[:, :, None] > 0) & (ys[:, None, :] > 0) & ~np.eye(x.shape[2], dtype=bool)
    return inter, expect, mask


def coupling(audio: np.ndarray, visual: np.ndarray, min_pairs: int = 15) -> dict:
    """The figures above for truth arrays (N, T, C), over the videos with two classes or more."""
    streams = {"a": audio, "v": visual}
    multi = (audio.any(1) | visual.any(1)).sum(1) >= 2  # (N,)
    out = {"videos": int(len(audio)), "multi_class_videos": int(multi.sum()), "min_pairs": min_pairs}
    for m1, m2 in PAIRS:
        inter, expect, mask = pair_terms(streams[m1][multi], streams[m2][multi])
        n = mask.sum(0)  # (C, C) occurrences of each class pair
        keep = n >= min_pairs
        pair_lift = inter.sum(0, where=mask)[keep] / expect.sum(0, where=mask)[keep]
        rows = [{"first": CLASSES[i], "second": CLASSES[j], "pairs": int(n[i, j]), "lift": round(float(lift), 4)}
                for (i, j), lift in zip(np.argwhere(keep), pair_lift, strict=True)]
        apart = pair_lift == 0  # never in the same segment: |log lift| is infinite, so counted, not averaged
        weights = n[keep][~apart]
        out[m1 + m2] = {
            "pairs": int(mask.sum()),
            "lift": round(float(inter[mask].sum() / expect[mask].sum()), 4) if mask.any() else None,
            "overlap": round(float((inter[mask] > 0).mean()), 4) if mask.any() else None,
            "class_pairs": len(rows),
            "mean_abs_log_lift": (round(float((np.abs(np.log(pair_lift[~apart])) * weights).sum() / weights.sum()), 4)
                                  if len(weights) else None),
            "class_pairs_apart": int(apart.sum()),
            "per_class_pair": sorted(rows, key=lambda r: (-r["pairs"], r["first"], r["second"])),
        }
    return out


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
