"""Loss terms. Each is a small function; `compute_losses` returns {"loss": total, <part>: value, ...} so
per-modality curves come for free (the trainer logs every key).

HAN's objective ("individual guided learning" + label smoothing): BCE(a_prob, y_a) + BCE(v_prob, y_v) +
BCE(p, y) with y_v = 0.9 y + 0.05 and probabilities clamped to [1e-7, 1 - 1e-7]. With label refinement,
y_a / y_v come from the batch's modality targets.

Deviation, named: MA's official step 3 aliases the audio target with the label array, so classes removed
from the audio labels also vanish from the video-level target of BCE(p, .). We keep the video-level target
equal to the weak labels (the fix); `video_target_follows_audio=True` reproduces the quirk.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..schema import Batch, ParseOutput

EPS = 1e-7


def bce(prob: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy(prob.clamp(EPS, 1 - EPS), target)


def modality_targets(batch: Batch, visual_smoothing: bool = True) -> tuple[Tensor, Tensor]:
    """(y_a, y_v) for the audio and visual video-level heads."""
    y = batch.labels
    y_a = batch.target_audio if batch.target_audio is not None else y
    if batch.target_visual is not None:
        y_v = batch.target_visual  # refinement recipes build their own (smoothed) visual targets
    else:
        y_v = 0.9 * y + 0.05 if visual_smoothing else y
    return y_a, y_v


def mmil_losses(out: ParseOutput, batch: Batch, visual_smoothing: bool = True,
                video_target_follows_audio: bool = False) -> dict[str, Tensor]:
    y_a, y_v = modality_targets(batch, visual_smoothing)
    y = y_a if video_target_follows_audio else batch.labels
    return {"audio": bce(out.audio_prob, y_a), "visual": bce(out.visual_prob, y_v), "video": bce(out.video_prob, y)}


def segment_contrastive(anchor: Tensor, positive: Tensor, temperature: float = 0.2, smoothing: float = 0.1,
                        nce: bool = False) -> Tensor:
    """Cross-modal temporal contrast: segment t of `anchor` must pick segment t of `positive` among the T
    segments of the same video (cosine / temperature), with label smoothing.

    MA: cross-entropy with a smoothed target (1 - s on t, s / (T - 1) elsewhere), anchor = post-HAN audio,
    positive = pre-HAN visual. JoMoLD (`nce=True`): -log sum_j q_j softmax_j, post-HAN on both sides.
    """
    a = F.normalize(anchor, dim=-1)  # (B, T, D)
    p = F.normalize(positive, dim=-1)  # (B, T, D)
    logits = a @ p.transpose(1, 2) / temperature  # (B, T, T)
    T = logits.shape[-1]
    q = torch.full((T, T), smoothing / (T - 1), device=logits.device, dtype=logits.dtype)
    q.fill_diagonal_(1 - smoothing)  # (T, T) row t: smoothed one-hot on t
    if nce:
        return -(torch.log((torch.softmax(logits, dim=-1) * q).sum(-1))).mean()
    return -(q * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
