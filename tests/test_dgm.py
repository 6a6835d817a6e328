"""DGM + MSDU (Fu, Gao, Xu): the imbalance ratio (Eq. 6) on hand-made scores, the coefficients (Eq. 7), exact
gradient scaling of the dominant encoder (Eq. 8), the noise's variance (Eq. 9), the MSDU wiring, and the "dgm" /
"jomold_dgm" recipes end to end on SynthLLP `tiny` with a narrow model (seconds)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from avvp_core.checkpoints import read_card
from avvp_core.data import LLPDataset
from avvp_core.errors import InputError
from avvp_core.models import create_model, list_models
from avvp_core.training.dgm_recipe import (
    StepScale,
    balance_coefficients,
    dgm_step,
    encoder_parameters,
    imbalance_ratio,
    modality_progress,
    modality_scores,
    modulate_,
)
from avvp_core.training.recipes import RECIPES, RecipeContext, run_recipe
from tests.conftest import make_batch

NARROW = {"dim": 32, "ffn_dim": 32}
LABELS = torch.tensor([[1.0, 0, 0, 0], [0, 1, 1, 0]])
VISUAL = torch.tensor([[0.8, 0.2, 0.1, 0.3], [0.1, 0.6, 0.4, 0.2]])


def test_registered():
    assert {"dgm", "jomold_dgm"} <= set(RECIPES) and "msdu" in list_models()


# --- Eq. 6 / 7 ---------------------------------------------------------------------------------------------------
def test_progress_and_ratio_by_hand():
    # video 0: correct 0.8, wrong mean 0.2 -> 0.8 + 0.6; video 1: correct 0.6 + 0.4, means 0.5 - 0.15 -> 1.0 + 0.35
    assert float(modality_progress(VISUAL, LABELS)) == pytest.approx(2.75)
    audio = torch.full((2, 4), 0.5)  # correct scores 0.5 + 1.0, no discrepancy
    assert float(modality_progress(audio, LABELS)) == pytest.approx(1.5)
    assert imbalance_ratio(audio, VISUAL, LABELS) == pytest.approx(2.75 / 1.5)
    assert imbalance_ratio(VISUAL, audio, LABELS) == pytest.approx(1.5 / 2.75)
    # the discrepancy term counts: same scores on the correct classes, higher wrong scores -> less progress
    worse = VISUAL.clone()
    worse[LABELS == 0] += 0.2
    assert float(modality_progress(worse, LABELS)) == pytest.approx(2.75 - 0.4)
    # a very wrong modality has clamped (positive) progress: omega stays finite and positive
    assert 0 < imbalance_ratio(torch.ones(2, 4) - LABELS, VISUAL, LABELS) < math.inf


def test_coefficients_only_slow_the_dominant_modality():
    mu_a, mu_v = balance_coefficients(2.0, 0.1)  # visual ahead
    assert mu_a == 1.0 and mu_v == pytest.approx(1 - math.tanh(0.2))
    mu_a, mu_v = balance_coefficients(0.5, 0.1)  # audio ahead by the same factor
    assert mu_v == 1.0 and mu_a == pytest.approx(1 - math.tanh(0.2))
    assert balance_coefficients(1.0, 0.1) == (1.0, 1.0)
    assert balance_coefficients(5.0, 0.5)[1] < balance_coefficients(1.5, 0.5)[1] < 1.0  # larger gap, slower


# --- Eq. 8 / 9 ---------------------------------------------------------------------------------------------------
def _backward(name: str = "msdu"):
    torch.manual_seed(0)
    model = create_model(name, "paper", **NARROW).train()
    batch = make_batch(batch=4)
    out = model(batch)
    losses = {"loss": out.video_prob.sum() + out.audio_prob.sum() + out.visual_prob.sum()}
    if hasattr(model, "extra_losses"):
        losses.update(model.extra_losses(out, batch))
    sum(losses.values()).backward()
    return model, out, batch, {n: p.grad.clone() for n, p in model.named_parameters()}


def test_dominant_encoder_gradient_is_scaled_by_exactly_mu():
    model, out, batch, before = _backward()
    out.aux["msdu_visual"] = batch.labels * 0.9 + 0.05  # visual nearly perfect, audio undecided: visual dominates
    out.aux["msdu_audio"] = torch.full_like(batch.labels, 0.5)
    logs = dgm_step(model, out, batch, gamma=0.1, noise=False)
    assert logs["omega"] > 1 and logs["mu_audio"] == 1.0
    mu = logs["mu_visual"]
    assert mu == pytest.approx(1 - math.tanh(0.1 * logs["omega"])) and mu < 1
    visual = {id(p) for p in encoder_parameters(model)["visual"]}
    audio = {id(p) for p in encoder_parameters(model)["audio"]}
    assert visual and audio
    for name, p in model.named_parameters():
        expected = before[name] * mu if id(p) in visual else before[name]  # audio (mu 1) and the rest untouched
        torch.testing.assert_close(p.grad, expected, rtol=0, atol=0)
    assert any(name.startswith("project.video") for name, p in model.named_parameters() if id(p) in visual)


@pytest.mark.parametrize("reading, factor", [("ogm_ge", lambda mu: 1.0), ("literal", lambda mu: math.sqrt(mu**2 + 1))])
def test_noise_has_the_documented_variance(reading, factor):
    """OGM-GE reading: the added noise has the unmodulated gradient's variance, so the resulting covariance is
    (mu^2 + 1) sigma^2 (Eq. 9); the literal reading adds noise of that covariance on top of mu g."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(400, 500))
    p.grad = 2.0 * torch.randn(400, 500) + 0.3
    g0, mu = p.grad.clone(), 0.7
    modulate_([p], mu, noise=True, reading=reading)
    eps = p.grad - mu * g0  # the added noise
    assert float(eps.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(eps.std()) / (float(g0.std()) * factor(mu)) == pytest.approx(1.0, abs=0.01)
    if reading == "ogm_ge":  # the fluctuation of the whole update around mu E[g]
        total = p.grad - mu * g0.mean()
        assert float(total.var()) / ((mu**2 + 1) * float(g0.var())) == pytest.approx(1.0, abs=0.02)
    p.grad = g0.clone()
    modulate_([p], mu, noise=False, reading=reading)
    torch.testing.assert_close(p.grad, mu * g0, rtol=0, atol=0)


def _adam_steps(scale_grads: float = 1.0, step_mu: float | None = None, steps: int = 5):
    """A linear layer after `steps` Adam steps on a fixed regression task, its gradient scaled by `scale_grads`
    each step, or (step_mu) its step shortened by StepScale. In float64: the claim is about Adam's arithmetic, and in
    float32 a parameter near 0.3 holds its updates to one ulp (3e-8), which the CPU's kernels round either way."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 4).double()
    x, y = torch.randn(32, 8, dtype=torch.float64), torch.randn(32, 4, dtype=torch.float64)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    start = [p.detach().clone() for p in layer.parameters()]
    for _ in range(steps):
        opt.zero_grad()
        ((layer(x) - y) ** 2).mean().backward()
        for p in layer.parameters():
            p.grad.mul_(scale_grads)
        scale = StepScale()
        if step_mu is not None:
            scale.remember(layer.parameters(), step_mu)
        opt.step()
        scale.after_step(layer)
    return [p.detach() - s for p, s in zip(layer.parameters(), start, strict=True)]


def test_a_constant_gradient_scale_cancels_under_adam_and_a_step_scale_does_not():
    """Why dgm_scale exists: the paper's text scales the gradients, and Adam divides each step by the root of its
    running mean of g^2, so a constant mu leaves the updates where they were; "step" shortens them by mu."""
    plain = _adam_steps()
    for got, ref in zip(_adam_steps(scale_grads=0.8), plain, strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-9)  # the same updates (up to Adam's eps)
    one = _adam_steps(step_mu=0.8, steps=1)
    for got, ref in zip(one, _adam_steps(steps=1), strict=True):
        torch.testing.assert_close(got, 0.8 * ref, rtol=1e-6, atol=1e-9)  # the step itself, shortened by mu
    for got, ref in zip(_adam_steps(step_mu=0.8), plain, strict=True):
        assert float(got.norm()) < 0.9 * float(ref.norm())  # and the whole walk stays shorter


def test_step_scale_leaves_mu_one_and_gradients_alone():
    model, out, batch, before = _backward()
    out.aux["msdu_visual"] = batch.labels * 0.9 + 0.05  # visual dominates: mu_v < 1, mu_a = 1
    out.aux["msdu_audio"] = torch.full_like(batch.labels, 0.5)
    scale = StepScale()
    logs = dgm_step(model, out, batch, gamma=0.1, noise=False, step_scale=scale)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, before[name], rtol=0, atol=0)  # mu is left to the step
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(0.01 * p.grad)  # a plain step
    scale.after_step(model)
    visual = {id(p) for p in encoder_parameters(model)["visual"]}
    mu = logs["mu_visual"]
    assert mu < 1 and logs["mu_audio"] == 1.0
    for name, p in model.named_parameters():
        step = -0.01 * before[name]
        expected = weights[name] + (mu * step if id(p) in visual else step)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-6, atol=1e-7)


def test_default_noise_reading_is_ogm_ge_and_bad_readings_are_refused():
    from avvp_core.errors import InputError
    from avvp_core.training.loop import TrainConfig

    assert TrainConfig().dgm_noise_reading == "ogm_ge" and TrainConfig().dgm_scale == "gradient"
    with pytest.raises(InputError, match="dgm_noise_reading"):
        TrainConfig.from_dict({"dgm_noise_reading": "double"})
    with pytest.raises(InputError, match="dgm_scale"):
        TrainConfig.from_dict({"dgm_scale": "weights"})


def test_noise_reaches_both_encoders_and_nothing_else():
    model, out, batch, before = _backward()
    torch.manual_seed(1)
    dgm_step(model, out, batch, gamma=0.1, noise=True)
    enc = {id(p) for ps in encoder_parameters(model).values() for p in ps}
    for name, p in model.named_parameters():
        changed = not torch.equal(p.grad, before[name])
        assert changed == (id(p) in enc), name  # weaker modality too (mu = 1)


def test_scores_fall_back_to_modality_probabilities():
    han = create_model("han", "paper", **NARROW).eval()
    out = han(make_batch())
    s_a, s_v = modality_scores(out)
    assert s_a is out.audio_prob and s_v is out.visual_prob
    msdu = create_model("msdu", "paper", **NARROW).eval()
    out = msdu(make_batch())
    assert modality_scores(out)[0] is out.aux["msdu_audio"]
    assert {m: len(ps) for m, ps in encoder_parameters(han).items()} == {"audio": 2, "visual": 6}
    with pytest.raises(InputError, match="no separable"):
        encoder_parameters(torch.nn.Linear(2, 2))


def test_reach_paths_weights_each_modalitys_gradient_into_the_shared_layers_by_its_mu():
    """dgm_reach="paths": every parameter behind the output features gets mu^a (its gradient through the audio
    features) + mu^v (through the visual ones), checked against the two parts computed apart with autograd.grad;
    the heads keep their gradients."""
    from avvp_core.training.dgm_recipe import dgm_hook
    from avvp_core.training.loop import TrainConfig

    torch.manual_seed(0)
    model = create_model("msdu", "paper", **NARROW).eval()  # eval: the two forwards below are the same function
    batch = make_batch(batch=4)

    def forward():
        out = model(batch)
        out.aux["msdu_visual"] = batch.labels * 0.9 + 0.05  # visual dominates: mu_v < 1, mu_a = 1 ...
        out.aux["msdu_audio"] = torch.full_like(batch.labels, 0.5)
        return out, out.video_prob.sum() + out.audio_prob.sum() + out.visual_prob.sum()

    out, loss = forward()
    paths = model.modality_paths(out)
    backbone = [(n, p) for n, p in model.named_parameters() if n.startswith(("project.", "layers."))]
    heads = [(n, p) for n, p in model.named_parameters() if n.startswith("head.")]
    d_audio, d_visual = torch.autograd.grad(loss, [paths["audio"], paths["visual"]], retain_graph=True)
    through = {m: torch.autograd.grad(paths[m], [p for _, p in backbone], grad_outputs=d, retain_graph=True,
                                      allow_unused=True) for m, d in (("audio", d_audio), ("visual", d_visual))}
    head_grads = torch.autograd.grad(loss, [p for _, p in heads])

    hook = dgm_hook(TrainConfig(dgm_gamma=0.5, dgm_noise=False, dgm_reach="paths"))
    out, loss = forward()
    model.zero_grad(set_to_none=True)
    hook.before_backward(model, out, batch)
    loss.backward()
    logs = hook(model, out, batch, {})
    mu_a, mu_v = logs["mu_audio"], logs["mu_visual"]
    assert mu_a == 1.0 and 0.0 < mu_v < 0.9  # ... and strongly so at gamma 0.5
    for (name, p), g_a, g_v in zip(backbone, through["audio"], through["visual"], strict=True):
        expected = mu_a * (0 if g_a is None else g_a) + mu_v * (0 if g_v is None else g_v)
        # one backward against two grads summed: float32 sums in another order, off by a few ulps of the tensor's
        # largest element (3.6e-7 of 1.5 measured on one thread), far below a misweighted path (a share of the grad)
        torch.testing.assert_close(p.grad, expected, rtol=1e-5, atol=1e-6 * float(expected.abs().max()),
                                   msg=lambda m, name=name: f"{name}: {m}")
    for (name, p), g in zip(heads, head_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7, msg=name)
    shared = [p for n, p in backbone if n.startswith("layers.")]
    assert shared and all(p.grad is not None for p in shared)  # the shared HAN layer is reached


def test_reach_paths_is_refused_where_it_cannot_act():
    from avvp_core.training.loop import TrainConfig

    with pytest.raises(InputError, match="does not combine with dgm_scale 'step'"):
        TrainConfig(dgm_gamma=0.1, dgm_reach="paths", dgm_scale="step")
    with pytest.raises(InputError, match="dgm_reach"):
        TrainConfig.from_dict({"dgm_reach": "heads"})
    assert TrainConfig().dgm_reach == "encoders"


# --- MSDU --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("detach", [True, False])
def test_msdu_heads_learn_from_their_losses_and_read_only_the_encoders(detach):
    model = create_model("msdu", "paper", **NARROW, msdu_detach=detach).train()
    batch = make_batch(batch=4)
    out = model(batch)
    assert out.aux["msdu_audio"].shape == out.aux["msdu_visual"].shape == (4, 25)
    sum(model.extra_losses(out, batch).values()).backward()
    reachable = ("msdu.",) if detach else ("msdu.", "project.")
    for name, p in model.named_parameters():
        reached = p.grad is not None and bool(p.grad.abs().sum() > 0)
        # MSDU losses train the MSDU heads (detached: only them, as measurement heads; the older reading also the
        # encoders, through e_a / e_v); never the HAN layer or main head
        assert reached == name.startswith(reachable), name
    assert create_model("msdu").msdu_detach  # the default: Eq. 11 uses them only to measure


def test_msdu_keeps_the_han_pipeline():
    torch.manual_seed(3)
    han = create_model("han", "paper", **NARROW).eval()
    torch.manual_seed(3)
    msdu = create_model("msdu", "paper", **NARROW).eval()  # HAN built first: same backbone weights
    batch = make_batch(frames=80)
    torch.testing.assert_close(msdu(batch).video_prob, han(batch).video_prob, rtol=0, atol=0)
    cap = msdu(batch, capture=True).captures
    assert cap["MSDU visual temporal attention"].shape == (3, 10, 25)
    torch.testing.assert_close(cap["MSDU visual temporal attention"].sum(1), torch.ones(3, 25))


# --- recipes end to end ------------------------------------------------------------------------------------------
def _ctx(data: Path, out: Path, model: str = "msdu", **train) -> RecipeContext:
    train = {"epochs": 1, "batch_size": 16, "eval_test": False, **train}
    return RecipeContext(LLPDataset(data), model, out, "paper", dict(NARROW), train, terminal=False)


def _steps(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "steps.jsonl").read_text().splitlines() if x]


@pytest.mark.parametrize("scale, reach", [("gradient", "encoders"), ("step", "encoders"), ("gradient", "paths")])
def test_dgm_recipe_logs_omega_and_mu_every_step(tiny_data, tmp_path, scale, reach):
    result = run_recipe("dgm", _ctx(tiny_data, tmp_path / "run", dgm_scale=scale, dgm_reach=reach))
    steps = _steps(result.folder)
    assert len(steps) == -(-len(LLPDataset(tiny_data).split("train")) // 16)
    for row in steps:
        assert {"epoch", "step", "omega", "mu_audio", "mu_visual"} <= set(row)
        assert 1.0 in (row["mu_audio"], row["mu_visual"]) and min(row["mu_audio"], row["mu_visual"]) < 1.0
    card = read_card(result.folder)
    log = card.log()[0]
    assert {"log/omega", "log/mu_audio", "log/mu_visual", "loss/msdu_audio", "loss/msdu_visual"} <= set(log)
    assert card.config["recipe"] == "dgm" and card.config["dgm"]["gamma"] == 0.1
    assert card.config["train"]["dgm_scale"] == scale and card.config["train"]["dgm_reach"] == reach


def test_reach_paths_needs_a_model_that_names_its_output_features(tiny_data, tmp_path):
    ctx = RecipeContext(LLPDataset(tiny_data), "mgn", tmp_path / "run", "paper", {"dim": 16, "depth_av": 1},
                        {"epochs": 1, "dgm_reach": "paths"}, terminal=False)
    with pytest.raises(InputError, match="modality_paths"):
        run_recipe("dgm", ctx)
    assert not (tmp_path / "run" / "model.pt").exists()  # refused before any training


def test_dgm_with_gamma_zero_is_the_plain_recipe(tiny_data, tmp_path):
    off = run_recipe("dgm", _ctx(tiny_data, tmp_path / "off", "han", dgm_gamma=0.0))
    plain = run_recipe("plain", _ctx(tiny_data, tmp_path / "plain", "han"))
    assert not (off.folder / "steps.jsonl").exists()
    assert off.log[0]["loss"] == plain.log[0]["loss"] and off.metrics["val"] == plain.metrics["val"]


def test_jomold_dgm_modulates_the_final_stage_only(tiny_data, tmp_path):
    result = run_recipe("jomold_dgm", _ctx(tiny_data, tmp_path / "run", "han", dgm_noise=False, dgm_scale="step"))
    estimator = tmp_path / "run" / "stages" / "estimator"
    assert not (estimator / "steps.jsonl").exists()
    train = read_card(estimator).config["train"]
    assert train["dgm_gamma"] == 0.0  # and DGM's other options at their defaults: one estimator for every variant
    assert (train["dgm_noise"], train["dgm_scale"]) == (True, "gradient")
    assert (read_card(result.folder).config["train"]["dgm_noise"], read_card(result.folder).config["train"]
            ["dgm_scale"]) == (False, "step")
    card = read_card(result.folder)
    assert card.config["recipe"] == "jomold_dgm" and card.config["train"]["dgm_gamma"] == 0.1
    assert card.config["train"]["batch_size"] == 16 and card.config["train"]["lr"] == 5e-4  # JoMoLD recipe kept
    assert len(_steps(result.folder)) > 0 and "log/omega" in card.log()[0]
