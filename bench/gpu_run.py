"""GPU figures in one run, for a session that has a GPU (issue 22, item 4): writes everything to one JSON file.

    python bench/gpu_run.py [--out gpu_run.json] [--work runs/gpu] [--epochs 40] [--parallel 12] [--skip-tests]
                            [--only tests train step zoo]

1. `tests/test_cuda.py` (every CUDA path: models, feeder, train / evaluate / predict with --device cuda).
2. HAN on SynthLLP `full` (generated into --work, seed 0) at paper width with the official recipe,
   `python -m avvp_core train ... --device cuda`: wall time, train seconds, videos/s of training (train videos x
   epochs / training time, validation included as the recipe runs it) and the test figures; beside the CPU figure of
   bench/RESULTS.md (HAN paper width, 167 videos/s median on the 2-core CPU, bench_training.py).
3. bench_training.py --device cuda --models han: steps/s at the paper batch, GEMM roofline of the GPU and one LLP-sized
   epoch through SplitFeeder (the step figure comparable with the CPU table).
4. The zoo's full matrix (12 entries, SynthLLP mini, demo width, seed 1, --llp-steps) as parallel `train` processes on
   the one GPU, --parallel at a time: wall time of the matrix, each entry's time, peak GPU memory (nvidia-smi).

Needs a CUDA GPU (exits 2 without one). Each step's failure is recorded in the JSON and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CPU_HAN_VIDEOS_PER_S = 167.0  # bench/RESULTS.md, training throughput: HAN paper width, batch 16, 2 threads, median


def sh(argv: list[str], log: Path, timeout: float | None = None) -> tuple[int, float]:
    """Run a command (repo root), output to `log`; (exit status, wall seconds)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            rc = subprocess.run(argv, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.perf_counter() - t0


class GpuMemory:
    """Peak used GPU memory (MiB, nvidia-smi, every 0.5 s) while the block runs: all processes together."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.peak = max(self.peak, max(int(x) for x in out.split()))
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            self._stop.wait(0.5)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def ensure_data(work: Path, preset: str) -> Path:
    from avvp_core.data.synthetic import generate_and_cache

    folder = work / f"synthllp-{preset}"
    if not (folder / "AVVP_train.csv").is_file():
        generate_and_cache(folder, preset=preset, seed=0)
    return folder


def step_train(args, result: dict) -> None:
    data = ensure_data(args.work, "full")
    out = args.work / "han-full-paper-cuda"
    argv = [sys.executable, "-m", "avvp_core", "train", "--data", str(data), "--model", "han", "--width", "paper",
            "--seed", "1", "--device", "cuda", "--epochs", str(args.epochs), "--out", str(out)]
    with GpuMemory() as mem:
        rc, wall = sh(argv, args.work / "logs" / "train-han-full.log")
    row = {"command": " ".join(argv[1:]), "rc": rc, "wall_s": wall, "peak_gpu_mib": mem.peak}
    if rc == 0:
        metrics = json.loads((out / "metrics.json").read_text())
        seconds = float(metrics.get("train_seconds") or wall)
        videos = 10000 * args.epochs
        row.update({"train_seconds": seconds, "epochs": args.epochs, "videos_per_s": videos / seconds,
                    "cpu_videos_per_s": CPU_HAN_VIDEOS_PER_S, "speedup_vs_cpu": videos / seconds / CPU_HAN_VIDEOS_PER_S,
                    "test": metrics.get("test"), "selected_epoch": metrics.get("selected_epoch")})
    result["train_han_full_paper"] = row


def step_bench_training(args, result: dict) -> None:
    data = ensure_data(args.work, "full")  # its one-epoch figure reads SynthLLP full's train split
    out = args.work / "bench_training_cuda.json"
    argv = [sys.executable, "bench/bench_training.py", "--device", "cuda", "--models", "han", "--epoch-data", str(data),
            "--json", str(out)]
    rc, wall = sh(argv, args.work / "logs" / "bench_training.log")
    result["bench_training_han"] = {"command": " ".join(argv[1:]), "rc": rc, "wall_s": wall,
                                    "rows": json.loads(out.read_text()) if rc == 0 and out.is_file() else None}


def step_zoo(args, result: dict) -> None:
    from avvp_core.zoo import ZOO, ZOO_SEED

    data = ensure_data(args.work, "mini")
    runs, pending, started = {}, list(ZOO), {}
    t0 = time.perf_counter()
    with GpuMemory() as mem:
        while pending or started:
            while pending and len(started) < args.parallel:
                e = pending.pop(0)
                argv = [sys.executable, "-m", "avvp_core", "train", "--data", str(data), "--model", e.model, "--recipe",
                        e.recipe, "--width", "demo", "--seed", str(ZOO_SEED), "--llp-steps", "--device", "cuda",
                        "--out", str(args.work / "zoo" / e.name)]
                argv += [x for k, v in e.model_overrides.items() for x in ("--set", f"{k}={v!r}")]
                argv += [x for k, v in e.train_overrides.items() for x in ("--train-set", f"{k}={v!r}")]
                log = open(args.work / "logs" / f"zoo-{e.name}.log", "w")  # noqa: SIM115 (closed when it ends)
                started[e.name] = (subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), log,
                                   time.perf_counter(), " ".join(argv[1:]))
            for name, (proc, log, t_start, command) in list(started.items()):
                if proc.poll() is not None:
                    log.close()
                    runs[name] = {"rc": proc.returncode, "wall_s": time.perf_counter() - t_start, "command": command}
                    del started[name]
            time.sleep(0.5)
    result["zoo_parallel"] = {"entries": len(ZOO), "parallel": args.parallel, "wall_s": time.perf_counter() - t0,
                              "peak_gpu_mib": mem.peak, "runs": runs,
                              "sum_of_entry_s": sum(r["wall_s"] for r in runs.values())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", REPO / "runs" / "gpu")) / "gpu_run.json")
    p.add_argument("--work", type=Path, default=REPO / "runs" / "gpu")
    p.add_argument("--epochs", type=int, default=40, help="HAN on full (the official recipe: 40)")
    p.add_argument("--parallel", type=int, default=12, help="zoo trainings at once on the GPU")
    p.add_argument("--only", nargs="+", choices=("tests", "train", "step", "zoo"), default=["tests", "train", "step",
                                                                                               "zoo"])
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("error: no CUDA GPU here; this script is for a machine with one", file=sys.stderr)
        return 2
    (args.work / "logs").mkdir(parents=True, exist_ok=True)
    result: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    steps = {"tests": lambda: result.update(tests=dict(zip(("rc", "wall_s"), sh(
                 [sys.executable, "-m", "pytest", "-q", "tests/test_cuda.py"], args.work / "logs" / "test_cuda.log"),
                 strict=True))),
             "train": lambda: step_train(args, result), "step": lambda: step_bench_training(args, result),
             "zoo": lambda: step_zoo(args, result)}
    for name in args.only:
        t0 = time.perf_counter()
        try:
            steps[name]()
        except Exception as exc:  # recorded, and the next step still runs: one GPU session, every figure it can give
            result[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))  # after every step: a cut-off run keeps what it measured
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
