"""CM-PIE — cross-modal perception for interactive-enhanced AVVP (Chen et al., ICASSP 2024).

Two paths over HAN's projected segment features f^a, f^v (B, T, D), merged by an element-wise mean
(Eq. 12-13) and read out by HAN's attentive MMIL pooling:

    HAN path:  f -> HAN (Eq. 2-3)                          -> f^h -> CMA (Eq. 8-9)   -> g^h
    SA path:   f -> segment attention (Eq. 4-7) -> HAN      -> f^s -> CMA (Eq. 10-11) -> g^s
    g = Mean(g^h, g^s) -> MMIL pooling (shared classifier, HAN's head)

The paper gives no code, no figure text we can read and no parameter count; every choice below is ours,
made to fit the equations and captions best:

- SA input = the projected input features (the text: "we multiply the input features with the attention
  weights ... subsequently these features are input into the HAN module"), i.e. the two paths branch right
  after the input projection, in parallel, as Fig. 2's caption ("two attention-based modules") suggests.
- SA network (Eq. 4-7): the paper calls it "similar to channel attention [SE]" and says it yields
  "segment-wise attention weights". We read it as squeeze-and-excitation with *segments as channels*:
  squeeze = each segment's feature averaged over D -> (B, T); excite = Linear(T, h) -> ReLU -> Linear(h, T)
  -> Sigmoid -> W (B, T) in (0, 1), one independent gate per segment (not a softmax; weights need not sum
  to 1); f~_t = f_t * W_t. The MLP over the whole T-vector is what lets it "capture relationships among
  segments". Eq. 4's sum over s is read as this squeeze (a mean over segments alone would give one weight
  per channel, not per segment). h is not given: `sa_hidden` = 5 (reduction 2 of T = 10). `segments` fixes
  T (LLP: 10) because the excitation is a layer over the segment axis.
- Eq. 4 and 5 use one symbol phi for both modalities, so one SA network serves both (`share_sa=True`);
  `share_sa=False` gives each modality its own.
- "these features are input into *the* HAN module": the SA path reuses the HAN path's layer (weights
  shared, as HAN itself shares its layer across modalities) (`share_han=True`); `share_han=False` gives the
  SA path its own HAN layer.
- CMA (Eq. 8-11): delta_attn(query = one modality's segments, keys = values = [audio ; visual] segments
  concatenated along time, length 2T). The equations write g = delta_attn(...) with no residual, norm or FFN;
  we add the query back (`cma_residual=True`, the default since issue 19): delta_attn is the attention
  operator of HAN's layer (Eq. 2-3), which the paper builds on and whose every use there has the query added back
  (written outside delta_attn in Eq. 2), and without it the two CMA outputs replace HAN's features by attention
  averages of them (a learned projection, so not nothing, but HAN's own features no longer pass through) (issue
  19 measured 52.7 segment Type@AV without and 57.5 with on SynthLLP mini, HAN 54.3).
  `cma_residual=False` is the literal reading of Eq. 8-11 (the zoo's `cmpie` card before issue 19). No norm,
  FFN or dropout on the CMA output either way (HAN's layer has all three; the equations show none).
- The concatenation "⊕" of Eq. 8-11 is read along *time* (2T keys of width D, one softmax over the audio and the
  visual segments together). The other reading, along channels (T keys of width 2D: each segment's audio and
  visual features side by side, key and value projections 2D -> D), fits the text's "single-modality features are
  brought closer to the fused features" too; the paper does not say which: `cma_concat="channels"` builds it (its
  maps are T x T, captured as "... CMA -> audio⊕visual segments"). Ours is close to HAN's cross- plus
  self-attention, except that the two modalities' segments share one softmax. "Two CMA blocks" with the ablation
  "only the CMA block for audio features (w/o V) / visual features (w/o A)" reads as one block per *modality*: the
  audio CMA serves Eq. 8 and 10, the visual CMA Eq. 9 and 11 (weights shared across the two paths).
  Width, heads and attention dropout are HAN's (512, 1, 0.1).
- Ablations (Table 2) as config: `use_sa=False` drops the SA path (and its parameters): g = g^h;
  `cma="audio"` (w/o V) / `"visual"` (w/o A) keeps one CMA block and passes the other modality's HAN
  features through unchanged; `cma="none"` with `use_sa=True` is the "+Seg Attention" row, and with
  `use_sa=False` is exactly HAN (same parameter names, HAN's state dict loads strictly).
- The paper's "MLP" over the concatenated 2D and 3D visual features is HAN's input projection (Linear each,
  concatenation, Linear; no nonlinearity between), as HAN's official code has it.
- Training: the paper states no recipe, loss or gating; we use HAN's (Adam 3e-4, StepLR 10 x 0.1, batch 16,
  40 epochs, HAN's MMIL losses with visual label smoothing) and HAN's fused gating.
- Gradient-modulation encoders: the input projections (and the SA networks when not shared); HAN and CMA
  mix modalities.

Parameters at paper configuration: 6,671,038 (HAN's 4,569,675 + two CMA attentions 2 x 1,050,624 + one SA
network 115); with `cma_concat="channels"` 7,719,614; `cmpie_nosa` 6,670,923; `cmpie_cma_audio` /
`cmpie_cma_visual` 5,620,414. The paper gives no figure.

Captures: "<modality> SA segment weights" (B, T); "<path>: <modality> CMA -> audio+visual segments"
(B, heads, T, 2T) (with `cma_concat="channels"`: "... CMA -> audio⊕visual segments", (B, heads, T, T)); the HAN
layer maps per path; "<path>: <modality> features" (B, T, D) before the mean;
"audio features" / "visual features" after it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..constants import NUM_SEGMENTS
from ..errors import InputError
from ..schema import Batch, ParseOutput
from .base import AVVPModel
from .blocks import Attention, HANLayer, InputProjection, MMILHead
from .han import HAN_TRAIN
from .registry import register_model

MODALITIES = ("audio", "visual")
CMA_CHOICES = {"both": MODALITIES, "audio": ("audio",), "visual": ("visual",), "none": ()}
CMA_CONCAT = {"time": "audio+visual segments", "channels": "audio⊕visual segments"}  # -> what the CMA keys are


class SegmentAttention(nn.Module):
    """Eq. 4-7: squeeze-and-excitation over segments; returns re-weighted features and the gates W (B, T)."""

    def __init__(self, segments: int, hidden: int):
        super().__init__()
        self.segments = segments
        self.excite = nn.Sequential(nn.Linear(segments, hidden), nn.ReLU(), nn.Linear(hidden, segments), nn.Sigmoid())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[1] != self.segments:
            raise InputError(f"segment attention is built for {self.segments} segments, got {x.shape[1]}")
        weights = self.excite(x.mean(dim=-1))  # (B, T, D) -> (B, T) -> (B, T)
        return x * weights.unsqueeze(-1), weights  # (B, T, D), (B, T)


class CrossModalAggregation(nn.Module):
    """Eq. 8-11: one modality's segments attend over the audio and visual segments of the video: 2T keys of width D
    (concat="time"), or T keys of width 2D, each segment's audio and visual side by side (concat="channels")."""

    def __init__(self, dim: int, heads: int, dropout: float, residual: bool = True, concat: str = "time"):
        super().__init__()
        self.residual, self.concat = residual, concat
        self.attn = Attention(dim, heads, dropout, kv_dim=2 * dim if concat == "channels" else None)

    def forward(self, query: Tensor, audio: Tensor, visual: Tensor) -> tuple[Tensor, Tensor]:
        if self.concat == "channels":
            context = torch.cat([audio, visual], dim=-1)  # (B, T, 2D): segment t's audio then visual features
        else:
            context = torch.cat([audio, visual], dim=1)  # (B, 2T, D): audio segments first, then visual
        out, weights = self.attn(query, context, context)  # (B, T, D), (B, heads, T, 2T or T)
        return (query + out if self.residual else out), weights


