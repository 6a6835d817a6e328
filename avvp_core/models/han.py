"""HAN — hybrid attention network with attentive MMIL pooling (Tian, Li, Xu, ECCV 2020).

Faithful to the official `MMIL_Net` forward: input projections to D (res152 frames averaged by 8 when 80
are given), one HAN layer whose weights are shared by both modalities (audio queries attend to visual and
vice versa, each also to itself), then the MMIL head. Only the official *used* path is built: the official
class also registers transformer encoders it never calls (9,307,723 parameters in its state dict against
4,569,675 used); ours has exactly the 4,569,675 at paper size.

Deviation, named: with more than one layer the official loop feeds the *original* inputs to every layer
(so only the last layer counts); we chain layers as JoMoLD fixed it. Identical for the paper's 1 layer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..schema import Batch, ParseOutput
from .base import AVVPModel
from .blocks import HANLayer, InputProjection, MMILHead
from .registry import register_model


class HAN(AVVPModel):
    def __init__(self, dim: int = 512, heads: int = 1, ffn_dim: int = 512, dropout: float = 0.1, layers: int = 1,
                 visual_head_dropout: float = 0.0, cross_attention: bool = True):
        super().__init__()
        self.project = InputProjection(dim)
        self.layers = nn.ModuleList(HANLayer(dim, heads, ffn_dim, dropout, cross=cross_attention)
                                    for _ in range(layers))
        # JoMoLD drops visual features (p = 0.5) right before the heads; 0 in HAN.
        self.visual_head_dropout = nn.Dropout(visual_head_dropout)
        self.head = MMILHead(dim)

    def encode(self, batch: Batch, use_cross: bool = True, captures: dict | None = None):
        """Segment features before and after the hybrid attention: four (B, T, D) tensors (the visual output
        before `visual_head_dropout`)."""
        audio_in, visual_in = self.project(batch.audio, batch.video_2d, batch.video_3d)
        audio, visual = audio_in, visual_in
        for i, layer in enumerate(self.layers):
            tag = f"HAN layer {i}: "
            audio, visual = (
                layer(audio, visual, use_cross, captures, (tag + "audio", "visual")),
                layer(visual, audio, use_cross, captures, (tag + "visual", "audio")),
            )
        return audio_in, visual_in, audio, visual

    def forward(self, batch: Batch, capture: bool = False, use_cross: bool = True) -> ParseOutput:
        captures: dict | None = {} if capture else None
        audio_in, visual_in, audio, visual_kept = self.encode(batch, use_cross, captures)
        visual = self.visual_head_dropout(visual_kept)
        x = torch.stack([audio, visual], dim=2)  # (B, T, M, D)
        out = ParseOutput.from_streams(self.head(x), (audio_in, visual_in), (audio, visual), captures)
        # JoMoLD's official NCE reads the visual features before this dropout (TrainConfig.nce_visual)
        out.features["visual_pre_dropout"] = visual_kept
        return out

    def modality_encoders(self) -> dict[str, list[nn.Module]]:
        # The HAN layer is shared by both modalities, so only the input projections are separable.
        p = self.project
        return {"audio": [p.audio], "visual": [p.video_2d, p.video_3d, p.video_fusion]}

    @staticmethod
    def modality_paths(out: ParseOutput) -> dict[str, torch.Tensor]:
        """Each modality's features where they leave the shared backbone (DGM's reach "paths"): the audio after the
        HAN layers, the visual before the head dropout (every loss reads them or what follows from them). Models built
        on HAN's `encode` without that dropout (CM-Co) have their visual features there already."""
        features = out.features
        return {"audio": features["audio"], "visual": features.get("visual_pre_dropout", features["visual"])}


# Official recipe: Adam 3e-4, StepLR(10, 0.1), batch 16, 40 epochs, seed 1, select on val segment Type@AV.
HAN_TRAIN = {"epochs": 40, "batch_size": 16, "lr": 3e-4, "lr_step": 10, "lr_gamma": 0.1, "seed": 1,
             "select_metric": "val/segment/type", "gating": "fused"}
HAN_DEMO = {"dim": 128, "ffn_dim": 128}
HAN_DEFAULTS = dict(dim=512, heads=1, ffn_dim=512, dropout=0.1, layers=1, visual_head_dropout=0.0)


@register_model(
    paper="Tian, Li, Xu. Unified Multisensory Perception: Weakly-Supervised Audio-Visual Video Parsing. ECCV 2020",
    gating="fused",
    paper_params="4,569,675 used by the official forward (9,307,723 in its state dict)",
    demo=HAN_DEMO,
    train=HAN_TRAIN,
    **HAN_DEFAULTS,
)
def han(**config) -> HAN:
    """HAN baseline: shared hybrid-attention layer + attentive MMIL pooling."""
    return HAN(**config)


@register_model(
    paper="Xu, Hu, Lee. Rethink Cross-Modal Fusion in Weakly-Supervised Audio-Visual Video Parsing. WACV 2024 "
          "(table 1: HAN-CA, HAN without cross-attention)",
    gating="fused",
    paper_params="none given; 3,519,051 here (HAN less its cross-attention)",
    demo=HAN_DEMO,
    train=HAN_TRAIN,  # paper 000 trains it with HAN's recipe
    **HAN_DEFAULTS,
)
def han_ca(**config) -> HAN:
    """HAN without cross-attention: each modality attends to itself only (the fusion ablation)."""
    # Paper 000 reports segment-level F on single- vs multi-modality events (HAN 44.0 / 67.2, HAN-CA 47.0 / 58.8):
    # how much HAN borrows from the other modality.
    return HAN(**config, cross_attention=False)
