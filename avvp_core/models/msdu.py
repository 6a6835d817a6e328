"""MSDU — modality-separated decision unit on the JoMoLD / HAN backbone (Fu, Gao, Xu, "Multimodal
Imbalance-Aware Gradient Modulation for Weakly-supervised Audio-Visual Video Parsing", IEEE journal article, 2023).

Eq. (11): e_a, e_v = psi_a(a), psi_v(v) (the input projections); besides the usual cross-attention + MMIL head,
a second, *modality-separated* group of attention blocks Atn^ms_m and classifiers phi^ms_m reads the pure,
pre-fusion features e_m of each modality m and gives its own video-level prediction
s^m = sum_t softmax_t(Atn^ms_m(e_m)) * sigmoid(phi^ms_m(e_m))  (B, C).
These predictions exist to *measure* the imbalance between the modalities for dynamic gradient modulation (DGM,
avvp_core/training/dgm_recipe.py); the model's final predictions are those of the HAN head, as in the paper.

Outputs beyond ParseOutput's fields:
    aux["msdu_audio"], aux["msdu_visual"]  (B, C) modality-separated video-level predictions (their graph reaches
                                           the encoders only with msdu_detach=False)
    captures (capture=True only): "MSDU <m> segment probabilities" (B, T, C), "MSDU <m> temporal attention"
    (B, T, C, softmax over T), "MSDU <m> prediction" (B, C), plus HAN's attention maps and features.

Choices where the paper is silent or ambiguous, named:
- The paper does not write the MSDU heads' loss, but untrained heads would give meaningless scores to DGM; they
  are trained with the same per-modality MMIL BCE as the main head's a_prob / v_prob: BCE(s^a, y_a) + BCE(s^v, y_v)
  (`extra_losses`, weight 1 each; y_a / y_v = the batch's modality targets, i.e. JoMoLD's denoised labels under
  that recipe, y_v smoothed 0.9 y + 0.05 otherwise).
- The heads read e_m *detached* (`msdu_detach=True`): Eq. 11 and its text use s^a / s^v only to *measure* the
  imbalance ("for more precise measurement of imbalanced feature learning"), and no loss on them appears in the
  objective, so their training must not move the encoders they measure. `msdu_detach=False` is the older
  reading (the paper "embeds" MSDU between encoders and cross-attention, so its BCE also trains psi_a / psi_v):
  the zoo's `msdu-*` entries before issue 19 were trained so (their cards say `"msdu_detach": false`); issue 19
  measured it costing MSDU + JoMoLD + DGM several points of Type@AV on SynthLLP mini.
- Eq. (11) writes the main heads with modality subscripts (phi_a, Atn_a), while Eq. (10) and the text ("apart from
  MSDU, the rest is similar to the traditional pipeline", JoMoLD baseline) describe HAN's head shared by both
  modalities. We keep HAN's shared MMIL head (with its modality attention) so that "JoMoLD + MSDU" differs from
  JoMoLD by the MSDU only, as the ablation of Table IV reads.
- Each MSDU branch is HAN's temporal-attention pooling for one modality (classifier + temporal attention, 2 Linear
  D -> C); no modality attention (a single modality has nothing to weigh).
- Backbone = JoMoLD's HAN variant (chained layers, optional cross-attention, dropout 0.5 on the visual features
  before the main head: `visual_head_dropout=0.5`); `visual_head_dropout=0.0` gives the plain HAN backbone of
  Table VII's "HAN + Ours". The dropout does not touch e_v, the MSDU's input.
- `modality_encoders()` = the input projections (psi_a, psi_v of the paper, "modality-specific feature encoders"
  in Fig. 2): HAN's layer is shared by both modalities, and the MSDU heads are measurement heads, not encoders.
- Build order: HAN's modules first, MSDU heads last, so with one seed the backbone starts identical to `han`'s.

Parameters at paper size (D = 512): 4,620,975 = HAN's 4,569,675 + 4 x 12,825 for the MSDU heads. The paper
gives no count (JoMoLD: 4,571,723, incl. two unused LayerNorms).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..constants import MODALITIES, NUM_CLASSES
from ..schema import Batch, ParseOutput
from ..training.losses import bce, modality_targets
from .han import HAN
from .registry import register_model


class SeparatedDecision(nn.Module):
    """One modality's decision unit: segment probabilities and temporal attention from e_m, pooled over T."""

    def __init__(self, dim: int, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.classifier = nn.Linear(dim, num_classes)  # phi^ms_m
        self.temporal_attention = nn.Linear(dim, num_classes)  # Atn^ms_m

    def forward(self, e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """e (B, T, D) -> video prediction (B, C), segment probabilities (B, T, C), attention (B, T, C)."""
        prob = torch.sigmoid(self.classifier(e))  # (B, T, C)
        attention = torch.softmax(self.temporal_attention(e), dim=1)  # (B, T, C), softmax over T
        return (attention * prob).sum(dim=1), prob, attention  # (B, C)


class MSDU(HAN):
    """HAN / JoMoLD backbone + modality-separated decision units on the pre-fusion features."""

    def __init__(self, dim: int = 512, heads: int = 1, ffn_dim: int = 512, dropout: float = 0.1, layers: int = 1,
                 visual_head_dropout: float = 0.5, msdu_detach: bool = True):
        super().__init__(dim, heads, ffn_dim, dropout, layers, visual_head_dropout)
        self.msdu = nn.ModuleDict({m: SeparatedDecision(dim) for m in MODALITIES})
        self.msdu_detach = msdu_detach

    def forward(self, batch: Batch, capture: bool = False, use_cross: bool = True) -> ParseOutput:
        out = super().forward(batch, capture, use_cross)  # HAN path: final predictions, e_m in features
        for m in MODALITIES:
            e = out.features[f"{m}_input"]  # e_m (B, T, D)
            pred, prob, attention = self.msdu[m](e.detach() if self.msdu_detach else e)  # (B, C)
            out.aux[f"msdu_{m}"] = pred
            if capture:
                out.captures[f"MSDU {m} segment probabilities"] = prob.detach()
                out.captures[f"MSDU {m} temporal attention"] = attention.detach()
                out.captures[f"MSDU {m} prediction"] = pred.detach()
        return out

    def extra_losses(self, out: ParseOutput, batch: Batch) -> dict[str, Tensor]:
        """BCE of each modality-separated prediction against that modality's target."""
        y_a, y_v = modality_targets(batch)
        return {"msdu_audio": bce(out.aux["msdu_audio"], y_a), "msdu_visual": bce(out.aux["msdu_visual"], y_v)}


@register_model(
    paper="Fu, Gao, Xu. Multimodal Imbalance-Aware Gradient Modulation for Weakly-supervised Audio-Visual Video "
          "Parsing. IEEE journal article, 2023",
    gating="modality",
    demo={"dim": 128, "ffn_dim": 128},
    # The paper trains as its JoMoLD baseline: batch 128, 25 epochs, Adam 5e-4 x0.25 every 6 epochs (+ JoMoLD's
    # NCE, best val audio event F1, a_prob / v_prob gating). DGM (gamma 0.1) and label denoising come from the
    # recipes "dgm" / "jomold_dgm" (the full method: `--recipe jomold_dgm`).
    train={"epochs": 25, "batch_size": 128, "lr": 5e-4, "lr_step": 6, "lr_gamma": 0.25,
           "select_metric": "val/event/audio", "gating": "modality", "nce_weight": 1.0},
    dim=512, heads=1, ffn_dim=512, dropout=0.1, layers=1, visual_head_dropout=0.5, msdu_detach=True,
)
def msdu(**config) -> MSDU:
    """JoMoLD's HAN + modality-separated decision unit (MSDU): per-modality predictions for DGM."""
    return MSDU(**config)