class CMPIE(AVVPModel):
    def __init__(self, dim: int = 512, heads: int = 1, ffn_dim: int = 512, dropout: float = 0.1, layers: int = 1,
                 segments: int = NUM_SEGMENTS, sa_hidden: int = 5, use_sa: bool = True, share_sa: bool = True,
                 share_han: bool = True, cma: str = "both", cma_residual: bool = True, cma_concat: str = "time"):
        super().__init__()
        if cma not in CMA_CHOICES:
            raise InputError(f"cma must be one of {', '.join(CMA_CHOICES)}; got {cma!r}")
        if cma_concat not in CMA_CONCAT:
            raise InputError(f"cma_concat must be one of {', '.join(CMA_CONCAT)}; got {cma_concat!r}")
        self.cma_keys = CMA_CONCAT[cma_concat]
        self.project = InputProjection(dim)
        self.layers = nn.ModuleList(HANLayer(dim, heads, ffn_dim, dropout) for _ in range(layers))
        self.sa = self.sa_layers = None
        if use_sa:
            self.sa = nn.ModuleList(SegmentAttention(segments, sa_hidden) for _ in range(1 if share_sa else 2))
            if not share_han:
                self.sa_layers = nn.ModuleList(HANLayer(dim, heads, ffn_dim, dropout) for _ in range(layers))
        self.cma = nn.ModuleDict({m: CrossModalAggregation(dim, heads, dropout, cma_residual, cma_concat)
                                  for m in CMA_CHOICES[cma]})
        self.head = MMILHead(dim)

    def hybrid(self, layers: nn.ModuleList, audio: Tensor, visual: Tensor, captures: dict | None, tag: str):
        """Eq. 2-3 (HAN layers, chained, one layer's weights shared by both modalities): two (B, T, D)."""
        for i, layer in enumerate(layers):
            name = f"{tag}: HAN layer {i}: "
            audio, visual = (
                layer(audio, visual, True, captures, (name + "audio", "visual")),
                layer(visual, audio, True, captures, (name + "visual", "audio")),
            )
        return audio, visual

    def aggregate(self, audio: Tensor, visual: Tensor, captures: dict | None, tag: str) -> list[Tensor]:
        """Eq. 8-11: each modality with a CMA block attends over [audio ; visual]; others pass through."""
        out = []
        for m, x in zip(MODALITIES, (audio, visual), strict=True):
            if m in self.cma:
                x, weights = self.cma[m](x, audio, visual)  # (B, T, D), (B, heads, T, 2T or T)
                if captures is not None:
                    captures[f"{tag}: {m} CMA -> {self.cma_keys}"] = weights.detach()
            if captures is not None:
                captures[f"{tag}: {m} features"] = x.detach()
            out.append(x)
        return out

    def paths(self, batch: Batch, captures: dict | None = None) -> dict[str, list[Tensor]]:
        """Projected inputs and each path's CMA output: {"input"|"HAN path"|"SA path": [audio, visual]}."""
        audio_in, visual_in = self.project(batch.audio, batch.video_2d, batch.video_3d)  # (B, T, D) each
        out = {"input": [audio_in, visual_in]}
        out["HAN path"] = self.aggregate(*self.hybrid(self.layers, audio_in, visual_in, captures, "HAN path"),
                                         captures, "HAN path")
        if self.sa is not None:
            audio_sa, w_audio = self.sa[0](audio_in)  # (B, T, D), (B, T)
            visual_sa, w_visual = self.sa[-1](visual_in)
            if captures is not None:
                captures["audio SA segment weights"] = w_audio.detach()
                captures["visual SA segment weights"] = w_visual.detach()
            layers = self.layers if self.sa_layers is None else self.sa_layers
            out["SA path"] = self.aggregate(*self.hybrid(layers, audio_sa, visual_sa, captures, "SA path"),
                                            captures, "SA path")
        return out

    def forward(self, batch: Batch, capture: bool = False) -> ParseOutput:
        captures: dict | None = {} if capture else None
        paths = self.paths(batch, captures)
        audio_in, visual_in = paths.pop("input")
        audio = torch.stack([p[0] for p in paths.values()]).mean(dim=0)  # (P, B, T, D) -> (B, T, D), Eq. 12
        visual = torch.stack([p[1] for p in paths.values()]).mean(dim=0)  # Eq. 13
        pooled = self.head(torch.stack([audio, visual], dim=2))  # (B, T, M, D)
        return ParseOutput.from_streams(pooled, (audio_in, visual_in), (audio, visual), captures)

    def modality_encoders(self) -> dict[str, list[nn.Module]]:
        p = self.project
        audio, visual = [p.audio], [p.video_2d, p.video_3d, p.video_fusion]
        if self.sa is not None and len(self.sa) == 2:
            audio, visual = audio + [self.sa[0]], visual + [self.sa[1]]
        return {"audio": audio, "visual": visual}


