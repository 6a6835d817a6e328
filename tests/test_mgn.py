"""MGN (Mo & Tian, NeurIPS 2022): assignment maps are softmaxes over the class axis, the hard mode is one-hot
at eval and Gumbel-sampled (reproducibly) in training, the (sum + 1) renormalisation, segment probabilities
from the assignment maps, the class-token loss, stochastic depth, resume determinism; narrow widths (seconds)."""

from __future__ import annotations

import pytest
import torch

from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.models import count_parameters, create_model
from avvp_core.models.mgn import AssignAttention, DropPath, assignment
from avvp_core.training.recipes import RecipeContext, run_recipe
from tests.conftest import make_batch

NARROW = {"dim": 32, "depth_audio": 1, "depth_visual": 1, "depth_av": 1}
MAPS = {"audio assignment": (25, 10), "visual assignment": (25, 10), "audio-visual assignment": (25, 25),
        "audio HAN assignment": (10, 10)}


def _model(name: str = "mgn", train: bool = False, **overrides):
    torch.manual_seed(0)
    return create_model(name, "paper", **{**NARROW, **overrides}).train(train)


def _is_one_hot_over_groups(a: torch.Tensor) -> bool:
    return bool(((a == 0) | (a == 1)).all() and (a.sum(dim=1) == 1).all())


def test_paper_parameter_count_matches_the_official_code():
    assert count_parameters(create_model("mgn")) == 4_366_065
    assert count_parameters(create_model("mgn_hard")) == 4_366_065
    # Without the audio HAN grouping block (10 visual tokens as groups): 398,410 fewer.
    assert count_parameters(create_model("mgn", han_grouping=False)) == 4_366_065 - 398_410


def test_soft_assignments_are_softmaxes_over_the_class_axis_for_every_segment():
    out = _model()(make_batch(batch=4), capture=True)
    for name, (groups, members) in MAPS.items():
        a = out.captures[name]
        assert a.shape == (4, groups, members)
        if name == "audio HAN assignment":  # Gumbel-hard when the uni-modal mode is soft (official)
            assert _is_one_hot_over_groups(a)
            continue
        assert (a > 0).all()
        torch.testing.assert_close(a.sum(dim=1), torch.ones(4, members))  # every member is spread over groups
        assert not torch.allclose(a.sum(dim=2), torch.ones(4, groups))  # ...not every group over members


def test_hard_mode_is_the_argmax_one_hot_at_eval_and_sampled_in_training():
    model, batch = _model("mgn_hard"), make_batch(batch=4)
    first, second = model(batch, capture=True).captures, model(batch, capture=True).captures
    for name in ("audio assignment", "visual assignment", "audio-visual assignment"):
        a, scores = first[name], first[f"{name} (soft scores)"]
        assert _is_one_hot_over_groups(a)
        assert torch.equal(a.argmax(dim=1), scores.argmax(dim=1))  # no noise at eval
        assert torch.equal(a, second[name])
    # the HAN block is soft when the uni-modal mode is hard (official pairing)
    torch.testing.assert_close(first["audio HAN assignment"].sum(dim=1), torch.ones(4, 10))
    assert not _is_one_hot_over_groups(first["audio HAN assignment"])
    # training: still one-hot, but Gumbel noise moves some members away from the argmax of the scores
    sampled = model.train()(batch, capture=True).captures
    a, scores = sampled["audio-visual assignment"], sampled["audio-visual assignment (soft scores)"]
    assert _is_one_hot_over_groups(a) and not torch.equal(a.argmax(dim=1), scores.argmax(dim=1))


def test_straight_through_assignment_passes_the_soft_gradient():
    logits = torch.randn(2, 5, 7, requires_grad=True)
    hard = assignment(logits, hard=True, tau=1.0, training=False)
    assert _is_one_hot_over_groups(hard)
    (hard * torch.arange(5.0).view(1, 5, 1)).sum().backward()
    expected = torch.autograd.grad((torch.softmax(logits, 1) * torch.arange(5.0).view(1, 5, 1)).sum(), logits)[0]
    torch.testing.assert_close(logits.grad, expected)


@pytest.mark.parametrize("hard", [False, True])
def test_weights_are_renormalised_by_sum_plus_one(hard):
    torch.manual_seed(0)
    attn = AssignAttention(16, hard=hard).eval()
    groups, members = torch.randn(3, 4, 16), torch.randn(3, 9, 16)
    out, assign, _, weights = attn(groups, members)
    total = assign.sum(dim=-1, keepdim=True)  # (B, G, 1) mass each group received
    torch.testing.assert_close(weights, assign / (total + 1))
    torch.testing.assert_close(weights.sum(dim=-1), (total / (total + 1)).squeeze(-1))
    assert (weights.sum(dim=-1) < 1).all()  # an empty group stays near zero instead of being blown up
    torch.testing.assert_close(out, attn.proj(weights @ attn.v(members)))
    if hard:  # a group that receives no member outputs only the projection bias
        empty = assign.sum(dim=-1) == 0
        assert empty.any()
        torch.testing.assert_close(out[empty], attn.proj.bias.expand(int(empty.sum()), -1))


