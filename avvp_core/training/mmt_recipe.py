"""Cross-audio prediction consistency (CAPC) and MMT's three-stage recipe "capc" (Xu, Hu, Lee, "Rethink Cross-Modal
Fusion in Weakly-Supervised Audio-Visual Video Parsing", WACV 2024, Sec. 3.2 and 4.1). Works with any model.

CAPC (Eq. 8): each visual sequence is also paired with N audios drawn from other videos; its video-level visual
prediction must not change: L = mu * 1/N sum_i mean_batch ||P~_v^i - P~_v||_2^2 (squared L2 over the C classes).
    stages/base    the model trained on the weak labels with L_cls only (Eq. 7)
    stages/labels  MA's modality-aware pseudo labels estimated with the frozen stage-1 model (refinement._ma_labels)
    <out>          a fresh model retrained on those labels with L_cls + mu L_CAPC (Eq. 9), mu = 0.5, N = 1
Each stage: Adam 3e-4, batch 64, 40 epochs, LR x0.1 every 10 epochs (paper); modality gating (a_prob / v_prob),
as MA, whose labels this recipe uses.

Choices where the paper is silent or ambiguous:
- P~_v is the video-level visual prediction (the paper: "P~_v in R^C"), i.e. ParseOutput.visual_prob.
- No stop-gradient: Eq. 8 is symmetric and the paper names none, so both the original and the swapped forward
  receive the gradient (`detach_original=True` in `capc_loss` gives the one-sided variant).
- The other audios come from the same mini-batch: for each video and each i, an independent uniform draw among
  the B - 1 *other* videos of the batch (the paper: "randomly selected from other videos at each training
  iteration"), from torch's global RNG (saved by the loop, so resumed runs draw the same audios). A batch of one
  video has no other audio: its CAPC term is 0. The swapped forward runs in the same (train) mode as the main one,
  so dropout makes the term non-zero even for identical audio during training.
- Stage 2 is MA's label estimation exactly as the "ma" recipe does it (partners sharing no class, thresholds,
  removals); stage 3 targets are MA's: y_a = y minus removed audio labels, y_v = 0.9y + 0.05 with removed visual
  labels set to 0. Stage 1 is trained without MA's contrastive term (the paper: "classification loss L_cls").
- Stage 1 (and the plain `mmt` recipe) keeps HAN's and MA's visual label smoothing, y_v = 0.9y + 0.05, where the
  paper writes "Y_v = Y_a = Y when only the video-level label is available"; its outputs feed MA's thresholds in
  stage 2. `--train-set visual_smoothing=False` gives the paper's literal targets.
- Stage 1 never uses CAPC (capc_weight forced to 0, whatever the overrides); `capc_weight=0` turns it off in stage 3
  too (the "No CAPC" row of Tab. 4). Model selection is not stated: the model's own (HAN's best val segment
  Type@AV for `mmt`). Every stage builds its model from the recipe seed (stage 1 and 3 start from the same weights).
- Stage 1 is the model's own training (recipe "plain", e.g. `mmt`): same values, seed and initial weights, the same
  result to the bit on one machine (tests/test_mmt.py), so `train --recipe capc --base-from <a finished plain run>`
  adopts that run as stage 1 (checked to be the same configuration; its metrics.json names the source) instead of
  training it again. Across machines float kernels differ and two trainings of one configuration diverge by about a
  seed's spread (MMT seed 1 on `full`: 52.36 / 46.45 on the machine of 2026-12-05, 53.40 / 46.96 as CAPC's stage 1
  on 2026-12-06; bench/RESULTS.md), so an adopted stage 1 is as good a sample as a retrained one.
"""

from __future__ import annotations

import dataclasses

import torch

from ..schema import Batch, ParseOutput
from .loop import FitResult, LossFn
from .recipes import RecipeContext, register_recipe
from .refinement import _check, _load, _ma_labels, _record, _truth, removal_quality

