"""DGM — dynamic gradient modulation (Fu, Gao, Xu, "Multimodal Imbalance-Aware Gradient Modulation for
Weakly-supervised Audio-Visual Video Parsing", 2023): a training option for any model with separable modality
encoders (`model.modality_encoders()`), switched on by TrainConfig.dgm_gamma > 0 (dgm_noise toggles the noise).

Every step, after backward and before the optimiser step (loop.fit's `after_backward` hook):
  1. scores s^a, s^v (B, C): the MSDU predictions out.aux["msdu_audio" / "msdu_visual"] when the model has them
     (model `msdu`); otherwise, as fallback, the main head's a_prob / v_prob (what the paper calls the traditional
     pipeline's measurement, Table IV "JoMoLD + DGM" / Table VII "HAN + Ours" without MSDU).
  2. progress of modality m (Eq. 6): P_m = sum_n sum_c s^m_n[c] Y_n[c] + sum_n (mean of s^m_n over the correct
     classes - mean over the wrong ones); omega_{v-a} = P_v / P_a and omega_{a-v} = 1 / omega_{v-a}.
  3. mu^v = 1 - tanh(gamma omega_{v-a}) if omega_{v-a} > 1, else 1; mu^a likewise with omega_{a-v} (Eq. 7).
  4. each gradient g of modality m's encoder parameters: g <- mu^m g (Eq. 8); with dgm_noise, then g <- g + h,
     h ~ N(0, sigma^2(g)), sigma^2(g) the variance of the unmodulated gradient, so that the update's covariance
     is (mu^2 + 1) sigma^2 (Eq. 9, read with OGM-GE; see below). With dgm_scale="step", mu shortens the encoder's
     optimiser step instead of scaling its gradient (see below: under Adam a constant gradient scale cancels).
Logged per step (steps.jsonl; epoch means as "log/omega", "log/mu_audio", "log/mu_visual"): omega = omega_{v-a}
(> 1: visual dominates), mu_audio, mu_visual.

Recipes:
  dgm         the model's own recipe (as "plain") + DGM with gamma = 0.1; `dgm_gamma=0` gives "plain" exactly.
  jomold_dgm  refinement.py's JoMoLD recipe (noise estimator, noise ratios, label denoising) unchanged, with DGM
              added to its final stage: with model `msdu` the paper's full method ("JoMoLD + DGM + MSDU"), with
              `han` Table IV's "JoMoLD + DGM". Done without editing refinement.py: the recipe runs `jomold` with a
              RecipeContext whose `fit` adds the hook when training at the final output folder.

Choices where the paper is silent or ambiguous, named:
- Y in Eq. 6 is the weak video-level label (batch.labels), as written, also under JoMoLD's label denoising. A
  consequence: a weak label whose event is not on screen counts as a miss for s^v however right the visual head is
  to say no (a third of the train labels on SynthLLP, 1,106 of 3,214 on mini, about as on LLP), and JoMoLD trains the
  visual head to say no on the labels it drops (911 on the demo zoo's seed 1); so omega_{v-a} sits below 1 and DGM
  slows the audio encoder almost throughout (figures under `dgm_scale` below).
- A video without a correct (wrong) class adds 0 as its mean-of-correct (mean-of-wrong) score. P_m is clamped to
  >= 1e-8 before the ratio: the discrepancy term can make it <= 0 when wrong classes outscore correct ones.
- sigma^2(g) is the variance over the elements of each parameter tensor's unmodulated gradient, one scalar per
  tensor (the batch-to-batch covariance of Eq. 9 is not observable in one step; OGM-GE [22], which the paper
  follows here, draws its noise the same way, with 1e-8 added to sigma). 0 for one-element tensors. Every tensor
  of the encoders gets noise, biases included; OGM-GE's code perturbs only its convolution weights (4-D tensors),
  and derived code for linear encoders only tensors of two or more dimensions.
- When: from the first step of the training DGM is on in, while the MSDU heads are still untrained (there omega is
  near 1 and Eq. 7 already gives mu of about 0.9). The paper names no start; OGM-GE's code has a window of epochs.
- The fallback scores (a model without MSDU heads, Table IV's "JoMoLD + DGM") are a_prob / v_prob of the training
  forward, where v_prob comes after HAN's visual head dropout (0.5 under JoMoLD) and a_prob after none; MSDU's own
  heads read the encoders' outputs, before any head dropout.
- Eq. 9 reads "W <- W + lambda E(dL/dW) + lambda eps, where eps ~ N(0, (mu^2 + 1) sigma^2(dL/dW))", after
  "the gradient covariance modified by our DGM mechanism becomes mu^2 sigma^2 ... we add an extra term to the
  modified gradient covariance". The step is written as its mean plus its fluctuation eps, so (mu^2 + 1) sigma^2
  is the covariance of the whole fluctuation: the modulated gradient's own (mu^2 sigma^2) plus the added term's
  (sigma^2). That is OGM-GE's construction [22], which the paper follows here: g~ = k g + h, h ~ N(0, Sigma_SGD),
  "so the covariance of g~ is (k^2 + 1) Sigma". Default (`dgm_noise_reading="ogm_ge"`): add N(0, sigma^2).
  `dgm_noise_reading="literal"` adds N(0, (mu^2 + 1) sigma^2) on top of mu g (the zoo before issue 19; on
  SynthLLP it puts noise of 1.41 sigma on the visual encoder's projections every step).
- What mu scales (`dgm_scale`). The text: "we utilize the balance coefficients mu to modify the gradients of
  different sub-networks during the back-propagation process", then Eq. 8, W <- W + lambda mu dL/dW, an SGD step;
  the paper trains with Adam. Default "gradient", the text as written (and OGM-GE's code, which uses SGD): g <- mu g
  before the optimiser step. Under Adam that is nearly a no-op: Adam divides each step by the root of its running
  mean of g^2, so a constant mu cancels and only mu's changes from step to step reach the update. Measured on the demo
  zoo's MSDU + JoMoLD + DGM (mini, seed 1): mu^a 0.84 +- 0.03 on 99.9 % of the steps (omega_{v-a} 0.65: audio counted
  ahead), 1.6 % relative change from one step to the next, mu^v 1 throughout; so what reaches its steps is mostly the
  noise. "step": Eq. 8's update read under Adam, the dominant modality's encoders take their optimiser step
  shortened by mu (W <- W_before + mu (W_after - W_before), Adam's moments still fed the gradient, `StepScale`);
  the noise is still added to the gradient (OGM-GE's g + h) and so also shortened with the step.
- The noise is added to both modalities' encoders every step, the weaker one's (mu = 1) included (OGM-GE also
  perturbs both encoders).
- Where mu acts (`dgm_reach`). Default "encoders": only the gradients of `modality_encoders()` are modulated: Fig. 2
  and the conclusion "modulate the gradients of the feature encoders"; Eq. 8 also names the classifier weights
  alpha^w, but in HAN-style models the classifier is shared by both modalities and, as a parameter, cannot be scaled
  per modality. For HAN (and MSDU's backbone) the separable encoders are the input projections (audio: fc_a; visual:
  fc_v, fc_st, fc_fusion): HAN's layer is shared. At demo width that leaves DGM the audio projection's 16,512
  parameters and the visual projections' 360,832, and under Adam a near-constant mu on them cancels (below).
  "paths", the other reading: mu^m scales the gradient that flows back through modality m's output features (the
  model's `modality_paths`: for HAN and MSDU the audio features after the HAN layer and the visual ones before the
  head dropout, which the NCE term reads too), so every parameter behind them, the shared HAN layer and both input
  projections, receives mu^a (its gradient through the audio features) + mu^v (its gradient through the visual
  ones). The heads are not scaled. On a shared layer this changes the *direction* of the gradient (the dominant
  modality's share shrinks), which Adam's per-parameter normalisation does not undo. mu is computed from the step's
  forward before its backward (`before_backward`; the scores do not change in backward), the noise is still added
  to the encoders' gradients with sigma of the gradient as it arrives there (already scaled), and it does not
  combine with dgm_scale="step".
- The scores come from the step's own training-mode forward (dropout on), computed without gradient.
- The noise is drawn from torch's global generator (seeded and restored on resume by the loop).
- jomold_dgm: DGM in the final (denoising) stage only; JoMoLD's noise estimator is a measuring model trained as
  in JoMoLD (its card records dgm_gamma 0).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..constants import MODALITIES
from ..errors import InputError
from ..schema import Batch, ParseOutput
from .loop import FitResult, LossFn, StepHook, TargetFn, TrainConfig
from .recipes import RecipeContext, register_recipe
from .refinement import JOMOLD_TRAIN, jomold

DGM_TRAIN = {"dgm_gamma": 0.1}  # the paper's gamma (Table VI: best of 0.1 .. 0.9)
DGM_OPTIONS = ("dgm_noise", "dgm_noise_reading", "dgm_scale", "dgm_reach")  # read only when dgm_gamma > 0
EPS = 1e-8


# --- the measurement (Eq. 6, 7) ----------------------------------------------------------------------------------
def modality_progress(scores: Tensor, labels: Tensor) -> Tensor:
    """Eq. 6's numerator / denominator for one modality: scores, labels (B, C) -> scalar
    sum_n sum_c s_n[c] Y_n[c] + sum_n (mean_{c: Y=1} s_n[c] - mean_{c: Y=0} s_n[c])."""
    pos = (labels > 0.5).to(scores.dtype)  # (B, C)
    neg = 1.0 - pos
    correct = (scores * pos).sum(dim=1)  # (B,)
    mean_correct = correct / pos.sum(dim=1).clamp(min=1)  # (B,)
    mean_wrong = (scores * neg).sum(dim=1) / neg.sum(dim=1).clamp(min=1)  # (B,)
    return correct.sum() + (mean_correct - mean_wrong).sum()


def imbalance_ratio(audio: Tensor, visual: Tensor, labels: Tensor) -> float:
    """omega_{v-a} (Eq. 6) from audio / visual scores (B, C): > 1 when the visual modality is ahead."""
    p_v = modality_progress(visual, labels).clamp(min=EPS)
    p_a = modality_progress(audio, labels).clamp(min=EPS)
    return float(p_v / p_a)


def balance_coefficients(omega_va: float, gamma: float) -> tuple[float, float]:
    """(mu^a, mu^v) of Eq. 7: 1 - tanh(gamma omega) for the dominant modality, 1 for the other."""
    omega_av = 1.0 / omega_va
    mu_v = 1.0 - math.tanh(gamma * omega_va) if omega_va > 1.0 else 1.0
    mu_a = 1.0 - math.tanh(gamma * omega_av) if omega_av > 1.0 else 1.0
    return mu_a, mu_v


def modality_scores(out: ParseOutput) -> tuple[Tensor, Tensor]:
    """(s^a, s^v) (B, C): the modality-separated MSDU predictions if the model has them, else a_prob / v_prob."""
    if "msdu_audio" in out.aux and "msdu_visual" in out.aux:
        return out.aux["msdu_audio"], out.aux["msdu_visual"]
    return out.audio_prob, out.visual_prob


# --- the modulation (Eq. 8, 9) -----------------------------------------------------------------------------------
NOISE_READINGS = ("ogm_ge", "literal")


def noise_scale(mu: float, reading: str = "ogm_ge") -> float:
    """Standard deviation of the added noise in units of sigma(g): 1 (OGM-GE: the *resulting* covariance is
    (mu^2 + 1) sigma^2), or sqrt(mu^2 + 1) (literal: that covariance is *added*)."""
    if reading not in NOISE_READINGS:
        raise InputError(f"unknown DGM noise reading {reading!r}; choose one of {', '.join(NOISE_READINGS)}")
    return 1.0 if reading == "ogm_ge" else math.sqrt(mu * mu + 1.0)


def modulate_(parameters: Iterable[nn.Parameter], mu: float, noise: bool, reading: str = "ogm_ge",
              scale_gradient: bool = True) -> None:
    """In place: g <- mu g (only with `scale_gradient`; else mu is left to the step, `StepScale`), then + h with
    `noise`, h ~ N(0, noise_scale(mu, reading)^2 var(g)), var of the unmodulated g, one scalar per tensor."""
    scale = noise_scale(mu, reading)
    for p in parameters:
        if p.grad is None:
            continue
        g = p.grad
        if noise:  # per tensor, before modulation
            sigma = g.std() if g.numel() > 1 else g.new_zeros(())
        if scale_gradient:
            g.mul_(mu)
        if noise:
            g.add_(torch.randn_like(g) * (sigma * scale))


class StepScale:
    """dgm_scale="step": W <- W_before + mu (W_after - W_before) for each modality whose mu < 1, i.e. that encoder's
    optimiser step (Adam's, whatever its state) shortened by mu; the optimiser's moments still see the gradient."""

    def __init__(self) -> None:
        self._before: list[tuple[nn.Parameter, Tensor, float]] = []

    def remember(self, parameters: Iterable[nn.Parameter], mu: float) -> None:
        if mu < 1.0:
            self._before += [(p, p.detach().clone(), mu) for p in parameters if p.grad is not None]

    def after_step(self, model: nn.Module) -> None:
        with torch.no_grad():
            for p, before, mu in self._before:
                p.sub_(before).mul_(mu).add_(before)
        self._before = []


def encoder_parameters(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The parameters of each modality's encoder; refuses models without separable audio and visual encoders."""
    encoders = model.modality_encoders() if hasattr(model, "modality_encoders") else {}
    params = {m: list({id(p): p for mod in encoders.get(m, []) for p in mod.parameters()}.values())
              for m in MODALITIES}
    if not all(params.values()):
        raise InputError(f"model {getattr(model, 'arch', type(model).__name__)!r} has no separable audio and "
                         "visual encoders (modality_encoders()); DGM cannot modulate it")
    if {id(p) for p in params["audio"]} & {id(p) for p in params["visual"]}:
        raise InputError("the audio and visual encoders share parameters; DGM cannot modulate them separately")
    return params


def dgm_step(model: nn.Module, out: ParseOutput, batch: Batch, gamma: float, noise: bool = True,
             reading: str = "ogm_ge", step_scale: StepScale | None = None) -> dict[str, float]:
    """One DGM step on the gradients already in `model`; returns the step's omega and mu. With `step_scale`, mu is
    not applied to the gradients but handed to it, to shorten the optimiser's step once it is taken."""
    omega, mu = step_coefficients(out, batch, gamma)
    modulate_encoders(model, mu, noise, reading, scale_gradient=step_scale is None, step_scale=step_scale)
    return {"omega": omega, "mu_audio": mu["audio"], "mu_visual": mu["visual"]}


def modulate_encoders(model: nn.Module, mu: dict[str, float], noise: bool, reading: str, scale_gradient: bool,
                      step_scale: StepScale | None = None) -> None:
    """modulate_ on each modality's encoder gradients with its mu; with `step_scale`, mu is handed to it too."""
    with torch.no_grad():
        for m, params in encoder_parameters(model).items():
            modulate_(params, mu[m], noise, reading, scale_gradient=scale_gradient)
            if step_scale is not None:
                step_scale.remember(params, mu[m])


def _refuse_paths(model: nn.Module) -> InputError:
    return InputError(f"model {getattr(model, 'arch', type(model).__name__)!r} does not name its modality output "
                      "features (modality_paths); DGM's reach 'paths' needs them (HAN, MSDU)")


def modality_paths(model: nn.Module, out: ParseOutput) -> dict[str, Tensor]:
    """Each modality's output features on the way to the heads (dgm_reach="paths"); refuses a model that does not
    name them (`modality_paths(out)`: HAN and the models built on it)."""
    paths = model.modality_paths(out) if hasattr(model, "modality_paths") else {}
    if set(paths) != set(MODALITIES) or not all(t.requires_grad for t in paths.values()):
        raise _refuse_paths(model)
    return paths


def step_coefficients(out: ParseOutput, batch: Batch, gamma: float) -> tuple[float, dict[str, float]]:
    """omega_{v-a} and {modality: mu} of one step, from its forward's scores (Eq. 6, 7)."""
    with torch.no_grad():
        s_a, s_v = modality_scores(out)
        omega = imbalance_ratio(s_a.detach().float(), s_v.detach().float(), batch.labels.float())
    return omega, dict(zip(MODALITIES, balance_coefficients(omega, gamma), strict=True))


class _DGMHook:
    """The `after_backward` hook of one training; with dgm_scale="step" it also has the loop's `after_step`, with
    dgm_reach="paths" its `before_backward` (mu from the forward, gradient hooks on the output features)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.step_scale = StepScale() if cfg.dgm_scale == "step" else None
        if self.step_scale is not None:
            self.after_step = self.step_scale.after_step
        if cfg.dgm_reach == "paths":
            self.before_backward = self._scale_paths
        self._pending: tuple[float, dict[str, float]] | None = None

    def _scale_paths(self, model: nn.Module, out: ParseOutput, batch: Batch) -> None:
        omega, mu = self._pending = step_coefficients(out, batch, self.cfg.dgm_gamma)
        for m, features in modality_paths(model, out).items():
            if mu[m] != 1.0:
                features.register_hook(lambda grad, k=mu[m]: grad * k)

    def __call__(self, model: nn.Module, out: ParseOutput, batch: Batch, parts: dict[str, Tensor]) -> dict[str, float]:
        c = self.cfg
        if self._pending is None:
            return dgm_step(model, out, batch, c.dgm_gamma, c.dgm_noise, c.dgm_noise_reading, self.step_scale)
        (omega, mu), self._pending = self._pending, None
        if c.dgm_noise:  # mu already acted in backward: the encoders only get the noise
            modulate_encoders(model, mu, True, c.dgm_noise_reading, scale_gradient=False)
        return {"omega": omega, "mu_audio": mu["audio"], "mu_visual": mu["visual"]}


def dgm_hook(cfg: TrainConfig) -> StepHook | None:
    """The `after_backward` hook for `cfg` (None when cfg.dgm_gamma <= 0: DGM off)."""
    return _DGMHook(cfg) if cfg.dgm_gamma > 0 else None


def _card(model: nn.Module, cfg: TrainConfig) -> dict[str, Any]:
    params = encoder_parameters(model)  # fails fast, before any training
    if cfg.dgm_reach == "paths" and not hasattr(model, "modality_paths"):
        raise _refuse_paths(model)  # before any training, as encoder_parameters' refusal
    return {"gamma": cfg.dgm_gamma, "noise": cfg.dgm_noise, "noise_reading": cfg.dgm_noise_reading,
            "encoder_parameters": {m: sum(p.numel() for p in ps) for m, ps in params.items()}}


# --- recipes -----------------------------------------------------------------------------------------------------
@register_recipe("dgm", stages=(("model", DGM_TRAIN, {}),))
def dgm(ctx: RecipeContext) -> FitResult:
    """The model's own recipe with dynamic gradient modulation (gamma 0.1 unless overridden)."""
    cfg = ctx.train_config(DGM_TRAIN)
    model = ctx.build(cfg.seed)
    hook = dgm_hook(cfg)
    extras = {"dgm": _card(model, cfg)} if hook is not None else {}
    return ctx.fit(ctx.out, model, cfg, "dgm", after_backward=hook, **extras)


@dataclasses.dataclass
class _FinalStageDGM(RecipeContext):
    """A RecipeContext whose fit at the final folder (`out`) adds the DGM hook; earlier stages train without."""

    recipe_name: str = "jomold_dgm"

    def fit(self, out: Path, model, cfg: TrainConfig, recipe: str, target_fn: TargetFn | None = None,
            loss_fn: LossFn | None = None, after_backward: StepHook | None = None, **card_extra: Any) -> FitResult:
        if Path(out) != Path(self.out):  # an intermediate stage (JoMoLD's noise estimator): DGM off, and its other
            # options, which mean nothing without it, at their defaults, so one estimator serves every DGM variant
            cfg = dataclasses.replace(cfg, **{k: getattr(TrainConfig(), k) for k in DGM_OPTIONS}, dgm_gamma=0.0)
        elif (hook := dgm_hook(cfg)) is not None:
            if after_backward is not None:
                raise RuntimeError("jomold_dgm: the wrapped recipe already uses after_backward")
            after_backward, card_extra = hook, {**card_extra, "dgm": _card(model, cfg)}
        return super().fit(out, model, cfg, self.recipe_name, target_fn, loss_fn, after_backward, **card_extra)


@register_recipe("jomold_dgm", stages=(("estimator", {**JOMOLD_TRAIN, **DGM_TRAIN}, {"dgm_gamma": 0.0}),
                                   ("denoise", {**JOMOLD_TRAIN, **DGM_TRAIN}, {})))
def jomold_dgm(ctx: RecipeContext) -> FitResult:
    """JoMoLD label denoising with DGM in its final stage (with model msdu: the paper's full method)."""
    values = {f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx)}
    values["train_overrides"] = {**DGM_TRAIN, **ctx.train_overrides}
    return jomold(_FinalStageDGM(**values))


__all__ = ["NOISE_READINGS", "StepScale", "balance_coefficients", "dgm", "dgm_hook", "dgm_step", "encoder_parameters",
           "imbalance_ratio", "jomold_dgm", "modality_paths", "modality_progress", "modality_scores", "modulate_",
           "modulate_encoders", "noise_scale", "step_coefficients"]