PAPER = ("Chen, Guo, Liu, Wu, Li, Li, Wang. CM-PIE: Cross-Modal Perception for Interactive-Enhanced "
         "Audio-Visual Video Parsing. ICASSP 2024")
DEMO = {"dim": 128, "ffn_dim": 128}
TRAIN = HAN_TRAIN  # no recipe in the paper: HAN's official one
DEFAULTS = {"dim": 512, "heads": 1, "ffn_dim": 512, "dropout": 0.1, "layers": 1, "segments": NUM_SEGMENTS,
            "sa_hidden": 5, "share_sa": True, "share_han": True, "cma_residual": True, "cma_concat": "time"}


@register_model(paper=PAPER, gating="fused", demo=DEMO, train=TRAIN, use_sa=True, cma="both", **DEFAULTS)
def cmpie(**config) -> CMPIE:
    """CM-PIE: HAN path + segment-attention path, audio/visual cross-modal aggregation, mean, MMIL pooling."""
    return CMPIE(**config)


@register_model(paper=PAPER, gating="fused", demo=DEMO, train=TRAIN, use_sa=False, cma="both", **DEFAULTS)
def cmpie_nosa(**config) -> CMPIE:
    """CM-PIE without segment attention (ablation): HAN + audio/visual CMA + MMIL pooling."""
    return CMPIE(**config)


@register_model(paper=PAPER, gating="fused", demo=DEMO, train=TRAIN, use_sa=True, cma="audio", **DEFAULTS)
def cmpie_cma_audio(**config) -> CMPIE:
    """CM-PIE with the CMA block on audio only (Table 2 "w/o. V")."""
    return CMPIE(**config)


@register_model(paper=PAPER, gating="fused", demo=DEMO, train=TRAIN, use_sa=True, cma="visual", **DEFAULTS)
def cmpie_cma_visual(**config) -> CMPIE:
    """CM-PIE with the CMA block on visual only (Table 2 "w/o. A")."""
    return CMPIE(**config)
