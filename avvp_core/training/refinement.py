"""Label-refinement recipes: MA and JoMoLD, for any registered model that outputs a_prob / v_prob.

MA — Wu & Yang, "Exploring Heterogeneous Clues for Weakly-Supervised Audio-Visual Video Parsing", CVPR 2021.
    stages/base    model + cross-modal temporal contrast on the weak labels (12 epochs, Adam 3e-4, StepLR(10, 0.1),
                   batch 16, last epoch kept)
    stages/labels  frozen base model, modality swapping with a partner video sharing no class
                   -> labels.npz (audio_remove, visual_remove: (N, 25) bool) + labels.json
    <out>          fresh model, same recipe, targets y_a = y minus removed audio labels, y_v = 0.9y + 0.05 with
                   removed visual labels set to 0.
JoMoLD — Cheng et al., "Joint-Modal Label Denoising for Weakly-Supervised Audio-Visual Video Parsing", ECCV 2022.
    stages/estimator  model without cross-modal attention + NCE (25 epochs, Adam 5e-4, StepLR(6, 0.25), batch 128,
                      best val event-level audio F1)
    stages/ratios     one pass over train -> per-class noise ratios (noise_ratios.npz + json)
    <out>             fresh model (with cross-attention): per batch, a no-grad forward without cross-attention ranks
                      per-sample losses and drops labels by the joint-modal rule; loss 2 audio + visual + video + NCE.
                      stages/denoise/drops.npz keeps the labels dropped in each epoch (for measuring only).

With SynthLLP train truth the removed labels are scored against it (a separate oracle LLPDataset, opened only after
the labels are fixed, never fed to training): "refinement" in metrics.json (and, for MA, in the config card).
A training dataset opened with oracle=True is refused outright.

Deviations, named:
- MA's official step 3 aliases the audio target with the label array, so audio removals also vanish from the
  video-level target of BCE(p, .). Fixed: losses.mmil_losses keeps BCE(p, y) on the weak labels.
- MA partners are drawn up front, in row order, with a seeded numpy Generator (official: inside a shuffled loader);
  the three forwards are in eval mode, so pass order does not matter. A video with no possible partner (every
  other video shares a class) keeps its labels. If no class has any error, nothing is removed (official: 0/0).
- JoMoLD's m_a / m_v are means over the unshuffled train batches (official: shuffled; only the weighting of the
  last, partial batch differs). Ratio denominators = positives of the train weak labels (as the official CSV).
- JoMoLD warm-up: the official linear ramp multiplies its own running value, which is 0 after the first
  iteration; we implement that effective, intended behaviour explicitly: no denoising in epoch 1, full ratios
  from epoch 2 (`denoise_start_epoch`, scaled with the rest of the schedule under budget "llp_steps").
- The NCE term reads the visual features before the model's visual head dropout (`nce_visual="pre_dropout"`), as
  the official code computes it on the HAN output before its dropout; "post_dropout" (the zoo before issue 19)
  reads them after it.
- Seeds: the model's own recipe seed (JoMoLD's official seed 6 is not forced); every stage seeds before building.
- Models whose forward has no `use_cross` train the estimator with their normal forward; models exposing no
  segment features train without the contrastive / NCE term (recorded in the card). `visual_head_dropout=0.5`
  (JoMoLD's dropout before the heads) is set only for models that have that option and only if not overridden.
- JoMoLD removal figures are those of the final stage's last epoch; "per_epoch" lists every epoch's.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoints import METRICS, WEIGHTS, load_state_dict
from ..constants import CLASSES, MODALITIES
from ..data.dataset import LLPDataset
from ..errors import InputError
from ..fileio import save_npz, write_json
from ..models import model_info
from ..schema import Batch, ParseOutput
from .feeder import SplitFeeder
from .loop import FitResult, TrainConfig
from .losses import EPS, bce
from .recipes import RecipeContext, register_recipe

MA_TRAIN = {"epochs": 12, "batch_size": 16, "lr": 3e-4, "lr_step": 10, "lr_gamma": 0.1, "select_metric": "",
            "gating": "modality", "contrastive_weight": 1.0}
JOMOLD_TRAIN = {"epochs": 25, "batch_size": 128, "lr": 5e-4, "lr_step": 6, "lr_gamma": 0.25,
                "select_metric": "val/event/audio", "gating": "modality", "nce_weight": 1.0}


# --- pure decision rules ---------------------------------------------------------------------------------------
def ma_thresholds(labels: np.ndarray, a_prob: np.ndarray, v_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(r_a, r_v) (C,): per-class error of [prob > 0.5] == y over all videos, divided by its maximum."""
    y = labels > 0.5
    out = []
    for prob in (a_prob, v_prob):
        err = 1.0 - ((prob > 0.5) == y).mean(0)
        out.append(err / err.max() if err.max() > 0 else np.zeros_like(err))
    return out[0], out[1]


