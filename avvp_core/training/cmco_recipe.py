"""CM-S — shared cross-modality semantics across videos (Lin et al., NeurIPS 2021, Sec. 3.3), as recipes that train
any registered model exposing post-fusion segment features and MMIL temporal attention (HAN, CM-Co, ...).

    cms     targets from the weak labels (a_ref = v_ref = y) + CM-S                 ("HAN + CM-S", "HAN + Ours")
    cms_ma  MA's modality-aware labels + CM-S                                          ("MA* + CM-S", "MA* + Ours")
            stages/base, stages/labels  MA's label estimation, reused from refinement.py (same stages as recipe
                                        "ma"; a labels.npz already in stages/labels, e.g. copied from an MA run, is
                                        reused and the base stage skipped)
            <out>                       fresh model trained on a_ref = y minus audio removals, v_ref likewise

Per training batch of B videos (official `main_trans.py` with run.sh):
- Batch mixing: each video i gets a partner j != i drawn uniformly from the batch (global torch RNG, so a resumed
  run draws the same partners); the model runs on 2B rows: the B originals, then (audio i, visual j). The MMIL BCE
  terms see only the first, unmixed B rows (the forward returned to the loop is cut to them).
- Targets: y_a = a_ref, y_v = 0.9 v_ref + 0.05 during the warm-up and v_ref after it, video target a_ref OR v_ref.
- CM-S (Eq. 7-8): for all 2B rows, pooling weights = softmax over T of sum_c logit[t, c] guide_c with the MMIL
  temporal-attention logits of the modality and its binary guide (audio: a_ref of i; visual: v_ref of the row's
  visual video), pooled post-fusion features L2-normalised; logits_ij = audio_i . visual_j / 1 (temperature 1);
  soft target row i uniform over the j whose visual guide shares a class with i's audio guide (all-zero row if
  none); loss = mean over the 2B rows of sum_j -target_ij log softmax_j; weight delta = `cms_weight` (0.85).
- Warm-up: CM-S and the mixing start at epoch `cms_start_epoch` (3: the official `epoch > init_epoch = 2`); the
  visual smoothing stops there too (both tied to init_epoch officially).
- Run config (run.sh): batch 64, Adam 7e-5, StepLR(7, 0.5), 40 epochs, fused gating. These recipe defaults replace
  the model's own recipe values; user overrides still win.

Readings and deviations, named:
- Selection on val event-level Type@AV. The official script evaluates the TEST split every epoch and early-stops
  on test event-level Type@AV (patience 10, no checkpoint saved); we never select on test and run all epochs.
- Eq. 7's w_t is read as the pre-softmax temporal-attention logits (official). Models that expose
  aux["temporal_logits"] (cmco) use them; for others, log(temporal attention) gives the same weights exactly
  (log softmax differs from the logits by a constant over T, which the softmax over T cancels).
- Eq. 8 (log of the summed probability of related pairs, labels y_i . y_j of the video) is implemented as the
  official soft-target cross-entropy over audio-guide x visual-guide class sharing.
- The batch mixing itself is the official code's (`augment=1`, `sample_mixing_neg`); the paper does not describe it.
- Official mixing runs even during the warm-up (its output unused); we mix only when CM-S is on (same losses,
  half the warm-up compute). A last batch of one video has no partner: no mixing and no CM-S term for it.
- cms_ma estimates MA's labels with the recipe's own model (as recipe "ma" does); the official CM-Co used the
  labels MA's HAN produced (copy an MA run's stages/labels/labels.npz into <out>/stages/labels to do the same).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..models.cmco import class_guided_pool
from ..schema import Batch, ParseOutput
from .loop import FitResult, TrainConfig
from .recipes import RecipeContext, register_recipe
from .refinement import (
    MA_TRAIN,
    _check,
    _has_features,
    _load,
    _ma_labels,
    _record,
    _truth,
    ma_store_spec,
    read_store,
    removal_quality,
)

CMS_TRAIN = {"epochs": 40, "batch_size": 64, "lr": 7e-5, "lr_step": 7, "lr_gamma": 0.5,
             "select_metric": "val/event/type", "gating": "fused", "cms_weight": 0.85, "cms_start_epoch": 3}
CMS_TEMPERATURE = 1.0  # official --tmp=1
GuideFn = Callable[[Batch], tuple[Tensor, Tensor]]  # batch -> binary (a_ref, v_ref) (B, C)


# --- the objective ---------------------------------------------------------------------------------------------
def cms_targets(audio_guide: Tensor, visual_guide: Tensor) -> Tensor:
    """(N, C) binary guides -> (N, N) soft targets: row i uniform over the j whose visual guide shares a class
    with i's audio guide; an all-zero row where no j does."""
    share = ((audio_guide > 0.5).float() @ (visual_guide > 0.5).float().T).clamp(max=1.0)  # (N, N) 0/1
    return share / share.sum(-1, keepdim=True).clamp(min=1.0)


