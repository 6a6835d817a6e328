"""What a label-refinement run (MA, JoMoLD) removed, how precisely, and what it cost: the figures behind the
label-precision claims (issue 19 item 6; bench/RESULTS.md, "Why the label-precision claims fail in audio").

    python bench/refinement_audit.py --data runs/bench/synthllp-full --run RUN [RUN ...] [--json out.json]

RUN is a finished `train --recipe ma`, `capc` (its MA label stage) or `jomold` folder trained on the SynthLLP folder
--data (whose train truth scores the removals; training never saw it). Per run:
- every recipe: removals per modality and per class, each with its precision against the train truth, beside the
  class's truly absent weak labels (the most a perfect rule could remove);
- JoMoLD only: its noise ratios (stages/ratios), what they estimate (sum of ratio x positives), the most its per-batch
  rule can drop in one epoch (per batch and class k = int(ratio x positives in the batch), in shuffled batches of the
  recipe's size, mean of 5 shuffles), and how precise the estimator's own flags are (its audio-noisy rule applied to
  the estimator in stages/estimator, without cross-attention, as the recipe runs it).
With --baseline (the run's model trained on the weak labels, e.g. the matrix's HAN of the same seed): per class, the
share of its train positives the run removed in each modality beside its segment-level test F1 in that modality, run
against baseline: where removals cost the refined model, class by class.
Then LLP itself, where no train truth exists: MA's released labels against the truly absent labels LLP's val/test
annotations imply (claims.llp_precision_bound), and the share of each named class's LLP train labels they remove.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import machine_info

from avvp_core import claims
from avvp_core.checkpoints import load_checkpoint, read_card
from avvp_core.constants import CLASSES, MODALITIES
from avvp_core.data import LLPDataset
from avvp_core.data.synthetic import llp_stats
from avvp_core.errors import InputError
from avvp_core.evaluation import evaluate
from avvp_core.fileio import write_json
from avvp_core.training.feeder import SplitFeeder
from avvp_core.training.refinement import JOMOLD_TRAIN, cross_off, jomold_noisy, removal_quality

SHUFFLES = 5


def per_class(removed: np.ndarray, absent: np.ndarray) -> dict[str, dict[str, int]]:
    """(N, C) removals and truly-absent positives -> per class: removed, of them truly absent, truly absent."""
    return {CLASSES[c]: {"removed": int(removed[:, c].sum()), "right": int((removed[:, c] & absent[:, c]).sum()),
                         "truly_absent": int(absent[:, c].sum())}
            for c in range(len(CLASSES)) if removed[:, c].any() or absent[:, c].any()}


def drop_capacity(labels: np.ndarray, ratio: np.ndarray, batch: int, seed: int = 0) -> float:
    """The most JoMoLD's rule can drop in one epoch: sum over shuffled batches and classes of int(ratio x positives)."""
    rng, total = np.random.default_rng(seed), 0
    for _ in range(SHUFFLES):
        order = rng.permutation(len(labels))
        for start in range(0, len(labels), batch):
            total += int(np.floor(ratio * labels[order[start:start + batch]].sum(0) + 1e-9).sum())
    return total / SHUFFLES


