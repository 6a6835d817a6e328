"""Registry sweep (every registered model: forward, backward, every parameter gets a gradient, save/load
round trip) and HAN's fidelity to the official MMIL_Net forward."""

from __future__ import annotations

import pytest
import torch

from avvp_core.checkpoints import load_checkpoint, save_checkpoint
from avvp_core.errors import InputError
from avvp_core.models import count_parameters, create_model, list_models, model_info
from avvp_core.training.losses import mmil_losses
from tests.conftest import make_batch

MODELS = list_models()


@pytest.mark.parametrize("name", MODELS)
def test_forward_contract(name):
    model = create_model(name, "demo").eval()
    out = model(make_batch(frames=80))
    assert out.segment_prob.shape == (3, 10, 2, 25)
    for p in (out.video_prob, out.audio_prob, out.visual_prob):
        assert p.shape == (3, 25)
        assert torch.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    # 80 frames and 10 segment-averaged frames are both accepted
    assert model(make_batch(frames=10)).segment_prob.shape == (3, 10, 2, 25)


@pytest.mark.parametrize("name", MODELS)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = create_model(name, "demo").train()
    batch = make_batch(batch=4)
    out = model(batch)
    parts = mmil_losses(out, batch)
    if hasattr(model, "extra_losses"):
        parts.update(model.extra_losses(out, batch))
    sum(parts.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: parameters without a gradient: {missing[:5]}"


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip(name, tmp_path):
    model = create_model(name, "demo").eval()
    save_checkpoint(tmp_path / name, model, {"name": name, "recipe": "test"})
    loaded, card = load_checkpoint(tmp_path / name)
    batch = make_batch()
    assert card.model == name
    torch.testing.assert_close(loaded(batch).segment_prob, model(batch).segment_prob, rtol=0, atol=0)
    save_checkpoint(tmp_path / "again", model, {"name": name, "recipe": "test"})  # same tensors, same bytes
    assert (tmp_path / "again" / "model.pt").read_bytes() == (tmp_path / name / "model.pt").read_bytes()


@pytest.mark.parametrize("name", MODELS)
def test_captures_do_not_change_numbers(name):
    model = create_model(name, "demo").eval()
    batch = make_batch()
    plain, captured = model(batch), model(batch, capture=True)
    assert plain.captures == {}
    assert captured.captures, "capture=True must return attention maps / features"
    torch.testing.assert_close(plain.segment_prob, captured.segment_prob, rtol=0, atol=0)
    torch.testing.assert_close(plain.video_prob, captured.video_prob, rtol=0, atol=0)


def test_han_has_the_official_used_parameter_count():
    assert count_parameters(create_model("han")) == 4_569_675


def test_create_model_refuses_unknown_or_mistyped_options():
    with pytest.raises(InputError, match="no option"):
        create_model("han", nonsense=3)
    with pytest.raises(InputError, match="takes int"):
        create_model("han", dim="wide")
    with pytest.raises(InputError, match="unknown model"):
        model_info("nope")
