"""Train a matrix of (model, recipe, overrides) x seeds on one data folder, sequentially, and print the ten
test figures of each run plus mean ± std per configuration. Results land in OUT/results.json (appended
run by run, so an interrupted matrix keeps what it finished; finished runs are skipped on restart).

    python bench/run_matrix.py --data data/synthllp-mini --out runs/matrix --width demo --seeds 1 2 3 \
        --run han:plain --run han:ma --run han:jomold --run "han:jomold:batch_size=25"

A run spec is MODEL:RECIPE[:KEY=VALUE,...] (training overrides), or zoo:ENTRY for an entry of the demo zoo
(avvp_core/zoo.py: its model, recipe and the zoo's budget, LLP's steps), so the zoo's single-seed claims can be
re-checked over seeds with `python bench/claims.py OUT/results.json`.
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

from avvp_core.constants import METRIC_KEYS
from avvp_core.data import LLPDataset
from avvp_core.training.recipes import RecipeContext, run_recipe
from avvp_core.zoo import ENTRIES, ZOO_BUDGET


def parse_spec(spec: str) -> tuple[str, str, dict]:
    if spec.startswith("zoo:"):
        entry = ENTRIES[spec[4:]]
        return entry.model, entry.recipe, dict(entry.train_overrides)
    parts = spec.split(":")
    model, recipe = parts[0], parts[1] if len(parts) > 1 else "plain"
    overrides = {}
    if len(parts) > 2 and parts[2]:
        for item in parts[2].split(","):
            key, value = item.split("=")
            overrides[key] = ast.literal_eval(value)
    return model, recipe, overrides


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="runs/matrix")
    p.add_argument("--width", default="demo", choices=("paper", "demo"))
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--run", action="append", required=True)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_info(), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    data = LLPDataset(args.data)
    for spec in args.run:
        model, recipe, overrides = parse_spec(spec)
        for seed in args.seeds:
            key = f"{spec}|{args.width}|s{seed}"
            if key in results:
                continue
            zoo = spec.startswith("zoo:")
            name = (f"{spec[4:]}-zoo" if zoo else f"{model}-{recipe}-{args.width}"
                    + "".join(f"-{k}{v}" for k, v in overrides.items())) + f"-s{seed}"
            t0 = time.perf_counter()
            ctx = RecipeContext(data, model, out / name, args.width, {}, {**overrides, "seed": seed}, terminal=False,
                                budget=ZOO_BUDGET if zoo else None)
            res = run_recipe(recipe, ctx)
            m = res.metrics
            results[key] = {"spec": spec, "seed": seed, "folder": str(out / name),
                            "seconds": time.perf_counter() - t0, "test": m.get("test"), "val": m.get("val"),
                            "refinement": m.get("refinement"), "selected_epoch": m["selected_epoch"]}
            results_path.write_text(json.dumps(results, indent=1))
            t = res.metrics["test"]
            print(f"{key}: {results[key]['seconds']:.0f} s  seg type {t['segment/type']:.2f}  ev type "
                  f"{t['event/type']:.2f}", flush=True)
    print(f"\n{'configuration':<40}" + "".join(f"{k:>16}" for k in METRIC_KEYS))
    for spec in args.run:
        rows = [r["test"] for k, r in results.items() if k.startswith(f"{spec}|{args.width}|")]
        if not rows:
            continue
        table = np.array([[r[k] for k in METRIC_KEYS] for r in rows])
        spread = table.std(axis=0, ddof=1) if len(rows) > 1 else np.zeros(len(METRIC_KEYS))
        cells = zip(table.mean(0), spread, strict=True)
        print(f"{spec + f' (n={len(rows)})':<40}" + "".join(f"{m:>10.2f}±{s:<5.2f}" for m, s in cells))


if __name__ == "__main__":
    main()
