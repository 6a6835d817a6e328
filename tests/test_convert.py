"""Official HAN checkpoints import with identical outputs.

`OfficialStyleNet` re-creates the official MMIL_Net module tree and forward from the reference notes (seq-first
nn.MultiheadAttention, `cm_attn`, avg-pool by 8 over 80 frames, unused encoders registered): a random state
dict of it, converted, must give our HAN the same probabilities to 1e-5.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from avvp_core.checkpoints import load_checkpoint
from avvp_core.cli import main
from avvp_core.convert import convert
from avvp_core.errors import InputError
from tests.conftest import make_batch


class OfficialStyleLayer(nn.Module):
    def __init__(self, d=512, ffn=512, dropout=0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, 1, dropout=dropout)
        self.cm_attn = nn.MultiheadAttention(d, 1, dropout=dropout)
        self.linear1, self.linear2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout, self.dropout11, self.dropout12, self.dropout2 = (nn.Dropout(dropout) for _ in range(4))

    def forward(self, q, o):  # (B, T, D) in, seq-first inside as the official layer
        q, o = q.permute(1, 0, 2), o.permute(1, 0, 2)
        cross = self.cm_attn(q, o, o)[0]
        own = self.self_attn(q, q, q)[0]
        q = self.norm1(q + self.dropout11(cross) + self.dropout12(own))
        q = self.norm2(q + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(q))))))
        return q.permute(1, 0, 2)


class OfficialStyleEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([OfficialStyleLayer()])
        self.norm1, self.norm2 = nn.LayerNorm(512), nn.LayerNorm(512)  # registered, unused (as official)

    def forward(self, a, v):
        for layer in self.layers:  # every layer sees the original inputs (official loop)
            out_a, out_v = layer(a, v), layer(v, a)
        return out_a, out_v


class OfficialStyleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc_prob, self.fc_frame_att, self.fc_av_att = nn.Linear(512, 25), nn.Linear(512, 25), nn.Linear(512, 25)
        self.fc_a, self.fc_v, self.fc_st = nn.Linear(128, 512), nn.Linear(2048, 512), nn.Linear(512, 512)
        self.fc_fusion = nn.Linear(1024, 512)
        self.audio_encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(512, 1, 512), 1,  # unused
                                                   enable_nested_tensor=False)  # (silences a torch warning)
        self.hat_encoder = OfficialStyleEncoder()

    def forward(self, audio, visual, visual_st):
        x1 = self.fc_a(audio)
        vid_s = self.fc_v(visual).permute(0, 2, 1).unsqueeze(-1)  # (B, D, 80, 1)
        vid_s = F.avg_pool2d(vid_s, (8, 1)).squeeze(-1).permute(0, 2, 1)  # (B, 10, D)
        x2 = self.fc_fusion(torch.cat((vid_s, self.fc_st(visual_st)), dim=-1))
        x1, x2 = self.hat_encoder(x1, x2)
        x = torch.cat([x1.unsqueeze(-2), x2.unsqueeze(-2)], dim=-2)  # (B, T, 2, D)
        frame_prob = torch.sigmoid(self.fc_prob(x))
        frame_att = torch.softmax(self.fc_frame_att(x), dim=1)
        av_att = torch.softmax(self.fc_av_att(x), dim=2)
        temporal = frame_att * frame_prob
        return (temporal * av_att).sum(2).sum(1), temporal[:, :, 0].sum(1), temporal[:, :, 1].sum(1), frame_prob


def _random_official(tmp_path, prefix=""):
    torch.manual_seed(3)
    net = OfficialStyleNet().eval()
    with torch.no_grad():  # non-trivial biases everywhere, so a swapped key cannot hide
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path / "MMIL_Net.pt"
    torch.save({prefix + k: v for k, v in net.state_dict().items()}, path)
    return net, path


@pytest.mark.parametrize("prefix", ["", "module."])
def test_converted_han_matches_official_forward(tmp_path, prefix):
    net, path = _random_official(tmp_path, prefix)
    convert(path, tmp_path / "ckpt")
    model, card = load_checkpoint(tmp_path / "ckpt")
    batch = make_batch(batch=4, frames=80, seed=5)
    with torch.no_grad():
        p, a, v, frame = net(batch.audio, batch.video_2d, batch.video_3d)
        out = model(batch)
    for ours, theirs in ((out.video_prob, p), (out.audio_prob, a), (out.visual_prob, v), (out.segment_prob, frame)):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    assert card.config["recipe"] == "imported (official-han)"


def test_convert_cli_and_refusals(tmp_path, capsys):
    _, path = _random_official(tmp_path)
    assert main(["convert", "--from", "official-han", str(path), "--out", str(tmp_path / "c")]) == 0
    torch.save({"something.weight": torch.zeros(2)}, tmp_path / "other.pt")
    assert main(["convert", str(tmp_path / "other.pt"), "--out", str(tmp_path / "d")]) == 2
    assert "unexpected keys" in capsys.readouterr().err
    with pytest.raises(InputError):
        convert(tmp_path / "missing.pt", tmp_path / "e")


# --- MA, JoMoLD, CM-Co: their released layouts ----------------------------------------------------------------------
class OfficialStyleEncoderN(nn.Module):
    """An official `Encoder` of `layers` HAN layers of width d; `chained` as JoMoLD's loop (each layer reads the
    previous one's outputs), otherwise every layer reads the original inputs (HAN, MA, CM-Co)."""

    def __init__(self, d=512, ffn=512, layers=1, chained=False):
        super().__init__()
        self.layers = nn.ModuleList([OfficialStyleLayer(d, ffn) for _ in range(layers)])
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)  # registered, unused
        self.chained = chained

    def forward(self, a, v):
        out_a, out_v = a, v
        for layer in self.layers:
            out_a, out_v = layer(a, v), layer(v, a)
            if self.chained:
                a, v = out_a, out_v
        return out_a, out_v


