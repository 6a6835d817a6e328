"""Measure the Lab page's presets: for each preset (a set of SynthLLP knobs), generate its data as the page does,
train the page's two models (HAN and MMT, demo width, the page's training settings) over several seeds, and write the
test figures of every run and their MMT − HAN differences (mean ± std over seeds) to a JSON file that the page reads.

    python bench/lab_presets.py --seeds 1 2 3 --out avvp_core/analysis/lab_presets.json [--threads 1]

About 1-2 minutes per run on one core (two models per seed and preset). Resumable: finished runs are read back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avvp_core.analysis import lab  # noqa: E402
from avvp_core.checkpoints import read_card  # noqa: E402
from avvp_core.constants import METRIC_KEYS  # noqa: E402
from avvp_core.data import LLPDataset  # noqa: E402
from avvp_core.data.synthetic import generate_and_cache  # noqa: E402
from avvp_core.fileio import write_json  # noqa: E402
from avvp_core.training.recipes import RecipeContext, run_recipe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--presets", nargs="*", default=list(lab.PRESETS))
    parser.add_argument("--work", type=Path, default=Path("runs/lab-presets"))
    parser.add_argument("--out", type=Path, default=Path("avvp_core/analysis/lab_presets.json"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    settings = {m: lab.model_settings(m) for m in lab.LAB_MODELS}
    for preset in args.presets:
        knobs = {**lab.default_knobs(), **lab.PRESETS[preset]["knobs"]}
        folder = args.work / lab.data_name(knobs)
        if not lab.data_ready(folder):
            generate_and_cache(folder, preset=lab.LAB_PRESET, seed=0, overwrite=True, **lab.synth_knobs(knobs))
        data = LLPDataset(folder)
        runs = {}
        for model in lab.LAB_MODELS:
            for seed in args.seeds:
                out = args.work / "runs" / lab.run_name(folder.name, model, lab.LAB_TRAIN["epochs"], seed)
                if not (out / "metrics.json").is_file() or not read_card(out).metrics.get("complete"):
                    t0 = time.perf_counter()
                    train = {**{k: v for k, v in lab.LAB_TRAIN.items() if k != "train_options"},
                             **lab.LAB_TRAIN.get("train_options", {}), "seed": seed}
                    run_recipe("plain", RecipeContext(data, model, out, "demo", {}, train, terminal=False))
                    print(f"{preset} {model} s{seed}: {time.perf_counter() - t0:.0f} s", flush=True)
                card = read_card(out)
                trained = {"model_config": card.config["model_config"], "lr": card.config["train"]["lr"]}
                if trained != settings[model]:  # a reused run of other settings
                    sys.exit(f"{out}: trained with {trained}, the Lab now uses {settings[model]}: remove it")
                runs.setdefault(model, []).append(card.metrics["test"])
        a, b = lab.LAB_MODELS
        per_run = {m: {k: [r[k] for r in rows] for k in METRIC_KEYS} for m, rows in runs.items()}
        delta = {k: np.subtract(per_run[b][k], per_run[a][k]) for k in METRIC_KEYS}
        results[preset] = {
            "knobs": knobs, "seeds": args.seeds,
            "mean": {m: {k: round(float(np.mean(v)), 2) for k, v in figs.items()} for m, figs in per_run.items()},
            "std": {m: {k: round(float(np.std(v)), 2) for k, v in figs.items()} for m, figs in per_run.items()},
            "delta_mean": {k: round(float(v.mean()), 2) for k, v in delta.items()},
            "delta_std": {k: round(float(v.std()), 2) for k, v in delta.items()},
            "delta_runs": {k: [round(float(x), 2) for x in v] for k, v in delta.items()},
        }
        write_json(args.out, {"models": list(lab.LAB_MODELS), "train": lab.LAB_TRAIN, "sizes": lab.LAB_SIZES,
                              "model_settings": settings, "presets": results})
        print(preset, json.dumps(results[preset]["delta_mean"]), flush=True)


if __name__ == "__main__":
    main()
