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