class OfficialMultiHeadAttention2(nn.Module):
    """MA's models_utils.MultiHeadAttention2, parameters only (MA registers t_att / t_att2 and never calls them)."""

    def __init__(self, d=512):
        super().__init__()
        self.w_qs, self.w_ks, self.w_vs, self.fc = (nn.Linear(d, d) for _ in range(4))
        self.layer_norm = nn.Module()
        self.layer_norm.gamma, self.layer_norm.beta = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))


class OfficialMANet(OfficialStyleNet):
    """MA's MMIL_Net (all three steps): HAN's modules and forward, plus registered-but-unused t_att, t_att2, fc1, fc2
    and its CMT encoder."""

    def __init__(self):
        super().__init__()
        self.cmt_encoder = OfficialStyleEncoderN()  # parameter names only; never called
        self.t_att, self.t_att2 = OfficialMultiHeadAttention2(), OfficialMultiHeadAttention2()
        self.fc1, self.fc2 = nn.Linear(1024, 256), nn.Linear(256, 2)


class OfficialJoMoLDNet(OfficialStyleNet):
    """JoMoLD's MMIL_Net: no unused encoders, chained HAN layers, dropout (0.5) on the visual features before the
    heads (identity in eval), the NCE similarity computed before it."""

    def __init__(self, layers=2):
        super().__init__()
        del self.audio_encoder
        self.hat_encoder = OfficialStyleEncoderN(layers=layers, chained=True)
        self.dropout = nn.Dropout(0.5)


