"""The papers' main claims, checked on a matrix of runs (bench/run_matrix.py results.json): each claim is a
comparison of two configurations on the named figures, mean over the seeds both have, with the per-seed
deltas, and "holds" when the mean delta is positive (for the loss-gap claim: when the gap shrinks).

    python bench/claims.py runs/matrix2/results.json [--width demo]

Specs name the batch-scaled runs (batch 16 for the recipes whose papers use 64) that SynthLLP mini needs: with
2,000 training videos the papers' large batches give too few steps per epoch (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# (claim, candidate spec, baseline spec, figures that must rise)
TYPES = ["segment/type", "event/type"]
CLAIMS = [
    ("MMT+CAPC raises visual and audio-visual segment F1 over HAN (paper 000)", "mmt:capc:batch_size=16", "han:plain",
     ["segment/visual", "segment/av"]),
    ("MMT (messengers) beats HAN (paper 000)", "mmt:plain:batch_size=16", "han:plain", ["segment/type", "event/type"]),
    ("messengers beat full cross-modal context (paper 000, No MSG)", "mmt:plain:batch_size=16",
     "mmt_nomsg:plain:batch_size=16", TYPES),
    ("CAPC + MA labels improve MMT (paper 000, three stages)", "mmt:capc:batch_size=16", "mmt:plain:batch_size=16",
     TYPES),
    ("CM-Co beats HAN (paper 001)", "cmco:plain:batch_size=16", "han:plain", ["segment/type", "event/type"]),
    ("CM-S adds to CM-Co (paper 001)", "cmco:cms:batch_size=16", "cmco:plain:batch_size=16", TYPES),
    ("MGN beats HAN (paper 002)", "mgn:plain", "han:plain", ["segment/type", "event/type"]),
    ("CM-PIE beats HAN (paper 003)", "cmpie:plain", "han:plain", ["segment/type", "event/type"]),
    ("DGM improves HAN (paper 004)", "han:dgm", "han:plain", ["segment/type", "event/type"]),
    ("MSDU+DGM improves the JoMoLD baseline (paper 004)", "msdu:jomold_dgm:batch_size=25",
     "msdu:jomold:batch_size=25", ["segment/type", "event/type"]),
]
GAP_CLAIMS = [("DGM narrows the gap between audio and visual training losses (paper 004)", "han:dgm", "han:plain"),
              ("DGM narrows the loss gap on the MSDU/JoMoLD baseline (paper 004)", "msdu:jomold_dgm:batch_size=25",
               "msdu:jomold:batch_size=25")]


def runs(results: dict, spec: str, width: str) -> dict[int, dict]:
    return {r["seed"]: r for k, r in results.items() if k.startswith(f"{spec}|{width}|")}


def loss_gap(folder: str) -> float:
    """Mean over epochs of |loss/audio - loss/visual| (the training-loss gap between the modalities)."""
    rows = [json.loads(x) for x in (Path(folder) / "log.jsonl").read_text().splitlines() if x]
    return float(np.mean([abs(r["loss/audio"] - r["loss/visual"]) for r in rows]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("--width", default="demo")
    args = p.parse_args()
    results = json.loads(Path(args.results).read_text())
    for claim, cand, base, figures in CLAIMS:
        a, b = runs(results, cand, args.width), runs(results, base, args.width)
        seeds = sorted(set(a) & set(b))
        if not seeds:
            print(f"- {claim}: not measured")
            continue
        parts, verdicts = [], []
        for fig in figures:
            deltas = [a[s]["test"][fig] - b[s]["test"][fig] for s in seeds]
            verdicts.append(np.mean(deltas) > 0)
            parts.append(f"{fig} {np.mean([a[s]['test'][fig] for s in seeds]):.1f} vs "
                         f"{np.mean([b[s]['test'][fig] for s in seeds]):.1f} (Δ {np.mean(deltas):+.1f}; per seed "
                         + ", ".join(f"{d:+.1f}" for d in deltas) + ")")
        verdict = "holds" if all(verdicts) else ("partly holds" if any(verdicts) else "does not hold")
        print(f"- {claim}: **{verdict}** on SynthLLP (seeds {seeds}): " + "; ".join(parts))
    for claim, cand, base in GAP_CLAIMS:
        a, b = runs(results, cand, args.width), runs(results, base, args.width)
        seeds = sorted(set(a) & set(b))
        if not seeds:
            print(f"- {claim}: not measured")
            continue
        ga = [loss_gap(a[s]["folder"]) for s in seeds]
        gb = [loss_gap(b[s]["folder"]) for s in seeds]
        verdict = "holds" if np.mean(ga) < np.mean(gb) else "does not hold"
        print(f"- {claim}: **{verdict}** (seeds {seeds}): mean |loss/audio − loss/visual| {np.mean(ga):.4f} with vs "
              f"{np.mean(gb):.4f} without")


if __name__ == "__main__":
    main()
