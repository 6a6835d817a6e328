"""MMT — messenger-guided mid-fusion transformer (Xu, Hu, Lee, "Rethink Cross-Modal Fusion in Weakly-Supervised
Audio-Visual Video Parsing", WACV 2024).

Per modality: HAN's input projection + a learned position embedding (Eq. 1), an L-layer post-LN transformer
encoder for the uni-modal context (Eq. 2), then M-layer post-LN decoders (self-attention, cross-attention, FFN;
Eq. 3) whose cross-attention keys/values are the *other* modality's messengers M = tanh(AvgPool_{T->n}(S^L W_msg))
(Eq. 4-5). Segment probabilities from modality-specific classifiers (Eq. 6), pooled to video level by HAN's
attentive MMIL pooling (Eq. 7's soft pooling). Paper defaults: L = M = 1, d = 512, 1 head, n_a = n_v = 1.
Cross-audio prediction consistency and the three-stage recipe live in training/mmt_recipe.py.

Ablation switches (Tab. 3-4): `fusion="messenger"` (ours), `"full"` ("No MSG": cross-attend to all T segments of
the other encoder, Eq. 3), `"mbt"` (fusion bottleneck tokens of MBT [29]); `visual_fuses_audio=False` ("No FA": the
visual decoder cross-attends to its own encoder output S_v^L instead of M_a); `audio_messengers` / `visual_messengers`.

Choices where the paper is silent or ambiguous (not deviations from anything it states):
- Input projection: the paper's W_enc is a single linear layer; we use HAN's InputProjection (80-frame averaging,
  2-D/3-D fusion), as the paper builds on HAN's features and as the project asks.
- Position embedding: learned, one (T, D) table per modality, truncated-normal std 0.02 (ViT style, [4, 9]).
- FFN width 512 ("the hidden size is set to 512"; also the width of the nn.TransformerEncoderLayer encoders that
  HAN's official code, which the paper builds on, registers for each modality), ReLU, dropout 0.1 on attention
  weights and on every residual branch (the original transformer [37]). `ffn_dim=2048` gives [37]'s base width.
- Eq. 5 writes MCA(LN(R, M_a)) + R, i.e. pre-LN, whereas Eq. 2-3 are post-LN; we read Eq. 5 as Eq. 3 with M_a in
  place of S_a^L (post-LN throughout).
- The decoder stack starts from the encoder output (R^1 = S^L); the messengers are computed once from S^L and
  shared by all M decoder layers. AvgPool to n is adaptive average pooling over T (overlapping bins for n = 3).
- A consequence of the paper's n = 1, not a choice: the decoders' cross-attention has one key, so its softmax is 1
  and it adds the same per-video vector to every segment; what varies over time comes from the uni-modal encoders.
  (Measured, bench/localisation.py on SynthLLP mini test: 90 % of the shipped MMT's audio detections span the whole
  clip, against 39 % annotated and HAN's 57 %; No MSG's too, 90 %, so the single messenger is not what flattens them.)
- Classifiers: Eq. 6 has modality-specific W_a^cls, W_v^cls; HAN shares one. `shared_classifier=True` gives HAN's.
  The MMIL head's temporal / modality attention layers are HAN's (shared across modalities).
- "MBT": one set of n learned tokens (n = n_a = n_v), concatenated to each modality's tokens in every encoder
  layer and averaged over the two modalities after it (MBT's rule), then used as the decoders' keys/values in
  place of the messengers. Not combinable with "No FA" (the tokens carry audio into the visual encoder).

Parameters at paper configuration (d 512, L = M = 1, FFN 512, n = 1): 10,904,676 (`mmt`; the paper gives no
figure; HAN 4,569,675). No MSG 10,379,364; MBT 10,379,876; No FA 10,642,020; FFN 2048: 17,202,276.

Captures (capture=True): "<m> encoder self-attention" (B, h, T, T; T + n with "mbt") and "<m> decoder
self-attention" (B, h, T, T);
"visual decoder -> audio messengers" / "audio decoder -> visual messengers" (B, h, T, n) (with "full": "... -> audio
context" (B, h, T, T); "mbt": "... -> bottleneck tokens"; No FA: "visual decoder -> visual context");
"<m> encoder output" (B, T, D); "audio messengers" / "visual messengers" (or "bottleneck tokens") (B, n, D);
"<m> messengers class affinity" (B, n, C) = sigmoid(W^cls_<m> M_<m> + b): the probability the source modality's
classifier gives each messenger read as a segment feature (approximate: messengers live in tanh(W_msg S) space,
not in the decoder output space the classifier was trained on); "audio features" / "visual features" (B, T, D).
Layers after the first get a " [layer i]" suffix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..constants import MODALITIES, NUM_CLASSES, NUM_SEGMENTS
from ..schema import Batch, ParseOutput
from .base import AVVPModel
from .blocks import Attention, InputProjection, MMILHead
from .registry import register_model

FUSIONS = ("messenger", "full", "mbt")


class FeedForward(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(dim, ffn_dim), nn.Linear(ffn_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class EncoderLayer(nn.Module):
    """Post-LN transformer encoder layer (Eq. 2): S~ = LN(MSA(S) + S); S' = LN(FFN(S~) + S~)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = Attention(dim, heads, dropout)
        self.ffn = FeedForward(dim, ffn_dim, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, captures: dict | None = None, name: str = "") -> Tensor:
        attended, w = self.self_attn(x, x, x)
        if captures is not None:
            captures[name] = w.detach()
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.dropout(self.ffn(x)))