class OfficialCMCoNet(nn.Module):
    """CM-Co's MMIL_Net (GenjiB/CM-Co-Occurrence-AVVP nets/net_trans.py) from its equations: HAN (one layer), class
    tokens ReLU(fc_occ_class_m(f)) as (B*T, 25, occ) sequences, one class-level HAN layer over them (cross =
    the other modality's tokens), sigmoid(fc_occ_prob_m) as segment probabilities, HAN's MMIL attention from the
    512-d features. Every registered-but-unused module of the official class is registered here too."""

    def __init__(self, occ=16):
        super().__init__()
        self.occ = occ
        self.fc_prob, self.fc_frame_att, self.fc_av_att = nn.Linear(512, 25), nn.Linear(512, 25), nn.Linear(512, 25)
        self.fc_a, self.fc_v, self.fc_st = nn.Linear(128, 512), nn.Linear(2048, 512), nn.Linear(512, 512)
        self.fc_fusion = nn.Linear(1024, 512)
        self.fc_occ_class_a, self.fc_occ_class_v = nn.Linear(512, 25 * occ), nn.Linear(512, 25 * occ)
        self.fc_occ_class_av = nn.Linear(1024, 25 * occ)
        for m in ("v", "a", "av"):
            for p in "qkv":
                setattr(self, f"fc_occ_{m}_{p}", nn.Linear(occ, occ))
        self.fc_occ_prob_a, self.fc_occ_prob_v = nn.Linear(occ, 1), nn.Linear(occ, 1)
        self.fc_occ_frame_prob, self.fc_occ_modality_prob = nn.Linear(occ, 1), nn.Linear(occ, 1)
        self.hat_encoder = OfficialStyleEncoderN()
        self.av_class_encoder = OfficialStyleEncoderN(occ, occ)
        self.frame_att_encoder, self.modality_encoder = OfficialStyleEncoderN(occ, occ), OfficialStyleEncoderN(occ, occ)

    def forward(self, audio, visual, visual_st):
        b = audio.shape[0]
        x1 = self.fc_a(audio)
        vid_s = F.avg_pool2d(self.fc_v(visual).permute(0, 2, 1).unsqueeze(-1), (8, 1)).squeeze(-1).permute(0, 2, 1)
        x2 = self.fc_fusion(torch.cat((vid_s, self.fc_st(visual_st)), dim=-1))
        x1, x2 = self.hat_encoder(x1, x2)
        c1 = self.fc_occ_class_a(x1).relu().view(b * 10, 25, self.occ)
        c2 = self.fc_occ_class_v(x2).relu().view(b * 10, 25, self.occ)
        c1, c2 = self.av_class_encoder(c1, c2)
        p1 = self.fc_occ_prob_a(c1).sigmoid().view(b, 10, 1, -1)
        p2 = self.fc_occ_prob_v(c2).sigmoid().view(b, 10, 1, -1)
        frame_prob = torch.cat((p1, p2), dim=-2)  # (B, T, 2, C)
        x = torch.cat([x1.unsqueeze(-2), x2.unsqueeze(-2)], dim=-2)
        frame_att = torch.softmax(self.fc_frame_att(x), dim=1)
        av_att = torch.softmax(self.fc_av_att(x), dim=2)
        temporal = frame_att * frame_prob
        return (temporal * av_att).sum(2).sum(1), temporal[:, :, 0].sum(1), temporal[:, :, 1].sum(1), frame_prob


@pytest.mark.parametrize("fmt, net_class, model, recipe, gating", [
    ("official-ma", OfficialMANet, "han", "ma", "modality"),
    ("official-jomold", OfficialJoMoLDNet, "han", "jomold", "modality"),
    ("official-cmco", OfficialCMCoNet, "cmco", "plain", "fused"),
])
def test_converted_official_layouts_match_their_forward(tmp_path, fmt, net_class, model, recipe, gating):
    torch.manual_seed(4)
    net = net_class().eval()
    with torch.no_grad():  # non-trivial biases everywhere, so a swapped key cannot hide
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path / "official.pt"
    torch.save(net.state_dict(), path)
    assert main(["convert", "--from", fmt, str(path), "--out", str(tmp_path / "ckpt")]) == 0
    ours, card = load_checkpoint(tmp_path / "ckpt")
    batch = make_batch(batch=3, frames=80, seed=6)
    with torch.no_grad():
        p, a, v, frame = net(batch.audio, batch.video_2d, batch.video_3d)
        out = ours(batch)
    for mine, theirs in ((out.video_prob, p), (out.audio_prob, a), (out.visual_prob, v), (out.segment_prob, frame)):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)
    assert card.model == model and card.gating == gating
    assert card.config["imported"] == {"format": fmt, "repository": card.config["imported"]["repository"],
                                       "trained_with_recipe": recipe}
    if fmt == "official-jomold":
        assert card.config["model_config"]["layers"] == 2 and card.config["model_config"]["visual_head_dropout"] == 0.5
    if fmt == "official-cmco":
        assert card.config["model_config"]["occ_dim"] == 16


