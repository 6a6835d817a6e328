"""MMT (messenger-guided mid-fusion transformer), its ablation switches, CAPC and the three-stage "capc" recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avvp_core.checkpoints import read_card
from avvp_core.data import LLPDataset
from avvp_core.models import count_parameters, create_model, model_info
from avvp_core.training.mmt_recipe import capc_consistency, capc_loss, other_rows
from avvp_core.training.recipes import RECIPES, RecipeContext, run_recipe
from tests.conftest import make_batch

NARROW = {"dim": 32, "ffn_dim": 32}


def _model(name: str = "mmt", **config):
    torch.manual_seed(0)
    return create_model(name, "paper", **{**NARROW, **config}).eval()


def _other_audio(batch):
    return batch.replace(audio=torch.randn_like(batch.audio))


def test_registered_variants_and_paper_defaults():
    info = model_info("mmt")
    assert info.gating == "modality"
    d = info.defaults
    assert (d["dim"], d["heads"], d["encoder_layers"], d["decoder_layers"]) == (512, 1, 1, 1)
    assert (d["audio_messengers"], d["visual_messengers"], d["fusion"]) == (1, 1, "messenger")
    assert {k: info.train[k] for k in ("epochs", "batch_size", "lr", "lr_step", "lr_gamma")} == \
        {"epochs": 40, "batch_size": 64, "lr": 3e-4, "lr_step": 10, "lr_gamma": 0.1}
    assert model_info("mmt_nomsg").defaults["fusion"] == "full"
    assert model_info("mmt_mbt").defaults["fusion"] == "mbt"
    assert model_info("mmt_nofa").defaults["visual_fuses_audio"] is False
    assert count_parameters(create_model("mmt")) == 10_904_676  # stated in the model docstring
    with pytest.raises(ValueError):
        create_model("mmt", fusion="late")


@pytest.mark.parametrize("n_a,n_v", [(1, 1), (4, 4), (1, 3)])
def test_messenger_shapes_and_cross_attention(n_a, n_v):
    out = _model(audio_messengers=n_a, visual_messengers=n_v)(make_batch(), capture=True)
    c = out.captures
    assert c["audio messengers"].shape == (3, n_a, 32) and c["visual messengers"].shape == (3, n_v, 32)
    assert c["visual decoder -> audio messengers"].shape == (3, 1, 10, n_a)
    assert c["audio decoder -> visual messengers"].shape == (3, 1, 10, n_v)
    assert c["audio messengers class affinity"].shape == (3, n_a, 25)
    assert c["audio encoder self-attention"].shape == c["visual decoder self-attention"].shape == (3, 1, 10, 10)
    assert c["audio messengers"].abs().max() <= 1  # tanh


def test_single_messenger_is_tanh_of_the_pooled_projection():
    model = _model()
    c = model(make_batch(), capture=True).captures
    s_a = c["audio encoder output"]  # (B, T, D)
    expected = torch.tanh(model.encoders["audio"].to_messenger(s_a).mean(dim=1, keepdim=True))  # (B, 1, D)
    torch.testing.assert_close(c["audio messengers"], expected)
    affinity = torch.sigmoid(model.classifiers["audio"](expected))
    torch.testing.assert_close(c["audio messengers class affinity"], affinity)


def test_no_msg_cross_attends_to_all_segments():
    model = _model("mmt_nomsg")
    c = model(make_batch(), capture=True).captures
    assert c["visual decoder -> audio context"].shape == (3, 1, 10, 10)
    assert c["audio decoder -> visual context"].shape == (3, 1, 10, 10)
    assert not any("messenger" in k for k in c)
    assert all(e.to_messenger is None for e in model.encoders.values())  # no unused W_msg


def test_mbt_uses_shared_bottleneck_tokens():
    model = _model("mmt_mbt", audio_messengers=2, visual_messengers=2)
    c = model(make_batch(), capture=True).captures
    assert c["bottleneck tokens"].shape == (3, 2, 32)
    assert c["audio encoder self-attention"].shape == (3, 1, 12, 12)  # T segments + 2 tokens
    assert c["visual decoder -> bottleneck tokens"].shape == (3, 1, 10, 2)
    with pytest.raises(ValueError):
        create_model("mmt_mbt", audio_messengers=1, visual_messengers=2)


def test_no_fa_visual_stream_ignores_audio():
    batch = make_batch()
    nofa, full = _model("mmt_nofa"), _model("mmt")
    a, b = nofa(batch, capture=True), nofa(_other_audio(batch))
    torch.testing.assert_close(a.visual_prob, b.visual_prob, rtol=0, atol=0)
    torch.testing.assert_close(a.visual_segment_prob, b.visual_segment_prob, rtol=0, atol=0)
    assert not torch.allclose(a.audio_prob, b.audio_prob)  # audio still fuses the visual messengers
    assert a.captures["visual decoder -> visual context"].shape == (3, 1, 10, 10)
    assert nofa.encoders["audio"].to_messenger is None and nofa.encoders["visual"].to_messenger is not None
    # the full model's visual stream does hear the audio
    assert not torch.allclose(full(batch).visual_prob, full(_other_audio(batch)).visual_prob)


def test_shared_classifier_option():
    model = _model(shared_classifier=True)
    assert model.head.classifier is not None and not hasattr(model, "classifiers")
    assert model(make_batch()).segment_prob.shape == (3, 10, 2, 25)


def test_other_rows_never_pick_the_row_itself_and_follow_the_global_seed():
    torch.manual_seed(3)
    rows = torch.stack([other_rows(5) for _ in range(200)])
    assert (rows != torch.arange(5)).all() and set(rows.flatten().tolist()) == set(range(5))
    torch.manual_seed(3)
    assert torch.equal(other_rows(5), rows[0])


def test_capc_is_zero_for_identical_audio_and_positive_otherwise():
    model, loss = _model(), capc_loss(0.5, audios=2)
    batch = make_batch(batch=4)
    same = batch.replace(audio=batch.audio[:1].expand_as(batch.audio).clone())  # every video has the same audio
    assert loss(model, model(same), same)["capc"].item() == 0.0
    value = loss(model, model(batch), batch)["capc"]
    assert value.item() > 0
    value.backward()
    assert model.encoders["audio"].to_messenger.weight.grad.abs().sum() > 0  # the audio side learns from it
    # a visual stream that ignores audio is trivially consistent
    nofa = _model("mmt_nofa")
    assert loss(nofa, nofa(batch), batch)["capc"].item() == 0.0
    single = make_batch(batch=1)
    assert loss(model, model(single), single)["capc"].item() == 0.0


def test_capc_formula():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    q = torch.tensor([[0.0, 0.5], [1.0, 1.0]])
    assert capc_consistency(p, [q]).item() == pytest.approx((0.25 + 1.0) / 2)
    assert capc_consistency(p, [q, p]).item() == pytest.approx((0.25 + 1.0) / 4)


def test_capc_recipe_end_to_end(tiny_data, tmp_path):
    assert "capc" in RECIPES
    ctx = RecipeContext(LLPDataset(tiny_data), "mmt", tmp_path / "run", "paper", dict(NARROW),
                        {"epochs": 1, "batch_size": 16}, terminal=False)
    result = run_recipe("capc", ctx)
    card = read_card(result.folder)
    assert card.config["recipe"] == "capc" and card.gating == "modality" and card.metrics["complete"]
    assert card.config["train"]["capc_weight"] == 0.5 and card.config["train"]["capc_audios"] == 1
    assert card.log()[0]["loss/capc"] > 0
    base = read_card(result.folder / "stages" / "base")
    assert base.config["stage"] == "base" and base.config["train"]["capc_weight"] == 0.0
    assert "loss/capc" not in base.log()[0]
    labels = result.folder / "stages" / "labels"
    with np.load(labels / "labels.npz") as z:
        assert z["audio_remove"].shape == z["visual_remove"].shape == (60, 25)
    assert json.loads((labels / "labels.json").read_text())["videos"] == 60
    assert "refinement" in card.metrics  # SynthLLP train truth scores the pseudo labels


def test_capc_adopts_a_finished_plain_run_as_its_first_stage(tiny_data, tmp_path):
    from avvp_core.checkpoints import load_state_dict
    from avvp_core.errors import InputError

    data, train = LLPDataset(tiny_data), {"epochs": 1, "batch_size": 16}

    def run(recipe, out, base_from=None, seed=1, model="mmt"):
        ctx = RecipeContext(data, model, tmp_path / out, "paper", dict(NARROW), {**train, "seed": seed},
                            terminal=False, base_from=base_from)
        return run_recipe(recipe, ctx)

    plain, trained = run("plain", "mmt"), run("capc", "capc")
    # Stage 1 of capc is the plain training to the bit, which is what makes adopting it honest.
    ours, theirs = load_state_dict(plain.folder / "model.pt"), load_state_dict(trained.folder / "stages/base/model.pt")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    adopted = run("capc", "adopted", base_from=plain.folder)
    base = read_card(adopted.folder / "stages" / "base")
    assert base.metrics["adopted_from"] == {"name": "mmt", "folder": str(plain.folder.resolve())}
    assert base.config["recipe"] == "capc" and base.config["stage"] == "base"
    assert base.log() == read_card(plain.folder).log()
    assert adopted.metrics["test"] == trained.metrics["test"]  # the same three stages' result
    assert run("capc", "adopted", base_from=plain.folder).metrics["test"] == trained.metrics["test"]  # rerun: kept

    other_seed = run("plain", "mmt-s2", seed=2)
    with pytest.raises(InputError, match="seed") as exc:
        run("capc", "refused", base_from=other_seed.folder)
    assert "config.json" in str(exc.value) and not (tmp_path / "refused" / "stages" / "base" / "metrics.json").exists()
    with pytest.raises(InputError, match="not a finished training"):
        run("capc", "refused", base_from=tmp_path / "nowhere")
    with pytest.raises(InputError, match="cannot take a finished run"):
        run("ma", "refused-ma", base_from=plain.folder)
