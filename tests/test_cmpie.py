"""CM-PIE (Chen et al., ICASSP 2024): segment-attention gates, the "without SA" and CMA-per-modality
ablation switches really change the wiring, keys/values of the CMA span 2T segments, mean fusion; tiny
inputs at a narrow width (seconds)."""

from __future__ import annotations

import pytest
import torch

from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.models import count_parameters, create_model
from avvp_core.models.cmpie import SegmentAttention
from avvp_core.training.recipes import RecipeContext, run_recipe
from tests.conftest import make_batch

NARROW = {"dim": 32, "ffn_dim": 32}


def _model(name: str = "cmpie", **overrides):
    torch.manual_seed(0)
    return create_model(name, "paper", **{**NARROW, **overrides}).eval()


def test_paper_parameter_counts():
    han = count_parameters(create_model("han"))
    cma, sa = 2 * (4 * 512 * 512 + 4 * 512), (10 * 5 + 5) + (5 * 10 + 10)
    assert count_parameters(create_model("cmpie")) == han + cma + sa == 6_671_038
    assert count_parameters(create_model("cmpie_nosa")) == han + cma
    assert count_parameters(create_model("cmpie_cma_audio")) == han + cma // 2 + sa
    assert count_parameters(create_model("cmpie_cma_visual")) == han + cma // 2 + sa


def test_segment_weights_are_one_sigmoid_gate_per_segment():
    out = _model()(make_batch(batch=4), capture=True)
    for m in ("audio", "visual"):
        w = out.captures[f"{m} SA segment weights"]
        assert w.shape == (4, 10)
        assert ((w > 0) & (w < 1)).all()  # independent gates, not a softmax over segments
        assert not torch.allclose(w.sum(dim=1), torch.ones(4))


def test_segment_attention_squeezes_each_segment_over_channels():
    torch.manual_seed(0)
    sa = SegmentAttention(segments=10, hidden=5)
    x = torch.randn(2, 10, 16)
    refined, w = sa(x)
    torch.testing.assert_close(refined, x * w.unsqueeze(-1))
    # Only each segment's channel mean enters: a zero-mean change within segments leaves the gates as they are.
    noise = torch.randn(2, 10, 16)
    _, same = sa(x + noise - noise.mean(dim=-1, keepdim=True))
    torch.testing.assert_close(same, w)
    # ...while changing one segment's mean moves the gates of the others too (segments interact).
    shifted = x.clone()
    shifted[:, 3] += 2.0
    _, moved = sa(shifted)
    assert not torch.allclose(moved[:, [0, 1, 2, 4, 5]], w[:, [0, 1, 2, 4, 5]])
    with pytest.raises(InputError, match="10 segments"):
        sa(torch.randn(2, 8, 16))


def test_without_sa_drops_the_path_and_equals_the_han_path_of_the_full_model():
    full, nosa = _model(), _model("cmpie_nosa")
    assert count_parameters(nosa) < count_parameters(full)
    missing, unexpected = nosa.load_state_dict(full.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("sa.") for k in unexpected)
    batch = make_batch()
    out = nosa(batch, capture=True)
    assert not any("SA" in k for k in out.captures)
    with torch.no_grad():
        audio, visual = full.paths(batch)["HAN path"]
        plain = full.head(torch.stack([audio, visual], dim=2))
    torch.testing.assert_close(out.segment_prob, plain["segment_prob"], rtol=0, atol=0)
    torch.testing.assert_close(out.video_prob, plain["video_prob"], rtol=0, atol=0)
    # And the full model's output differs: the SA path takes part.
    assert not torch.allclose(full(batch).video_prob, out.video_prob)


def test_without_sa_and_without_cma_is_exactly_han():
    han = create_model("han", "paper", **NARROW).eval()
    bare = _model("cmpie", use_sa=False, cma="none")
    bare.load_state_dict(han.state_dict(), strict=True)
    batch = make_batch(frames=80)
    torch.testing.assert_close(bare(batch).segment_prob, han(batch).segment_prob, rtol=0, atol=0)


def test_fused_features_are_the_mean_of_the_two_paths():
    out = _model()(make_batch(), capture=True)
    c = out.captures
    for m in ("audio", "visual"):
        mean = (c[f"HAN path: {m} features"] + c[f"SA path: {m} features"]) / 2
        torch.testing.assert_close(out.features[m], mean)
        torch.testing.assert_close(c[f"{m} features"], out.features[m].detach())


