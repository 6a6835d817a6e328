"""How much a trained checkpoint leans on the other modality: the figures behind "HAN + MA above HAN" (issue 9).

    python bench/cross_modal_reliance.py --data data/synthllp-full --checkpoint runs/x [runs/y ...] [--json out.json]

For each checkpoint:
1. Single- vs multi-modality events on --split (test), paper 000's table 1: HAN on real LLP scores 44.0 / 67.2
   and HAN without cross-attention 47.0 / 58.8 (segment level). The paper says only "averaged F-scores per event";
   here an event is a (video, class) pair of the truth: single-modality when the class is only heard or only
   seen in that video, multi-modality when its audio and visual extents overlap in time (both present but apart:
   neither). F1 pools the pair's 2 x 10 (modality, segment) decisions, gated as the checkpoint's card says, and is
   averaged over the classes that have such events. A model that borrows the other modality's evidence scores low
   on single-modality events: it predicts the class in the modality where it is absent.
2. MA's modality-swap test (refinement.ma_swap_probs; partners drawn with --seed, as the MA recipe draws them) on
   --swap-split (train), scored against SynthLLP's train truth: labels removed per modality, precision, recall,
   and the mean audio probability of positives with the partner's visual tracks ("a_v") for events heard and
   seen vs heard only (and the visual counterpart "v_a"). A model whose audio verdict survives a foreign picture
   keeps a_v high for heard-and-seen events; MA then removes few true audio labels.
3. With --per-class, the swap test class by class: how many positives are heard and seen, heard only, seen only, and
   the mean probabilities behind MA's two rules. Each branch's own verdict ("a", "v", the video as it is) beside the
   verdict with a foreign track ("a_v", "v_a"). A class whose a_v collapses on heard-and-seen events while v_a stays
   high is detected from its picture by both branches: MA then removes its true audio labels. Run it with
   --swap-split test as well: train figures far above the test ones mean the model memorised its training videos.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from common import machine_info

from avvp_core.checkpoints import load_checkpoint
from avvp_core.constants import CLASSES, MODALITIES
from avvp_core.data import LLPDataset
from avvp_core.evaluation import predict
from avvp_core.training.feeder import SplitFeeder
from avvp_core.training.refinement import ma_partners, ma_removals, ma_swap_probs, ma_thresholds, removal_quality

REAL_HAN = {"single": 44.0, "multi": 67.2}  # paper 000, table 1 (segment level, real LLP test)
REAL_HAN_NO_CROSS = {"single": 47.0, "multi": 58.8}


def event_kinds(gt_audio: np.ndarray, gt_visual: np.ndarray) -> dict[str, np.ndarray]:
    """(N, C) masks of the (video, class) events: heard or seen only ("single"), heard and seen at once ("multi")."""
    heard, seen = gt_audio.any(1), gt_visual.any(1)
    return {"single": heard ^ seen, "multi": (gt_audio & gt_visual).any(1)}


def kind_f1(pred_a: np.ndarray, pred_v: np.ndarray, gt_a: np.ndarray, gt_v: np.ndarray, kind: np.ndarray) -> float:
    """Per-class F1 over the 2 x T decisions of the events in `kind` (N, C), averaged over classes that have any."""
    scores = []
    for c in range(kind.shape[1]):
        rows = np.flatnonzero(kind[:, c])
        if len(rows):
            pred = np.concatenate([pred_a[rows, :, c], pred_v[rows, :, c]], 1)  # (n, 2T)
            truth = np.concatenate([gt_a[rows, :, c], gt_v[rows, :, c]], 1)
            tp, wrong = (pred & truth).sum(), (pred ^ truth).sum()
            scores.append(2 * tp / (2 * tp + wrong) if tp + wrong else 1.0)
    return 100.0 * float(np.mean(scores)) if scores else float("nan")


def single_multi(model: torch.nn.Module, gating: str, split) -> dict[str, float]:
    pred_a, pred_v = predict(model, split).decisions(gating)
    gt_a, gt_v = split.gt_audio.astype(bool), split.gt_visual.astype(bool)
    kinds = event_kinds(gt_a, gt_v)
    return {k: kind_f1(pred_a, pred_v, gt_a, gt_v, mask) for k, mask in kinds.items()} | \
        {f"{k}_events": int(mask.sum()) for k, mask in kinds.items()}


def swap_test(model: torch.nn.Module, split, seed: int) -> dict:
    feeder = SplitFeeder(split)
    labels = feeder.labels.numpy()
    partners = ma_partners(labels, np.random.default_rng(seed))
    p = ma_swap_probs(model.eval(), feeder, partners)
    r_a, r_v = ma_thresholds(labels, p["a"], p["v"])
    audio, visual = ma_removals(labels, p["a_v"], p["v_v"], p["a_a"], p["v_a"], r_a, r_v)
    has = (partners >= 0)[:, None]
    truth = {"audio": split.gt_audio, "visual": split.gt_visual}
    out = removal_quality(labels, {"audio": audio & has, "visual": visual & has}, truth)
    pos = labels > 0.5
    heard, seen = split.gt_audio.any(1) > 0, split.gt_visual.any(1) > 0
    both = pos & heard & seen
    out["a_v"] = {"heard_and_seen": _mean(p["a_v"], both), "heard_only": _mean(p["a_v"], pos & heard & ~seen)}
    out["v_a"] = {"heard_and_seen": _mean(p["v_a"], both), "seen_only": _mean(p["v_a"], pos & seen & ~heard)}
    out["per_class"] = per_class_swap(p, pos & heard & seen, pos & heard & ~seen, pos & seen & ~heard)
    return out


PER_CLASS_COLUMNS = (  # (name, probability, kind of positive): each a per-class mean
    ("a AV", "a", "both"), ("a_v AV", "a_v", "both"), ("a_v A", "a_v", "heard_only"),
    ("v AV", "v", "both"), ("v_a AV", "v_a", "both"), ("v_a V", "v_a", "seen_only"))


def per_class_swap(p: dict[str, np.ndarray], both: np.ndarray, heard_only: np.ndarray,
                   seen_only: np.ndarray) -> dict[str, dict]:
    """Per class: positives of each kind and the mean swap-test probabilities of PER_CLASS_COLUMNS (None: none)."""
    kinds = {"both": both, "heard_only": heard_only, "seen_only": seen_only}
    return {name: {**{f"n_{k}": int(mask[:, c].sum()) for k, mask in kinds.items()},
                   **{col: _mean(p[prob][:, c], kinds[kind][:, c]) for col, prob, kind in PER_CLASS_COLUMNS}}
            for c, name in enumerate(CLASSES)}


def print_per_class(per_class: dict[str, dict]) -> None:
    print(f"  {'class':24s} {'n AV':>5s} {'n A':>5s} {'n V':>5s} | "
          + " ".join(f"{col:>6s}" for col, _, _ in PER_CLASS_COLUMNS))
    for name, row in per_class.items():
        print(f"  {name:24s} {row['n_both']:5d} {row['n_heard_only']:5d} {row['n_seen_only']:5d} | "
              + " ".join(_cell(row[col], 6) for col, _, _ in PER_CLASS_COLUMNS))


def _cell(value: float | None, width: int) -> str:
    return f"{'-' if value is None else f'{value:.2f}':>{width}s}"


def _mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(values[mask].mean()) if mask.any() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a SynthLLP folder (the swap test needs its train truth)")
    ap.add_argument("--checkpoint", nargs="+", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--swap-split", default="train")
    ap.add_argument("--seed", type=int, default=1, help="MA partner draw (the MA recipe uses its training seed)")
    ap.add_argument("--per-class", action="store_true", help="print the swap test class by class")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    print(machine_info())
    data = LLPDataset(args.data, oracle=True)
    rows = {}
    print(f"{'checkpoint':44s} {'single':>6s} {'multi':>6s} | {'A rm':>5s} {'prec':>5s} {'V rm':>5s} {'prec':>5s} | "
          f"{'a_v AV':>6s} {'a_v A':>6s}")
    print(f"{'real LLP, HAN (paper 000, table 1)':44s} {REAL_HAN['single']:6.1f} {REAL_HAN['multi']:6.1f}")
    print(f"{'real LLP, HAN without cross-attention':44s} {REAL_HAN_NO_CROSS['single']:6.1f} "
          f"{REAL_HAN_NO_CROSS['multi']:6.1f}")
    for folder in args.checkpoint:
        model, card = load_checkpoint(folder)
        row = {"single_multi": single_multi(model, card.gating, data.split(args.split)),
               "swap": swap_test(model, data.split(args.swap_split), args.seed)}
        rows[folder] = row
        sm, sw = row["single_multi"], row["swap"]
        fmt = " ".join(f"{sw[m]['removed']:5d} {_cell(sw[m]['precision'], 5)}" for m in MODALITIES)
        print(f"{str(folder)[-44:]:44s} {sm['single']:6.1f} {sm['multi']:6.1f} | {fmt} | "
              + " ".join(_cell(v, 6) for v in sw["a_v"].values()), flush=True)
        if args.per_class:
            print_per_class(sw["per_class"])
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
