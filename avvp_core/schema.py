"""The one data contract: a `Batch` goes into every model, a `ParseOutput` comes out.

Dimension letters used in shape comments across the package:
B batch, T segments (10), F res152 frames (10 or 80), C classes (25), D embedding width, M modalities (2:
index 0 = audio, 1 = visual).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch
from torch import Tensor


@dataclass
class Batch:
    """Features and labels of B videos. Optional per-modality targets come from label refinement."""

    audio: Tensor  # (B, T, 128) VGGish
    video_2d: Tensor  # (B, F, 2048) ResNet-152, F = T or 8T
    video_3d: Tensor  # (B, T, 512) R(2+1)D-18
    labels: Tensor  # (B, C) weak video-level labels, 0/1
    target_audio: Tensor | None = None  # (B, C) modality-specific targets (MA, JoMoLD); None = use labels
    target_visual: Tensor | None = None  # (B, C)
    index: Tensor | None = None  # (B,) row of each video in its split (label stores are indexed by it)

    def __len__(self) -> int:
        return self.audio.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: (v.to(device, non_blocking=True) if isinstance(v, Tensor) else v) for k, v in moved.items()})

    def replace(self, **changes: Tensor | None) -> Batch:
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(changes)
        return Batch(**current)


@dataclass
class ParseOutput:
    """What every model returns. Probabilities are sigmoid outputs in [0, 1].

    `captures` is empty unless the forward was called with `capture=True`; it then maps descriptive
    names ("han/audio self-attention", "visual decoder -> audio messengers", ...) to tensors for analysis.
    Attention maps are (B, heads, queries, keys); features (B, T, D).
    """

    segment_prob: Tensor  # (B, T, M, C)
    video_prob: Tensor  # (B, C) fused video-level probability p
    audio_prob: Tensor  # (B, C) a_prob: audio-only MMIL pooling
    visual_prob: Tensor  # (B, C) v_prob
    temporal_attention: Tensor | None = None  # (B, T, M, C) softmax over T
    modality_attention: Tensor | None = None  # (B, T, M, C) softmax over M
    # Segment features the losses need (not detached): "audio"/"visual" after the model's cross-modal
    # stage (B, T, D); "audio_input"/"visual_input" after the input projections (B, T, D).
    features: dict[str, Tensor] = field(default_factory=dict)
    # Model-specific outputs the model's own losses or training options need (not detached): e.g. MGN's
    # class-token logits, MSDU's modality-separated predictions. Documented by each model.
    aux: dict[str, Tensor] = field(default_factory=dict)
    captures: dict[str, Tensor] = field(default_factory=dict)

    @classmethod
    def from_streams(cls, pooled: dict[str, Tensor], inputs: tuple[Tensor, Tensor], outputs: tuple[Tensor, Tensor],
                     captures: dict[str, Tensor] | None, aux: dict[str, Tensor] | None = None) -> ParseOutput:
        """The usual assembly: MMIL-pooled outputs + the segment features before (`inputs`) and after
        (`outputs`) the model's cross-modal stage, as (audio, visual) pairs of (B, T, D); with captures on,
        the output features are also captured as "audio features" / "visual features"."""
        audio, visual = outputs
        if captures is not None:
            captures["audio features"] = audio.detach()
            captures["visual features"] = visual.detach()
        features = {"audio_input": inputs[0], "visual_input": inputs[1], "audio": audio, "visual": visual}
        return cls(**pooled, features=features, aux=aux or {}, captures=captures or {})

    @property
    def audio_segment_prob(self) -> Tensor:
        return self.segment_prob[:, :, 0]  # (B, T, C)

    @property
    def visual_segment_prob(self) -> Tensor:
        return self.segment_prob[:, :, 1]  # (B, T, C)