def test_cma_keys_and_values_span_audio_and_visual_segments():
    model, batch = _model(), make_batch()
    c = model(batch, capture=True).captures
    for path in ("HAN path", "SA path"):
        for m in ("audio", "visual"):
            w = c[f"{path}: {m} CMA -> audio+visual segments"]
            assert w.shape == (3, 1, 10, 20)  # (B, heads, T, 2T)
            torch.testing.assert_close(w.sum(dim=-1), torch.ones(3, 1, 10))
    # Audio queries see visual segments: changing the visual input alone changes audio's CMA output
    # even though audio's HAN-path input is untouched.
    with torch.no_grad():
        a, v = model.hybrid(model.layers, *model.paths(batch)["input"], None, "x")
        ga, _ = model.aggregate(a, v, None, "x")
        ga2, _ = model.aggregate(a, v + 1.0, None, "x")
    assert not torch.allclose(ga, ga2)


def test_cma_concatenated_along_channels_is_the_other_reading_of_the_concatenation():
    """cma_concat="channels": T keys, each segment's audio and visual features side by side (width 2D), projected to
    D for keys and values; checked against attention written here from Eq. 8 with that reading."""
    model, batch = _model(cma_concat="channels"), make_batch()
    d = NARROW["dim"]
    extra = 2 * d * d  # per CMA block: keys and values are projected from 2D instead of D
    assert count_parameters(model) == count_parameters(_model()) + 2 * extra
    assert count_parameters(create_model("cmpie", cma_concat="channels")) == 6_671_038 + 4 * 512 * 512 == 7_719_614
    c = model(batch, capture=True).captures
    for path in ("HAN path", "SA path"):
        for m in ("audio", "visual"):
            w = c[f"{path}: {m} CMA -> audio⊕visual segments"]
            assert w.shape == (3, 1, 10, 10)  # (B, heads, T, T)
            torch.testing.assert_close(w.sum(dim=-1), torch.ones(3, 1, 10))
    torch.manual_seed(1)
    a, v = torch.randn(3, 10, d), torch.randn(3, 10, d)
    block = model.cma["audio"]
    attn = block.attn
    with torch.no_grad():
        out, weights = block(a, a, v)
        fused = torch.cat([a, v], dim=-1)  # (B, T, 2D)
        b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
        q, k = a @ attn.q_proj_weight.T + b_q, fused @ attn.k_proj_weight.T + b_k
        expected_w = torch.softmax(q @ k.transpose(1, 2) / d ** 0.5, dim=-1)  # (B, T, T)
        expected = a + attn.out_proj(expected_w @ (fused @ attn.v_proj_weight.T + b_v))  # residual (the default)
    torch.testing.assert_close(weights[:, 0], expected_w)
    torch.testing.assert_close(out, expected)
    out = model(batch)
    (out.segment_prob.sum() + out.video_prob.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(InputError, match="cma_concat must be"):
        create_model("cmpie", cma_concat="depth")


def test_cma_on_audio_only_leaves_the_visual_stream_without_cma():
    model, batch = _model("cmpie_cma_audio"), make_batch()
    assert set(model.cma) == {"audio"}
    c = model(batch, capture=True).captures
    assert any(k.endswith("audio CMA -> audio+visual segments") for k in c)
    assert not any("visual CMA" in k for k in c)
    with torch.no_grad():
        a, v = model.hybrid(model.layers, *model.paths(batch)["input"], None, "x")
    torch.testing.assert_close(c["HAN path: visual features"], v)  # HAN output passes through unchanged
    assert not torch.allclose(c["HAN path: audio features"], a)
    visual_only = _model("cmpie_cma_visual")
    assert set(visual_only.cma) == {"visual"}
    assert not any("audio CMA" in k for k in visual_only(batch, capture=True).captures)


def test_sharing_switches():
    shared = _model()
    assert shared.sa_layers is None and len(shared.sa) == 1
    assert shared.modality_encoders()["audio"] == [shared.project.audio]
    own = _model(share_han=False, share_sa=False)
    layer = count_parameters(shared.layers)
    assert count_parameters(own) == count_parameters(shared) + layer + count_parameters(shared.sa)
    assert own.sa[0] in own.modality_encoders()["audio"] and own.sa[1] in own.modality_encoders()["visual"]
    with pytest.raises(InputError, match="cma must be"):
        create_model("cmpie", cma="text")


def test_trains_with_the_plain_recipe(tiny_data, tmp_path):
    ctx = RecipeContext(LLPDataset(tiny_data), "cmpie", tmp_path / "run", "paper", dict(NARROW),
                        {"epochs": 1, "batch_size": 16, "eval_test": False}, terminal=False)
    result = run_recipe("plain", ctx)
    assert result.log and torch.isfinite(torch.tensor(result.log[0]["loss"]))