def cms_loss(audio: Tensor, visual: Tensor, audio_guide: Tensor, visual_guide: Tensor,
             temperature: float = CMS_TEMPERATURE) -> Tensor:
    """Cross-video contrast of L2-normalised pooled vectors audio, visual (N, D) with the soft targets."""
    logits = audio @ visual.T / temperature  # (N, N)
    return -(cms_targets(audio_guide, visual_guide) * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


def temporal_logits(out: ParseOutput) -> Tensor:
    """(N, T, M, C) logits whose softmax over T is the MMIL temporal attention (see the module docstring)."""
    if "temporal_logits" in out.aux:
        return out.aux["temporal_logits"]
    if out.temporal_attention is None:
        raise InputError("CM-S needs a model with MMIL temporal attention")
    att = out.temporal_attention
    return torch.log(att.clamp(min=torch.finfo(att.dtype).tiny))


# --- batch mixing ----------------------------------------------------------------------------------------------
def _first_rows(out: ParseOutput, n: int) -> ParseOutput:
    """The output restricted to its first n rows (every batch-first tensor of 2n rows is cut)."""
    def cut(v: Any) -> Any:
        return v[:n] if isinstance(v, Tensor) and v.dim() and v.shape[0] == 2 * n else v

    values = {f.name: getattr(out, f.name) for f in fields(out)}
    return ParseOutput(**{name: ({k: cut(x) for k, x in v.items()} if isinstance(v, dict) else cut(v))
                          for name, v in values.items()})


class CrossVideoMixing:
    """Stands in for a model's forward while CM-S trains: in training mode with `active` set, runs the model on
    [originals; (own audio, partner visual)], stores the CM-S pooled vectors and guides of all 2B rows in
    aux["cms/..."] and returns the output cut to the B originals. Otherwise the model's own forward."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.forward, self.active = model, model.forward, False

    def mix(self, batch: Batch) -> tuple[Batch, Tensor]:
        n = len(batch)
        partner = ((torch.arange(n) + torch.randint(1, n, (n,))) % n).to(batch.audio.device)  # (B,) j != i
        y = batch.labels
        ta = batch.target_audio if batch.target_audio is not None else y
        tv = batch.target_visual if batch.target_visual is not None else y
        index = batch.index if batch.index is not None else torch.arange(n, device=y.device)
        mixed = Batch(torch.cat([batch.audio, batch.audio]),  # (2B, T, 128): own audio twice
                      torch.cat([batch.video_2d, batch.video_2d[partner]]),  # (2B, F, 2048)
                      torch.cat([batch.video_3d, batch.video_3d[partner]]),  # (2B, T, 512)
                      torch.cat([y, y[partner]]), torch.cat([ta, ta]), torch.cat([tv, tv[partner]]),
                      torch.cat([index, index]))
        return mixed, partner

    def __call__(self, batch: Batch, capture: bool = False, **options: Any) -> ParseOutput:
        n = len(batch)
        if not (self.active and self.model.training and n > 1):
            return self.forward(batch, capture, **options)
        mixed, _ = self.mix(batch)
        out = self.forward(mixed, capture, **options)
        logits = temporal_logits(out)  # (2B, T, M, C)
        guide_a, guide_v = (mixed.target_audio > 0.5).float(), (mixed.target_visual > 0.5).float()  # (2B, C)
        head = _first_rows(out, n)
        head.aux = {**head.aux, "cms/audio_guide": guide_a, "cms/visual_guide": guide_v,
                    "cms/audio": class_guided_pool(out.features["audio"], logits[:, :, 0], guide_a),  # (2B, D)
                    "cms/visual": class_guided_pool(out.features["visual"], logits[:, :, 1], guide_v)}
        return head


def _require_outputs(model: torch.nn.Module, ctx: RecipeContext, device: str) -> None:
    """Refuse, before training, a model without post-fusion segment features or MMIL temporal attention."""
    with torch.no_grad():
        out = model.eval().to(device)(ctx.feeder("train").rows(torch.arange(2)).to(device))
    model.train()
    if not {"audio", "visual"} <= set(out.features):
        raise InputError(f"CM-S needs post-fusion segment features; model {ctx.model!r} exposes none")
    temporal_logits(out)


# --- training --------------------------------------------------------------------------------------------------
def cms_hooks(cfg: TrainConfig, mixer: CrossVideoMixing, guides: GuideFn):
    """(target_fn, loss_fn) of a CM-S training: warm-up targets / mixing switch, and the weighted CM-S term."""

    def targets(model: torch.nn.Module, batch: Batch, epoch: int) -> Batch:
        a_ref, v_ref = guides(batch)
        warm = epoch < cfg.cms_start_epoch
        mixer.active = bool(cfg.cms_weight) and not warm
        y_v = 0.9 * v_ref + 0.05 if warm and cfg.visual_smoothing else v_ref
        return batch.replace(labels=torch.maximum(a_ref, v_ref), target_audio=a_ref, target_visual=y_v)

    def loss(model: torch.nn.Module, out: ParseOutput, batch: Batch) -> dict[str, Tensor]:
        if "cms/audio" not in out.aux:
            return {"cms": out.video_prob.new_zeros(())}
        a = out.aux
        return {"cms": cfg.cms_weight * cms_loss(a["cms/audio"], a["cms/visual"], a["cms/audio_guide"],
                                                 a["cms/visual_guide"])}

    return targets, loss


def train_cms(ctx: RecipeContext, cfg: TrainConfig, model: torch.nn.Module, out: Path, recipe: str,
              guides: GuideFn, **card_extra: Any) -> FitResult:
    _require_outputs(model, ctx, cfg.device)
    mixer = CrossVideoMixing(model)
    targets, loss = cms_hooks(cfg, mixer, guides)
    model.forward = mixer  # instance attribute: the state dict and the class are untouched
    try:
        return ctx.fit(out, model, cfg, recipe, target_fn=targets, loss_fn=loss, cms_temperature=CMS_TEMPERATURE,
                       **card_extra)
    finally:
        del model.forward  # back to the class's forward


@register_recipe("cms", stages=(("model", CMS_TRAIN, {}),))
def cms(ctx: RecipeContext) -> FitResult:
    """CM-S on the weak labels: batch mixing + cross-video class-guided contrast, any model."""
    cfg = ctx.train_config(CMS_TRAIN)
    return train_cms(ctx, cfg, ctx.build(cfg.seed), ctx.out, "cms", lambda b: (b.labels, b.labels))


def _ma_store(ctx: RecipeContext) -> dict[str, np.ndarray]:
    """MA's removals (stages/base + stages/labels of refinement.py), or a labels.npz already in stages/labels."""
    path = ctx.out / "stages" / "labels" / "labels.npz"
    if path.is_file():
        return read_store(path, ma_store_spec(*ctx.feeder("train").labels.shape))
    cfg = ctx.train_config(MA_TRAIN)
    base = ctx.build(cfg.seed)
    notes = {}
    if cfg.contrastive_weight and not _has_features(base, ctx.feeder("train"), ("audio", "visual_input"), cfg.device):
        cfg = dataclasses.replace(cfg, contrastive_weight=0.0)
        notes["contrastive"] = "off: the model exposes no segment features"
    res = ctx.fit(ctx.out / "stages" / "base", base, cfg, "cms_ma", stage="base", **notes)
    return _ma_labels(ctx, _load(base, res.folder, cfg.device), cfg, ctx.out / "stages" / "labels")


@register_recipe("cms_ma", stages=(("base", MA_TRAIN, {}), ("final", CMS_TRAIN, {})))
def cms_ma(ctx: RecipeContext) -> FitResult:
    """CM-S on MA's modality-aware labels (a_ref, v_ref; video target a_ref OR v_ref), any model."""
    _check(ctx)
    store = _ma_store(ctx)
    a_rm, v_rm = torch.from_numpy(store["audio_remove"]), torch.from_numpy(store["visual_remove"])

    def guides(batch: Batch) -> tuple[Tensor, Tensor]:
        y, idx = batch.labels, batch.index.cpu()
        return y.masked_fill(a_rm[idx].to(y.device), 0.0), y.masked_fill(v_rm[idx].to(y.device), 0.0)

    truth = _truth(ctx)
    removed = {"audio": store["audio_remove"], "visual": store["visual_remove"]}
    refinement = None if truth is None else removal_quality(ctx.feeder("train").labels.numpy(), removed, truth)
    cfg = ctx.train_config(CMS_TRAIN)
    extras = {"stages": ["base", "labels"], **({"refinement": refinement} if refinement else {})}
    return _record(train_cms(ctx, cfg, ctx.build(cfg.seed), ctx.out, "cms_ma", guides, **extras), refinement)


__all__ = ["CMS_TRAIN", "CrossVideoMixing", "cms", "cms_hooks", "cms_loss", "cms_ma", "cms_targets",
           "temporal_logits", "train_cms"]
