"""Import checkpoints of the official code into AVVP Lab checkpoints.

official-han: a state dict saved by AVVP-ECCV20's `main_avvp.py` (`torch.save(model.state_dict())`). The used
modules map one to one onto our HAN; the official class's unused modules (audio_encoder, visual_encoder,
cmt_encoder, the encoder's own LayerNorms) are ignored. A "module." prefix (DataParallel) is stripped.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from .checkpoint_schema import declared_tensors
from .checkpoints import _state_mismatch, load_state_dict, meta_model, save_checkpoint
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
    for needed, official in (("project.audio.weight", "fc_a.weight"),
                             ("layers.0.linear1.weight", "hat_encoder.layers.0.linear1.weight")):
        if needed not in mapped:
            raise InputError(f"no {official}: not an official HAN (MMIL_Net) state dict, or one missing layers")
    for key in ("project.audio.weight", "layers.0.linear1.weight"):
        if len(mapped[key].shape) != 2:
            raise InputError(f"{key} is not a matrix: not an official HAN (MMIL_Net) state dict")
    layers = 1 + max(int(k.split(".")[1]) for k in mapped if k.startswith("layers."))
    config = {"dim": mapped["project.audio.weight"].shape[0], "ffn_dim": mapped["layers.0.linear1.weight"].shape[0],
              "layers": layers}
    return mapped, config


def _check_out(out: Path) -> None:
    """The output must be a new folder (or an empty one): converting onto a trained checkpoint would keep its
    metrics.json and log beside imported weights, a checkpoint whose files disagree."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError("exists and is not a folder", out, "choose a new --out folder")
    if out.is_dir() and any(out.iterdir()):
        raise InputError("already exists and is not empty", out,
                         "convert into a new folder: its files would be mixed with the imported ones")


def convert(source: str | Path, out: str | Path, fmt: str = "official-han") -> Path:
    if fmt not in FORMATS:
        raise InputError(f"unknown source format {fmt!r}; supported: {', '.join(FORMATS)}")
    source, out = Path(source), Path(out)
    _check_out(out)
    # Names and shapes from the file's declarations first (nothing allocated), checked against HAN built on the meta
    # device with the config they imply; only then are the tensors read.
    mapped, config = official_han_state(declared_tensors(source))
    where = f"{source} (as HAN with dim={config['dim']}, ffn_dim={config['ffn_dim']}, layers={config['layers']})"
    expected = {k: tuple(v.shape) for k, v in meta_model("han", config, source).state_dict().items()}
    problem = _state_mismatch(expected, {k: v.shape for k, v in mapped.items()})
    if problem:
        raise InputError(f"does not fit HAN: {problem}", where)
    state, _ = official_han_state(load_state_dict(source))
    model = create_model("han", **config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"does not fit HAN ({' '.join(str(exc).split())[:160]})", source) from None
    card = {"name": out.name, "recipe": f"imported ({fmt})", "width": "paper", "gating": "fused",
            "source": str(source), "data": None}
    # Written whole into a hidden folder beside `out`, then renamed: `out` never holds half a checkpoint.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".convert", dir=out.parent))
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", out) from None
    try:
        save_checkpoint(tmp, model, card)
        try:
            if out.is_dir():
                out.rmdir()  # empty (checked above); a file appearing meanwhile makes this fail, not vanish
            os.rename(tmp, out)
        except OSError as exc:
            raise InputError(f"could not be written ({exc.strerror or exc})", out) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
