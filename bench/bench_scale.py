"""Scale: every path linear in the number of videos. `score`, `evaluate`, `predict`, `stats`, the feature cache
build and the app's heavy views (Compare, Errors ranking, Timelines filters, Features with subsampling, the
Thresholds sweeps and tuning) timed at 1k, 10k and 100k videos; time per video printed at each size; exit status 1
where the per-video cost grows more than 1.5x from the second-largest size to the largest (10k -> 100k by default),
or where a step fails.

    python bench/bench_scale.py [--sizes 1000 10000 100000] [--work runs/bench/scale] [--keep] [--json OUT]
                                [--only score stats ...] [--repeats 3]
    python bench/bench_scale.py --training ...      (one HAN training epoch at 1k, 5k, 10k videos; --training -h)

Data: a SynthLLP `tiny`-kind folder per size, written fast and seeded (`write_folder`): the generator's own
label and truth sampling (LLP statistics) for a test split of N videos (train and val: 100 each), and feature
files (what evaluate, predict, the cache and the views read), drawn from a seeded pool of 64 videos
(the features' values do not change any timing measured here; the generator's per-video feature model would
take 4 ms a video). Every command runs as a subprocess (start-up included, as a user runs it); each view runs
in a child process that first loads the two models' predictions (cached in the app) and then times only the
view's own work, as a page rerun does.

`score` is also compared with the reference: a per-video Python loop (avvp_core/metrics_reference.score_loop,
one video at a time) over the same prediction file, in its own process with the same loading code; its time with
and without its start-up and loading is printed. Target: the `score` command (start-up included) >= 20x faster.
`score` is timed cold (the folder's parsed-annotations cache deleted before each run: the first score of a folder)
and, as `score_warm`, with that cache in place (every later score of the same folder; folders with 4 MB of CSVs
and more are cached, avvp_core/data/annotation_cache.py); `--only score` times both.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from common import REPO, ChildFailed, machine_info, peak_rss_mb, rss_mb, run_child

TRAINING_DOC = """Scale of training: SynthLLP `full` generation time and disk, then one training epoch of HAN on 1k, 5k
and 10k videos of its train split (time and peak memory per size), to show the per-video cost stays flat.

    python bench/bench_scale.py --training [--out runs/bench/scale-full] [--sizes 1000 5000 10000] [--width demo|paper]
                                [--threads 1] [--reuse]

