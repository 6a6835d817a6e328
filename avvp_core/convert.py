"""Import checkpoints of the official code into AVVP Lab checkpoints.

Each format maps the state dict its repository's training script saves (`torch.save(model.state_dict())`) onto one
of our models, key by key; modules the official class registers but its forward never calls are ignored, any other
key is refused, and a "module." prefix (DataParallel) is stripped. The card records the format, the source file and
the recipe the official code trains with, so the imported model lists beside ours.

official-han     AVVP-ECCV20 `MMIL_Net` -> han. Ignored: audio_encoder, visual_encoder, cmt_encoder (unused
                 encoders), the encoder's own LayerNorms.
official-ma      Yu-Wu/Modaily-Aware-Audio-Visual-Video-Parsing (MA, all three steps save the same `MMIL_Net`) ->
                 han: MA trains HAN's network, so this is HAN's mapping; also ignored: t_att, t_att2, fc1, fc2 (its
                 unused attention / classifier modules). Recipe "ma", modality gating (a_prob / v_prob).
official-jomold  MCG-NJU/JoMoLD `MMIL_Net` -> han with `visual_head_dropout=0.5` (its `cls_dropout`): HAN's
                 network with chained layers (ours chain them too) and no unused encoders; HAN's mapping. Recipe
                 "jomold", modality gating.
official-cmco    GenjiB/CM-Co-Occurrence-AVVP `MMIL_Net` -> cmco. fc_occ_class_a/_v -> class-token projections,
                 av_class_encoder -> the class-token HAN layer, fc_occ_prob_a/_v -> the probability heads,
                 fc_frame_att / fc_av_att -> MMIL attention. Ignored (registered, never called by its forward):
                 fc_prob, fc_occ_class_av, fc_occ_{a,v,av}_{q,k,v}, fc_occ_frame_prob, fc_occ_modality_prob,
                 frame_att_encoder, modality_encoder, the encoders' own LayerNorms.
official-mgn     stoneMo/MGN `MGN_Net` (nets/mgn.py, nets/grouping.py) -> mgn: audio_cug / visual_cug / av_mcg ->
                 our audio / visual / av grouping stages (ViT blocks: fused qkv -> in_proj; grouping blocks: the
                 pre-assignment attention's q_proj / k_proj / v_proj packed into one in_proj, Mlp fc1 / fc2 -> our
                 Sequential's 0 / 2), audio_token / visual_token -> the stages' class tokens; width and depths from
                 the shapes. Not in a state dict, so the official defaults are assumed: 8 heads, soft uni-modal and
                 cross-modal assignment (a run trained with `--unimodal_assign hard` looks the same and would convert
                 as soft: not supported). Video-level probabilities (p, a_prob, v_prob) are the official ones exactly;
                 segment probabilities follow our documented reading (avvp_core/models/mgn.py: the official code
                 normalises its assignment maps over the batch axis).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

CMCO_KEYS = {**{k: v for k, v in HAN_KEYS.items() if k != "fc_prob."},
             "fc_occ_class_a.": "audio_tokens.proj.", "fc_occ_class_v.": "visual_tokens.proj.",
             "fc_occ_prob_a.": "co_occurrence.audio_prob.", "fc_occ_prob_v.": "co_occurrence.visual_prob."}
CMCO_LAYER = re.compile(r"^av_class_encoder\.layers\.0\.(self_attn|cm_attn|linear1|linear2|norm1|norm2)\.(.+)$")
CMCO_IGNORED = ("fc_prob.", "fc_occ_class_av.", "fc_occ_frame_prob.", "fc_occ_modality_prob.", "frame_att_encoder.",
                "modality_encoder.", "hat_encoder.norm", "av_class_encoder.norm",
                *(f"fc_occ_{m}_{p}." for m in ("a", "v", "av") for p in "qkv"))


def _attn(part: str) -> str:
    return "cross_attn" if part == "cm_attn" else part


def _map(state: dict[str, torch.Tensor], prefixes: dict[str, str], patterns: list[tuple[re.Pattern, Callable]],
         ignored: tuple[str, ...], what: str) -> dict[str, torch.Tensor]:
    state = {k.removeprefix("module."): v for k, v in state.items()}
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith(ignored):
            continue
        prefix = next((p for p in prefixes if key.startswith(p)), None)
        if prefix is not None:
            mapped[prefixes[prefix] + key[len(prefix):]] = value
            continue
        for pattern, rename in patterns:
            m = pattern.match(key)
            if m:
                mapped[rename(m)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise InputError(f"unexpected keys for an official {what} state dict: {', '.join(unknown[:4])}")
    return mapped


def _han_layer(m: re.Match) -> str:
    return f"layers.{m.group(1)}.{_attn(m.group(2))}.{m.group(3)}"


def official_han_state(state: dict[str, torch.Tensor], extra_ignored: tuple[str, ...] = (), what: str = "HAN"
                       ) -> tuple[dict[str, torch.Tensor], dict]:
    """Map official HAN keys to ours; returns (state dict, build config inferred from the shapes)."""
    mapped = _map(state, HAN_KEYS, [(LAYER, _han_layer)], IGNORED + extra_ignored, what)
    if "project.audio.weight" not in mapped:
        raise InputError(f"no fc_a.weight: not an official {what} (MMIL_Net) state dict")
    if not any(k.startswith("layers.") for k in mapped):
        raise InputError(f"no hat_encoder layer: not an official {what} (MMIL_Net) state dict")
    layers = 1 + max(int(k.split(".")[1]) for k in mapped if k.startswith("layers."))
    config = {"dim": mapped["project.audio.weight"].shape[0], "ffn_dim": mapped["layers.0.linear1.weight"].shape[0],
              "layers": layers}
    return mapped, config


def official_cmco_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
    patterns = [(LAYER, _han_layer), (CMCO_LAYER, lambda m: f"co_occurrence.layer.{_attn(m.group(1))}.{m.group(2)}")]
    mapped = _map(state, CMCO_KEYS, patterns, CMCO_IGNORED, "CM-Co")
    for needed in ("project.audio.weight", "layers.0.linear1.weight", "co_occurrence.audio_prob.weight"):
        if needed not in mapped:
            raise InputError(f"no tensor for {needed}: not an official CM-Co (MMIL_Net) state dict")
    if any(k.startswith("layers.") and not k.startswith("layers.0.") for k in mapped):
        raise InputError("the official CM-Co has one HAN layer; this state dict has more")
    config = {"dim": mapped["project.audio.weight"].shape[0], "ffn_dim": mapped["layers.0.linear1.weight"].shape[0],
              "occ_dim": mapped["co_occurrence.audio_prob.weight"].shape[1]}
    return mapped, config


# --- MGN: stoneMo/MGN nets/mgn.py (MGN_Net) + nets/grouping.py (ModalityTrans, GroupingBlock, AssignAttention) --
MGN_TOP = {"fc_a.": "project.audio.", "fc_v.": "project.video_2d.", "fc_st.": "project.video_3d.",
           "fc_fusion.": "project.video_fusion.", "fc_prob.": "fc_prob.", "fc_prob_a.": "fc_prob_a.",
           "fc_prob_v.": "fc_prob_v.", "fc_cls.": "fc_cls.", "audio_token": "audio.class_tokens",
           "visual_token": "visual.class_tokens"}
MGN_STAGES = {"audio_cug": "audio", "visual_cug": "visual", "av_mcg": "av"}
# inside a stage: (official pattern, ours); Mlp's fc1 / fc2 are our Sequential's 0 / 2
MGN_INNER = [
    (r"blocks\.(\d+)\.(norm1|norm2)\.(weight|bias)", r"blocks.\1.\2.\3"),
    (r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", r"blocks.\1.attn.in_proj_\2"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"blocks.\1.attn.out_proj.\2"),
    (r"blocks\.(\d+)\.mlp\.fc([12])\.(weight|bias)", lambda m: f"blocks.{m[1]}.mlp.{_fc(m[2])}.{m[3]}"),
    (r"(han_encoder|grouping)\.(norm_tokens|norm_post_tokens|norm_x)\.(weight|bias)", r"\1.\2.\3"),
    (r"(han_encoder|grouping)\.norm_new_x\.(weight|bias)", r"\1.norm_new.\2"),
    (r"(han_encoder|grouping)\.mlp_inter\.fc([12])\.(weight|bias)", lambda m: f"{m[1]}.token_mlp.{_fc(m[2])}.{m[3]}"),
    (r"(han_encoder|grouping)\.mlp_channels\.fc([12])\.(weight|bias)", lambda m: f"{m[1]}.mlp.{_fc(m[2])}.{m[3]}"),
    (r"(han_encoder|grouping)\.assign\.(q|k|v)_proj\.(weight|bias)", r"\1.assign.\2.\3"),
    (r"(han_encoder|grouping)\.assign\.proj\.(weight|bias)", r"\1.assign.proj.\2"),
    (r"(han_encoder|grouping)\.pre_assign_attn\.(norm_post|norm2)\.(weight|bias)", r"\1.cross.\2.\3"),
    (r"(han_encoder|grouping)\.pre_assign_attn\.mlp\.fc([12])\.(weight|bias)",
     lambda m: f"{m[1]}.cross.mlp.{_fc(m[2])}.{m[3]}"),
    (r"(han_encoder|grouping)\.pre_assign_attn\.attn\.proj\.(weight|bias)", r"\1.cross.attn.out_proj.\2"),
]
MGN_QKV = re.compile(r"^(han_encoder|grouping)\.pre_assign_attn\.attn\.(q|k|v)_proj\.(weight|bias)$")


def _fc(n: str) -> str:
    return "0" if n == "1" else "2"


def official_mgn_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
    """MGN_Net's keys onto ours. The grouping blocks' separate q / k / v projections of the pre-assignment
    cross-attention are packed into one in_proj (rows q, k, v: nn.MultiheadAttention's layout, as ours)."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    mapped: dict[str, torch.Tensor] = {}
    packed: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    unknown = []
    inner = [(re.compile(f"^{p}$"), r) for p, r in MGN_INNER]
    for key, value in state.items():
        top = next((p for p in MGN_TOP if key == p or (p.endswith(".") and key.startswith(p))), None)
        if top is not None:
            mapped[MGN_TOP[top] + key[len(top):]] = value
            continue
        stage, _, rest = key.partition(".")
        if stage not in MGN_STAGES:
            unknown.append(key)
            continue
        ours = MGN_STAGES[stage]
        m = MGN_QKV.match(rest)
        if m:
            block = "han" if m[1] == "han_encoder" else "grouping"
            packed.setdefault((f"{ours}.{block}.cross.attn.in_proj_", m[3]), {})[m[2]] = value
            continue
        for pattern, repl in inner:
            if pattern.match(rest):
                new = pattern.sub(repl, rest)
                mapped[f"{ours}.{new.replace('han_encoder.', 'han.', 1)}"] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise InputError(f"unexpected keys for an official MGN state dict: {', '.join(unknown[:4])}")
    for (prefix, kind), parts in packed.items():
        if set(parts) != {"q", "k", "v"}:
            raise InputError(f"official MGN state dict lacks some of q/k/v for {prefix}{kind}")
        mapped[prefix + kind] = torch.cat([parts["q"], parts["k"], parts["v"]])
    if "project.audio.weight" not in mapped:
        raise InputError("no fc_a.weight: not an official MGN (MGN_Net) state dict")

    def depth(stage: str) -> int:
        found = [int(k.split(".")[2]) for k in mapped if k.startswith(f"{stage}.blocks.")]
        return 1 + max(found) if found else 0

    config = {"dim": mapped["project.audio.weight"].shape[0], "depth_audio": depth("audio"),
              "depth_visual": depth("visual"), "depth_av": depth("av"),
              "han_grouping": any(k.startswith("audio.han.") for k in mapped)}
    return mapped, config


@dataclass(frozen=True)
class Format:
    model: str
    read: Callable[[dict[str, torch.Tensor]], tuple[dict[str, torch.Tensor], dict]]
    recipe: str  # the recipe the official code trains with (ours by that name)
    gating: str
    config: dict[str, Any] = field(default_factory=dict)  # build options the official network fixes
    source: str = ""


FORMATS: dict[str, Format] = {
    "official-han": Format("han", official_han_state, "plain", "fused", source="YapengTian/AVVP-ECCV20"),
    "official-ma": Format("han", lambda s: official_han_state(s, ("t_att.", "t_att2.", "fc1.", "fc2."), "MA"), "ma",
                          "modality", source="Yu-Wu/Modaily-Aware-Audio-Visual-Video-Parsing"),
    "official-jomold": Format("han", lambda s: official_han_state(s, what="JoMoLD"), "jomold", "modality",
                              {"visual_head_dropout": 0.5}, source="MCG-NJU/JoMoLD"),
    "official-cmco": Format("cmco", official_cmco_state, "plain", "fused", source="GenjiB/CM-Co-Occurrence-AVVP"),
    "official-mgn": Format("mgn", official_mgn_state, "plain", "fused", source="stoneMo/MGN"),
}


def convert(source: str | Path, out: str | Path, fmt: str = "official-han") -> Path:
    if fmt not in FORMATS:
        raise InputError(f"unknown source format {fmt!r}; supported: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    source = Path(source)
    try:
        state, config = spec.read(load_state_dict(source))
    except InputError as exc:
        raise InputError(str(exc), source) from None
    model = create_model(spec.model, **{**config, **spec.config})
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"does not fit {spec.model} ({' '.join(str(exc).split())[:160]})", source) from None
    card = {"name": Path(out).name, "recipe": f"imported ({fmt})", "width": "paper", "gating": spec.gating,
            "source": str(source), "data": None,
            "imported": {"format": fmt, "repository": spec.source, "trained_with_recipe": spec.recipe}}
    save_checkpoint(out, model, card)
    return Path(out)
