"""Training throughput: videos/s of forward + backward + optimiser step for HAN and each method at paper width and
its paper batch, beside the matrix-multiply rate the same process measures just before and after (a GEMM
roofline), the model's FLOPs per video (torch.utils.flop_counter) -> achieved GFLOP/s and % of that roofline,
and the peak memory of training it.

    python bench/bench_training.py [--models han mmt ...|--all] [--threads 2] [--frames 80] [--seconds 5]
    python bench/bench_training.py --device cuda [--epoch-videos 10000]   # on a GPU: also one LLP-scale epoch

Each model runs in its own subprocess (peak memory = that process's peak RSS, VmHWM; on CUDA, max_memory_allocated), on
random batches shaped like LLP's (10 segments; res152 with 80 frames as the official loaders, or 10 as SynthLLP
with --frames 10). The loss is the model's own training objective (`training.loop.base_losses` with its paper
recipe's options), the optimiser Adam. The roofline probes run in the same subprocess as the model, so load from
other jobs hits both alike; the figure reported is the best probe. FlopCounterMode counts matrix products
(mm/bmm/addmm/attention), not element-wise ops or the optimiser step (~10 FLOPs per parameter).
--epoch-videos N adds one epoch over N videos through the real input path (SynthLLP `full` train, 10,000 videos,
via `SplitFeeder`; repeated if N is larger), timed end to end; default 10,000 on CUDA, off on CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from common import BENCH_DATA, ChildFailed, machine_info, peak_rss_mb, rss_mb, run_child

METHODS = ("han", "mmt", "cmco", "mgn", "cmpie", "msdu")  # one per paper; --all adds the ablations
GEMM_SIZES = ((160, 2048, 512), (160, 512, 512), (640, 512, 512), (1280, 512, 512), (2048, 2048, 2048))


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_rate(m: int, k: int, n: int, device, repeats: int = 5) -> float:
    """Best GFLOP/s of torch.matmul (m x k) @ (k x n) in float32 over a few repeats (after one warm-up); each
    timing repeats the product up to ~0.5 GFLOP (CPU) or ~50 GFLOP (GPU) so small products are not all overhead."""
    import torch

    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    flop = 2 * m * k * n
    inner = max(1, round((5e10 if device.type == "cuda" else 5e8) / flop))
    best = float("inf")
    for r in range(repeats + 1):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            a @ b
        sync(device)
        if r:  # the first is a warm-up
            best = min(best, (time.perf_counter() - t0) / inner)
    return flop / best / 1e9


def random_batch(batch: int, frames: int, device, seed: int = 0):
    import torch

    from avvp_core.schema import Batch

    g = torch.Generator().manual_seed(seed)
    labels = (torch.rand(batch, 25, generator=g) < 0.15).float()
    return Batch(torch.randn(batch, 10, 128, generator=g), torch.randn(batch, frames, 2048, generator=g),
                 torch.randn(batch, 10, 512, generator=g), labels, index=torch.arange(batch)).to(device)


def child(args: argparse.Namespace) -> dict:
    """Measure one model in this process; returns the result row."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from avvp_core.models import count_parameters, create_model, model_info
    from avvp_core.training.loop import TrainConfig, base_losses, make_optimizer, seed_everything

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rss0 = rss_mb()
    info = model_info(args.child)
    batch_size = args.batch or info.train.get("batch_size", TrainConfig.batch_size)
    cfg = TrainConfig.from_dict({**info.train, "device": args.device})
    seed_everything(0)
    model = create_model(args.child, args.width).to(device).train()
    optimizer = make_optimizer(model, cfg, device, fused=args.adam == "fused")
    batch = random_batch(batch_size, args.frames, device)

    def forward_backward():
        out = model(batch)
        parts = base_losses(model, out, batch, cfg)
        loss = sum(v for k, v in parts.items() if not k.startswith("log/"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()

    def step():
        forward_backward()
        optimizer.step()

    for _ in range(2):  # warm-up: allocator, Adam state
        step()
    shape = (batch_size * 10, model.config["dim"])  # (B*T, D): the models' most common product is (B*T, D) @ (D, D)
    reps = args.probe_repeats
    probes = [gemm_rate(2048, 2048, 2048, device, reps), gemm_rate(shape[0], shape[1], shape[1], device, reps)]
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < args.min_steps or (time.perf_counter() - t_start < args.seconds and len(times) < args.max_steps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    probes += [gemm_rate(2048, 2048, 2048, device, reps), gemm_rate(shape[0], shape[1], shape[1], device, reps)]
    with FlopCounterMode(display=False) as counter:
        forward_backward()
    flops = counter.get_total_flops()
    step_s = statistics.median(times)
    best_s = min(times)
    row = {
        "model": args.child, "adam": args.adam, "width": args.width, "batch": batch_size, "frames": args.frames,
        "params": count_parameters(model), "steps": len(times), "step_ms": 1000 * step_s,
        "step_ms_best": 1000 * best_s, "videos_per_s": batch_size / step_s, "videos_per_s_best": batch_size / best_s,
        "gflop_per_video": flops / batch_size / 1e9, "achieved_gflops": flops / step_s / 1e9,
        "achieved_gflops_best": flops / best_s / 1e9, "roofline_gflops": max(probes),
        "gemm_2048_gflops": max(probes[0], probes[2]), "gemm_at_model_shape_gflops": max(probes[1], probes[3]),
        "gemm_shape": f"{shape[0]}x{shape[1]}x{shape[1]}",
    }
    # Best step against the best GEMM probe: both are "the least disturbed" sample of the same period.
    row["roofline_pct"] = 100 * row["achieved_gflops_best"] / row["roofline_gflops"]
    if device.type == "cuda":
        row["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        row["peak_rss_mb"] = peak_rss_mb()
        row["rss_before_model_mb"] = rss0
    if args.epoch_videos:
        row.update(epoch(model, optimizer, cfg, batch_size, args, device))
    return row


def epoch(model, optimizer, cfg, batch_size: int, args: argparse.Namespace, device) -> dict:
    """One epoch over `args.epoch_videos` videos of SynthLLP `full` train through SplitFeeder, end to end."""
    import torch
    from bench_scoring import ensure_full

    from avvp_core.data import LLPDataset
    from avvp_core.training.feeder import SplitFeeder
    from avvp_core.training.loop import base_losses

    feeder = SplitFeeder(LLPDataset(ensure_full(args.epoch_data)).split("train"))
    generator = torch.Generator().manual_seed(0)
    done = 0
    sync(device)
    t0 = time.perf_counter()
    while done < args.epoch_videos:
        for batch in feeder.batches(batch_size, shuffle=True, generator=generator):
            batch = batch.to(device)
            out = model(batch)
            loss = sum(v for k, v in base_losses(model, out, batch, cfg).items() if not k.startswith("log/"))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += len(batch)
            if done >= args.epoch_videos:
                break
    sync(device)
    seconds = time.perf_counter() - t0
    return {"epoch_videos": done, "epoch_s": seconds, "epoch_videos_per_s": done / seconds,
            "epoch_frames": feeder.split.features().arrays["res152"].shape[1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(METHODS))
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--width", default="paper", choices=("paper", "demo"))
    p.add_argument("--batch", type=int, help="override every model's paper batch")
    p.add_argument("--frames", type=int, default=80, choices=(10, 80), help="res152 frames per video")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--adam", choices=("fused", "loop", "both"), default="fused",
                   help="Adam's implementation: fused as training uses it, torch's loop over parameters, or both "
                        "(each model twice, and the ratio of their steps)")
    p.add_argument("--seconds", type=float, default=5.0, help="timed steps per model (at least --min-steps)")
    p.add_argument("--min-steps", type=int, default=3)
    p.add_argument("--probe-repeats", type=int, default=5, help="timed runs of each GEMM probe (best taken)")
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--epoch-videos", type=int, help="one epoch over N videos (default 10,000 on CUDA, none on CPU)")
    p.add_argument("--epoch-data", type=Path, default=BENCH_DATA)
    p.add_argument("--json", type=Path, help="write the rows here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.epoch_videos is None and args.device.startswith("cuda"):
        args.epoch_videos = 10_000
    if args.child:
        print(json.dumps(child(args)))
        return

    import torch

    torch.set_num_threads(args.threads)
    print(machine_info())
    device = torch.device(args.device)
    print(f"GEMM float32 {args.device}, threads {args.threads} (best of {args.probe_repeats}, GFLOP/s): " + ", ".join(
        f"{m}x{k}x{n} {gemm_rate(m, k, n, device, args.probe_repeats):.0f}" for m, k, n in GEMM_SIZES), flush=True)
    if args.all:
        from avvp_core.models import list_models

        args.models = list_models()
    options = ["--width", args.width, "--frames", str(args.frames), "--threads", str(args.threads),
               "--device", args.device, "--seconds", str(args.seconds), "--min-steps", str(args.min_steps),
               "--max-steps", str(args.max_steps), "--probe-repeats", str(args.probe_repeats),
               "--epoch-data", str(args.epoch_data), "--epoch-videos", str(args.epoch_videos or 0)]
    options += ["--batch", str(args.batch)] if args.batch else []
    rows = []
    print(f"{'model':<17}{'batch':>6}{'params':>12}{'ms/step':>9}{'best':>7}{'videos/s':>10}{'best':>7}"
          f"{'GFLOP/vid':>10}{'GFLOP/s':>9}{'roofline':>9}{'% roof':>7}{'peak MB':>9}" +
          ("   epoch" if args.epoch_videos else ""), flush=True)
    adams = ("loop", "fused") if args.adam == "both" else (args.adam,)
    for name in args.models:
        measured = {}  # adam -> this model's row
        for adam in adams:
            try:
                measured[adam] = run_child([__file__, *options, "--adam", adam, "--child", name])
            except ChildFailed as exc:
                print(f"{name:<17} failed: {exc}")
                continue
            rows.append(measured[adam])
            _print_row(measured[adam], args.adam == "both")
        if len(measured) == 2:  # both implementations ran: the ratio goes on the fused row
            loop, fused = measured["loop"], measured["fused"]
            fused["loop_over_fused"] = loop["step_ms"] / fused["step_ms"]
            print(f"{'':<17}fused Adam: {fused['loop_over_fused']:.2f}x the loop's steps/s (median steps)")
    print("ms/step and videos/s: median and best step; GFLOP/s: best step; roofline: best float32 GEMM probe "
          "(2048^3 and (B*T, D) @ (D, D)) in the same subprocess; % roof = best step's GFLOP/s / roofline")
    if rows and "rss_before_model_mb" in rows[0]:
        print(f"peak MB = the subprocess's peak RSS (VmHWM); {rows[0]['rss_before_model_mb']:.0f} MB of it is Python "
              f"+ torch before the model is built")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def _print_row(r: dict, with_adam: bool) -> None:
    peak = r.get("peak_mem_mb", r.get("peak_rss_mb"))
    extra = f"   {r['epoch_videos']} videos {r['epoch_s']:.1f} s ({r['epoch_videos_per_s']:.0f}/s)" \
        if "epoch_s" in r else ""
    label = f"{r['model']} ({r['adam']})" if with_adam else r["model"]
    print(f"{label:<17}{r['batch']:>6}{r['params']:>12,}{r['step_ms']:>9.1f}{r['step_ms_best']:>7.1f}"
          f"{r['videos_per_s']:>10.1f}{r['videos_per_s_best']:>7.1f}{r['gflop_per_video']:>10.3f}"
          f"{r['achieved_gflops_best']:>9.1f}{r['roofline_gflops']:>9.1f}{r['roofline_pct']:>7.1f}"
          f"{peak:>9.0f}{extra}", flush=True)


if __name__ == "__main__":
    main()
