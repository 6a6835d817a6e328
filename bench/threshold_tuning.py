"""How much of each checkpoint's error is calibration: decision thresholds tuned on val (analysis.thresholds.tune,
as the Thresholds page's "Tune on val"), read on test, beside the protocol's 0.5 and beside thresholds tuned on test
itself (what a figure tuned on the split it reports would claim: the optimism of tuning on test).

    python bench/threshold_tuning.py --data data/synthllp-mini [--checkpoint DIR ...] [--metric segment/type]
                                     [--json out.json]

Without --checkpoint: every shipped checkpoint in checkpoints/. Seconds per checkpoint on the CPU.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from common import machine_info

from avvp_core.analysis.thresholds import PROTOCOL, figures_at, tune
from avvp_core.checkpoints import load_checkpoint
from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.evaluation import predict
from avvp_core.fileio import write_json
from avvp_core.paths import CHECKPOINTS_DIR
from avvp_core.zoo import shipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--checkpoint", nargs="*", default=None, help="default: the shipped zoo")
    ap.add_argument("--metric", default="segment/type", choices=METRIC_KEYS, help="the figure tuned for")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        dataset = LLPDataset(args.data)
        val, test = dataset.split("val"), dataset.split("test")
        if not (val.has_truth and test.has_truth):
            raise InputError("val and test need dense truth (tuning reads val, the figures test)", args.data)
        folders = [Path(c) for c in args.checkpoint] if args.checkpoint else shipped(CHECKPOINTS_DIR)
        print(machine_info())
        key = args.metric
        print(f"test {key}: at 0.5 | tuned on val (thresholds a / v / video) | tuned on test (its optimism)")
        rows = {}
        for folder in folders:
            model, card = load_checkpoint(folder)
            on_val, on_test = predict(model, val, source=str(folder)), predict(model, test, source=str(folder))
            gating = card.gating
            at_half = figures_at(on_test, test.gt_audio, test.gt_visual, gating, PROTOCOL)
            from_val, val_value = tune(on_val, val.gt_audio, val.gt_visual, gating, key)
            tuned = figures_at(on_test, test.gt_audio, test.gt_visual, gating, from_val)
            from_test, oracle = tune(on_test, test.gt_audio, test.gt_visual, gating, key)
            rows[str(folder)] = {"gating": gating, "test_at_half": at_half, "val_at_half": figures_at(
                on_val, val.gt_audio, val.gt_visual, gating, PROTOCOL)[key], "tuned_on_val": asdict(from_val),
                "val_tuned": val_value, "test_tuned_on_val": tuned, "tuned_on_test": asdict(from_test),
                "test_tuned_on_test": oracle}
            print(f"{str(folder)[-28:]:28s} {at_half[key]:6.2f} | {tuned[key]:6.2f} ({tuned[key] - at_half[key]:+.2f}; "
                  f"{from_val.audio:.2f} / {from_val.visual:.2f} / {from_val.video:.2f}) | {oracle:6.2f} "
                  f"({oracle - at_half[key]:+.2f})", flush=True)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        write_json(args.json, {"data": str(args.data), "fingerprint": dataset.fingerprint(), "metric": key,
                               "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