class DecoderLayer(nn.Module):
    """Post-LN decoder layer (Eq. 3/5): self-attention, cross-attention to `context` (messengers), FFN."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = Attention(dim, heads, dropout)
        self.cross_attn = Attention(dim, heads, dropout)
        self.ffn = FeedForward(dim, ffn_dim, dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, r: Tensor, context: Tensor, captures: dict | None = None, names: tuple[str, str] = ("", "")
                ) -> Tensor:
        """r (B, T, D), context (B, K, D) -> (B, T, D)."""
        attended, self_w = self.self_attn(r, r, r)
        r = self.norm1(r + self.dropout(attended))
        crossed, cross_w = self.cross_attn(r, context, context)  # weights (B, h, T, K)
        r = self.norm2(r + self.dropout(crossed))
        if captures is not None:
            captures[names[0]], captures[names[1]] = self_w.detach(), cross_w.detach()
        return self.norm3(r + self.dropout(self.ffn(r)))


class ModalityEncoder(nn.Module):
    """One modality's uni-modal stage: position embedding (Eq. 1), L encoder layers, messenger projection (Eq. 4)."""

    def __init__(self, dim: int, layers: int, heads: int, ffn_dim: int, dropout: float, messengers: int):
        super().__init__()
        self.position = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, NUM_SEGMENTS, dim), std=0.02))
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn_dim, dropout) for _ in range(layers))
        self.messengers = messengers
        self.to_messenger = nn.Linear(dim, dim) if messengers else None  # W_msg; only built where used

    def messenger(self, s: Tensor) -> Tensor:
        """M = tanh(AvgPool_{T->n}(S W_msg)): (B, T, D) -> (B, n, D)."""
        pooled = F.adaptive_avg_pool1d(self.to_messenger(s).transpose(1, 2), self.messengers)  # (B, D, n)
        return torch.tanh(pooled.transpose(1, 2))  # (B, n, D)


def _suffix(i: int) -> str:
    return f" [layer {i}]" if i else ""


