"""Run a model over a split and score it with the official protocol.

`predict` returns every probability the scoring contract knows (segment audio/visual, fused video,
modality video); `evaluate` gates them the way the model's paper does ("fused": p gates both modalities,
HAN/MGN/CM-Co; "modality": a_prob gates audio and v_prob gates visual, MA/JoMoLD) and scores.
"""

from __future__ import annotations

import numpy as np
import torch

from .data.dataset import Split
from .errors import InputError
from .metrics import ScoreReport, score
from .predictions import Predictions
from .training.feeder import SplitFeeder


@torch.no_grad()
def predict(model: torch.nn.Module, split: Split | SplitFeeder, batch_size: int = 256,
            device: str | torch.device = "cpu", source: str | None = None, **forward_options) -> Predictions:
    """Every probability of the contract; a model whose output is not finite (NaN weights, features so large
    they overflow) is refused in one line naming `source` (its checkpoint), never written or scored."""
    feeder = split if isinstance(split, SplitFeeder) else SplitFeeder(split)
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("audio", "visual", "video", "video_audio", "video_visual")}
    for batch in feeder.batches(batch_size):
        out = model(batch.to(device), **forward_options)
        parts["audio"].append(out.audio_segment_prob.float().cpu().numpy())
        parts["visual"].append(out.visual_segment_prob.float().cpu().numpy())
        parts["video"].append(out.video_prob.float().cpu().numpy())
        parts["video_audio"].append(out.audio_prob.float().cpu().numpy())
        parts["video_visual"].append(out.visual_prob.float().cpu().numpy())
        for key, part in parts.items():
            if not np.isfinite(part[-1]).all():
                model.train(was_training)
                rows = f"{batch.index[0].item()}..{batch.index[-1].item()}" if batch.index is not None else "?"
                raise InputError(f"the model's `{key}` probabilities hold NaN or Inf on {feeder.split.name} videos "
                                 f"(rows {rows}); its weights are not finite or the features overflow it", source)
    model.train(was_training)
    # HAN's fused MMIL pooling (official MMIL_Net: sum over time and modality of both attentions times P) can exceed
    # 1 (seen: 1.28 for the shipped HAN + MA); the official code clamps it before its loss, as our losses do. Clipped
    # here to [0, 1] so the file `predict` writes is one `score` accepts; every 0.5-threshold decision is unchanged.
    return Predictions(list(feeder.split.filenames),
                       **{k: np.clip(np.concatenate(v), 0.0, 1.0) for k, v in parts.items()})


def score_predictions(preds: Predictions, split: Split, gating: str) -> ScoreReport:
    if not split.has_truth:
        raise InputError(f"split {split.name!r} has no dense truth to score against")
    pred_a, pred_v = preds.decisions(gating)
    return score(pred_a, pred_v, split.gt_audio, split.gt_visual)


def evaluate(model: torch.nn.Module, split: Split | SplitFeeder, gating: str = "fused",
             device: str | torch.device = "cpu") -> ScoreReport:
    feeder = split if isinstance(split, SplitFeeder) else SplitFeeder(split)
    return score_predictions(predict(model, feeder, device=device), feeder.split, gating)
