"""Every CUDA path: the models, the feeder's batches, training, evaluate and predict with --device cuda, each checked
against the same thing on the CPU. Runs where CUDA is present (bench/gpu_run.py runs it first), skipped elsewhere;
the one test that needs no GPU checks what a CPU-only machine says to --device cuda."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avvp_core.constants import METRIC_KEYS

REPO = Path(__file__).resolve().parents[1]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avvp_core", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=900)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_device_cuda_without_cuda_is_one_line(tiny_data, tmp_path):
    proc = run_cli("train", "--data", str(tiny_data), "--model", "han", "--epochs", "1", "--device", "cuda",
                   "--out", str(tmp_path / "han"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "CUDA is not available" in proc.stderr and not (tmp_path / "han").exists()


@cuda
@pytest.mark.parametrize("name", __import__("avvp_core.models", fromlist=["list_models"]).list_models())
def test_every_model_runs_forward_and_backward_on_cuda(name):
    from avvp_core.models import create_model, model_info
    from avvp_core.training.loop import TrainConfig, base_losses
    from tests.conftest import make_batch

    torch.manual_seed(0)
    model = create_model(name, "demo").eval()
    batch = make_batch(batch=4)
    with torch.no_grad():
        cpu_out = model(batch)
    model = model.cuda()
    with torch.no_grad():
        gpu_out = model(batch.to("cuda"))
    assert gpu_out.audio_segment_prob.is_cuda
    torch.testing.assert_close(gpu_out.audio_segment_prob.cpu(), cpu_out.audio_segment_prob, atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(gpu_out.video_prob.cpu(), cpu_out.video_prob, atol=2e-3, rtol=1e-3)
    model.train()
    cfg = TrainConfig.from_dict(model_info(name).train)
    out = model(batch.to("cuda"))
    loss = sum(v for k, v in base_losses(model, out, batch.to("cuda"), cfg).items() if not k.startswith("log/"))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.is_cuda and torch.isfinite(g).all() for g in grads)


@cuda
def test_feeder_batches_and_predict_on_cuda_match_the_cpu(tiny_data):
    from avvp_core.data import LLPDataset
    from avvp_core.evaluation import predict
    from avvp_core.models import create_model
    from avvp_core.training.feeder import SplitFeeder

    split = LLPDataset(tiny_data).split("test")
    feeder = SplitFeeder(split)
    batch = feeder.rows(torch.arange(5)).to("cuda")
    assert batch.audio.is_cuda and batch.labels.is_cuda
    torch.manual_seed(0)
    model = create_model("han", "demo")
    on_cpu = predict(model, split)
    on_gpu = predict(model.cuda(), split, device="cuda")
    assert on_gpu.filenames == on_cpu.filenames
    for key in ("audio", "visual", "video", "video_audio", "video_visual"):
        np.testing.assert_allclose(getattr(on_gpu, key), getattr(on_cpu, key), atol=2e-3)


@cuda
@pytest.mark.parametrize("recipe", ["plain", "ma"])
def test_train_evaluate_predict_with_device_cuda(tiny_data, tmp_path, recipe):
    """The CLI end to end on CUDA (MA also runs its swap test and the refined-label stage there); the CUDA
    evaluation of the checkpoint agrees with a CPU evaluation of the same weights."""
    ckpt = tmp_path / recipe
    proc = run_cli("train", "--data", str(tiny_data), "--model", "han", "--recipe", recipe, "--epochs", "2",
                   "--set", "dim=32", "--set", "ffn_dim=32", "--device", "cuda", "--out", str(ckpt))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((ckpt / "config.json").read_text())["train"]["device"] == "cuda"
    figures = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"eval-{device}.json"
        proc = run_cli("evaluate", "--data", str(tiny_data), "--checkpoint", str(ckpt), "--device", device,
                       "--json", str(out))
        assert proc.returncode == 0, proc.stderr
        figures[device] = json.loads(out.read_text())
    for key in METRIC_KEYS:  # decisions at 0.5 can flip on a float difference: a loose bound, not equality
        assert figures["cuda"][key] == pytest.approx(figures["cpu"][key], abs=2.0)
    proc = run_cli("predict", "--data", str(tiny_data), "--checkpoint", str(ckpt), "--split", "test",
                   "--device", "cuda", "--out", str(tmp_path / "p.npz"))
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "p.npz") as npz:
        assert npz["audio"].shape == (20, 10, 25) and np.isfinite(npz["audio"]).all()