def ma_removals(labels: np.ndarray, a_v: np.ndarray, v_v: np.ndarray, a_a: np.ndarray, v_a: np.ndarray,
                r_a: np.ndarray, r_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MA's rule on (N, C) arrays. (a_v, v_v): own audio + partner visual; (a_a, v_a): partner audio + own visual.
    Visual label c goes if v_a < 0.5 r_v and a_a < 0.5 r_v; audio label c if a_v < 0.5 r_a and v_v < 0.5 r_a."""
    pos = labels > 0.5
    visual = pos & (v_a < 0.5 * r_v) & (a_a < 0.5 * r_v)
    audio = pos & (a_v < 0.5 * r_a) & (v_v < 0.5 * r_a)
    return audio, visual


def ma_partners(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random partner row sharing no class with each row (rejection sampling); -1 where none exists."""
    pos = labels > 0.5
    masks = (pos.astype(np.int64) << np.arange(pos.shape[1], dtype=np.int64)).sum(1)
    possible = {int(m): bool(np.any((masks & m) == 0)) for m in np.unique(masks)}
    partners = np.full(len(labels), -1, dtype=np.int64)
    for i, m in enumerate(masks):
        while possible[int(m)]:
            j = int(rng.integers(len(labels)))
            if masks[j] & m == 0:
                partners[i] = j
                break
    return partners


def jomold_noisy(labels: np.ndarray, a_prob: np.ndarray, v_prob: np.ndarray, m_a: np.ndarray, m_v: np.ndarray,
                 a_thres: float = 0.6, v_thres: float = 1.8) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) (audio, visual) masks of the positives JoMoLD's estimator calls noisy. Visual-noisy if v_prob 0.95 / m_v
    < 1.8, audio-noisy if a_prob 1.0 / m_a < 0.6 (0.95 and 1.0 = the positive targets the official code multiplies
    by)."""
    pos = labels > 0.5
    return pos & (a_prob * 1.0 / m_a < a_thres), pos & (v_prob * 0.95 / m_v < v_thres)


def jomold_noise_ratios(labels: np.ndarray, a_prob: np.ndarray, v_prob: np.ndarray, m_a: np.ndarray,
                        m_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class (audio, visual) noise ratios: noisy positives (jomold_noisy) / positives."""
    count = np.maximum((labels > 0.5).sum(0), 1)
    noisy_a, noisy_v = jomold_noisy(labels, a_prob, v_prob, m_a, m_v)
    return noisy_a.sum(0) / count, noisy_v.sum(0) / count