def test_segment_probs_from_the_assignment_maps():
    batch = make_batch(batch=4)
    out = _model()(batch, capture=True)
    for m, (i, prob) in {"audio": (0, out.audio_prob), "visual": (1, out.visual_prob)}.items():
        seg = out.segment_prob[:, :, i]  # (B, T, C)
        video = prob.unsqueeze(1)  # (B, 1, C)
        assert (seg >= video).all() and (seg <= (2 * video).clamp(max=1)).all()  # default: one_plus_softmax
        scale = 1 + torch.softmax(out.captures[f"{m} assignment"], dim=-1).transpose(1, 2)  # (B, T, C)
        torch.testing.assert_close(seg, (video * scale).clamp(max=1))
    # "assignment": a_prob x class-softmax map, hence never above the video-level modality probability
    plain = _model(segment_probs="assignment")(batch, capture=True)
    a = plain.captures["audio assignment"].transpose(1, 2)
    torch.testing.assert_close(plain.segment_prob[:, :, 0], plain.audio_prob.unsqueeze(1) * a)
    assert (plain.segment_prob[:, :, 0] <= plain.audio_prob.unsqueeze(1)).all()
    # hard: exactly one class per segment carries the modality probability, the others are 0
    hard = _model("mgn_hard")(batch)
    seg = hard.segment_prob[:, :, 0]
    assert ((seg > 0).sum(dim=-1) == 1).all()
    torch.testing.assert_close(seg.max(dim=-1).values, hard.audio_prob.gather(1, seg.argmax(dim=-1)))
    with pytest.raises(InputError, match="choose one of"):
        create_model("mgn", segment_probs="mean")


def test_class_token_loss_goes_down_and_zero_tokens_get_gradients():
    model, batch = _model(train=True), make_batch(batch=1)
    parts = model.extra_losses(model(batch), batch)
    assert set(parts) == {"audio_tokens", "visual_tokens"}
    for v in parts.values():  # zero-initialised tokens: uniform logits
        assert v.item() == pytest.approx(torch.log(torch.tensor(25.0)).item(), abs=1e-5)
    sum(parts.values()).backward()
    assert model.audio.class_tokens.grad.abs().sum() > 0 and model.visual.class_tokens.grad.abs().sum() > 0
    params = [model.audio.class_tokens, model.visual.class_tokens, *model.fc_cls.parameters()]
    opt = torch.optim.Adam(params, lr=0.05)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        out = model(batch)
        loss = sum(model.extra_losses(out, batch).values())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(b < a for a, b in zip(losses[:-1], losses[1:], strict=True)) and losses[-1] < losses[0] / 3
    assert model.fc_cls.weight.grad.abs().sum() > 0  # once the tokens moved off zero


def test_gumbel_and_stochastic_depth_are_reproducible_under_a_fixed_seed():
    model, batch = _model("mgn_hard", train=True), make_batch()

    def run(seed: int):
        torch.manual_seed(seed)
        return model(batch, capture=True)

    a, b, c = run(5), run(5), run(6)
    for name in ("audio assignment", "visual assignment", "audio-visual assignment"):
        assert torch.equal(a.captures[name], b.captures[name])
    assert torch.equal(a.video_prob, b.video_prob) and torch.equal(a.segment_prob, b.segment_prob)
    assert not torch.equal(a.video_prob, c.video_prob)
    assert not torch.equal(a.captures["audio-visual assignment"], c.captures["audio-visual assignment"])


def test_drop_path_drops_whole_samples_in_training_only():
    torch.manual_seed(0)
    drop = DropPath(0.5)
    x = torch.ones(400, 3, 4)
    y = drop(x)
    per_sample = y.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 2).all(1)).all()  # kept samples scaled by 1 / (1 - p)
    assert 0.35 < (per_sample[:, 0] == 0).float().mean() < 0.65
    assert torch.equal(drop.eval()(x), x)


def test_han_grouping_switch_and_features():
    batch = make_batch()
    full, bare = _model(), _model(han_grouping=False)
    out = bare(batch, capture=True)
    assert not any("HAN" in k for k in out.captures)
    assert full.modality_encoders()["audio"][-1] is full.audio
    # the audio branch regroups its segments with the projected visual tokens as groups
    f = full(batch)
    with torch.no_grad():
        _, audio, _ = full.audio(f.features["audio_input"], other=f.features["visual_input"] + 1.0)
    assert not torch.allclose(audio, f.features["audio"])
    assert out.features["audio"].shape == (3, 10, 32)


def test_trains_and_resumes_to_identical_numbers(tiny_data, tmp_path):
    def ctx(out, **extra):
        return RecipeContext(LLPDataset(tiny_data), "mgn_hard", out, "paper", dict(NARROW),
                             {"epochs": 2, "batch_size": 16, "eval_test": False}, terminal=False, **extra)

    reference = run_recipe("plain", ctx(tmp_path / "ref"))
    assert {"loss/audio_tokens", "loss/visual_tokens"} <= set(reference.log[0])
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 6  # during epoch 2 (4 steps per epoch)

    with pytest.raises(KeyboardInterrupt):
        run_recipe("plain", ctx(tmp_path / "cut", should_stop=stop))
    resumed = run_recipe("plain", ctx(tmp_path / "cut"))
    assert [r["loss"] for r in resumed.log] == [r["loss"] for r in reference.log]
    assert resumed.metrics["val"] == reference.metrics["val"]
