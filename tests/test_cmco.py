"""CM-Co (model) and CM-S (recipes "cms", "cms_ma"): class-token shapes, co-attention wiring and its ablations, the
cross-video soft targets and loss, batch mixing (BCE on the unmixed half only), the warm-up switch, and both recipes
end to end on SynthLLP `tiny` with narrow models (1 epoch)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from avvp_core.checkpoints import load_checkpoint
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.models import create_model
from avvp_core.models.cmco import ClassTokens, CoOccurrence, class_guided_pool
from avvp_core.training.cmco_recipe import CrossVideoMixing, cms_hooks, cms_loss, cms_targets, temporal_logits
from avvp_core.training.loop import TrainConfig, base_losses
from avvp_core.training.losses import mmil_losses
from avvp_core.training.recipes import RECIPES, RecipeContext, run_recipe
from tests.conftest import make_batch

NARROW = {"han": {"dim": 32, "ffn_dim": 32}, "cmco": {"dim": 32, "ffn_dim": 32, "occ_dim": 8}}
NO_DROPOUT = {"dropout": 0.0, "occ_dropout": 0.0}


def _labelled(batch, rows):
    """Give every video of a make_batch a known label set (list of class lists)."""
    y = torch.zeros(len(rows), 25)
    for i, classes in enumerate(rows):
        y[i, classes] = 1.0
    return batch.replace(labels=y)


# --- CM-Co -----------------------------------------------------------------------------------------------------
def test_class_tokens_shape_and_captures():
    assert ClassTokens(16, 8)(torch.randn(2, 10, 16)).shape == (2, 10, 25, 8)
    assert (ClassTokens(16, 8)(torch.randn(2, 10, 16)) >= 0).all()  # ReLU
    model = create_model("cmco", "demo").eval()
    out = model(make_batch(), capture=True)
    c = out.captures
    for m in ("audio", "visual"):
        assert c[f"class tokens: {m}"].shape == (3, 10, 25, 32)
        assert c[f"co-occurrence features: {m}"].shape == (3, 10, 25, 32)
        assert c[f"class tokens: {m} self-attention"].shape == (3, 10, 1, 25, 25)  # one C x C map per segment
        assert c[f"CM-S pooled {m}"].shape == (3, 128)
        torch.testing.assert_close(c[f"CM-S pooled {m}"].norm(dim=-1), torch.ones(3))
    assert c["class tokens: audio -> visual cross-attention"].shape == (3, 10, 1, 25, 25)
    assert out.aux["temporal_logits"].shape == (3, 10, 2, 25)
    torch.testing.assert_close(torch.softmax(out.aux["temporal_logits"], 1), out.temporal_attention)
    assert not hasattr(model.head, "classifier")  # the official forward never uses HAN's fc_prob


def test_co_attention_mixes_modalities_and_the_ablations_cut_it():
    torch.manual_seed(0)
    a, v = torch.rand(2, 10, 25, 8), torch.rand(2, 10, 25, 8)
    v2 = v + torch.randn_like(v)
    for mode, audio_hears_visual in (("cross", True), ("self", False), ("audio", False)):
        occ = CoOccurrence(8, dropout=0.0, attention=mode).eval()
        a_out, _, prob = occ(a, v)
        a_out2, _, prob2 = occ(a, v2)
        assert prob.shape == (2, 10, 2, 25)
        assert (not torch.allclose(a_out, a_out2)) == audio_hears_visual, mode
        assert (not torch.allclose(prob[:, :, 0], prob2[:, :, 0])) == audio_hears_visual, mode
    assert CoOccurrence(8, attention="self").layer.cross_attn is None  # no unused co-attention weights
    _, v_out, _ = CoOccurrence(8, attention="audio")(a, v)
    torch.testing.assert_close(v_out, v)  # A Only: visual tokens go straight to their head
    # the co-attention stays within a segment: changing segment 4 of the visual tokens leaves the others alone
    occ = CoOccurrence(8, dropout=0.0).eval()
    v3 = v.clone()
    v3[:, 4] += 1.0
    changed = ~torch.isclose(occ(a, v)[0], occ(a, v3)[0]).all(-1).all(-1)  # (B, T)
    assert changed[:, 4].all() and not changed[:, [0, 1, 2, 3, 5, 6, 7, 8, 9]].any()
    with pytest.raises(InputError, match="occ_attention"):
        CoOccurrence(8, attention="both")


# --- CM-S objective --------------------------------------------------------------------------------------------
def test_soft_targets_are_uniform_over_class_sharing_pairs():
    a = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=torch.float)
    v = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=torch.float)
    t = cms_targets(a, v)
    expected = torch.tensor([[1 / 2, 1 / 2, 0, 0],  # audio class 0: visual rows 0 and 1
                             [0, 1 / 2, 0, 1 / 2],  # audio class 1: visual rows 1 and 3
                             [1 / 3, 1 / 3, 0, 1 / 3],  # two shared classes still count once per pair
                             [0, 0, 0, 0]])  # no audio class: no target, no contribution
    torch.testing.assert_close(t, expected)
    torch.testing.assert_close(t[:3].sum(-1), torch.ones(3))
    torch.testing.assert_close(cms_targets(a * 0.95 + 0.0, v), expected)  # guides are thresholded at 0.5


def test_cms_loss_is_the_soft_target_cross_entropy():
    torch.manual_seed(0)
    fa, fv = F.normalize(torch.randn(4, 6), dim=-1), F.normalize(torch.randn(4, 6), dim=-1)
    ga = torch.tensor([[1.0, 0], [0, 1], [1, 1], [0, 0]])
    gv = torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    t = cms_targets(ga, gv)
    manual = -(t * torch.log_softmax(fa @ fv.T, -1)).sum(-1).sum() / 4  # mean over all rows, temperature 1
    torch.testing.assert_close(cms_loss(fa, fv, ga, gv), manual)
    aligned = cms_loss(fa, fa, torch.eye(4), torch.eye(4))
    assert aligned < cms_loss(fa, -fa, torch.eye(4), torch.eye(4))


def test_class_guided_pool_follows_the_guided_logits():
    feats = torch.randn(2, 10, 6)
    logits = torch.zeros(2, 10, 25)
    logits[:, 3, 7] = 50.0  # class 7 peaks at segment 3
    guide = torch.zeros(2, 25)
    guide[:, 7] = 1.0
    torch.testing.assert_close(class_guided_pool(feats, logits, guide), F.normalize(feats[:, 3], dim=-1))
    torch.testing.assert_close(class_guided_pool(feats, logits, torch.zeros(2, 25)),  # no class: plain mean
                               F.normalize(feats.mean(1), dim=-1))


def test_log_attention_gives_the_official_logit_weights_for_models_without_logits():
    model = create_model("han", "demo").eval()
    batch = make_batch()
    out = model(batch)
    x = torch.stack([out.features["audio"], out.features["visual"]], dim=2)
    true_logits = model.head.temporal_attention(x)  # (B, T, M, C)
    guide = batch.labels
    torch.testing.assert_close(class_guided_pool(out.features["audio"], temporal_logits(out)[:, :, 0], guide),
                               class_guided_pool(out.features["audio"], true_logits[:, :, 0], guide))


# --- batch mixing and the warm-up ------------------------------------------------------------------------------
def test_mixing_keeps_bce_on_the_unmixed_half():
    torch.manual_seed(0)
    model = create_model("cmco", "demo", **NO_DROPOUT).train()
    batch = make_batch(batch=4)
    batch = batch.replace(target_audio=batch.labels, target_visual=batch.labels)
    plain = model(batch)
    mixer = CrossVideoMixing(model)
    mixer.active = True
    torch.manual_seed(1)
    mixed_out = mixer(batch)
    torch.manual_seed(1)
    mixed_batch, partner = mixer.mix(batch)
    assert (partner != torch.arange(4)).all()
    torch.testing.assert_close(mixed_batch.video_3d[4:], batch.video_3d[partner])
    torch.testing.assert_close(mixed_batch.audio[4:], batch.audio)
    # the loop sees B rows, identical to the unmixed forward: its BCE is the BCE of the originals only
    assert mixed_out.video_prob.shape == (4, 25) and mixed_out.segment_prob.shape == (4, 10, 2, 25)
    torch.testing.assert_close(mixed_out.video_prob, plain.video_prob)
    torch.testing.assert_close(mixed_out.segment_prob, plain.segment_prob)
    for k, v in mmil_losses(mixed_out, batch).items():
        torch.testing.assert_close(v, mmil_losses(plain, batch)[k])
    # the contrast sees all 2B rows: mixed rows carry own audio guide, partner's visual guide
    aux = mixed_out.aux
    assert aux["cms/audio"].shape == (8, 128) and aux["cms/visual"].shape == (8, 128)
    torch.testing.assert_close(aux["cms/audio_guide"][4:], batch.labels)
    torch.testing.assert_close(aux["cms/visual_guide"][4:], batch.labels[partner])
    full = model(mixed_batch)
    torch.testing.assert_close(aux["cms/visual"][4:], class_guided_pool(
        full.features["visual"][4:], full.aux["temporal_logits"][4:, :, 1], batch.labels[partner]))
    mixer.active = False  # inactive (or eval mode): the model's own forward
    torch.testing.assert_close(mixer(batch).video_prob, plain.video_prob)
    assert "cms/audio" not in mixer(batch).aux


def test_cms_contributes_nothing_before_its_start_epoch():
    torch.manual_seed(0)
    model = create_model("cmco", "demo").train()
    batch = _labelled(make_batch(batch=4), [[0], [0, 3], [3], [5]])
    cfg = TrainConfig(cms_weight=0.85, cms_start_epoch=3)
    mixer = CrossVideoMixing(model)
    a_ref = batch.labels.clone()
    v_ref = batch.labels.clone()
    v_ref[1, 0] = 0.0  # MA-style: class 0 of video 1 only audible
    a_ref[3, 5] = 0.0  # class 5 of video 3 only visible
    targets, loss = cms_hooks(cfg, mixer, lambda b: (a_ref, v_ref))
    for epoch in (1, 2):
        b = targets(model, batch, epoch)
        assert not mixer.active
        torch.testing.assert_close(b.target_visual, 0.9 * v_ref + 0.05)  # visual smoothing in the warm-up only
        out = mixer(b)
        assert out.video_prob.shape == (4, 25) and "cms/audio" not in out.aux
        assert float(loss(model, out, b)["cms"]) == 0.0
    b = targets(model, batch, 3)
    assert mixer.active
    torch.testing.assert_close(b.target_visual, v_ref)
    torch.testing.assert_close(b.target_audio, a_ref)
    torch.testing.assert_close(b.labels, torch.maximum(a_ref, v_ref))  # video target = a_ref OR v_ref
    out = mixer(b)
    parts = {**base_losses(model, out, b, cfg), **loss(model, out, b)}
    a = out.aux
    torch.testing.assert_close(parts["cms"], 0.85 * cms_loss(a["cms/audio"], a["cms/visual"], a["cms/audio_guide"],
                                                             a["cms/visual_guide"]))
    assert parts["cms"] > 0
    sum(parts.values()).backward()
    assert model.audio_tokens.proj.weight.grad is not None
    zero = cms_hooks(TrainConfig(cms_weight=0.0), mixer, lambda b: (a_ref, v_ref))[0]
    zero(model, batch, 10)
    assert not mixer.active  # weight 0: never mixes


# --- recipes end to end ----------------------------------------------------------------------------------------
def _ctx(data, out, model, **train):
    return RecipeContext(LLPDataset(data), model, out, "paper", dict(NARROW[model]),
                         {"epochs": 1, "batch_size": 16, "cms_start_epoch": 1, **train}, terminal=False)


@pytest.mark.parametrize("model", ["han", "cmco"])
def test_cms_recipe_end_to_end(tiny_data, tmp_path, model):
    assert {"cms", "cms_ma"} <= set(RECIPES)
    result = run_recipe("cms", _ctx(tiny_data, tmp_path / "run", model))
    row = result.log[-1]
    assert row["loss/cms"] > 0 and {"loss/audio", "loss/visual", "loss/video"} <= set(row)
    assert result.metrics["complete"] and result.metrics["selection_metric"] == "val/event/type"
    loaded, card = load_checkpoint(result.folder)
    assert card.model == model and card.config["recipe"] == "cms"
    assert card.config["train"]["cms_weight"] == 0.85 and card.config["train"]["lr"] == 7e-5
    assert card.config["gating"] == "fused"
    assert "forward" not in loaded.__dict__


def test_cms_ma_recipe_end_to_end(tiny_data, tmp_path):
    out = tmp_path / "run"
    result = run_recipe("cms_ma", _ctx(tiny_data, out, "cmco"))
    assert (out / "stages" / "base" / "model.pt").is_file() and (out / "stages" / "labels" / "labels.npz").is_file()
    assert result.log[-1]["loss/cms"] > 0
    card = json.loads((out / "config.json").read_text())
    assert card["recipe"] == "cms_ma" and card["stages"] == ["base", "labels"]
    base = json.loads((out / "stages" / "base" / "config.json").read_text())
    assert base["train"]["contrastive_weight"] == 1.0 and base["train"]["lr"] == 3e-4  # MA's own recipe
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"audio", "visual"} <= set(metrics["refinement"])  # SynthLLP train truth: removals measured