def jomold_drops(labels: torch.Tensor, loss_a: torch.Tensor, loss_v: torch.Tensor, ratio_a: np.ndarray,
                 ratio_v: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """JoMoLD's per-batch rule on (B, C) losses -> (drop_audio, drop_visual) (B, C) bool. Per class, with n
    positives: k = int(ratio n); visual dropped for the k smallest audio losses AND k largest visual losses;
    audio dropped for the k largest audio losses AND k smallest visual losses (k from the audio ratio)."""
    drop_a = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    drop_v = torch.zeros_like(drop_a)
    for c in range(labels.shape[1]):
        pos = torch.nonzero(labels[:, c] > 0.5).squeeze(1)
        by_a = pos[torch.argsort(loss_a[pos, c], stable=True)]  # ascending
        by_v = pos[torch.argsort(loss_v[pos, c], stable=True)]
        for drop, k, low, high in ((drop_v, int(float(ratio_v[c]) * len(pos)), by_a, by_v),
                                   (drop_a, int(float(ratio_a[c]) * len(pos)), by_v, by_a)):
            if k > 0:  # `low` must be among its k smallest, `high` among its k largest
                drop[low[:k], c] = True
                keep = torch.zeros_like(drop[:, c])
                keep[high[-k:]] = True
                drop[:, c] &= keep
    return drop_a, drop_v


def removal_quality(labels: np.ndarray, removed: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict:
    """Per modality: removed positives, precision (share truly absent in that modality) and recall (share of the
    truly-absent positive weak labels that were removed); None where undefined. truth: (N, T, C) dense."""
    pos = labels > 0.5
    out: dict[str, Any] = {}
    for m in MODALITIES:
        absent = pos & ~truth[m].any(1).astype(bool)
        rem = removed[m] & pos
        hit = int((rem & absent).sum())
        n_rem, n_abs = int(rem.sum()), int(absent.sum())
        out[m] = {"removed": n_rem, "precision": hit / n_rem if n_rem else None,
                  "recall": hit / n_abs if n_abs else None, "truly_absent": n_abs, "positives": int(pos.sum())}
    return out


# --- shared helpers --------------------------------------------------------------------------------------------
def cross_off(model: torch.nn.Module) -> dict[str, bool]:
    """The forward keyword that turns cross-attention off ({} for models without it): JoMoLD's estimator."""
    return {"use_cross": False} if "use_cross" in inspect.signature(model.forward).parameters else {}


def _has_features(model: torch.nn.Module, feeder: SplitFeeder, keys: tuple[str, str], device: str) -> bool:
    was = model.training
    model.eval().to(device)
    with torch.no_grad():
        out = model(feeder.rows(torch.arange(min(2, len(feeder)))).to(device))
    model.train(was)
    return all(k in out.features for k in keys)


def _load(model: torch.nn.Module, folder: Path, device: str) -> torch.nn.Module:
    model.load_state_dict(load_state_dict(folder / WEIGHTS))
    return model.to(device).eval()


def ma_store_spec(videos: int, classes: int) -> dict[str, tuple[tuple[int | None, ...], str]]:
    """What MA's labels.npz holds for a training split of `videos` x `classes` weak labels."""
    return {"audio_remove": ((videos, classes), "b"), "visual_remove": ((videos, classes), "b"),
            "partner": ((videos,), "i"), "r_audio": ((classes,), "f"), "r_visual": ((classes,), "f")}


def read_store(path: Path, spec: dict[str, tuple[tuple[int | None, ...], str]], most: int = 0
               ) -> dict[str, np.ndarray]:
    """A stage's .npz (MA's labels, JoMoLD's ratios or drops: written here, and copied between runs by hand, e.g. an MA
    run's labels.npz into a cms_ma run) read strictly: each key of `spec` present with its shape (None: any length
    up to `most`) and dtype kind ("b" bool, "i" integer, "f" float), checked from its header before anything is
    allocated; anything else is one line naming the file. Sizes are thus bounded by the data and the stage."""
    from ..untrusted import NpzMembers

    def check(key: str, want: tuple[int | None, ...], kind: str):
        def on_header(shape: tuple[int, ...], dtype: np.dtype) -> None:
            if len(shape) != len(want) or any(n != w if w is not None else n > most
                                              for w, n in zip(want, shape, strict=False)):
                needed = "(" + ", ".join(f"at most {most}" if w is None else str(w) for w in want) + ")"
                raise InputError(f"`{key}` has shape {shape}, this data needs {needed}", path,
                                 "delete it to compute it again")
            if dtype.kind != kind and not (kind == "i" and dtype.kind == "u"):
                raise InputError(f"`{key}` holds {dtype}, expected {dict(b='bool', i='integers', f='floats')[kind]}",
                                 path, "delete it to compute it again")
        return on_header

    with NpzMembers(path) as npz:
        missing = [k for k in spec if k not in npz]
        if missing:
            raise InputError(f"lacks {', '.join(missing)}", path, "delete it to compute it again")
        out = {k: npz.read(k, check(k, *spec[k])) for k in spec}
    for key, array in out.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InputError(f"`{key}` holds NaN or Inf", path, "delete it to compute it again")
    return out


def _check(ctx: RecipeContext) -> None:
    if ctx.data.oracle:  # the training data must not even hold the train truth
        raise InputError("refinement recipes train without train truth; open the data folder without oracle=True",
                         ctx.data.root)


def _truth(ctx: RecipeContext) -> dict[str, np.ndarray] | None:
    """SynthLLP train truth from a separate oracle dataset, for measuring only."""
    if not ctx.data.has_train_truth:
        return None
    audio, visual = LLPDataset(ctx.data.root, oracle=True).oracle_train_truth()
    return {"audio": audio, "visual": visual}


def _record(result: FitResult, refinement: dict | None) -> FitResult:
    if refinement is not None:
        metrics = json.loads((result.folder / METRICS).read_text())
        metrics["refinement"] = refinement
        write_json(result.folder / METRICS, metrics)
        result.metrics["refinement"] = refinement
    return result


def _per_class(mask: np.ndarray) -> dict[str, int]:
    return {CLASSES[c]: int(n) for c, n in enumerate(mask.sum(0)) if n}


# --- MA --------------------------------------------------------------------------------------------------------
@torch.no_grad()
def ma_swap_probs(model: torch.nn.Module, feeder: SplitFeeder, partners: np.ndarray, batch_size: int = 256,
                  device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """MA's three forwards over a split, (N, C) video-level probabilities each: "a", "v" (the video as it is);
    "a_v", "v_v" (its own audio with the partner's visual tracks); "a_a", "v_a" (the partner's audio with its own
    visual tracks). A row whose partner is -1 is paired with itself. The model is run as it is (eval mode)."""
    partner_rows = torch.from_numpy(np.where(partners >= 0, partners, np.arange(len(partners))))
    probs: dict[str, list[np.ndarray]] = {k: [] for k in ("a", "v", "a_v", "v_v", "a_a", "v_a")}
    for batch in feeder.batches(batch_size):
        other = feeder.rows(partner_rows[batch.index])
        for suffix, b in (("", batch),  # original
                          ("_v", batch.replace(video_2d=other.video_2d, video_3d=other.video_3d)),  # own audio
                          ("_a", batch.replace(audio=other.audio))):  # own visual
            out = model(b.to(device))
            probs["a" + suffix].append(out.audio_prob.float().cpu().numpy())
            probs["v" + suffix].append(out.visual_prob.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in probs.items()}


def _ma_labels(ctx: RecipeContext, model: torch.nn.Module, cfg: TrainConfig, folder: Path) -> dict[str, np.ndarray]:
    path, feeder = folder / "labels.npz", ctx.feeder("train")
    if path.is_file():  # resumable: the labels of a finished pass are reused
        return read_store(path, ma_store_spec(*feeder.labels.shape))
    labels = feeder.labels.numpy()
    partners = ma_partners(labels, np.random.default_rng(cfg.seed))
    has = partners >= 0
    p = ma_swap_probs(model, feeder, partners, cfg.batch_size, cfg.device)
    r_a, r_v = ma_thresholds(labels, p["a"], p["v"])
    audio, visual = ma_removals(labels, p["a_v"], p["v_v"], p["a_a"], p["v_a"], r_a, r_v)
    store = {"audio_remove": audio & has[:, None], "visual_remove": visual & has[:, None], "partner": partners,
             "r_audio": r_a, "r_visual": r_v}
    write_json(folder / "labels.json", {
        "videos": len(labels), "seed": cfg.seed, "videos_without_partner": int((~has).sum()),
        "r_audio": r_a.round(4).tolist(), "r_visual": r_v.round(4).tolist(),
        **{m: {"removed": int(store[f"{m}_remove"].sum()), "per_class": _per_class(store[f"{m}_remove"])}
           for m in MODALITIES}})
    save_npz(path, **store)  # written last: its presence marks the stage done
    return store


@register_recipe("ma", stages=(("base", MA_TRAIN, {}), ("final", MA_TRAIN, {})))
def ma(ctx: RecipeContext) -> FitResult:
    """MA: base model with cross-modal contrast, modality-swap label estimation, retraining on the new labels."""
    _check(ctx)
    cfg = ctx.train_config(MA_TRAIN)
    stages, feeder = ctx.out / "stages", ctx.feeder("train")
    base = ctx.build(cfg.seed)
    notes: dict[str, Any] = {}
    if cfg.contrastive_weight and not _has_features(base, feeder, ("audio", "visual_input"), cfg.device):
        cfg = dataclasses.replace(cfg, contrastive_weight=0.0)
        notes["contrastive"] = "off: the model exposes no segment features"
    res = ctx.fit(stages / "base", base, cfg, "ma", stage="base", **notes)
    store = _ma_labels(ctx, _load(base, res.folder, cfg.device), cfg, stages / "labels")
    truth = _truth(ctx)
    removed = {"audio": store["audio_remove"], "visual": store["visual_remove"]}
    refinement = None if truth is None else removal_quality(feeder.labels.numpy(), removed, truth)
    a_rm, v_rm = torch.from_numpy(removed["audio"]), torch.from_numpy(removed["visual"])

    def targets(model: torch.nn.Module, batch: Batch, epoch: int) -> Batch:
        y, idx = batch.labels, batch.index.cpu()
        return batch.replace(target_audio=y.masked_fill(a_rm[idx].to(y.device), 0.0),
                             target_visual=(0.9 * y + 0.05).masked_fill(v_rm[idx].to(y.device), 0.0))

    extras = {"stages": ["base", "labels"], **notes, **({"refinement": refinement} if refinement else {})}
    return _record(ctx.fit(ctx.out, ctx.build(cfg.seed), cfg, "ma", target_fn=targets, **extras), refinement)


# --- JoMoLD ----------------------------------------------------------------------------------------------------
def _jomold_ratios(ctx: RecipeContext, model: torch.nn.Module, cfg: TrainConfig, folder: Path) -> dict[str, Any]:
    path, feeder = folder / "noise_ratios.npz", ctx.feeder("train")
    if path.is_file():
        return read_store(path, {k: ((len(CLASSES),), "f") for k in ("audio", "visual", "mean_audio", "mean_visual")})
    a, v, mean_a, mean_v = [], [], [], []
    with torch.no_grad():
        for batch in feeder.batches(cfg.batch_size):
            out = model(batch.to(cfg.device), **cross_off(model))
            a.append(out.audio_prob.double().cpu().numpy())
            v.append(out.visual_prob.double().cpu().numpy())
            mean_a.append(a[-1].mean(0))
            mean_v.append(v[-1].mean(0))
    m_a, m_v = np.mean(mean_a, 0), np.mean(mean_v, 0)
    ratio_a, ratio_v = jomold_noise_ratios(feeder.labels.numpy(), np.concatenate(a), np.concatenate(v), m_a, m_v)
    store = {"audio": ratio_a, "visual": ratio_v, "mean_audio": m_a, "mean_visual": m_v}
    write_json(folder / "noise_ratios.json", {m: {CLASSES[c]: round(float(r), 4) for c, r in enumerate(store[m])}
                                              for m in MODALITIES})
    save_npz(path, **store)
    return store


class _DropLog:
    """Labels dropped in each epoch of the denoising stage, saved at every epoch's end (stages/denoise)."""

    def __init__(self, path: Path, shape: tuple[int, int], epochs: int):
        self.path, self.shape, self.max_epochs, self.seen, self.current = path, shape, epochs, 0, 0
        self.epochs: dict[int, dict[str, np.ndarray]] = {}
        if path.is_file():
            z = self.read(path)
            for i, e in enumerate(z["epochs"]):
                self.epochs[int(e)] = {m: z[m][i] for m in MODALITIES}

    def read(self, path: Path) -> dict[str, np.ndarray]:
        """Its file: the epochs logged (at most the stage's), and per epoch one (videos, classes) drop mask per
        modality."""
        return read_store(path, {"epochs": ((None,), "i"), **{m: ((None, *self.shape), "b") for m in MODALITIES}},
                          most=self.max_epochs)

    def add(self, epoch: int, index: torch.Tensor, drop_a: torch.Tensor, drop_v: torch.Tensor) -> None:
        if epoch != self.current:
            self.current, self.seen = epoch, 0
            self.epochs[epoch] = {m: np.zeros(self.shape, bool) for m in MODALITIES}
        idx = index.cpu().numpy()
        self.epochs[epoch]["audio"][idx] = drop_a.cpu().numpy()
        self.epochs[epoch]["visual"][idx] = drop_v.cpu().numpy()
        self.seen += len(idx)
        if self.seen == self.shape[0]:
            keys = sorted(self.epochs)
            save_npz(self.path, epochs=np.array(keys), **{m: np.stack([self.epochs[e][m] for e in keys])
                                                          for m in MODALITIES})


@register_recipe("jomold", stages=(("estimator", JOMOLD_TRAIN, {}), ("denoise", JOMOLD_TRAIN, {})))
def jomold(ctx: RecipeContext) -> FitResult:
    """JoMoLD: noise estimator without cross-attention, per-class noise ratios, joint-modal label denoising."""
    _check(ctx)
    cfg = ctx.train_config(JOMOLD_TRAIN)
    stages, feeder = ctx.out / "stages", ctx.feeder("train")
    defaults = model_info(ctx.model).defaults
    extra = {"visual_head_dropout": 0.5} if "visual_head_dropout" in defaults and \
        ctx.model_overrides.get("visual_head_dropout") is None else {}
    estimator = ctx.build(cfg.seed, **extra)
    notes: dict[str, Any] = {}
    if cfg.nce_weight and not _has_features(estimator, feeder, ("audio", "visual"), cfg.device):
        cfg = dataclasses.replace(cfg, nce_weight=0.0)
        notes["nce"] = "off: the model exposes no segment features"
    no_cross = cross_off(estimator)
    if no_cross:
        estimator.forward = partial(estimator.forward, **no_cross)  # trained and validated without cross-attention
    res = ctx.fit(stages / "estimator", estimator, cfg, "jomold", stage="estimator", forward=no_cross, **notes)
    ratios = _jomold_ratios(ctx, _load(estimator, res.folder, cfg.device), cfg, stages / "ratios")
    labels = feeder.labels.numpy()
    log = _DropLog(stages / "denoise" / "drops.npz", labels.shape, cfg.epochs)

    def targets(model: torch.nn.Module, batch: Batch, epoch: int) -> Batch:
        y = batch.labels
        pa, pv = y.clone(), 0.9 * y + 0.05
        if epoch >= cfg.denoise_start_epoch:  # warm-up: no denoising before (see module docstring)
            with torch.no_grad():  # train mode, as the official code
                out = model(batch, **cross_off(model))
            loss_a = F.binary_cross_entropy(out.audio_prob.clamp(EPS, 1 - EPS), pa, reduction="none")
            loss_v = F.binary_cross_entropy(out.visual_prob.clamp(EPS, 1 - EPS), pv, reduction="none")
            drop_a, drop_v = jomold_drops(y, loss_a, loss_v, ratios["audio"], ratios["visual"])
            pa, pv = pa.masked_fill(drop_a, 0.0), pv.masked_fill(drop_v, 0.0)
        else:
            drop_a = drop_v = torch.zeros(y.shape, dtype=torch.bool)
        log.add(epoch, batch.index, drop_a, drop_v)
        return batch.replace(target_audio=pa, target_visual=pv)

    def extra_audio(model: torch.nn.Module, out: ParseOutput, batch: Batch) -> dict[str, torch.Tensor]:
        return {"audio_extra": bce(out.audio_prob, batch.target_audio)}  # + the loop's audio term = 2 x audio

    result = ctx.fit(ctx.out, ctx.build(cfg.seed, **extra), cfg, "jomold", target_fn=targets, loss_fn=extra_audio,
                     stages=["estimator", "ratios", "denoise"], loss_weights={"audio": 2, "visual": 1, "video": 1,
                                                                              "nce": cfg.nce_weight}, **notes)
    truth = _truth(ctx)
    if truth is None or not log.path.is_file():
        return result
    z = log.read(log.path)
    per_epoch = [{"epoch": int(e), **removal_quality(labels, {m: z[m][i] for m in MODALITIES}, truth)}
                 for i, e in enumerate(z["epochs"])]
    last = per_epoch[-1]
    refinement = {"audio": last["audio"], "visual": last["visual"], "measured": f"last epoch ({last['epoch']})",
                  "per_epoch": per_epoch}
    return _record(result, refinement)


__all__ = ["cross_off", "jomold", "jomold_drops", "jomold_noise_ratios", "jomold_noisy", "ma", "ma_partners",
           "ma_removals", "ma_swap_probs", "ma_thresholds", "removal_quality"]