def estimator_flags(run: Path, feeder: SplitFeeder, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The estimator's own noisy flags (jomold_noisy), forward without cross-attention as the recipe runs it."""
    model, _ = load_checkpoint(run / "stages" / "estimator")
    probs = {m: [] for m in MODALITIES}
    with torch.no_grad():
        for batch in feeder.batches(JOMOLD_TRAIN["batch_size"]):
            out = model(batch, **cross_off(model))
            probs["audio"].append(out.audio_prob.double().numpy())
            probs["visual"].append(out.visual_prob.double().numpy())
    a, v = (np.concatenate(probs[m]) for m in MODALITIES)
    means = _arrays(run / "stages" / "ratios" / "noise_ratios.npz", ("mean_audio", "mean_visual"))
    m_a, m_v = means["mean_audio"], means["mean_visual"]
    noisy_a, noisy_v = jomold_noisy(labels, a, v, m_a, m_v)
    return {"audio": noisy_a, "visual": noisy_v}


def _round(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 1)


def _arrays(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of a run's .npz (never pickles), or one line naming the file and what is wrong."""
    try:
        with np.load(path) as z:
            return {k: z[k] for k in keys}
    except (OSError, KeyError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read {', '.join(keys)} ({exc}); is the run finished?") from None


def audit(run: Path, data: Path, baseline: Path | None = None) -> dict:
    recipe = read_card(run).config.get("recipe")
    dataset = LLPDataset(data)
    feeder = SplitFeeder(dataset.split("train"))
    labels = feeder.labels.numpy()
    pos = labels > 0.5
    truth_a, truth_v = LLPDataset(data, oracle=True).oracle_train_truth()
    absent = {"audio": pos & ~truth_a.any(1).astype(bool), "visual": pos & ~truth_v.any(1).astype(bool)}
    if recipe in ("ma", "capc"):  # CAPC's second stage is MA's label estimation (paper 000)
        z = _arrays(run / "stages" / "labels" / "labels.npz", ("audio_remove", "visual_remove"))
        removed = {"audio": z["audio_remove"], "visual": z["visual_remove"]}
    elif recipe == "jomold":  # the last epoch's drops, as the run's metrics report them
        removed = {m: a[-1] for m, a in _arrays(run / "stages" / "denoise" / "drops.npz", MODALITIES).items()}
    else:
        raise SystemExit(f"{run}: recipe {recipe!r} removes no labels (ma, capc or jomold expected)")
    out = {"run": str(run), "recipe": recipe, "quality": removal_quality(labels, removed, {"audio": truth_a,
                                                                                           "visual": truth_v}),
           "per_class": {m: per_class(removed[m] & pos, absent[m]) for m in MODALITIES}}
    if baseline is not None:
        test = dataset.split("test")
        f1 = {}
        for name, folder in (("run", run), ("baseline", baseline)):
            model, card = load_checkpoint(folder)
            f1[name] = evaluate(model, test, card.gating).per_class
        out["classes"] = {CLASSES[c]: {m: {
            "removed_share": round(float((removed[m] & pos)[:, c].sum() / max(1, pos[:, c].sum())), 3),
            "test_f1": _round(f1["run"][f"segment/{m}"][c]),
            "baseline_test_f1": _round(f1["baseline"][f"segment/{m}"][c])} for m in MODALITIES}
            for c in range(len(CLASSES))}
    if recipe == "jomold":
        ratios = _arrays(run / "stages" / "ratios" / "noise_ratios.npz", MODALITIES)
        flags = estimator_flags(run, feeder, labels)
        out["jomold"] = {m: {
            "ratio_range": [round(float(ratios[m].min()), 4), round(float(ratios[m].max()), 4)],
            "estimated_noisy": round(float((ratios[m] * pos.sum(0)).sum())),
            "epoch_capacity": round(drop_capacity(pos, ratios[m], JOMOLD_TRAIN["batch_size"])),
            "estimator_flags": int(flags[m].sum()),
            "estimator_precision": round(float((flags[m] & absent[m]).sum() / max(1, flags[m].sum())), 3),
            "estimator_recall": round(float((flags[m] & absent[m]).sum() / max(1, absent[m].sum())), 3),
        } for m in MODALITIES}
    return out


def llp_side() -> dict:
    named, total = claims.MA_RELEASED_REMOVALS["audio"]
    named_v, total_v = claims.MA_RELEASED_REMOVALS["visual"]
    train = llp_stats()["train"]
    share = {m: {c: round(n / (train["class_frequency"][c] * train["videos"]), 3)
                 for c, n in claims.MA_RELEASED_REMOVALS[m][0].items()} for m in MODALITIES}
    return {"ma_removed_share": share, "ma_audio_removed": total,
            "ma_audio_precision_at_most": round(claims.llp_precision_bound("audio", named, total), 3),
            "ma_visual_removed": total_v, "ma_visual_precision_at_most": round(claims.llp_precision_bound(
                "visual", named_v, total_v), 3),
            "truly_absent_share": {m: round(claims.llp_absent_share(m), 4) for m in MODALITIES},
            "speech_seen_not_heard": claims.llp_absent_share("audio", "Speech"),
            "jomold_speech_audio_ratio": claims.JOMOLD_RELEASED_SPEECH_AUDIO_RATIO}


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the SynthLLP folder the runs trained on")
    ap.add_argument("--run", type=Path, nargs="+", required=True)
    ap.add_argument("--baseline", type=Path, nargs="+", help="per --run, its model on the weak labels (per-class "
                    "test F1 against it)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    print(machine_info())
    if args.baseline and len(args.baseline) != len(args.run):
        raise SystemExit("--baseline takes one folder per --run")
    baselines = args.baseline or [None] * len(args.run)
    try:  # a folder that is no SynthLLP with train truth, a baseline that is no checkpoint: one line each
        runs = [audit(r, args.data, b) for r, b in zip(args.run, baselines, strict=True)]
    except InputError as exc:
        raise SystemExit(str(exc)) from None
    result = {"runs": runs, "llp": llp_side()}
    for r in result["runs"]:
        print(f"\n{r['run']} ({r['recipe']})")
        for m in MODALITIES:
            q = r["quality"][m]
            print(f"  {m}: {q['removed']} removed, precision {_f(q['precision'])}, recall {_f(q['recall'])}, "
                  f"truly absent {q['truly_absent']} of {q['positives']} positives")
            top = sorted(r["per_class"][m].items(), key=lambda kv: -kv[1]["removed"])[:6]
            print("    " + ", ".join(f"{c} {v['removed']} ({v['right']} right; {v['truly_absent']} absent)"
                                     for c, v in top if v["removed"]))
            if "jomold" in r:
                print(f"    JoMoLD: {r['jomold'][m]}")
            if "classes" in r:  # the classes it strips most, and what that did to their test F1
                rows = sorted(r["classes"].items(), key=lambda kv: -kv[1][m]["removed_share"])[:8]
                print("    removed share of the class's train positives -> segment test F1, run vs baseline: "
                      + ", ".join(f"{c} {v[m]['removed_share']:.0%} -> {v[m]['test_f1']} vs "
                                  f"{v[m]['baseline_test_f1']}" for c, v in rows))
    print(f"\nLLP: {result['llp']}")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
