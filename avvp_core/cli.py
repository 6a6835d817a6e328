"""`python -m avvp_core COMMAND ...` — thin over the package. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path
from typing import Any

from .errors import InputError


def _kv(items: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE pairs; values parsed as Python literals (1, 0.5, True, 'x'), plain strings otherwise."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"expected KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key.strip().replace("-", "_")] = raw
    return out


def _write_json(path: str | None, obj: dict) -> None:
    text = json.dumps(obj, indent=2)
    if path:
        from .fileio import write_text

        write_text(path, text + "\n")
    print(text)


def _figures_table(summary: dict[str, float], title: str = "") -> str:
    head = f"{title}\n" if title else ""
    rows = [f"{'level':<8} {'audio':>7} {'visual':>7} {'av':>7} {'type':>7} {'event':>7}"]
    for level in ("segment", "event"):
        vals = [summary.get(f"{level}/{f}", float("nan")) for f in ("audio", "visual", "av", "type", "event")]
        rows.append(f"{level:<8} " + " ".join(f"{v:7.2f}" for v in vals))
    return head + "\n".join(rows)


# --------------------------------------------------------------------------------------------- commands


def cmd_synth(args: argparse.Namespace) -> int:
    from .data.synthetic import KNOBS, generate_and_cache

    knobs = {k: getattr(args, k) for k in KNOBS if getattr(args, k, None) is not None}
    t0 = time.perf_counter()
    last = [-1.0]

    def progress(frac: float, msg: str) -> None:
        if frac - last[0] >= 0.1 or frac >= 1:
            last[0] = frac
            print(f"[{frac * 100:5.1f}%] {msg}", file=sys.stderr)

    out = generate_and_cache(args.out_dir, preset=args.preset, seed=args.seed, overwrite=args.overwrite,
                             progress=progress, **knobs)
    print(f"SynthLLP {args.preset} (seed {args.seed}) written to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .data.dataset import LLPDataset
    from .data.stats import dataset_statistics, format_statistics

    ds = LLPDataset(args.data_dir)
    stats = dataset_statistics(ds)
    if args.json:
        _write_json(args.json, stats)
    else:
        print(format_statistics(stats))
    for report in ds.reports:
        print(report.summary(), file=sys.stderr)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .data.dataset import LLPDataset
    from .metrics import score
    from .predictions import load_prediction_file

    ds = LLPDataset(args.data)
    split = ds.split(args.split)
    if not split.has_truth:
        raise InputError(f"split {args.split!r} has no dense truth; score val or test")
    preds = load_prediction_file(args.pred, split.filenames)
    pred_a, pred_v = preds.decisions(args.gating)
    report = score(pred_a, pred_v, split.gt_audio, split.gt_visual)
    for r in ds.reports:
        if r.empty_rows or r.unmatched_rows or r.duplicate_rows:
            print(f"note: {r.summary()}", file=sys.stderr)
    _write_json(args.json, report.to_json())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import count_parameters, create_model, list_models, model_info

    rows = []
    for name in list_models():
        info = model_info(name)
        paper_params = count_parameters(create_model(name))
        demo_params = count_parameters(create_model(name, "demo")) if info.demo else paper_params
        rows.append({"name": name, "paper": info.paper, "parameters": paper_params, "demo_parameters": demo_params,
                     "paper_parameters": info.paper_params, "gating": info.gating, "summary": info.summary})
    if args.json:
        _write_json(None, {"models": rows})
        return 0
    print(f"{'name':<18} {'params':>11} {'demo':>10}  paper (its own parameter figure, where it gives one)")
    for r in rows:
        figure = f" [{r['paper_parameters']}]" if r["paper_parameters"] else ""
        print(f"{r['name']:<18} {r['parameters']:>11,} {r['demo_parameters']:>10,}  {r['paper']}{figure}")
    return 0


def _device(name: str) -> str:
    import torch

    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {name}: expected cpu, cuda or cuda:N") from None
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available on this machine")
    return name


def cmd_train(args: argparse.Namespace) -> int:
    from .data.dataset import LLPDataset
    from .jobs import validate
    from .training.recipes import RecipeContext, budget_plan, format_plan, run_recipe

    train_overrides = _kv(args.train_set)
    for flag in ("epochs", "batch_size", "lr", "seed"):
        if getattr(args, flag) is not None:
            train_overrides[flag] = getattr(args, flag)
    train_overrides["device"] = _device(args.device)
    model_overrides = _kv(args.set)
    budget = args.budget or ("llp_steps" if args.llp_steps else None)
    # Every option checked (model buildable within the parameter limit, training values in range) before the data is
    # read or any folder exists.
    validate(args.model, args.recipe, args.width, model_overrides, train_overrides)
    data = LLPDataset(args.data)
    ctx = RecipeContext(data, args.model, Path(args.out), args.width, model_overrides, train_overrides, budget=budget,
                        base_from=Path(args.base_from) if args.base_from else None)
    print(format_plan(budget_plan(args.model, args.recipe, len(data.split("train")), train_overrides, budget,
                                  args.width)),
          flush=True)
    result = run_recipe(args.recipe, ctx)
    m = result.metrics
    print(f"checkpoint: {result.folder} (epoch {m.get('selected_epoch')} selected on {m.get('selection_metric')}, "
          f"{m.get('train_seconds')} s)")
    for split in ("val", "test"):
        if split in m:
            print(_figures_table(m[split], f"{split}:"))
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    from .checkpoint_schema import MAX_SEEDS
    from .paths import CHECKPOINTS_DIR, DEFAULT_DATA, RUNS_DIR
    from .zoo import ZOO_SEED, train_zoo

    data = Path(args.data) if args.data else DEFAULT_DATA
    if args.data is None and not (data / "AVVP_train.csv").is_file():
        from .data.synthetic import generate_and_cache

        print(f"generating SynthLLP mini (seed 0) into {data}", flush=True)
        generate_and_cache(data, preset="mini", seed=0)
    out = Path(args.out) if args.out else CHECKPOINTS_DIR
    work = Path(args.work) if args.work else RUNS_DIR / "zoo"
    seeds = args.seeds or [ZOO_SEED]
    if len(set(seeds)) != len(seeds) or min(seeds) < 0 or len(seeds) > MAX_SEEDS:
        raise InputError(f"--seeds must be distinct non-negative integers, at most {MAX_SEEDS} of them")
    rows = train_zoo(data, out, work, args.only, _device(args.device), log=lambda m: print(m, flush=True),
                     budget=args.budget, as_shipped=args.as_shipped, seeds=seeds, train=not args.export_only,
                     export_entries=not args.no_export)
    if args.no_export:
        print(f"trained in {work}; export with: python -m avvp_core zoo --export-only --work {work} --out {out}")
        return 0
    print(f"\n{'entry':<18}{'seg Type@AV':>12}{'seg Event@AV':>13}{'ev Type@AV':>11}{'ev Event@AV':>12}"
          f"  seeds (test seg / ev Type@AV, mean ± std)")
    for row in rows:
        t, over = row["test"], row.get("seeds") or {}
        spread = "1 seed"
        if over.get("std") and "test" in over["mean"]:
            m, sd = over["mean"]["test"], over["std"]["test"]
            spread = (f"{len(over['seeds'])} seeds: {m['segment/type']:.1f} ± {sd['segment/type']:.1f} / "
                      f"{m['event/type']:.1f} ± {sd['event/type']:.1f}")
        print(f"{row['name']:<18}{t['segment/type']:>12.1f}{t['segment/event']:>13.1f}{t['event/type']:>11.1f}"
              f"{t['event/event']:>12.1f}  {spread}")
    print(f"checkpoints in {out} (index {out / 'zoo.json'}; the figures are seed {ZOO_SEED}'s, the shipped weights)")
    return 0


def _load(args: argparse.Namespace):
    from .checkpoints import load_checkpoint
    from .data.dataset import LLPDataset

    model, card = load_checkpoint(args.checkpoint, _device(args.device))
    ds = LLPDataset(args.data)
    ds.split(args.split)  # a broken or missing split is the error to report, before any fingerprint warning
    fp = (card.config.get("data") or {}).get("fingerprint")
    if fp and fp != ds.fingerprint():
        print(f"warning: {args.checkpoint} was trained on data with fingerprint {fp}, "
              f"this folder's is {ds.fingerprint()}", file=sys.stderr)
    return model, card, ds


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import predict, score_predictions

    model, card, ds = _load(args)
    split = ds.split(args.split)
    gating = args.gating or card.gating
    report = score_predictions(predict(model, split, device=args.device, source=str(card.path)), split, gating)
    out = {**report.to_json(), "checkpoint": str(card.path), "split": args.split, "gating": gating}
    if args.json:
        from .fileio import write_json

        write_json(args.json, out)
    print(_figures_table(report.summary, f"{card.name} on {args.split} ({gating} gating):"))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .evaluation import predict
    from .fileio import save_npz

    model, card, ds = _load(args)
    preds = predict(model, ds.split(args.split), device=args.device, source=str(card.path))
    preds.gating = card.gating  # recorded, so that `score` gates the way the model's paper does
    save_npz(args.out, **preds.npz_arrays())
    print(f"wrote {args.out}: {len(preds.filenames)} videos ({', '.join(preds.npz_arrays())})")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    out = convert(args.source, args.out, args.source_format)
    print(f"converted {args.source} ({args.source_format}) -> {out}")
    return 0


# ------------------------------------------------------------------------- extract / parse (issue 23)
def _extractors(args: argparse.Namespace):
    from .extract.pipeline import Extractors, Settings

    settings = Settings.from_env(args.vggish, random=args.random_weights)
    if settings.weights == "random":
        print(f"note: {settings.label}", file=sys.stderr)
    return Extractors(settings, _device(args.device), download=not args.offline,
                      progress=lambda frac, msg: print(f"[{frac * 100:5.1f}%] {msg}", file=sys.stderr))


def _progress_every(step: float):
    """A progress callback printing to stderr at most every `step` of the way (and at the end)."""
    last = [-1.0]

    def progress(frac: float, msg: str) -> None:
        if frac - last[0] >= step or frac >= 1:
            last[0] = frac
            print(f"[{frac * 100:5.1f}%] {msg}", file=sys.stderr, flush=True)

    return progress


def cmd_extract(args: argparse.Namespace) -> int:
    from .extract.pipeline import extract_folder

    ex = _extractors(args)
    report = extract_folder(args.source, args.out, ex, log=lambda m: print(m, flush=True),
                            progress=_progress_every(0.02))
    print(f"{len(report.extracted)} extracted, {len(report.skipped)} already there, {len(report.failed)} failed "
          f"-> {args.out} (feats/, AVVP_test_pd.csv, extraction.json)")
    return 0 if report.extracted or report.skipped else 2


def cmd_parse(args: argparse.Namespace) -> int:
    from .checkpoints import read_card
    from .extract.pipeline import format_events, parse_video, synthetic_reason, write_parsed

    for folder in args.checkpoint:  # refused before any extractor is built or video decoded
        reason = synthetic_reason(read_card(folder))
        if reason:
            raise InputError(f"refused: {reason}")
    ex = _extractors(args)
    parsed = parse_video(args.video, args.checkpoint, ex, _device(args.device), _progress_every(0.1))
    entry = parsed.entry
    print(f"{parsed.video.name}: {entry['duration']:g} s, {len(entry['windows'])} window(s) of 10 s"
          + ("" if entry["has_audio"] else ", no sound track (silence)") + f"; {ex.settings.label}")
    for name, r in parsed.results.items():
        print(f"{name} ({r['card'].model}, {r['gating']} gating):")
        print("\n".join(format_events(r["events"])))
    out = Path(args.out) if args.out else Path(f"parse-{parsed.video.stem}")
    for path in write_parsed(parsed, out):
        print(f"wrote {path}")
    return 0


def _add_extractor_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("--vggish", choices=("embedding", "postprocessed"), default="embedding",
                   help="embedding: the raw 128-D layer (JoMoLD's extractor; default); postprocessed: PCA + 8-bit "
                        "quantisation of the AudioSet release")
    s.add_argument("--random-weights", action="store_true",
                   help="randomly initialised extractors (testing only: the features mean nothing; also "
                        "AVVP_RANDOM_EXTRACTORS=1)")
    s.add_argument("--offline", action="store_true", help="never download weights; say which file is missing")
    s.add_argument("--device", default="cpu")


def add_extract_parsers(sub) -> None:
    s = sub.add_parser("extract", help="LLP features (VGGish, ResNet-152, R(2+1)D-18) of your videos, LLP layout")
    s.add_argument("source", metavar="VIDEO_OR_FOLDER")
    s.add_argument("--out", required=True, metavar="DATA_DIR")
    _add_extractor_flags(s)
    s.set_defaults(fn=cmd_extract)

    s = sub.add_parser("parse", help="extract one video and list what checkpoints hear and see in it, per second")
    s.add_argument("video")
    s.add_argument("--checkpoint", action="append", required=True, metavar="DIR", help="repeatable")
    s.add_argument("--out", help="folder for <checkpoint>/PRED.npz and events.json (default: parse-<video name>)")
    _add_extractor_flags(s)
    s.set_defaults(fn=cmd_parse)


# ----------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m avvp_core", description="AVVP Lab command line.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate a SynthLLP dataset in the LLP layout")
    s.add_argument("out_dir")
    s.add_argument("--preset", default="mini")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--overwrite", action="store_true", help="replace an existing SynthLLP folder")
    try:
        from .data.synthetic import KNOBS, PRESET_KNOBS

        for name, spec in KNOBS.items():
            kind = int if name.startswith("n_") or name == "res152_frames" else float
            per_preset = "".join(f"; {p}: {k[name]}" for p, k in PRESET_KNOBS.items() if name in k)
            s.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                           help=f"{spec['help']} (default {spec['default']}{per_preset})")
    except ImportError:  # pragma: no cover - generator missing
        pass
    s.set_defaults(fn=cmd_synth)

    s = sub.add_parser("stats", help="dataset statistics (labels, modality mix, durations)")
    s.add_argument("data_dir")
    s.add_argument("--json", nargs="?", const="", default=None, help="print JSON (to a file if given)")
    s.set_defaults(fn=cmd_stats)

    s = sub.add_parser("score", help="score a PRED.npz with the official LLP protocol")
    s.add_argument("--data", required=True)
    s.add_argument("--split", choices=("val", "test"), required=True)
    s.add_argument("--pred", required=True)
    s.add_argument("--json", help="also write the figures to this JSON file")
    s.add_argument("--gating", choices=("fused", "modality", "none"), default=None,
                   help="default: the file's `gating` array, else fused if only `video` is given, modality if only "
                        "`video_audio`/`video_visual`, none if neither (both without `gating`: this flag is needed)")
    s.set_defaults(fn=cmd_score)

    s = sub.add_parser("models", help="list registered models with paper and parameter counts")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_models)

    from .names import TRAIN_OPTION_HELP

    s = sub.add_parser("train", help="train a model with a recipe into a checkpoint folder",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="training options (--train-set KEY=VALUE; the recipe's values otherwise):\n"
                              + "\n".join(f"  {k:<20} {v}" for k, v in TRAIN_OPTION_HELP.items()))
    s.add_argument("--data", required=True)
    s.add_argument("--model", required=True)
    s.add_argument("--recipe", default="plain")
    s.add_argument("--epochs", type=int)
    s.add_argument("--batch-size", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--seed", type=int)
    s.add_argument("--device", default="cpu")
    s.add_argument("--width", choices=("paper", "demo"), default="paper")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option (repeatable)")
    s.add_argument("--train-set", action="append", metavar="KEY=VALUE", help="training option (repeatable)")
    s.add_argument("--budget", choices=("llp_steps", "epochs", "llp_batch"), default=None,
                   help="how the recipe's schedule is sized for this data: llp_steps = paper batch, epochs, LR steps "
                        "and warm-ups scaled so every phase has as many optimiser steps as on LLP's 10,000 training "
                        "videos (no effect on LLP itself); epochs = as the recipe writes them (the default); "
                        "llp_batch = batches above 16 shrunk to LLP's steps per epoch (the zoo before issue 19)")
    s.add_argument("--llp-steps", action="store_true", help="same as --budget llp_steps")
    s.add_argument("--base-from", metavar="FOLDER",
                   help="a finished run of the model's own recipe (plain), same model, options, seed, budget and "
                        "data, taken as the recipe's first stage instead of training it again (recipe capc: "
                        "stage 1 is that training); anything else is refused with the first setting that differs")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_train)

    for name, helptext in (("evaluate", "score a checkpoint on a split"),
                           ("predict", "write a checkpoint's probabilities as PRED.npz")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--data", required=True)
        s.add_argument("--checkpoint", required=True)
        s.add_argument("--split", choices=("val", "test"), default="test" if name == "evaluate" else None,
                       required=name == "predict")
        s.add_argument("--device", default="cpu")
        if name == "evaluate":
            s.add_argument("--json")
            s.add_argument("--gating", choices=("fused", "modality"), default=None, help="default: the paper's")
            s.set_defaults(fn=cmd_evaluate)
        else:
            s.add_argument("--out", required=True)
            s.set_defaults(fn=cmd_predict)

    s = sub.add_parser("zoo", help="train the demo zoo on SynthLLP mini and export it as shipped checkpoints")
    s.add_argument("--data", help="default: the embedded SynthLLP mini (generated when missing)")
    s.add_argument("--out", help="default: checkpoints/")
    s.add_argument("--work", help="training folders, resumable (default: runs/zoo)")
    s.add_argument("--only", nargs="+", metavar="NAME", help="train only these entries")
    s.add_argument("--device", default="cpu")
    s.add_argument("--budget", choices=("llp_steps", "epochs", "llp_batch"), default="llp_steps",
                   help="schedule rule (see train --budget; default llp_steps)")
    s.add_argument("--as-shipped", action="store_true",
                   help="train each entry with the options its shipped card records (reproduces the shipped zoo, "
                        "e.g. one trained before issue 19) instead of today's defaults")
    s.add_argument("--seeds", nargs="+", type=int, metavar="N",
                   help="training seeds of every entry (default: 1); seed 1 trains in WORK/<entry> and ships its "
                        "weights, seed N in WORK/<entry>-seed<N>; the card gets every seed's figures, mean ± std")
    phase = s.add_mutually_exclusive_group()
    phase.add_argument("--no-export", action="store_true",
                       help="train only (e.g. several processes side by side); export later with --export-only")
    phase.add_argument("--export-only", action="store_true",
                       help="train nothing: export each entry with every finished seed in WORK")
    s.set_defaults(fn=cmd_zoo)

    s = sub.add_parser("convert", help="import an official checkpoint")
    s.add_argument("--from", dest="source_format", default="official-han",
                   choices=("official-han", "official-ma", "official-jomold", "official-cmco", "official-mgn"),
                   help="the official code whose saved state dict SOURCE is (avvp_core/convert.py lists the layouts)")
    s.add_argument("source")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_convert)
    add_extract_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]