CAPC_TRAIN = {"epochs": 40, "batch_size": 64, "lr": 3e-4, "lr_step": 10, "lr_gamma": 0.1,
              "gating": "modality", "capc_weight": 0.5, "capc_audios": 1}


def other_rows(batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """For each row, a uniformly drawn *other* row of the batch (B,), from torch's global CPU RNG."""
    shift = torch.randint(1, batch_size, (batch_size,))  # in [1, B-1]: never the row itself
    return ((torch.arange(batch_size) + shift) % batch_size).to(device)


def capc_consistency(original: torch.Tensor, swapped: list[torch.Tensor]) -> torch.Tensor:
    """Eq. 8: 1/N sum_i mean_batch ||P~_v^i - P~_v||^2 for (B, C) video-level visual predictions."""
    return torch.stack([((p - original) ** 2).sum(-1).mean() for p in swapped]).mean()


def capc_loss(weight: float = 0.5, audios: int = 1, detach_original: bool = False) -> LossFn:
    """A `fit` loss_fn adding {"capc": weight * L_CAPC}: one extra forward per other-audio draw."""

    def loss_fn(model: torch.nn.Module, out: ParseOutput, batch: Batch) -> dict[str, torch.Tensor]:
        B = len(batch)
        if B < 2 or audios < 1:
            return {"capc": out.visual_prob.new_zeros(())}
        original = out.visual_prob.detach() if detach_original else out.visual_prob  # (B, C)
        swapped = []
        for _ in range(audios):
            rows = other_rows(B, batch.audio.device)
            swapped.append(model(batch.replace(audio=batch.audio[rows])).visual_prob)  # (B, C)
        return {"capc": weight * capc_consistency(original, swapped)}

    return loss_fn


def ma_targets(audio_remove: torch.Tensor, visual_remove: torch.Tensor):
    """A `fit` target_fn giving MA's modality targets from (N, C) bool removal masks indexed by batch.index."""

    def targets(model: torch.nn.Module, batch: Batch, epoch: int) -> Batch:
        y, idx = batch.labels, batch.index.cpu()
        return batch.replace(target_audio=y.masked_fill(audio_remove[idx].to(y.device), 0.0),
                             target_visual=(0.9 * y + 0.05).masked_fill(visual_remove[idx].to(y.device), 0.0))

    return targets


@register_recipe("capc", stages=(("base", CAPC_TRAIN, {"capc_weight": 0.0}), ("final", CAPC_TRAIN, {})),
                 adopts_base=True)
def capc(ctx: RecipeContext) -> FitResult:
    """MMT's three stages: weak-label training, MA pseudo labels, retraining with L_cls + mu L_CAPC."""
    _check(ctx)
    cfg = ctx.train_config(CAPC_TRAIN)
    base_cfg = dataclasses.replace(cfg, capc_weight=0.0)  # stage 1: L_cls on the weak labels only
    stages = ctx.out / "stages"
    base = ctx.build(cfg.seed)
    res = ctx.fit_base(stages / "base", base, base_cfg, "capc", stage="base")  # or a finished `mmt` run's
    store = _ma_labels(ctx, _load(base, res.folder, cfg.device), base_cfg, stages / "labels")
    removed = {"audio": store["audio_remove"], "visual": store["visual_remove"]}
    truth = _truth(ctx)
    refinement = None if truth is None else removal_quality(ctx.feeder("train").labels.numpy(), removed, truth)
    targets = ma_targets(torch.from_numpy(removed["audio"]), torch.from_numpy(removed["visual"]))
    loss_fn = capc_loss(cfg.capc_weight, cfg.capc_audios) if cfg.capc_weight else None
    extras = {"stages": ["base", "labels"], **({"refinement": refinement} if refinement else {})}
    result = ctx.fit(ctx.out, ctx.build(cfg.seed), cfg, "capc", target_fn=targets, loss_fn=loss_fn, **extras)
    return _record(result, refinement)


__all__ = ["CAPC_TRAIN", "capc", "capc_consistency", "capc_loss", "ma_targets", "other_rows"]
