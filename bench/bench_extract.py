"""Extraction speed per 10-second clip (issue 23): the published architectures with random weights (the same
compute as the real ones), stage by stage, after one warm-up clip.

    python bench/bench_extract.py [--video assets/demo/IH5W2oINRRa_199_209.mp4] [--device cpu|cuda] [--clips 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avvp_core.extract import audio, decode  # noqa: E402
from avvp_core.extract.pipeline import Extractors, Settings  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def one_clip(video: Path, ex: Extractors, device: str) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    media = decode.probe(video)
    sound = decode.window_audio(decode.read_audio(video, media), decode.windows(media.duration)[0])
    frames = decode.pad_frames(list(decode.iter_frames(video))[:80])
    t["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_in = np.stack([decode.res152_input(f) for f in frames])
    r21_in = np.stack([decode.r2plus1d_input(f) for f in frames])
    examples = audio.examples(sound)
    t["transforms + log-mel"] = time.perf_counter() - t0
    with torch.inference_mode():
        x = torch.from_numpy(res_in).to(device)
        sync(device)
        t0 = time.perf_counter()
        for i in range(0, 80, 16):
            ex.res152.features(x[i:i + 16])
        sync(device)
        t["res152 (80 frames)"] = time.perf_counter() - t0
        clips = torch.from_numpy(r21_in).reshape(10, 8, 3, 112, 112).permute(0, 2, 1, 3, 4).to(device)
        sync(device)
        t0 = time.perf_counter()
        for i in range(0, 10, 2):
            ex.r2plus1d.features(clips[i:i + 2])
        sync(device)
        t["r2plus1d_18 (10 clips)"] = time.perf_counter() - t0
        e = torch.from_numpy(examples)[:, None].to(device)
        sync(device)
        t0 = time.perf_counter()
        ex.vggish(e)
        sync(device)
        t["vggish (10 examples)"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--video", default=str(sorted(Path("assets/demo").glob("*.mp4"))[0]))
    p.add_argument("--device", default="cpu")
    p.add_argument("--clips", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ex = Extractors(Settings("random"), args.device)
    video = Path(args.video)
    one_clip(video, ex, args.device)  # warm-up
    runs = [one_clip(video, ex, args.device) for _ in range(args.clips)]
    median = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(json.dumps({"video": str(video), "device": args.device, "hardware": where,
                      "threads": torch.get_num_threads(), "clips": args.clips,
                      "seconds_per_clip": {k: round(v, 3) for k, v in median.items()}}, indent=2))


if __name__ == "__main__":
    main()
