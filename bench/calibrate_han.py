"""Train HAN (plain recipe or a refinement recipe) on a data folder over several seeds and print the ten
test figures as mean ± spread beside HAN's published figures on the real LLP test set.

    python bench/calibrate_han.py --data data/synthllp-mini --width demo --seeds 1 2 3 [--recipe ma] [--epochs 40]

The reference row is paper 000 (Xu, Hu, Lee), table 2: HAN with the official recipe on LLP test.
Used to check SynthLLP's difficulty after any generator change (issue: calibrate SynthLLP).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import machine_info

from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.training.recipes import RecipeContext, run_recipe

# HAN on real LLP test (paper 000, table 2): segment A/V/AV/Type/Event, then event level.
REAL_HAN = dict(zip(METRIC_KEYS, (60.1, 52.9, 48.9, 54.0, 55.4, 51.3, 48.9, 43.0, 47.7, 48.0), strict=True))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--model", default="han")
    p.add_argument("--recipe", default="plain")
    p.add_argument("--width", default="paper", choices=("paper", "demo"))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--epochs", type=int)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/calibration")
    p.add_argument("--json", help="write all runs' figures here")
    args = p.parse_args()
    print(machine_info())
    data = LLPDataset(args.data)
    meta = data.synth_meta or {}
    print(f"data: {args.data} (generator {meta.get('generator_version')}, preset {meta.get('preset')}, "
          f"knobs {meta.get('knobs')})")
    runs = []
    for seed in args.seeds:
        train = {"seed": seed, "device": args.device, **({"epochs": args.epochs} if args.epochs else {})}
        out = Path(args.out) / f"{args.model}-{args.recipe}-{args.width}-s{seed}"
        t0 = time.perf_counter()
        ctx = RecipeContext(data, args.model, out, args.width, {}, train)
        result = run_recipe(args.recipe, ctx)
        runs.append(result.metrics["test"])
        test = result.metrics["test"]
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s, test segment/type {test['segment/type']:.2f}"
              f" event/type {test['event/type']:.2f}", flush=True)
    table = np.array([[r[k] for k in METRIC_KEYS] for r in runs])
    print(f"\n{'figure':<16}{'real LLP HAN':>13}{'mean':>8}{'± std':>8}{'min':>8}{'max':>8}")
    for i, key in enumerate(METRIC_KEYS):
        col = table[:, i]
        print(f"{key:<16}{REAL_HAN[key]:>13.1f}{col.mean():>8.2f}{col.std(ddof=1) if len(col) > 1 else 0:>8.2f}"
              f"{col.min():>8.2f}{col.max():>8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "seeds": args.seeds, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
