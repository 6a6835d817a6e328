"""MGN — Multi-modal Grouping Network (Mo & Tian, "Semantic-Aware Multi-modal Grouping for Weakly-Supervised
Audio-Visual Video Parsing", NeurIPS 2022), built to the architecture of the official code (stoneMo/MGN).

    audio  (B, T, 128) -> Linear -> [T segments ; C audio class tokens]  -> ViT x3 -> HAN grouping -> grouping -> g^a
    visual (B, F, 2048), (B, T, 512) -> HAN's projection -> [T ; C visual tokens] -> ViT x3 -> grouping -> g^v
    [g^a ; g^v] -> ViT x6 -> grouping (visual tokens as groups, audio tokens as members) -> g^av (B, C, D)

Grouping block (GroupViT style): groups -> LN -> token-mixing MLP over the group axis (G -> D/2 -> G) -> LN ->
post-norm cross-attention block (groups attend to the LN'd members) -> assignment attention (1 head, scaled dot
product, softmax over the *group* axis for every member: "soft"; "hard" = Gumbel-softmax with a straight-through
one-hot in training and the argmax one-hot at eval) -> weights renormalised per group by (sum over members + 1)
-> weighted member values -> projection, + the groups (residual) -> + MLP(LN(.)) (4x). The audio branch first
regroups its T segment tokens with the T projected *visual input* tokens as groups ("HAN" grouping block; its
assignment is Gumbel-hard when the uni-modal mode is soft and soft when it is hard, as in the official code).
Heads: Linear(D -> 1) + sigmoid shared across the C tokens: p_c from g^av_c, a_prob_c from g^a_c, v_prob_c
from g^v_c. Class-token loss (Eq. 1): one shared Linear(D -> C) on the learned tokens of each modality must
classify token c as class c (cross-entropy) -> `extra_losses` {"audio_tokens", "visual_tokens"}, logits in
`out.aux` ("audio_token_logits", "visual_token_logits", (C, C)). Total = those + HAN's three BCE terms (Eq. 2).
Init: Linear weights truncated normal (std 0.02), biases 0, LayerNorms (1, 0), class tokens zeros.
Stochastic depth 0.1 in every ViT block (constant, as the official code passes it, not a linear ramp).

Segment probabilities (the paper: "the unimodal class-aware similarity is used to predict ... each segment"):
with A (B, C, T) the uni-modal assignment map, `segment_probs="one_plus_softmax"` (default) gives
a_prob_c * (1 + softmax_T(A[c])), as the project reference notes (section 7) describe the official code; `"assignment"`
gives a_prob_c * A[c, t], what official mgn.py at 943f730 and d6de1e4 (and derived repositories) compute; at 002d214
the softmax runs over the batch axis, all ones for one video, so a segment's probability is a_prob (convert.py). The
hard mode uses the one-hot map: a_prob_c * onehot[c, t].
A[c, t] is an assignment probability in [0, 1], so softmax_T(A[c]) lies in [1 / (1 + 9e), e / (e + 9)] = [0.039,
0.232]: the default's factor is 1.04-1.23 (1.10 everywhere at initialisation), and a segment is called present when
a_prob_c is above about 0.41-0.48, whatever the second. MGN's segment decisions are therefore nearly constant over
the video, as the official head makes them; its Timelines rows show that, not a display fault. `"assignment"` on the
shipped zoo's weights (the head is not trained, so it can be swapped) scores 18.0 segment Type@AV against 53.5:
A[c, t], spread over 25 groups, pulls nearly every segment below 0.5 (bench/RESULTS.md, second audit).
Which official version: the default head is grouping.py@d6de1e4's, but at that commit `get_attn`'s soft branch also
returns 1 + softmax(...) *inside* every soft grouping (near mean pooling, weights about (1 + s_t) / 12); our grouping
uses the plain softmax of grouping.py@002d214, GroupViT's, the version that sits with the official main.py. So the
model mixes the two commits; which one produced the paper's figures is not known.

Choices and deviations, named:
- Segment probabilities above 1 (one_plus_softmax) are clamped to 1 so `segment_prob` stays a probability;
  the >= 0.5 thresholding of the official evaluation is unchanged by it.
- The straight-through one-hot is written hard + (soft - soft.detach()): same gradient as the official
  hard - soft.detach() + soft, but its value is exactly one-hot.
- Gumbel noise is -log(-log(u)), u ~ torch.rand (torch's global RNG, like stochastic depth), so training is
  reproducible and resumable under a fixed seed; the official code samples torch.distributions.Gumbel.
- The HAN grouping block regroups exactly T = 10 segments (its token MLP is over the T visual tokens).
- `temporal_attention` (B, T, M, C) = softmax over T of the assignment map (for display only).
- `han_grouping=False` removes the audio branch's HAN grouping block (an ablation switch, not in the paper).

Parameters at paper configuration (dim 128, depths 3/3/6, soft/soft): 4,366,065, equal to the official
MGN_Net's count (the paper quotes 17 MB, i.e. ~4.4 M float32 parameters).

Captures: "<m> ViT block i self-attention" (B, 8, T+C, T+C), "audio-visual ViT block i self-attention"
(B, 8, 2C, 2C); "<stage> grouping: groups -> members cross-attention" (B, 8, G, S); "<stage> assignment" (B, G, S)
(the map used: audio/visual (B, C, T), audio HAN (B, T visual, T audio), audio-visual (B, C visual, C audio)),
plus "<stage> assignment (soft scores)" in hard mode; "<m> class-group tokens" (B, C, D), "audio-visual tokens"
(B, C, D); "<m> learned class tokens" (1, C, D); "<m> features" (B, T, D) (segment tokens after the encoder).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..constants import NUM_CLASSES, NUM_SEGMENTS
from ..errors import InputError
from ..schema import Batch, ParseOutput
from .base import AVVPModel
from .blocks import Attention, InputProjection
from .registry import register_model

ASSIGNS = ("soft", "hard")
SEGMENT_PROBS = ("one_plus_softmax", "assignment")


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for whole samples with probability p, scale the rest by 1/(1-p)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)  # (B, 1, 1)
        return x * mask / keep


class Mlp(nn.Sequential):
    def __init__(self, dim: int, hidden: int, out: int | None = None):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, out or dim))


class ViTBlock(nn.Module):
    """Pre-norm transformer block: x + DropPath(MSA(LN x)), then + DropPath(MLP(LN x))."""

    def __init__(self, dim: int, heads: int, drop_path: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = Mlp(dim, 4 * dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.norm1(x)
        attended, weights = self.attn(h, h, h)  # (B, N, D), (B, heads, N, N)
        x = x + self.drop_path(attended)
        return x + self.drop_path(self.mlp(self.norm2(x))), weights


class CrossAttnBlock(nn.Module):
    """Post-norm cross-attention block: LN(q' + MLP(LN q')) with q' = q + MHA(q, members, members)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = Attention(dim, heads)
        self.norm2, self.norm_post = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, query: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
        attended, weights = self.attn(query, members, members)  # (B, G, D), (B, heads, G, S)
        x = query + attended
        return self.norm_post(x + self.mlp(self.norm2(x))), weights