class MMT(AVVPModel):
    def __init__(self, dim: int = 512, heads: int = 1, ffn_dim: int = 512, dropout: float = 0.1,
                 encoder_layers: int = 1, decoder_layers: int = 1, audio_messengers: int = 1,
                 visual_messengers: int = 1, fusion: str = "messenger", visual_fuses_audio: bool = True,
                 shared_classifier: bool = False):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if fusion == "mbt" and (audio_messengers != visual_messengers or not visual_fuses_audio):
            raise ValueError("fusion='mbt' needs audio_messengers == visual_messengers and visual_fuses_audio")
        if min(audio_messengers, visual_messengers, encoder_layers, decoder_layers) < 1:
            raise ValueError("messenger and layer counts must be >= 1")
        self.fusion, self.visual_fuses_audio = fusion, visual_fuses_audio
        self.project = InputProjection(dim)
        uses = {"audio": fusion == "messenger" and visual_fuses_audio,  # audio messengers feed the visual decoder
                "visual": fusion == "messenger"}
        counts = {"audio": audio_messengers, "visual": visual_messengers}
        self.encoders = nn.ModuleDict({m: ModalityEncoder(dim, encoder_layers, heads, ffn_dim, dropout,
                                                          counts[m] if uses[m] else 0) for m in MODALITIES})
        self.bottleneck = (nn.Parameter(nn.init.trunc_normal_(torch.empty(1, audio_messengers, dim), std=0.02))
                           if fusion == "mbt" else None)
        self.decoders = nn.ModuleDict({m: nn.ModuleList(DecoderLayer(dim, heads, ffn_dim, dropout)
                                                        for _ in range(decoder_layers)) for m in MODALITIES})
        self.head = MMILHead(dim)  # HAN's attentive MMIL pooling
        if not shared_classifier:  # Eq. 6: modality-specific classifiers replace the head's shared one
            self.head.classifier = None
            self.classifiers = nn.ModuleDict({m: nn.Linear(dim, NUM_CLASSES) for m in MODALITIES})

    def classify(self, modality: str, x: Tensor) -> Tensor:
        """Logits of the modality's classifier: (..., D) -> (..., C)."""
        return (self.head.classifier if self.head.classifier is not None else self.classifiers[modality])(x)

    def encode(self, batch: Batch, captures: dict | None = None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Uni-modal encoders (with MBT's bottleneck exchange): inputs and outputs S^L, each {m: (B, T, D)}."""
        audio_in, visual_in = self.project(batch.audio, batch.video_2d, batch.video_3d)
        inputs = {"audio": audio_in, "visual": visual_in}
        T = audio_in.shape[1]
        s = {m: inputs[m] + self.encoders[m].position[:, :T] for m in MODALITIES}  # Eq. 1, (B, T, D)
        z = None if self.bottleneck is None else self.bottleneck.expand(audio_in.shape[0], -1, -1)  # (B, n, D)
        for i in range(len(self.encoders["audio"].layers)):
            updated = {}
            for m in MODALITIES:
                layer, name = self.encoders[m].layers[i], f"{m} encoder self-attention{_suffix(i)}"
                if z is None:
                    s[m] = layer(s[m], captures, name)
                else:  # MBT: the modality's tokens and the bottleneck tokens attend jointly
                    joint = layer(torch.cat([s[m], z], dim=1), captures, name)  # (B, T + n, D)
                    s[m], updated[m] = joint[:, :T], joint[:, T:]  # (B, T, D), (B, n, D)
            if z is not None:
                z = (updated["audio"] + updated["visual"]) / 2  # (B, n, D)
        if z is not None:
            s["bottleneck"] = z
        return inputs, s

    def contexts(self, s: dict[str, Tensor], captures: dict | None = None) -> dict[str, tuple[Tensor, str]]:
        """Keys/values of each modality's decoder cross-attention, and their capture name."""
        if self.fusion == "mbt":
            ctx = {m: (s["bottleneck"], "bottleneck tokens") for m in MODALITIES}
            if captures is not None:
                captures["bottleneck tokens"] = s["bottleneck"].detach()
        elif self.fusion == "full":  # "No MSG": the other modality's full encoder output (Eq. 3)
            ctx = {"audio": (s["visual"], "visual context"), "visual": (s["audio"], "audio context")}
        else:
            ctx = {}
            for source, target in (("visual", "audio"), ("audio", "visual")):
                if self.encoders[source].to_messenger is None:
                    continue
                msg = self.encoders[source].messenger(s[source])  # (B, n, D)
                ctx[target] = (msg, f"{source} messengers")
                if captures is not None:
                    captures[f"{source} messengers"] = msg.detach()
                    captures[f"{source} messengers class affinity"] = torch.sigmoid(self.classify(source, msg)).detach()
        if not self.visual_fuses_audio:  # "No FA": M_a replaced by S_v^L
            ctx["visual"] = (s["visual"], "visual context")
        return ctx

    def forward(self, batch: Batch, capture: bool = False, contexts: dict[str, Tensor] | None = None) -> ParseOutput:
        """`contexts` (analysis only) replaces a decoder's keys/values, e.g. {"visual": other audio messengers}: the
        Attention page's messenger removal and swap; training never passes it."""
        captures: dict | None = {} if capture else None
        inputs, s = self.encode(batch, captures)
        ctx = self.contexts(s, captures)
        for m, replacement in (contexts or {}).items():
            ctx[m] = (replacement, ctx[m][1])
        r = {}
        for m in MODALITIES:
            r[m] = s[m]  # R^1 = S^L
            context, label = ctx[m]
            for i, layer in enumerate(self.decoders[m]):
                names = (f"{m} decoder self-attention{_suffix(i)}", f"{m} decoder -> {label}{_suffix(i)}")
                r[m] = layer(r[m], context, captures, names)
        x = torch.stack([r["audio"], r["visual"]], dim=2)  # (B, T, M, D)
        logits = torch.stack([self.classify(m, r[m]) for m in MODALITIES], dim=2)  # (B, T, M, C), Eq. 6
        pooled = self.head.pool(torch.sigmoid(logits), x)
        if captures is not None:
            for m in MODALITIES:
                captures[f"{m} encoder output"] = s[m].detach()
                captures[f"{m} features"] = r[m].detach()
        features = {"audio_input": inputs["audio"], "visual_input": inputs["visual"],
                    "audio": r["audio"], "visual": r["visual"]}
        return ParseOutput(**pooled, features=features, captures=captures or {})

    def modality_encoders(self) -> dict[str, list[nn.Module]]:
        p = self.project
        return {"audio": [p.audio, self.encoders["audio"]],
                "visual": [p.video_2d, p.video_3d, p.video_fusion, self.encoders["visual"]]}


_PAPER = "Xu, Hu, Lee. Rethink Cross-Modal Fusion in Weakly-Supervised Audio-Visual Video Parsing. WACV 2024"
_DEFAULTS = dict(dim=512, heads=1, ffn_dim=512, dropout=0.1, encoder_layers=1, decoder_layers=1,
                 audio_messengers=1, visual_messengers=1, fusion="messenger", visual_fuses_audio=True,
                 shared_classifier=False)
_DEMO = {"dim": 128, "ffn_dim": 128}  # the width every model has at demo size (issue 19: dim was 64)
# Paper: Adam 3e-4, batch 64, 40 epochs, LR x0.1 every 10 epochs (each stage). Model selection is not stated: HAN's
# (best val segment Type@AV). Evaluated after MA pseudo labels -> modality gating (a_prob / v_prob), as MA.
_TRAIN = {"epochs": 40, "batch_size": 64, "lr": 3e-4, "lr_step": 10, "lr_gamma": 0.1, "seed": 1,
          "select_metric": "val/segment/type", "gating": "modality"}


_REG = dict(paper=_PAPER, gating="modality", demo=_DEMO, train=_TRAIN)


@register_model(**_REG, **_DEFAULTS)
def mmt(**config) -> MMT:
    """MMT: uni-modal transformer encoders, then decoders fusing the other modality through messengers."""
    return MMT(**config)


@register_model(**_REG, **{**_DEFAULTS, "fusion": "full"})
def mmt_nomsg(**config) -> MMT:
    """MMT 'No MSG' ablation (Tab. 3): decoders cross-attend to the full cross-modal context."""
    return MMT(**config)


@register_model(**_REG, **{**_DEFAULTS, "fusion": "mbt"})
def mmt_mbt(**config) -> MMT:
    """MMT 'MBT' ablation (Tab. 3): shared fusion-bottleneck tokens instead of messengers."""
    return MMT(**config)


@register_model(**_REG, **{**_DEFAULTS, "visual_fuses_audio": False})
def mmt_nofa(**config) -> MMT:
    """MMT 'No FA' ablation (Tab. 4): the visual decoder attends to its own context, not to audio."""
    return MMT(**config)
