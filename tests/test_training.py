"""The trainer: losses as dicts, a short fit, resume after SIGKILL mid-epoch to identical numbers, the
output-folder lock, cancel; all on SynthLLP `tiny` with a narrow HAN (seconds)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from avvp_core.checkpoints import list_checkpoints, load_checkpoint, read_card
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.training.loop import folder_lock
from avvp_core.training.losses import mmil_losses, segment_contrastive
from avvp_core.training.recipes import RecipeContext, run_recipe
from tests.conftest import make_batch

REPO = Path(__file__).resolve().parents[1]
NARROW = {"dim": 32, "ffn_dim": 32}
FAST = {"epochs": 3, "batch_size": 16, "lr_step": 2}


def _ctx(data: Path, out: Path, **train) -> RecipeContext:
    return RecipeContext(LLPDataset(data), "han", out, "paper", dict(NARROW), {**FAST, **train}, terminal=False)


def test_losses_are_named_parts():
    from avvp_core.models import create_model

    batch = make_batch()
    parts = mmil_losses(create_model("han", "demo")(batch), batch)
    assert set(parts) == {"audio", "visual", "video"} and all(torch.isfinite(v) for v in parts.values())
    same = torch.randn(2, 10, 8)
    # A perfectly aligned pair scores lower than a shuffled one.
    assert segment_contrastive(same, same) < segment_contrastive(same, same[:, torch.randperm(10)])


def test_fit_writes_a_complete_checkpoint(tiny_data, tmp_path):
    result = run_recipe("plain", _ctx(tiny_data, tmp_path / "run"))
    card = read_card(result.folder)
    assert card.model == "han" and card.config["model_config"]["dim"] == 32
    assert card.config["data"]["fingerprint"] == LLPDataset(tiny_data).fingerprint()
    assert set(card.metrics["val"]) == set(card.metrics["test"]) and len(card.metrics["test"]) == 10
    log = card.log()
    assert [row["epoch"] for row in log] == [1, 2, 3]
    assert {"loss", "loss/audio", "loss/visual", "loss/video", "lr", "val/segment/type"} <= set(log[0])
    assert [row["lr"] for row in log] == pytest.approx([3e-4, 3e-4, 3e-5])  # StepLR(2, 0.1)
    assert not (result.folder / "train_state.pt").exists()
    model, _ = load_checkpoint(result.folder)
    assert not model.training
    assert [c.path for c in list_checkpoints(tmp_path)] == [result.folder]


def test_same_seed_same_numbers(tiny_data, tmp_path):
    a = run_recipe("plain", _ctx(tiny_data, tmp_path / "a", epochs=2))
    b = run_recipe("plain", _ctx(tiny_data, tmp_path / "b", epochs=2))
    assert a.metrics["test"] == b.metrics["test"]
    assert [r["loss"] for r in a.log] == [r["loss"] for r in b.log]


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    from avvp_core.data import LLPDataset
    from avvp_core.training.recipes import RecipeContext, run_recipe
    def progress(info):
        if info.get("epoch") == 2 and info.get("step") == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-epoch, no chance to clean up
    ctx = RecipeContext(LLPDataset({data!r}), "han", Path({out!r}), "paper", {narrow!r}, {fast!r},
                        progress=progress, terminal=False)
    run_recipe("plain", ctx)
""")


def test_resume_after_sigkill_mid_epoch_reproduces_the_uninterrupted_run(tiny_data, tmp_path):
    reference = run_recipe("plain", _ctx(tiny_data, tmp_path / "ref"))
    out = tmp_path / "killed"
    script = KILLER.format(repo=str(REPO), data=str(tiny_data), out=str(out), narrow=NARROW, fast=FAST)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert (out / "train_state.pt").exists() and (out / ".lock").exists()  # stale lock of a dead process
    resumed = run_recipe("plain", _ctx(tiny_data, out))
    assert resumed.metrics["test"] == reference.metrics["test"]
    assert resumed.metrics["val"] == reference.metrics["val"]
    assert [r["loss"] for r in resumed.log] == [r["loss"] for r in reference.log]


def test_second_training_into_the_same_folder_is_refused(tmp_path):
    with folder_lock(tmp_path / "run"), pytest.raises(InputError, match="another training"), \
            folder_lock(tmp_path / "run"):
        pass
    with folder_lock(tmp_path / "run"):  # released afterwards
        pass


def test_cancel_stops_and_leaves_a_resumable_folder(tiny_data, tmp_path):
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 6  # during epoch 2

    ctx = _ctx(tiny_data, tmp_path / "run")
    ctx.should_stop = stop
    with pytest.raises(KeyboardInterrupt):
        run_recipe("plain", ctx)
    assert (tmp_path / "run" / "train_state.pt").exists()
    assert not (tmp_path / "run" / ".lock").exists()
    state = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    assert state["epoch"] == 1


def test_every_training_option_is_explained_once():
    """`train --help` and the Train page list every TrainConfig field with one line (a new option must say what it
    does), and nothing that is not an option."""
    from avvp_core.names import TRAIN_OPTION_HELP
    from avvp_core.training.loop import TrainConfig

    assert list(TRAIN_OPTION_HELP) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert all(isinstance(v, str) and v.strip() for v in TRAIN_OPTION_HELP.values())
