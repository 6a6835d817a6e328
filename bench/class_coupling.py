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

    python bench/class_coupling.py --turn-taking 0 0.5 1 [--videos 20000]

draws SynthLLP annotations (no features, seconds) at each strength of its turn_taking knob and compares, for each class
pair that takes turns on LLP (llp_stats.json), the share of its videos where the two extents never meet and its lift.

Each --data folder also gets the *kind coupling* (avvp_core.data.stats.kind_coupling): does an event's kind (heard
only, seen only, both) depend on the other classes of its video? Per class pair (c, d) seen together in 30 videos or
more, the divergence of c's kinds where d is present from c's kinds overall, pooled, against the same figure with each
class's kinds shuffled among its own videos (--permutations times): on LLP, Speech is seen in 45 % of the videos that
hold a violin and 12 % of those that hold a dog (23 % overall); SynthLLP draws each event's kind from its class's
shares alone.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from common import machine_info

from avvp_core.data import LLPDataset
from avvp_core.data.stats import EVENT_TYPES, kind_coupling
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
    kinds = res.get("kind_coupling")  # absent from a bare class_coupling result
    if kinds is None:
        return
    if kinds["divergence"] is None:
        print(f"  kind coupling: no class pair in {kinds['min_videos']} videos or more")
        return
    chance = (f"shuffled {kinds['shuffled_mean']} (95th percentile {kinds['shuffled_p95']}, {kinds['permutations']} "
              f"shuffles): excess {kinds['excess']}, p {kinds['p']}" if kinds["permutations"]
              else "no shuffles (--permutations 0), so no chance level")
    print(f"  kind coupling over {kinds['class_pairs']} class pairs (>= {kinds['min_videos']} videos): divergence "
          f"{kinds['divergence']} nats, {chance}")
    for p in kinds["pairs"][:top]:
        shares = " / ".join(f"{p['kinds'][k]:.2f}" for k in EVENT_TYPES)
        given = " / ".join(f"{p['kinds_given'][k]:.2f}" for k in EVENT_TYPES)
        print(f"      {p['class']:>22} given {p['given']:<22} n={p['videos']:4d}  heard only / seen only / both "
              f"{shares} -> {given}")


def turn_taking_sweep(videos: int, strengths: list[float], seed: int = 0) -> dict:
    """SynthLLP's turn_taking knob against LLP's pairs: annotations only (no features), `videos` val/test-like videos
    of `full` per strength; per pair of llp_stats.json (truth.turn_taking), the share of its videos where the two
    extents never meet and its lift, with the mean distance to LLP's over the pairs."""
    from avvp_core.data.stats import turn_taking_pairs
    from avvp_core.data.synthetic import _KEY_LABELS, _KEY_TURNS, _rng, llp_stats, resolve_knobs, sample_annotations

    def key(p: dict) -> tuple[str, ...]:
        return p["first"], p["first_modality"], p["second"], p["second_modality"]

    llp = {key(p): p for p in llp_stats()["truth"]["turn_taking"]["pairs"]}
    out = {"videos": videos, "seed": seed, "llp": list(llp.values()), "strengths": {}}
    for strength in strengths:
        knobs = resolve_knobs("full", turn_taking=strength)
        _, audio, visual = sample_annotations(videos, _rng(seed, _KEY_LABELS, 2), knobs, "test",
                                              _rng(seed, _KEY_TURNS, 2))  # the generator's test-split streams
        got = {key(p): p for p in turn_taking_pairs(coupling(audio, visual), max_lift=float("inf"))}
        rows = [{**dict(zip(("first", "first_modality", "second", "second_modality"), k, strict=True)),
                 "videos": got[k]["videos"], "lift": got[k]["lift"], "apart": got[k]["apart"]}
                for k in llp if k in got]
        out["strengths"][str(strength)] = {
            "pairs": rows,
            "mean_abs_apart_gap": round(float(np.mean([abs(r["apart"] - llp[key(r)]["apart"]) for r in rows])), 4),
            "mean_abs_lift_gap": round(float(np.mean([abs(r["lift"] - llp[key(r)]["lift"]) for r in rows])), 4),
        }
    return out


def _report_sweep(res: dict) -> None:
    print(f"turn_taking on {res['videos']} SynthLLP full val/test-like videos (annotations only), seed {res['seed']}:")
    print(f"  {'pair':<52} {'LLP apart / lift':>17}   " + "   ".join(f"knob {s}" for s in res["strengths"]))
    for p in res["llp"]:
        name = f"{p['first']} {p['first_modality'][0]} / {p['second']} {p['second_modality'][0]}"
        cells = []
        for strength in res["strengths"].values():
            row = next((r for r in strength["pairs"] if all(r[k] == p[k] for k in (
                "first", "first_modality", "second", "second_modality"))), None)
            cells.append(f"{row['apart']:.2f} / {row['lift']:.2f}" if row else "-")
        print(f"  {name:<52} {p['apart']:.2f} / {p['lift']:.2f}      " + "   ".join(f"{c:>11}" for c in cells))
    for s, strength in res["strengths"].items():
        print(f"  knob {s}: mean |apart - LLP's| {strength['mean_abs_apart_gap']}, "
              f"mean |lift - LLP's| {strength['mean_abs_lift_gap']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="*", default=[], help="LLP-layout folders with dense val/test truth")
    p.add_argument("--min-pairs", type=int, default=15, help="class pairs with fewer occurrences are left out")
    p.add_argument("--top", type=int, default=3, help="class pairs printed per modality pair, farthest from 1 first")
    p.add_argument("--turn-taking", type=float, nargs="+", default=[], metavar="STRENGTH",
                   help="also draw SynthLLP annotations at these turn_taking strengths and compare LLP's pairs")
    p.add_argument("--videos", type=int, default=20000, help="videos drawn per strength (--turn-taking)")
    p.add_argument("--permutations", type=int, default=200, help="shuffles behind the kind coupling's chance level")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not args.data and not args.turn_taking:
        p.error("give --data folders, --turn-taking strengths, or both")
    print(machine_info())
    out = {}
    for root in args.data:
        truth = dense_truth(root)
        out[str(root)] = {**coupling(*truth, args.min_pairs),
                          "kind_coupling": kind_coupling(*truth, permutations=args.permutations)}
        _report(str(root), out[str(root)], args.top)
    if args.turn_taking:
        out["turn_taking_sweep"] = turn_taking_sweep(args.videos, args.turn_taking)
        _report_sweep(out["turn_taking_sweep"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
