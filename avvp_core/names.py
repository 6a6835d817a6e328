"""Display names: one name per model, paper and figure, as the papers and the field write them, used by every page.

A checkpoint is shown by the method it trains ("HAN + MA", "MMT + CAPC", "MSDU + JoMoLD + DGM"): the registered
model's name in its paper, then the training recipe's. Papers are cited by short name, first author and year of
first public version ("MMT (Xu et al. 2023)"). The ten figures are named as the LLP tables print them: Audio,
Visual, Audio-Visual, Type@AV and Event@AV at segment level and at event level, with a glossary for hover help.

Everything is plain data committed here: the app never needs ../shared (the papers) to name anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .constants import METRIC_KEYS

# Registered model id -> the name its paper uses (ablations as the paper's tables print them).
MODEL_NAMES: dict[str, str] = {
    "han": "HAN",
    "han_ca": "HAN-CA",  # paper 000, Table 1: "HAN without cross-attention"
    "mmt": "MMT",
    "mmt_nomsg": "MMT (No MSG)",
    "mmt_mbt": "MMT (MBT)",
    "mmt_nofa": "MMT (No FA)",
    "cmco": "CM-Co",
    "mgn": "MGN",
    "mgn_hard": "MGN (hard grouping)",
    "cmpie": "CM-PIE",
    "cmpie_nosa": "CM-PIE (w/o SA)",
    "cmpie_cma_audio": "CM-PIE (w/o V)",  # paper 003, Table 2: CMA on audio only
    "cmpie_cma_visual": "CM-PIE (w/o A)",
    "msdu": "MSDU",
}

# Training recipe -> what it adds to the model's name ("" for the paper's own weak-label training).
RECIPE_NAMES: dict[str, str] = {
    "plain": "",
    "ma": "MA",
    "jomold": "JoMoLD",
    "capc": "CAPC",
    "cms": "CM-S",
    "cms_ma": "MA + CM-S",
    "dgm": "DGM",
    "jomold_dgm": "JoMoLD + DGM",
}

# One line per model and recipe for a newcomer choosing what to train (from the registry's and recipes' docs).
MODEL_HELP: dict[str, str] = {
    "han": "HAN (Tian et al. 2020): the LLP baseline — one shared hybrid-attention layer (self- and cross-modal "
           "attention) and attentive multiple-instance pooling.",
    "han_ca": "HAN-CA: HAN without cross-attention, each modality attends to itself only (paper 000's fusion "
              "ablation, Table 1).",
    "mmt": "MMT (Xu et al. 2023): uni-modal transformer encoders, then decoders that take the other modality only "
           "through a few pooled messenger tokens.",
    "mmt_nomsg": "MMT (No MSG): MMT whose decoders attend to the full other-modality context instead of messengers "
                 "(paper 000, Table 3).",
    "mmt_mbt": "MMT (MBT): shared fusion-bottleneck tokens instead of messengers (paper 000, Table 3).",
    "mmt_nofa": "MMT (No FA): the visual decoder attends to its own context, not to audio (paper 000, Table 4).",
    "cmco": "CM-Co (Lin et al. 2021): HAN plus class-level tokens with self- and cross-modality co-attention per "
            "segment.",
    "mgn": "MGN (Mo & Tian 2022): class-aware uni-modal grouping, then modality-aware cross-modal grouping (soft "
           "assignments).",
    "mgn_hard": "MGN with Gumbel-hard assignments in both grouping blocks.",
    "cmpie": "CM-PIE (Chen et al. 2023): HAN path plus a segment-attention path and audio/visual cross-modal "
             "aggregation.",
    "cmpie_nosa": "CM-PIE without segment attention (ablation): HAN with cross-modal aggregation only.",
    "cmpie_cma_audio": "CM-PIE with the cross-modal aggregation block on audio only (paper 003, Table 2, 'w/o. V').",
    "cmpie_cma_visual": "CM-PIE with the cross-modal aggregation block on visual only (paper 003, Table 2, 'w/o. A').",
    "msdu": "MSDU (Fu et al. 2023): JoMoLD's HAN with a modality-separated decision unit, per-modality predictions "
            "that DGM measures.",
}
RECIPE_HELP: dict[str, str] = {
    "plain": "The model's own paper recipe, trained on the weak (video-level) labels only.",
    "ma": "MA (Wu & Yang 2021): train, find labels each modality lacks by swapping the other modality's features, "
          "retrain on the refined per-modality labels (with MA's cross-modal contrast).",
    "jomold": "JoMoLD (Cheng et al. 2022): a noise estimator, per-class noise ratios, then training that drops the "
              "labels each modality most likely lacks.",
    "capc": "CAPC (Xu et al. 2023): MMT's three stages — weak labels, MA pseudo labels, retraining with the "
            "cross-audio prediction consistency loss.",
    "cms": "CM-S (Lin et al. 2021): batch mixing and cross-video class-guided contrast on the weak labels, any model.",
    "cms_ma": "CM-S on MA's modality-aware labels (the paper's full CM-Co + CM-S setting), any model.",
    "dgm": "DGM (Fu et al. 2023): the model's own recipe with dynamic gradient modulation (the modality ahead gets "
           "smaller gradients).",
    "jomold_dgm": "JoMoLD label denoising with DGM in its final stage (with MSDU: paper 004's full method).",
}


def method_name(model: str, recipe: str | None = "plain") -> str:
    """"HAN", "HAN + MA", "MMT + CAPC", "MSDU + JoMoLD + DGM": the model's paper name, then its recipe's.
    Unknown ids are shown as they are (a checkpoint from a newer version still gets a name)."""
    name = MODEL_NAMES.get(model, model)
    extra = RECIPE_NAMES.get(recipe or "plain", recipe or "")
    return f"{name} + {extra}" if extra else name


def card_method(card: Any) -> str:
    """The method a checkpoint card trains (model + recipe from its config.json)."""
    cfg = card.config
    return method_name(cfg.get("model") or "?", cfg.get("recipe") or "plain")


def checkpoint_names(cards: list[tuple[Path, Any]]) -> dict[str, Any]:
    """Unique display names of checkpoints, given (checkpoint root, card) pairs in search order.

    The shipped zoo (a root holding zoo.json) shows the bare method name; any other run shows "method · folder"
    (its folder under the root), so a name depends only on its own checkpoint and stays stable when others are
    added (shareable URLs and kept selections keep working). Clashes left over get the root's name too."""
    out: dict[str, Any] = {}
    for base, card in cards:
        method = card_method(card)
        rel = card.path.relative_to(base).as_posix() if card.path.is_relative_to(base) else card.path.name
        shipped = (base / "zoo.json").is_file()
        name = method if shipped else f"{method} · {rel}"
        if name in out:
            name = f"{method} · {rel}" if shipped else f"{method} · {base.name}/{rel}"
        while name in out:  # two roots with the same folder names: stay unique, never overwrite
            name += "'"
        out[name] = card
    return out