def assignment(logits: Tensor, hard: bool, tau: float, training: bool) -> Tensor:
    """logits (B, G, S) -> assignment of every member s to the groups (softmax over the group axis 1).

    hard: Gumbel-softmax (torch's global RNG) with a straight-through one-hot in training, argmax one-hot at eval.
    """
    if not hard:
        return torch.softmax(logits, dim=1)
    if training:
        u = torch.rand_like(logits).clamp_(min=torch.finfo(logits.dtype).tiny)
        logits = (logits - torch.log(-torch.log(u))) / tau  # + Gumbel(0, 1) noise
    soft = torch.softmax(logits, dim=1)  # (B, G, S)
    one_hot = torch.zeros_like(soft).scatter_(1, soft.argmax(dim=1, keepdim=True), 1.0)
    return one_hot + (soft - soft.detach())  # value exactly one-hot, gradient of the soft assignment


class AssignAttention(nn.Module):
    """Single-head assignment attention of members to groups, weights renormalised by (sum over members + 1)."""

    def __init__(self, dim: int, hard: bool, tau: float = 1.0, eps: float = 1.0):
        super().__init__()
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))
        self.hard, self.tau, self.eps = hard, tau, eps

    def forward(self, groups: Tensor, members: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """groups (B, G, D), members (B, S, D) -> out (B, G, D), assignment, soft scores, renormalised (B, G, S)."""
        logits = self.q(groups) @ self.k(members).transpose(1, 2) * groups.shape[-1] ** -0.5  # (B, G, S)
        assign = assignment(logits, self.hard, self.tau, self.training)
        soft = assign if not self.hard else torch.softmax(logits, dim=1)
        weights = assign / (assign.sum(dim=-1, keepdim=True) + self.eps)  # (B, G, S)
        return self.proj(weights @ self.v(members)), assign, soft, weights


class GroupingBlock(nn.Module):
    """Groups (B, G, D) gather members (B, S, D) -> G new tokens (B, G, D)."""

    def __init__(self, dim: int, heads: int, groups: int, hard: bool, tau: float):
        super().__init__()
        self.norm_tokens, self.norm_post_tokens = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.norm_x, self.norm_new = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.token_mlp = Mlp(groups, dim // 2)  # mixes over the group axis
        self.cross = CrossAttnBlock(dim, heads)
        self.assign = AssignAttention(dim, hard, tau)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, members: Tensor, groups: Tensor, captures: dict | None = None,
                name: str = "") -> tuple[Tensor, Tensor]:
        """members (B, S, D), groups (B, G, D) -> new tokens (B, G, D), assignment (B, G, S)."""
        members = self.norm_x(members)  # (B, S, D)
        g = self.token_mlp(self.norm_tokens(groups).transpose(1, 2)).transpose(1, 2)  # (B, D, G) -> (B, G, D)
        g, cross_w = self.cross(self.norm_post_tokens(g), members)
        out, assign, soft, _ = self.assign(g, members)
        out = out + g
        if captures is not None:
            captures[f"{name} grouping: groups -> members cross-attention"] = cross_w.detach()
            captures[f"{name} assignment"] = assign.detach()
            if self.assign.hard:
                captures[f"{name} assignment (soft scores)"] = soft.detach()
        return out + self.mlp(self.norm_new(out)), assign


class GroupingStage(nn.Module):
    """ViT blocks over [members ; group tokens], then (audio only) HAN grouping, then class-aware grouping.

    With `learned_tokens` the group tokens are this stage's own learnable class tokens (zeros at init).
    """

    def __init__(self, dim: int, depth: int, heads: int, drop_path: float, hard: bool, tau: float,
                 learned_tokens: bool, han_grouping: bool):
        super().__init__()
        self.class_tokens = nn.Parameter(torch.zeros(NUM_CLASSES, dim)) if learned_tokens else None
        self.blocks = nn.ModuleList(ViTBlock(dim, heads, drop_path) for _ in range(depth))
        self.han = GroupingBlock(dim, heads, NUM_SEGMENTS, not hard, tau) if han_grouping else None
        self.grouping = GroupingBlock(dim, heads, NUM_CLASSES, hard, tau)

    def forward(self, x: Tensor, groups: Tensor | None = None, other: Tensor | None = None,
                captures: dict | None = None, name: str = "") -> tuple[Tensor, Tensor, Tensor]:
        """x (B, S, D), groups (B, G, D) or None (class tokens), other (B, T, D) ->
        group tokens (B, G, D), member tokens after the encoder (B, S, D), assignment (B, G, S)."""
        if groups is None:
            groups = self.class_tokens.expand(x.shape[0], -1, -1)  # (B, C, D)
        S = x.shape[1]
        h = torch.cat([x, groups], dim=1)  # (B, S + G, D)
        for i, block in enumerate(self.blocks):
            h, weights = block(h)
            if captures is not None:
                captures[f"{name} ViT block {i} self-attention"] = weights.detach()
        x, groups = h[:, :S], h[:, S:]  # (B, S, D), (B, G, D)
        if self.han is not None:
            if other is None or other.shape[1] != NUM_SEGMENTS or S != NUM_SEGMENTS:
                raise InputError(f"the audio HAN grouping block regroups {NUM_SEGMENTS} segments with "
                                 f"{NUM_SEGMENTS} visual tokens; got {S}")
            x, _ = self.han(x, other, captures, f"{name} HAN")  # (B, T, D)
        tokens, assign = self.grouping(x, groups, captures, name)
        return tokens, x, assign


class MGN(AVVPModel):
    def __init__(self, dim: int = 128, heads: int = 8, depth_audio: int = 3, depth_visual: int = 3,
                 depth_av: int = 6, unimodal_assign: str = "soft", crossmodal_assign: str = "soft",
                 drop_path: float = 0.1, gumbel_tau: float = 1.0, segment_probs: str = "one_plus_softmax",
                 han_grouping: bool = True):
        super().__init__()
        for value, allowed in ((unimodal_assign, ASSIGNS), (crossmodal_assign, ASSIGNS),
                               (segment_probs, SEGMENT_PROBS)):
            if value not in allowed:
                raise InputError(f"unknown MGN option value {value!r}; choose one of {', '.join(allowed)}")
        uni_hard = unimodal_assign == "hard"
        self.unimodal_hard, self.segment_probs = uni_hard, segment_probs
        self.project = InputProjection(dim)
        self.audio = GroupingStage(dim, depth_audio, heads, drop_path, uni_hard, gumbel_tau, True, han_grouping)
        self.visual = GroupingStage(dim, depth_visual, heads, drop_path, uni_hard, gumbel_tau, True, False)
        self.av = GroupingStage(dim, depth_av, heads, drop_path, crossmodal_assign == "hard", gumbel_tau,
                                False, False)
        self.fc_prob, self.fc_prob_a, self.fc_prob_v = nn.Linear(dim, 1), nn.Linear(dim, 1), nn.Linear(dim, 1)
        self.fc_cls = nn.Linear(dim, NUM_CLASSES)  # class-token classifier, shared by both modalities
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, Attention):  # its packed q/k/v projection is a Linear in the official code
            nn.init.trunc_normal_(m.in_proj_weight, std=0.02)
            nn.init.zeros_(m.in_proj_bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def segment_scale(self, assign: Tensor) -> Tensor:
        """Uni-modal assignment (B, C, T) -> per-segment factor on the video-level modality probability."""
        if self.unimodal_hard or self.segment_probs == "assignment":
            return assign
        return 1.0 + torch.softmax(assign, dim=-1)  # (B, C, T), values in (1, 2)

    def forward(self, batch: Batch, capture: bool = False) -> ParseOutput:
        captures: dict | None = {} if capture else None
        audio_in, visual_in = self.project(batch.audio, batch.video_2d, batch.video_3d)  # (B, T, D) each
        # Official order (visual first) keeps the RNG draws of stochastic depth / Gumbel in the same sequence.
        g_v, visual, assign_v = self.visual(visual_in, captures=captures, name="visual")  # (B,C,D) (B,T,D) (B,C,T)
        g_a, audio, assign_a = self.audio(audio_in, other=visual_in, captures=captures, name="audio")
        g_av, _, _ = self.av(g_a, groups=g_v, captures=captures, name="audio-visual")  # (B, C, D)

        video_prob = torch.sigmoid(self.fc_prob(g_av)).squeeze(-1)  # (B, C)
        audio_prob = torch.sigmoid(self.fc_prob_a(g_a)).squeeze(-1)  # (B, C)
        visual_prob = torch.sigmoid(self.fc_prob_v(g_v)).squeeze(-1)  # (B, C)
        seg_a = audio_prob.unsqueeze(-1) * self.segment_scale(assign_a)  # (B, C, T)
        seg_v = visual_prob.unsqueeze(-1) * self.segment_scale(assign_v)  # (B, C, T)
        segment_prob = torch.stack([seg_a, seg_v], dim=1).clamp(max=1.0).permute(0, 3, 1, 2)  # (B, T, M, C)
        temporal = torch.stack([assign_a, assign_v], dim=1).softmax(dim=-1).permute(0, 3, 1, 2)  # (B, T, M, C)
        aux = {"audio_token_logits": self.fc_cls(self.audio.class_tokens),  # (C, C)
               "visual_token_logits": self.fc_cls(self.visual.class_tokens)}
        if captures is not None:
            for m, g, f, stage in (("audio", g_a, audio, self.audio), ("visual", g_v, visual, self.visual)):
                captures[f"{m} class-group tokens"] = g.detach()
                captures[f"{m} learned class tokens"] = stage.class_tokens.detach().unsqueeze(0)  # (1, C, D)
                captures[f"{m} features"] = f.detach()
            captures["audio-visual tokens"] = g_av.detach()
        features = {"audio_input": audio_in, "visual_input": visual_in, "audio": audio, "visual": visual}
        return ParseOutput(segment_prob=segment_prob, video_prob=video_prob, audio_prob=audio_prob,
                           visual_prob=visual_prob, temporal_attention=temporal, features=features, aux=aux,
                           captures=captures or {})

    def extra_losses(self, out: ParseOutput, batch: Batch) -> dict[str, Tensor]:
        """Class-token loss (Eq. 1): token c of each modality must be classified as class c."""
        logits = out.aux["audio_token_logits"]
        target = torch.arange(logits.shape[0], device=logits.device)
        return {"audio_tokens": F.cross_entropy(logits, target),
                "visual_tokens": F.cross_entropy(out.aux["visual_token_logits"], target)}

    def modality_encoders(self) -> dict[str, list[nn.Module]]:
        p = self.project
        return {"audio": [p.audio, self.audio], "visual": [p.video_2d, p.video_3d, p.video_fusion, self.visual]}


_PAPER = ("Mo, Tian. Semantic-Aware Multi-modal Grouping for Weakly-Supervised Audio-Visual Video Parsing "
          "(Multi-modal Grouping Network). NeurIPS 2022")
_DEFAULTS = dict(dim=128, heads=8, depth_audio=3, depth_visual=3, depth_av=6, unimodal_assign="soft",
                 crossmodal_assign="soft", drop_path=0.1, gumbel_tau=1.0, segment_probs="one_plus_softmax",
                 han_grouping=True)
# Demo: the width every model has at demo size (128; MGN's paper width too), fewer blocks (issue 19: it was 64).
_DEMO = {"dim": 128, "depth_audio": 1, "depth_visual": 1, "depth_av": 2}
# Official recipe: Adam 3e-4, StepLR(10, 0.1), batch 16, 40 epochs, seed 1, best val segment Type@AV; HAN's
# evaluation with fused-p gating.
_TRAIN = {"epochs": 40, "batch_size": 16, "lr": 3e-4, "lr_step": 10, "lr_gamma": 0.1, "seed": 1,
          "select_metric": "val/segment/type", "gating": "fused"}
_REG = dict(paper=_PAPER, gating="fused", demo=_DEMO, train=_TRAIN,
            paper_params="4,366,065 (official code, dim 128, 3/3/6); paper: 17 MB")


@register_model(**_REG, **_DEFAULTS)
def mgn(**config) -> MGN:
    """MGN: class-aware uni-modal grouping + modality-aware cross-modal grouping (soft assignments)."""
    return MGN(**config)


@register_model(**_REG, **{**_DEFAULTS, "unimodal_assign": "hard", "crossmodal_assign": "hard"})
def mgn_hard(**config) -> MGN:
    """MGN with Gumbel-hard assignments in the uni-modal and cross-modal grouping blocks."""
    return MGN(**config)
