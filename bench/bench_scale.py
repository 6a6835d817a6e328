"""Scale: SynthLLP `full` generation time and disk, then one training epoch of HAN on 1k, 5k and 10k videos of its
train split (time and peak memory per size), to show the per-video cost stays flat.

    python bench/bench_scale.py [--out runs/bench/scale-full] [--sizes 1000 5000 10000] [--width demo|paper]
                                [--threads 1] [--reuse]

Generation writes a fresh SynthLLP `full` (seed 0) to --out (--reuse keeps an existing one and skips the
generation figures), then builds each split's consolidated cache (timed separately). Disk is reported apparent
(sum of file sizes) and allocated (blocks on disk: every small file rounds up to a whole block).
Each training size runs in its own subprocess: one shuffled epoch (batch 16, Adam, the model's own loss) over the
first N videos of train, read through `SplitFeeder`; peak memory is that process's peak RSS, which includes the
mapped feature rows the epoch touched. Demo width by default to keep the run short (paper width: --width paper).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from common import REPO, ChildFailed, machine_info, peak_rss_mb, rss_mb, run_child

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    args = p.parse_args()
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
        argv = [__file__, "--out", str(args.out), "--model", args.model, "--width", args.width,
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


if __name__ == "__main__":
    main()
