"""Small blocks shared by several models: attention that always returns its weights, the input
projections of HAN, the HAN layer and the attentive MMIL pooling head.

Attention is written out (not `nn.MultiheadAttention`) so the weights can be captured at no cost and
the numbers never depend on whether they are captured; the parameter layout (`in_proj_weight`,
`in_proj_bias`, `out_proj`) is that of `nn.MultiheadAttention`, so official state dicts map one to one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..constants import FRAMES_PER_SEGMENT, NUM_CLASSES


class Attention(nn.Module):
    """Multi-head scaled dot-product attention, batch first, dropout on the attention weights."""

    def __init__(self, dim: int, heads: int = 1, dropout: float = 0.0, kv_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        self.packed = kv_dim is None or kv_dim == dim
        if self.packed:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
            # Same initialisation as nn.MultiheadAttention: xavier on the packed projection, zero biases.
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:  # keys and values of another width: nn.MultiheadAttention's kdim/vdim layout, three matrices
            self.q_proj_weight = nn.Parameter(torch.empty(dim, dim))
            self.k_proj_weight = nn.Parameter(torch.empty(dim, kv_dim))
            self.v_proj_weight = nn.Parameter(torch.empty(dim, kv_dim))
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                nn.init.xavier_uniform_(w)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, Q, D), key/value (B, K, D or kv_dim) -> output (B, Q, D), weights (B, heads, Q, K)."""
        if self.packed:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        B, Q, D = query.shape
        K = key.shape[1]
        h, hd = self.heads, D // self.heads
        q = F.linear(query, w_q, b_q).view(B, Q, h, hd).transpose(1, 2)  # (B, h, Q, hd)
        k = F.linear(key, w_k, b_k).view(B, K, h, hd).transpose(1, 2)  # (B, h, K, hd)
        v = F.linear(value, w_v, b_v).view(B, K, h, hd).transpose(1, 2)  # (B, h, K, hd)
        weights = torch.softmax((q / math.sqrt(hd)) @ k.transpose(-2, -1), dim=-1)  # (B, h, Q, K)
        attended = F.dropout(weights, self.dropout, self.training) @ v  # (B, h, Q, hd)
        out = self.out_proj(attended.transpose(1, 2).reshape(B, Q, D))  # (B, Q, D)
        return out, weights


class InputProjection(nn.Module):
    """HAN's input stage: audio 128 -> D; visual = Linear(cat(avg8(Linear(res152)), Linear(r2plus1d))) -> D.

    With 80 res152 frames the 2-D projection is applied per frame and then averaged in groups of 8, as the
    official code does; with 10 (already segment-averaged) frames it is applied directly.
    """

    def __init__(self, dim: int, audio_dim: int = 128, video_2d_dim: int = 2048, video_3d_dim: int = 512):
        super().__init__()
        self.audio = nn.Linear(audio_dim, dim)  # official fc_a
        self.video_2d = nn.Linear(video_2d_dim, dim)  # official fc_v
        self.video_3d = nn.Linear(video_3d_dim, dim)  # official fc_st
        self.video_fusion = nn.Linear(2 * dim, dim)  # official fc_fusion

    def forward(self, audio: Tensor, video_2d: Tensor, video_3d: Tensor) -> tuple[Tensor, Tensor]:
        a = self.audio(audio)  # (B, T, D)
        v2 = self.video_2d(video_2d)  # (B, F, D)
        T = video_3d.shape[1]
        if v2.shape[1] == T * FRAMES_PER_SEGMENT:
            v2 = v2.view(v2.shape[0], T, FRAMES_PER_SEGMENT, -1).mean(dim=2)  # (B, T, D)
        elif v2.shape[1] != T:
            raise ValueError(f"res152 has {v2.shape[1]} frames; expected {T} or {T * FRAMES_PER_SEGMENT}")
        v = self.video_fusion(torch.cat([v2, self.video_3d(video_3d)], dim=-1))  # (B, T, 2D) -> (B, T, D)
        return a, v


class HANLayer(nn.Module):
    """Hybrid attention layer (Tian et al. 2020): q1 = LN(q + Drop(CrossAttn(q->o)) + Drop(SelfAttn(q)));
    out = LN(q1 + Drop(W2 Drop(ReLU(W1 q1)))). Post-norm; FFN width is a parameter (512 in HAN)."""

    def __init__(self, dim: int, heads: int = 1, ffn_dim: int = 512, dropout: float = 0.1, cross: bool = True):
        super().__init__()
        self.cross = cross
        self.self_attn = Attention(dim, heads, dropout)
        self.cross_attn = Attention(dim, heads, dropout) if cross else None
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, query: Tensor, other: Tensor, use_cross: bool = True, captures: dict | None = None,
        names: tuple[str, str] = ("query", "other"),
    ) -> Tensor:
        """query, other (B, T, D) -> (B, T, D). `use_cross=False` skips cross-attention (JoMoLD's estimator).

        With `captures`, stores "<query> -> <other> cross-attention" and "<query> self-attention" maps.
        """
        x = query
        if self.cross_attn is not None and use_cross:  # summed in the official order: q + cross + self
            crossed, cross_w = self.cross_attn(query, other, other)
            x = x + self.dropout(crossed)
            if captures is not None:
                captures[f"{names[0]} -> {names[1]} cross-attention"] = cross_w.detach()
        attended, self_w = self.self_attn(query, query, query)
        x = self.norm1(x + self.dropout(attended))
        if captures is not None:
            captures[f"{names[0]} self-attention"] = self_w.detach()
        return self.norm2(x + self.dropout(self.linear2(self.dropout(F.relu(self.linear1(x))))))


class MMILHead(nn.Module):
    """Attentive multimodal multiple-instance pooling (HAN's head) over x (B, T, M, D).

    P = sigmoid(W_prob x); A_time = softmax_T(W_time x); A_mod = softmax_M(W_mod x);
    p = sum_t sum_m A_time A_mod P; a_prob = sum_t A_time[:, :, 0] P[:, :, 0]; v_prob likewise.
    """

    def __init__(self, dim: int, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.classifier = nn.Linear(dim, num_classes)  # official fc_prob
        self.temporal_attention = nn.Linear(dim, num_classes)  # official fc_frame_att
        self.modality_attention = nn.Linear(dim, num_classes)  # official fc_av_att

    def pool(self, segment_prob: Tensor, x: Tensor) -> dict[str, Tensor]:
        """MMIL pooling of given segment probabilities (B, T, M, C) with attention computed from x."""
        temporal = torch.softmax(self.temporal_attention(x), dim=1)  # (B, T, M, C)
        modality = torch.softmax(self.modality_attention(x), dim=2)  # (B, T, M, C)
        weighted = temporal * segment_prob  # (B, T, M, C)
        return {
            "segment_prob": segment_prob,
            "video_prob": (weighted * modality).sum(dim=2).sum(dim=1),  # (B, C)
            "audio_prob": weighted[:, :, 0].sum(dim=1),  # (B, C)
            "visual_prob": weighted[:, :, 1].sum(dim=1),  # (B, C)
            "temporal_attention": temporal,
            "modality_attention": modality,
        }

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.pool(torch.sigmoid(self.classifier(x)), x)  # (B, T, M, C) segment probabilities