def test_official_layouts_refuse_each_other(tmp_path):
    """A CM-Co state dict is not HAN's (its class-token modules are unknown keys), and HAN's is not CM-Co's."""
    torch.save(OfficialCMCoNet().state_dict(), tmp_path / "cmco.pt")
    with pytest.raises(InputError, match="unexpected keys for an official HAN"):
        convert(tmp_path / "cmco.pt", tmp_path / "a", "official-han")
    torch.save(OfficialStyleNet().state_dict(), tmp_path / "han.pt")
    with pytest.raises(InputError, match="CM-Co"):
        convert(tmp_path / "han.pt", tmp_path / "b", "official-cmco")
    with pytest.raises(InputError, match="unknown source format"):
        convert(tmp_path / "han.pt", tmp_path / "c", "official-valor")


# --- MGN: stoneMo/MGN's layout and forward (nets/mgn.py, nets/grouping.py), written from its equations ------------
class OMlp(nn.Module):
    def __init__(self, i, h, o=None):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(i, h), nn.Linear(h, o or i)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def _heads(x, h):  # (B, N, D) -> (B, h, N, D/h)
    B, N, D = x.shape
    return x.view(B, N, h, D // h).transpose(1, 2)


def _merge(x):  # (B, h, N, c) -> (B, N, h c)
    B, h, N, c = x.shape
    return x.transpose(1, 2).reshape(B, N, h * c)


class OAttnBlock(nn.Module):
    """Pre-norm ViT block with a fused qkv projection (official AttnBlock, qkv_fuse=True)."""

    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.Module()
        self.attn.qkv, self.attn.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = OMlp(d, 4 * d)

    def forward(self, x):
        B, N, D = x.shape
        qkv = self.attn.qkv(self.norm1(x)).reshape(B, N, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ((q @ k.transpose(-2, -1)) * (D // self.h) ** -0.5).softmax(-1)
        x = x + self.attn.proj(_merge(a @ v))
        return x + self.mlp(self.norm2(x))


class OCrossAttnBlock(nn.Module):
    """Post-norm cross-attention block with separate q / k / v projections (official CrossAttnBlock, post_norm)."""

    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.norm_post, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.Module()
        self.attn.q_proj, self.attn.k_proj, self.attn.v_proj = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn.proj = nn.Linear(d, d)
        self.mlp = OMlp(d, 4 * d)

    def forward(self, q_in, k_in):
        D = q_in.shape[-1]
        q, k, v = (_heads(f(x), self.h) for f, x in ((self.attn.q_proj, q_in), (self.attn.k_proj, k_in),
                                                      (self.attn.v_proj, k_in)))
        a = ((q @ k.transpose(-2, -1)) * (D // self.h) ** -0.5).softmax(-1)
        x = q_in + self.attn.proj(_merge(a @ v))
        return self.norm_post(x + self.mlp(self.norm2(x)))


class OAssign(nn.Module):
    """AssignAttention (1 head): softmax over the group axis (eval), one-hot of its argmax when hard, weights / (sum
    over members + 1)."""

    def __init__(self, d, hard):
        super().__init__()
        self.hard = hard
        self.q_proj, self.k_proj, self.v_proj, self.proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, groups, members):
        raw = (self.q_proj(groups) @ self.k_proj(members).transpose(-2, -1)) * groups.shape[-1] ** -0.5
        attn = raw.softmax(-2)
        if self.hard:
            attn = torch.zeros_like(attn).scatter_(-2, attn.argmax(-2, keepdim=True), 1.0)
        attn = attn / (attn.sum(-1, keepdim=True) + 1.0)
        return self.proj(attn @ self.v_proj(members))


class OGrouping(nn.Module):
    def __init__(self, d, h, groups, hard):
        super().__init__()
        self.norm_tokens, self.norm_post_tokens = nn.LayerNorm(d), nn.LayerNorm(d)
        self.norm_x, self.norm_new_x = nn.LayerNorm(d), nn.LayerNorm(d)
        self.mlp_inter = OMlp(groups, d // 2, groups)
        self.pre_assign_attn = OCrossAttnBlock(d, h)
        self.assign = OAssign(d, hard)
        self.mlp_channels = OMlp(d, 4 * d)

    def forward(self, x, group_tokens):
        group_tokens, x = self.norm_tokens(group_tokens), self.norm_x(x)
        g = self.norm_post_tokens(self.mlp_inter(group_tokens.transpose(1, 2)).transpose(1, 2))
        g = self.pre_assign_attn(g, x)
        new = self.assign(g, x) + g
        return new + self.mlp_channels(self.norm_new_x(new))


class OModalityTrans(nn.Module):
    def __init__(self, d, depth, use_han, h=8):
        super().__init__()
        self.blocks = nn.ModuleList(OAttnBlock(d, h) for _ in range(depth))
        self.han_encoder = OGrouping(d, h, 10, hard=True) if use_han else None  # soft mode: the HAN block is hard
        self.grouping = OGrouping(d, h, 25, hard=False)

    def forward(self, x, group_token, x_other=None):
        group_token = group_token.expand(x.shape[0], -1, -1)
        cat = torch.cat([x, group_token], 1)
        for b in self.blocks:
            cat = b(cat)
        x_attn, group_token = cat[:, :-group_token.shape[1]], cat[:, -group_token.shape[1]:]
        if self.han_encoder is not None and x_other is not None:
            x_attn = self.han_encoder(x_attn, x_other)
        return self.grouping(x_attn, group_token)


class OfficialMGNNet(nn.Module):
    def __init__(self, d=32, depths=(1, 1, 2)):
        super().__init__()
        self.fc_a, self.fc_v, self.fc_st = nn.Linear(128, d), nn.Linear(2048, d), nn.Linear(512, d)
        self.fc_fusion = nn.Linear(2 * d, d)
        self.audio_token, self.visual_token = nn.Parameter(torch.zeros(25, d)), nn.Parameter(torch.zeros(25, d))
        self.audio_cug = OModalityTrans(d, depths[0], True)
        self.visual_cug = OModalityTrans(d, depths[1], False)
        self.av_mcg = OModalityTrans(d, depths[2], False)
        self.fc_prob, self.fc_prob_a, self.fc_prob_v = nn.Linear(d, 1), nn.Linear(d, 1), nn.Linear(d, 1)
        self.fc_cls = nn.Linear(d, 25)

    def forward(self, audio, visual, visual_st):
        x1_0 = self.fc_a(audio)
        vid_s = F.avg_pool2d(self.fc_v(visual).permute(0, 2, 1).unsqueeze(-1), (8, 1)).squeeze(-1).permute(0, 2, 1)
        x2_0 = self.fc_fusion(torch.cat((vid_s, self.fc_st(visual_st)), dim=-1))
        x2 = self.visual_cug(x2_0, self.visual_token)
        x1 = self.audio_cug(x1_0, self.audio_token, x2_0)
        x = self.av_mcg(x1, x2)
        squeeze = lambda t: t.sum(-1)  # noqa: E731  (B, 25, 1) -> (B, 25), as the official `.sum(dim=-1)`
        return (squeeze(torch.sigmoid(self.fc_prob(x))), squeeze(torch.sigmoid(self.fc_prob_a(x1))),
                squeeze(torch.sigmoid(self.fc_prob_v(x2))), self.fc_cls(self.audio_token))


@pytest.mark.parametrize("prefix", ["", "module."])
def test_converted_mgn_matches_official_forward(tmp_path, prefix):
    torch.manual_seed(5)
    net = OfficialMGNNet().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / "mgn.pt"
    torch.save({prefix + k: v for k, v in net.state_dict().items()}, path)
    convert(path, tmp_path / "ckpt", "official-mgn")
    ours, card = load_checkpoint(tmp_path / "ckpt")
    assert {k: card.config["model_config"][k] for k in ("dim", "depth_audio", "depth_visual", "depth_av")} == \
        {"dim": 32, "depth_audio": 1, "depth_visual": 1, "depth_av": 2}
    batch = make_batch(batch=3, frames=80, seed=7)
    with torch.no_grad():
        p, a, v, cls = net(batch.audio, batch.video_2d, batch.video_3d)
        out = ours(batch)
    for mine, theirs in ((out.video_prob, p), (out.audio_prob, a), (out.visual_prob, v),
                         (out.aux["audio_token_logits"], cls)):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)
    state = torch.load(path, weights_only=True)
    state.pop(prefix + "av_mcg.grouping.pre_assign_attn.attn.k_proj.weight")
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(InputError, match="q/k/v"):
        convert(tmp_path / "broken.pt", tmp_path / "b", "official-mgn")