Generation writes a fresh SynthLLP `full` (seed 0) to --out (--reuse keeps an existing one and skips the
generation figures), then builds each split's consolidated cache (timed separately). Disk is reported apparent
(sum of file sizes) and allocated (blocks on disk: every small file rounds up to a whole block).
Each training size runs in its own subprocess: one shuffled epoch (batch 16, Adam, the model's own loss) over the
first N videos of train, read through `SplitFeeder`; peak memory is that process's peak RSS, which includes the
mapped feature rows the epoch touched. Demo width by default to keep the run short (paper width: --width paper).
"""


DEFAULT_OUT = REPO / "runs" / "bench" / "scale-full"


def disk_usage(path: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) under `path`."""
    files = apparent = allocated = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            files += 1
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return files, apparent, allocated


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def generation(out: Path) -> None:
    from avvp_core.constants import SPLITS
    from avvp_core.data import LLPDataset
    from avvp_core.data.cache import default_cache_root
    from avvp_core.data.synthetic import generate

    t0 = time.perf_counter()
    generate(out, preset="full", seed=0, overwrite=True)
    gen = time.perf_counter() - t0
    ds = LLPDataset(out)
    t0 = time.perf_counter()
    for split in SPLITS:
        ds.feature_cache(split)
    cache = time.perf_counter() - t0
    n = sum(len(ds.split(s)) for s in SPLITS)
    f_files, f_app, f_alloc = disk_usage(out / "feats")
    c_files, c_app, c_alloc = disk_usage(default_cache_root(out))
    print(f"SynthLLP full ({n:,} videos): generation {gen:.1f} s ({1000 * gen / n:.2f} ms/video), "
          f"cache build {cache:.1f} s")
    print(f"  feats/: {f_files:,} files, {mib(f_app)} apparent, {mib(f_alloc)} allocated "
          f"(+{100 * (f_alloc / f_app - 1):.0f} % from rounding small files up to blocks)")
    print(f"  cache:  {c_files} files, {mib(c_app)} apparent, {mib(c_alloc)} allocated")


def child(args: argparse.Namespace) -> dict:
    """One epoch over the first `args.child` train videos in this process."""
    import torch

    from avvp_core.data import LLPDataset
    from avvp_core.models import create_model, model_info
    from avvp_core.training.feeder import SplitFeeder
    from avvp_core.training.loop import TrainConfig, base_losses, seed_everything

    torch.set_num_threads(args.threads)
    n = args.child
    rss0 = rss_mb()
    t0 = time.perf_counter()
    feeder = SplitFeeder(LLPDataset(args.out).split("train"))
    if n > len(feeder):
        raise SystemExit(f"train has {len(feeder)} videos, fewer than {n}")
    seed_everything(0)
    model = create_model(args.model, args.width).train()
    cfg = TrainConfig.from_dict(model_info(args.model).train)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    setup = time.perf_counter() - t0
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    steps = []
    t0 = time.perf_counter()
    for start in range(0, n, args.batch):
        t_step = time.perf_counter()
        batch = feeder.rows(order[start:start + args.batch])
        out = model(batch)
        loss = sum(v for k, v in base_losses(model, out, batch, cfg).items() if not k.startswith("log/"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps.append(time.perf_counter() - t_step)
    seconds = time.perf_counter() - t0
    return {"videos": n, "epoch_s": seconds, "ms_per_video": 1000 * seconds / n, "setup_s": setup,
            "median_step_ms": 1000 * statistics.median(steps), "best_step_ms": 1000 * min(steps), "steps": len(steps),
            "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss0}


def training_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="bench_scale.py --training", description=TRAINING_DOC,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--reuse", action="store_true", help="keep an existing SynthLLP full at --out (no generation)")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    p.add_argument("--model", default="han")
    p.add_argument("--width", default="demo", choices=("paper", "demo"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 by default: on a shared 2-core machine, 2 threads stall on each other)")
    p.add_argument("--cleanup", action="store_true", help="delete --out at the end")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    print(machine_info())
    if not (args.reuse and (args.out / "AVVP_train.csv").is_file()):
        generation(args.out)
    print(f"{args.model} ({args.width} width), batch {args.batch}, threads {args.threads}, one epoch per size:")
    print(f"{'videos':>8}{'epoch s':>10}{'ms/video':>10}{'step ms: median':>17}{'best':>7}{'peak RSS MB':>13}"
          f"{'over start MB':>15}")
    rows = []
    for n in args.sizes:
        argv = [__file__, "--training", "--out", str(args.out), "--model", args.model, "--width", args.width,
                "--batch", str(args.batch), "--threads", str(args.threads), "--child", str(n)]
        try:
            r = run_child(argv)
        except ChildFailed as exc:
            print(f"{n:>8} failed: {exc}")
            continue
        rows.append(r)
        print(f"{n:>8}{r['epoch_s']:>10.1f}{r['ms_per_video']:>10.2f}{r['median_step_ms']:>17.1f}{r['best_step_ms']:>7.1f}"
              f"{r['peak_rss_mb']:>13.0f}"
              f"{r['peak_rss_mb'] - r['rss_before_mb']:>15.0f}", flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        grow = (last["peak_rss_mb"] - last["rss_before_mb"]) - (first["peak_rss_mb"] - first["rss_before_mb"])
        print(f"per-video time, {last['videos']:,} vs {first['videos']:,} videos: "
              f"epoch {last['ms_per_video'] / first['ms_per_video']:.2f}x, "
              f"median step {last['median_step_ms'] / first['median_step_ms']:.2f}x, "
              f"best step {last['best_step_ms'] / first['best_step_ms']:.2f}x (1.00 = linear); "
              f"memory over start grows {grow:.0f} MB for {last['videos'] - first['videos']:,} more videos")
    if args.cleanup:
        shutil.rmtree(args.out, ignore_errors=True)





# ------------------------------------------------------------------------------------------- linear-scale benchmark
SIZES = (1000, 10000, 100000)
GROWTH_LIMIT = 1.5
SPEEDUP_TARGET = 20.0
CHECKPOINTS = ("checkpoints/han", "checkpoints/han-ma")  # the shipped zoo (demo width): two models for the views
STEPS = ("write", "score", "score_warm", "loop", "stats", "cache", "predict", "evaluate", "compare", "errors",
         "timelines", "features", "thresholds", "thresholds_tune")
VIEWS = ("compare", "errors", "timelines", "features", "thresholds", "thresholds_tune")
CSV_ONLY_STEPS = ("write", "score", "score_warm", "loop", "stats")  # steps that read no feature file
POOL = 64  # distinct feature sets the fast writer cycles through
# train and val stay small: the commands measured read the test split, but evaluate and predict check the data
# fingerprint, which covers every split's features (built once per folder, then cached)
SMALL_SPLIT = 100


def write_folder(root: Path, n: int, seed: int = 0, features: bool = True) -> dict:
    """A SynthLLP-layout folder: weak labels and dense truth sampled by the generator (tiny's knobs), test n videos,
    train and val SMALL_SPLIT each, with features unless `features` is False (score, loop and stats read only the
    CSVs: 100k videos' features take 250 s and 11 GB to write). Written in place (a benchmark folder, not a
    user's); `write_features` adds the features later."""
    import numpy as np

    from avvp_core.constants import CLASSES, EVAL_FILES, MODALITIES, SPLIT_FILES, SPLITS
    from avvp_core.data.synthetic import _eval_lines, _filenames, _rng, resolve_knobs, sample_annotations

    sizes = {"train": SMALL_SPLIT, "val": SMALL_SPLIT, "test": n}
    knobs = resolve_knobs("tiny", n_train=sizes["train"], n_val=sizes["val"], n_test=sizes["test"])
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    names = _filenames(seed, sizes)
    truth = {s: sample_annotations(sizes[s], _rng(seed, 2, i), knobs, s) for i, s in enumerate(SPLITS)}
    header = "filename\tevent_labels\n"
    for split in SPLITS:
        lines = [f"{name}\t{','.join(CLASSES[c] for c in np.flatnonzero(y))}\n"
                 for name, y in zip(names[split], truth[split][0], strict=True)]
        (root / SPLIT_FILES[split]).write_text(header + "".join(lines))
    for m, modality in enumerate(MODALITIES, start=1):
        rows = [line for s in ("test", "val") for line in _eval_lines(names[s], truth[s][m])]
        (root / EVAL_FILES[modality]).write_text("filename\tonset\toffset\tevent_labels\n" + "".join(rows))
    annotations = time.perf_counter() - t0
    seconds = write_features(root, names, seed) if features else 0.0
    return {"annotations_s": annotations, "features_s": seconds, "videos": sum(sizes.values()), "test": n}


def write_features(root: Path, names: dict[str, list[str]] | None = None, seed: int = 0) -> float:
    """Every video's three feature files, drawn from a seeded pool; seconds taken."""
    import numpy as np

    from avvp_core.constants import FEATURE_DIMS, NUM_SEGMENTS, SPLITS
    from avvp_core.data import LLPDataset

    if names is None:
        ds = LLPDataset(root)
        names = {split: ds.split(split).filenames for split in SPLITS}
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    for stream, dim in FEATURE_DIMS.items():
        folder = root / "feats" / stream
        folder.mkdir(parents=True)
        pool = np.abs(rng.standard_normal((POOL, NUM_SEGMENTS, dim))).astype(np.float16).astype(np.float32)
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(pool[0]))
        head = buf.getvalue()  # one .npy header for every file of the stream: same shape and dtype
        blobs = [head + pool[i].tobytes() for i in range(POOL)]
        for i, name in enumerate(name for split in SPLITS for name in names[split]):
            with open(folder / f"{name[:11]}.npy", "wb") as fh:
                fh.write(blobs[(i * 7 + 3) % POOL])
    return time.perf_counter() - t0


def prediction_file(root: Path, out: Path, seed: int = 0) -> None:
    """A PRED.npz of the test split shaped like a trained model's output, in shuffled order (as any user file)."""
    import numpy as np

    from avvp_core.data import LLPDataset
    from avvp_core.fileio import save_npz

    sp = LLPDataset(root).split("test")
    rng = np.random.default_rng(seed)
    noisy = lambda truth, scale: np.clip(scale * truth + rng.normal(0.2, 0.25, truth.shape), 0, 1).astype(np.float32)
    perm = rng.permutation(len(sp))
    save_npz(out, filenames=np.array(sp.filenames)[perm], audio=noisy(sp.gt_audio, 0.7)[perm],
             visual=noisy(sp.gt_visual, 0.7)[perm], video=noisy(sp.labels, 0.8)[perm])


def timed_command(argv: list[str], repeats: int = 1, before=None) -> float:
    """Median wall time of `python -m avvp_core ARGV` as a subprocess (start-up included); `before()` runs ahead of
    each repeat, untimed."""
    import subprocess
    import sys

    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "avvp_core", *argv], capture_output=True, text=True, cwd=REPO)
        times.append(time.perf_counter() - t0)
        if proc.returncode:
            raise ChildFailed(proc.stderr)
    return statistics.median(times)


def loop_child(root: Path, pred: Path) -> dict:
    """The reference loop over the same file: same loading code as `score`, then one video at a time."""
    from avvp_core.data import LLPDataset
    from avvp_core.metrics_reference import score_loop
    from avvp_core.predictions import load_prediction_file

    t0 = time.perf_counter()
    split = LLPDataset(root).split("test")
    pred_a, pred_v = load_prediction_file(pred, split.filenames).decisions()
    loaded = time.perf_counter() - t0
    t0 = time.perf_counter()
    score_loop(pred_a, pred_v, split.gt_audio, split.gt_visual)
    return {"load_s": loaded, "loop_s": time.perf_counter() - t0}


def cache_child(root: Path) -> dict:
    from avvp_core.data import LLPDataset
    from avvp_core.data.cache import default_cache_root

    shutil.rmtree(default_cache_root(root), ignore_errors=True)
    t0 = time.perf_counter()
    cache = LLPDataset(root).feature_cache("test")
    seconds = time.perf_counter() - t0
    return {"s": seconds, "rows": len(cache), "peak_rss_mb": peak_rss_mb()}


def view_child(root: Path, view: str, preds: list[Path]) -> dict:
    """One heavy view's own work, as its page does on a rerun after the predictions are cached."""
    import tempfile

    import numpy as np

    from avvp_core.data import LLPDataset
    from avvp_core.metrics import score
    from avvp_core.predictions import Predictions

    split = LLPDataset(root).split("test")
    models = []
    for path in preds:  # `predict`'s own files: split order, every probability (what the app caches)
        with np.load(path, allow_pickle=False) as npz:
            assert list(npz["filenames"]) == split.filenames
            models.append(Predictions(split.filenames, *(npz[k] for k in ("audio", "visual", "video", "video_audio",
                                                                           "video_visual"))))
    gatings = ["fused", "modality"]
    # imported before the clock starts: a page's modules are loaded once per server, not per rerun
    from sklearn.decomposition import PCA  # noqa: F401  (the Features page's projection)

    from avvp_core.analysis.compare import per_class_frame
    from avvp_core.analysis.errors import class_confusion, error_cells, error_totals, rank, video_table
    from avvp_core.analysis.features import embedding
    from avvp_core.analysis.thresholds import PROTOCOL, Thresholds, kinds_that_matter, sweep, tune
    from avvp_core.analysis.timeline import timeline_frame
    from avvp_core.checkpoints import load_checkpoint

    load_checkpoint(REPO / CHECKPOINTS[0])  # torch and the model classes imported

    def work() -> None:
        if view == "compare":  # per model: gate + the full ScoreReport, then the per-class table
            per_class = {}
            for i, (m, g) in enumerate(zip(models, gatings, strict=True)):
                per_class[f"m{i}"] = score(*m.decisions(g), split.gt_audio, split.gt_visual).per_class
            per_class_frame(per_class, "segment")
        elif view == "errors":  # both models' per-video F1, the first's error cells, ranked table, totals, confusion
            decisions = [m.decisions(g) for m, g in zip(models, gatings, strict=True)]
            f1 = {f"m{i}": score(*d, split.gt_audio, split.gt_visual).per_video["segment/type"]
                  for i, d in enumerate(decisions)}
            cells = error_cells(*decisions[0], split.gt_audio, split.gt_visual)
            table = rank(video_table(split.filenames, cells, f1), "|F1 gap|")
            rank(video_table(split.filenames, cells, f1, class_index=0), "errors")
            error_totals({"m0": cells})
            class_confusion(*decisions[0], split.gt_audio, split.gt_visual)
            assert len(table) == len(split)
        elif view == "timelines":  # the three filters (id contains, class, where two models disagree), one timeline
            rows = np.arange(len(split))
            rows = rows[[("a" in split.filenames[i].lower()) for i in rows]]
            k = 0
            present = (split.labels[:, k] > 0) | split.gt_audio[:, :, k].any(1) | split.gt_visual[:, :, k].any(1)
            rows = rows[present[rows]]
            first, second = (score(*m.decisions(g), split.gt_audio, split.gt_visual).per_video["segment/type"]
                             for m, g in zip(models, gatings, strict=True))
            rows = rows[np.abs(first - second)[rows] >= 0.2]
            rows = rows[np.argsort(-np.abs(first - second)[rows])]
            timeline_frame(split, int(rows[0]) if len(rows) else 0,
                           {f"m{i}": (m, g) for i, (m, g) in enumerate(zip(models, gatings, strict=True))})
        elif view == "features":  # the Features page's embedding: 3,000 sampled segment points, PCA, labelled
            with tempfile.TemporaryDirectory() as tmp:
                frame = embedding(REPO / CHECKPOINTS[0], split, "audio + visual segments", "PCA", 3000, cache_dir=tmp)
            assert len(frame) == min(3000, 2 * 10 * len(split))  # audio + visual segments of every video, at most 3,000
        elif view == "thresholds":  # a slider moved: the official and the chosen figures, the videos they move most
            gating, chosen = gatings[0], Thresholds(audio=0.4)  # (one scoring each gives the figures and the
            own, moved = (score(*models[0].decisions(gating, **t.gate_kwargs()), split.gt_audio, split.gt_visual)
                          for t in (PROTOCOL, chosen))  # per-video figures, as ui._scored_at), then the three sweeps
            own, moved = own.per_video["segment/type"], moved.per_video["segment/type"]
            np.argmax(moved - own), np.argmin(moved - own)
            for kind in kinds_that_matter(gating):
                sweep(models[0], split.gt_audio, split.gt_visual, gating, chosen, kind)
        elif view == "thresholds_tune":  # "Tune on val", timed on this split (the page tunes on val)
            tune(models[0], split.gt_audio, split.gt_visual, gatings[0])
        else:
            raise SystemExit(f"unknown view {view}")

    # Three runs, the fastest reported (and the first): a page reruns in a long-lived server process, where memory
    # of this size has been touched before; a single cold run in a fresh process times its page faults as well.
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return {"s": min(times), "first_s": times[0], "peak_rss_mb": peak_rss_mb()}


def run_size(n: int, work: Path, steps: list[str], repeats: int) -> dict:
    """Every step at one size; {step: {"s": seconds, "per_video_ms": ...}} (a failed step: {"error": ...})."""
    root = work / f"n{n}"
    pred = work / f"pred-n{n}.npz"
    model_preds = [work / f"pred-n{n}-{Path(c).name}.npz" for c in CHECKPOINTS]
    out: dict[str, dict] = {}
    total = n + 2 * SMALL_SPLIT

    def record(step: str, seconds: float, per: int, **extra) -> None:
        out[step] = {"s": seconds, "videos": per, "per_video_ms": 1000 * seconds / per, **extra}
        print(f"  {step:<10}{seconds:>10.2f} s{1000 * seconds / per:>12.4f} ms/video"
              + "".join(f"  {k} {v:.1f}" if isinstance(v, float) else f"  {k} {v}" for k, v in extra.items()),
              flush=True)

    def attempt(step: str, fn) -> None:
        if step not in steps:
            return
        try:
            fn()
        except (ChildFailed, AssertionError, OSError) as exc:
            out[step] = {"error": str(exc)}
            print(f"  {step:<10} FAILED: {exc}", flush=True)

    print(f"{n:,} videos per split (test), data in {root}", flush=True)
    features = bool(set(steps) - set(CSV_ONLY_STEPS))
    if "write" in steps or not (root / "AVVP_test_pd.csv").is_file():
        w = write_folder(root, n, features=features)
        record("write", w["annotations_s"] + w["features_s"], w["videos"], annotations_s=w["annotations_s"])
        prediction_file(root, pred)
    else:
        if features and not (root / "feats").is_dir():
            record("write", write_features(root), total)
        if not pred.is_file():
            prediction_file(root, pred)
    score_argv = ["score", "--data", str(root), "--split", "test", "--pred", str(pred)]

    def forget_annotations() -> None:  # a cold `score`: the CSVs parsed, as the first time a folder is scored
        for cached in (root / ".avvp_cache").glob("annotations-*.npz"):
            cached.unlink()

    attempt("score", lambda: record("score", timed_command(score_argv, repeats, before=forget_annotations), n))
    # warm: the parsed annotations cached by an earlier score of the same folder (folders of 4 MB of CSVs and more)
    attempt("score", lambda: (timed_command(score_argv), record("score_warm", timed_command(score_argv, repeats), n)))

    def loop() -> None:
        t0 = time.perf_counter()
        r = run_child([__file__, "--child-loop", str(root), str(pred)])
        wall = time.perf_counter() - t0
        record("loop", wall, n, loop_only_s=r["loop_s"], load_s=r["load_s"])
        if "score" in out and "s" in out["score"]:
            out["loop"]["speedup"] = wall / out["score"]["s"]
            out["loop"]["speedup_loop_only"] = r["loop_s"] / out["score"]["s"]
        if "score_warm" in out and "s" in out["score_warm"]:
            out["loop"]["speedup_warm"] = wall / out["score_warm"]["s"]
    attempt("loop", loop)
    attempt("stats", lambda: record("stats", timed_command(
        ["stats", str(root), "--json", str(work / f"stats-n{n}.json")], repeats), total))

    def cache() -> None:
        r = run_child([__file__, "--child-cache", str(root)])
        record("cache", r["s"], n, peak_rss_mb=r["peak_rss_mb"])
    attempt("cache", cache)

    def predict() -> None:
        times = [timed_command(["predict", "--data", str(root), "--checkpoint", str(REPO / c), "--split", "test",
                                "--out", str(p)]) for c, p in zip(CHECKPOINTS, model_preds, strict=True)]
        record("predict", times[0], n, second_model_s=times[1])
    attempt("predict", predict)
    attempt("evaluate", lambda: record("evaluate", timed_command(
        ["evaluate", "--data", str(root), "--checkpoint", str(REPO / CHECKPOINTS[0]), "--split", "test"]), n))
    for view in VIEWS:
        def one(view: str = view) -> None:
            if not all(p.is_file() for p in model_preds):
                raise ChildFailed(f"{view} needs the predict step's files ({model_preds[0].name})")
            r = run_child([__file__, "--child-view", view, str(root), *map(str, model_preds)])
            record(view, r["s"], n, peak_rss_mb=r["peak_rss_mb"])
        attempt(view, one)
    return out


def verdicts(results: dict[int, dict]) -> list[str]:
    """Failures: per-video cost growing more than GROWTH_LIMIT from the second-largest size to the largest, and
    failed steps."""
    sizes = sorted(results)
    failures = []
    for n in sizes:
        failures += [f"{step} at {n:,}: {r['error']}" for step, r in results[n].items() if "error" in r]
    if len(sizes) >= 2:
        small, large = results[sizes[-2]], results[sizes[-1]]
        for step in STEPS:
            if step == "write" or not all("per_video_ms" in r.get(step, {}) for r in (small, large)):
                continue
            growth = large[step]["per_video_ms"] / small[step]["per_video_ms"]
            large[step]["growth"] = growth
            if growth > GROWTH_LIMIT:
                failures.append(f"{step}: per-video cost grows {growth:.2f}x from {sizes[-2]:,} to {sizes[-1]:,} "
                                f"videos (limit {GROWTH_LIMIT}x)")
    return failures


def main() -> None:
    import sys

    # every child and command with one torch thread unless told otherwise: on a shared 2-core machine two threads
    # stall on each other (bench/RESULTS.md, training throughput), which would time the load, not the code
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    argv = sys.argv[1:]
    if argv[:1] == ["--training"]:
        training_main(argv[1:])
        return
    if argv[:1] == ["--child-loop"]:
        print(json.dumps(loop_child(Path(argv[1]), Path(argv[2]))))
        return
    if argv[:1] == ["--child-cache"]:
        print(json.dumps(cache_child(Path(argv[1]))))
        return
    if argv[:1] == ["--child-view"]:
        print(json.dumps(view_child(Path(argv[2]), argv[1], [Path(a) for a in argv[3:]])))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--work", type=Path, default=REPO / "runs" / "bench" / "scale")
    p.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps (data is written when missing)")
    p.add_argument("--repeats", type=int, default=3, help="median of this many runs of score and stats")
    p.add_argument("--keep", action="store_true", help="keep the data folders (100k: ~11 GB) for --only reruns")
    p.add_argument("--json", type=Path, help="write every figure here")
    args = p.parse_args(argv)
    print(machine_info(), flush=True)
    steps = list(args.only or STEPS)
    results: dict[int, dict] = {}
    for n in sorted(args.sizes):
        results[n] = run_size(n, args.work, steps, args.repeats)
        if not args.keep:
            shutil.rmtree(args.work / f"n{n}", ignore_errors=True)
    failures = verdicts(results)
    sizes = sorted(results)
    print("\nms per video (of the test split; stats: of all three splits):")
    print(f"{'step':<11}" + "".join(f"{n:>12,}" for n in sizes) + f"{'growth':>9}")
    for step in STEPS:
        cells = [results[n].get(step, {}).get("per_video_ms") for n in sizes]
        if all(c is None for c in cells):
            continue
        growth = results[sizes[-1]].get(step, {}).get("growth")
        print(f"{step:<11}" + "".join(f"{c:>12.4f}" if c is not None else f"{'-':>12}" for c in cells)
              + (f"{growth:>8.2f}x" if growth else f"{'':>9}"))
    speed = {n: results[n]["loop"].get("speedup") for n in sizes if "loop" in results[n]}
    if speed:
        print("score command (start-up included) vs the per-video loop over the same file (its own process, same "
              "loading): " + ", ".join(f"{n:,}: {s:.1f}x" for n, s in speed.items() if s)
              + f" (target >= {SPEEDUP_TARGET:.0f}x); vs the loop's scoring alone: "
              + ", ".join(f"{n:,}: {results[n]['loop']['speedup_loop_only']:.1f}x" for n in speed if speed[n]))
        warm = {n: results[n]["loop"].get("speedup_warm") for n in sizes if "loop" in results[n]}
        if any(warm.values()):
            print("score with the parsed annotations cached (a folder already scored; only folders with 4 MB of CSVs "
                  "or more are cached) vs the loop: " + ", ".join(f"{n:,}: {s:.1f}x" for n, s in warm.items() if s))
        short = [n for n, s in speed.items() if s and s < SPEEDUP_TARGET]
        if short:
            print(f"speed-up target not met at {', '.join(f'{n:,}' for n in short)} videos: see bench/RESULTS.md "
                  "(start-up bound at small sizes)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine_info(), "results": {str(n): r for n, r in results.items()},
                                         "failures": failures}, indent=1))
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        raise SystemExit(1)
    print(f"PASS: no per-video cost grows more than {GROWTH_LIMIT}x from {sizes[-2] if len(sizes) > 1 else sizes[0]:,} "
          f"to {sizes[-1]:,} videos")


if __name__ == "__main__":
    main()