def names_in_link(value: str, cards: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The checkpoints a link's comma-separated `models` value names (display names, in its order, once each), and
    one note per name it could not place.

    A name is matched as the app lists it ("HAN", "MMT · my-run"), else by its checkpoint folder ("han", "my-run"),
    letter case ignored either way: a link written by hand or by a script names folders. A whole value that is one
    listed name is kept whole (a name may hold a comma). A folder name that two checkpoints share is not guessed."""
    if value in cards:
        return [value], []
    by_name: dict[str, list[str]] = {}
    by_folder: dict[str, list[str]] = {}
    for name, card in cards.items():
        by_name.setdefault(name.casefold(), []).append(name)
        by_folder.setdefault(card.path.name.casefold(), []).append(name)
    found: list[str] = []
    notes: list[str] = []
    for piece in (p.strip() for p in value.split(",")):
        if not piece:
            continue
        key = piece.casefold()
        candidates = [piece] if piece in cards else by_name.get(key) or by_folder.get(key) or []
        if len(candidates) == 1:
            if candidates[0] not in found:
                found.append(candidates[0])
        elif candidates:
            notes.append(f"{piece!r} names {len(candidates)} checkpoints ({', '.join(candidates)})")
        else:
            notes.append(f"{piece!r} matches no checkpoint for this data")
    return found, notes


# --- papers ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Paper:
    short: str  # "MMT (Xu et al. 2023)"
    title: str
    venue: str  # where and when it appeared; the year in `short` is its first public version


PAPERS: dict[str, Paper] = {  # keyed by the file prefix in ../shared/papers/
    "000": Paper("MMT (Xu et al. 2023)", "Rethink Cross-Modal Fusion in Weakly-Supervised Audio-Visual Video Parsing",
                 "WACV 2024; arXiv 2311.08151 (2023)"),
    "001": Paper("CM-Co (Lin et al. 2021)", "Exploring Cross-Video and Cross-Modality Signals for Weakly-Supervised "
                 "Audio-Visual Video Parsing", "NeurIPS 2021"),
    "002": Paper("MGN (Mo & Tian 2022)", "Semantic-Aware Multi-modal Grouping for Weakly-Supervised Audio-Visual "
                 "Video Parsing (Multi-modal Grouping Network)", "NeurIPS 2022"),
    "003": Paper("CM-PIE (Chen et al. 2023)", "CM-PIE: Cross-Modal Perception for Interactive-Enhanced Audio-Visual "
                 "Video Parsing", "ICASSP 2024; arXiv 2310.07517 (2023)"),
    "004": Paper("DGM (Fu et al. 2023)", "Multimodal Imbalance-Aware Gradient Modulation for Weakly-Supervised "
                 "Audio-Visual Video Parsing", "arXiv 2307.02041 (2023)"),
}


def paper_name(paper: str) -> str:
    """"000" -> "MMT (Xu et al. 2023)"; anything unknown as it is."""
    return PAPERS[paper].short if paper in PAPERS else paper


# --- the ten figures ------------------------------------------------------------------------------------------

LEVELS = {"segment": "segment-level", "event": "event-level"}
FIGURE_NAMES = {"audio": "Audio", "visual": "Visual", "av": "Audio-Visual", "type": "Type@AV", "event": "Event@AV"}
FIGURE_SHORT = {"audio": "A", "visual": "V", "av": "AV", "type": "Type@AV", "event": "Event@AV"}
LEVEL_SHORT = {"segment": "Seg", "event": "Ev"}

GLOSSARY: dict[str, str] = {
    "segment-level": "F1 over the ten 1-second segments: each (segment, class) decision is right or wrong on its own.",
    "event-level": "F1 over events (runs of consecutive positive segments of a class): an event is found when a "
                   "predicted one overlaps it with IoU ≥ 0.5.",
    "Audio": "Audible events: predictions and truth of the audio track.",
    "Visual": "Visible events: predictions and truth of the visual track.",
    "Audio-Visual": "Events both audible and visible at once (audio AND visual, per segment).",
    "Type@AV": "Mean of the Audio, Visual and Audio-Visual F1: the field's headline figure.",
    "Event@AV": "F1 with audio and visual events pooled (their true/false positives and misses counted together).",
    "F1": "Per video, the F1 of its predictions against the dense truth, averaged over classes present; the "
          "official LLP protocol then averages over videos (percent).",
}


def _split(key: str) -> tuple[str, str]:
    level, figure = key.split("/")
    return level, figure


def metric_name(key: str) -> str:
    """"segment/type" -> "segment-level Type@AV"."""
    level, figure = _split(key)
    return f"{LEVELS[level]} {FIGURE_NAMES[figure]}"


def metric_short(key: str) -> str:
    """"segment/type" -> "Seg Type@AV", "event/audio" -> "Ev A": compact column headers."""
    level, figure = _split(key)
    return f"{LEVEL_SHORT[level]} {FIGURE_SHORT[figure]}"


def metric_help(key: str) -> str:
    """Hover help of a figure: what its level and its figure mean."""
    level, figure = _split(key)
    return f"{metric_name(key)} F1 (%). {GLOSSARY[FIGURE_NAMES[figure]]} {GLOSSARY[LEVELS[level]]}"


def signed(value: float, digits: int = 1) -> str:
    """A difference as text with its sign, "+1.2" / "-0.4", and "+0.0" where it rounds to nothing (as a "%+.1f" table
    column prints a zero): "-0.0" would claim a direction the printed digits do not show."""
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if text[1:].replace("0", "").replace(".", "") == "" else text


METRIC_NAMES = {k: metric_name(k) for k in METRIC_KEYS}
METRIC_SHORT = {k: metric_short(k) for k in METRIC_KEYS}


def glossary_markdown() -> str:
    """The glossary as a bulleted list (for a help popover or caption)."""
    return "\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items())


__all__ = ["FIGURE_NAMES", "GLOSSARY", "METRIC_NAMES", "METRIC_SHORT", "MODEL_HELP", "MODEL_NAMES", "PAPERS",
           "RECIPE_HELP", "RECIPE_NAMES", "card_method", "checkpoint_names", "glossary_markdown", "method_name",
           "metric_help", "metric_name", "metric_short", "paper_name"]


# One line per training option (training.loop.TrainConfig), for `train --help` and the Train page;
# tests/test_training.py checks that every option has one.
TRAIN_OPTION_HELP: dict[str, str] = {
    "epochs": "training epochs (a budget other than 'epochs' rescales the recipe's; a value you give is kept)",
    "batch_size": "videos per optimiser step",
    "lr": "Adam's learning rate",
    "lr_step": "epochs between learning-rate drops (StepLR)",
    "lr_gamma": "factor of each learning-rate drop",
    "weight_decay": "Adam's weight decay",
    "seed": "seed of the initial weights, the shuffling and every random draw of the run",
    "device": "cpu, cuda or cuda:N",
    "select_metric": "validation figure whose best epoch is kept, e.g. val/event/type; '' keeps the last epoch",
    "gating": "how segment predictions are gated by video-level ones in validation: fused, modality or none",
    "visual_smoothing": "visual targets 0.9 y + 0.05 (HAN's and MA's label smoothing); False: the weak labels",
    "contrastive_weight": "MA's cross-modal temporal contrast (0: off)",
    "nce_weight": "JoMoLD's label-smoothing NCE (0: off)",
    "capc_weight": "MMT's cross-audio prediction consistency, mu of Eq. 9 (0: off; the 'No CAPC' ablation)",
    "capc_audios": "other audios per visual sequence in CAPC, N",
    "cms_weight": "CM-S cross-video contrastive, delta (0: off)",
    "cms_start_epoch": "CM-S starts after this many warm-up epochs",
    "dgm_gamma": "DGM's gamma (0: DGM off; the paper's 0.1)",
    "dgm_noise": "DGM's compensating Gaussian gradient noise on the encoders",
    "dgm_noise_reading": "ogm_ge: add N(0, sigma^2), so the update's covariance is (mu^2+1) sigma^2; literal: add that "
                         "covariance on top",
    "dgm_scale": "what DGM's mu scales: the encoders' gradient (the paper's text) or their optimiser step (Eq. 8 "
                 "under Adam)",
    "dgm_reach": "where DGM's mu acts: the separable encoders' parameters (the paper's text) or each modality's "
                 "paths, the gradient through its output features, shared layers included",
    "nce_visual": "JoMoLD's NCE reads the visual features before (official code) or after the head dropout",
    "denoise_start_epoch": "JoMoLD denoises labels from this epoch on",
    "budget": "how the recipe's schedule is sized for this data: epochs, llp_steps or llp_batch",
    "eval_test": "score the selected model on the test split at the end",
    "log_test": "also score test every epoch into the log (never selected on)",
}
