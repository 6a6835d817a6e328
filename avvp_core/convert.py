"""Import checkpoints of the official code into AVVP Lab checkpoints.

official-han: a state dict saved by AVVP-ECCV20's `main_avvp.py` (`torch.save(model.state_dict())`). The used
modules map one to one onto our HAN; the official class's unused modules (audio_encoder, visual_encoder,
cmt_encoder, the encoder's own LayerNorms) are ignored. A "module." prefix (DataParallel) is stripped.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .checkpoints import load_state_dict, save_checkpoint
from .errors import InputError
from .models import create_model

HAN_KEYS = {
    "fc_a.": "project.audio.",
    "fc_v.": "project.video_2d.",
    "fc_st.": "project.video_3d.",
    "fc_fusion.": "project.video_fusion.",
    "fc_prob.": "head.classifier.",
    "fc_frame_att.": "head.temporal_attention.",
    "fc_av_att.": "head.modality_attention.",
}
LAYER = re.compile(r"^hat_encoder\.layers\.(\d+)\.(self_attn|cm_attn|linear1|linear2|norm1|norm2)\.(.+)$")
IGNORED = ("audio_encoder.", "visual_encoder.", "cmt_encoder.", "hat_encoder.norm")
FORMATS = ("official-han",)


def official_han_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
    """Map official HAN keys to ours; returns (state dict, build config inferred from the shapes)."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith(IGNORED):
            continue
        prefix = next((p for p in HAN_KEYS if key.startswith(p)), None)
        if prefix is not None:
            mapped[HAN_KEYS[prefix] + key[len(prefix):]] = value
            continue
        m = LAYER.match(key)
        if m:
            part = "cross_attn" if m.group(2) == "cm_attn" else m.group(2)
            mapped[f"layers.{m.group(1)}.{part}.{m.group(3)}"] = value
            continue
        unknown.append(key)
    if unknown:
        raise InputError(f"unexpected keys for an official HAN state dict: {', '.join(unknown[:4])}")
    if "project.audio.weight" not in mapped:
        raise InputError("no fc_a.weight: not an official HAN (MMIL_Net) state dict")
    layers = 1 + max(int(k.split(".")[1]) for k in mapped if k.startswith("layers."))
    config = {"dim": mapped["project.audio.weight"].shape[0], "ffn_dim": mapped["layers.0.linear1.weight"].shape[0],
              "layers": layers}
    return mapped, config


def convert(source: str | Path, out: str | Path, fmt: str = "official-han") -> Path:
    if fmt not in FORMATS:
        raise InputError(f"unknown source format {fmt!r}; supported: {', '.join(FORMATS)}")
    source = Path(source)
    state, config = official_han_state(load_state_dict(source))
    model = create_model("han", **config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"does not fit HAN ({' '.join(str(exc).split())[:160]})", source) from None
    card = {"name": Path(out).name, "recipe": f"imported ({fmt})", "width": "paper", "gating": "fused",
            "source": str(source), "data": None}
    save_checkpoint(out, model, card)
    return Path(out)
