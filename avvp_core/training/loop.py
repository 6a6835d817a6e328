"""One training loop for every model and recipe: Adam + step LR, per-epoch validation and checkpoint
selection, a JSON-lines log, progress callback, cancel, resume, and a lock on the output folder.

Resume: after every epoch the full training state (model, optimiser, scheduler, every RNG, best-so-far) is
written atomically to `train_state.pt`; a killed run restarted with the same arguments continues from the
last finished epoch and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoints import LOG, METRICS, load_state_dict, save_checkpoint, save_weights
from ..errors import InputError
from ..evaluation import evaluate
from ..fileio import append_line, atomic_path
from ..schema import Batch, ParseOutput
from .feeder import SplitFeeder
from .losses import mmil_losses

STATE = "train_state.pt"
LOCK = ".lock"


@dataclass
class TrainConfig:
    """Plain values; the defaults are HAN's official recipe."""

    epochs: int = 40
    batch_size: int = 16
    lr: float = 3e-4
    lr_step: int = 10  # StepLR step (epochs)
    lr_gamma: float = 0.1
    weight_decay: float = 0.0
    seed: int = 1
    device: str = "cpu"
    select_metric: str = "val/segment/type"  # "" = keep the last epoch (MA's step 1 and 3)
    gating: str = "fused"  # how validation gates segment predictions
    visual_smoothing: bool = True  # y_v = 0.9 y + 0.05
    contrastive_weight: float = 0.0  # MA's cross-modal temporal contrast
    nce_weight: float = 0.0  # JoMoLD's label-smoothing NCE
    # Method options read by the recipes that implement them (0 = off):
    capc_weight: float = 0.0  # MMT's cross-audio prediction consistency, mu
    capc_audios: int = 1  # N other audios per visual sequence
    cms_weight: float = 0.0  # CM-S cross-video contrastive, delta
    cms_start_epoch: int = 3  # CM-S starts after this many warm-up epochs (official: after epoch 2)
    dgm_gamma: float = 0.0  # DGM's gamma (0.1 in the paper)
    dgm_noise: bool = True  # DGM's compensating Gaussian gradient noise
    dgm_noise_reading: str = "ogm_ge"  # "ogm_ge": add N(0, sigma^2), giving (mu^2+1) sigma^2; "literal": add that
    nce_visual: str = "pre_dropout"  # JoMoLD's NCE on the visual features before ("pre_dropout") or after the
    # model's visual head dropout ("post_dropout", the zoo before issue 19)
    denoise_start_epoch: int = 2  # JoMoLD denoises from this epoch on (official: one warm-up epoch)
    budget: str = "epochs"  # how the recipe's schedule was sized for this data: see recipes.BUDGETS
    eval_test: bool = True  # score the selected model on test at the end

    def __post_init__(self) -> None:
        for key, allowed in (("dgm_noise_reading", ("ogm_ge", "literal")), ("nce_visual", ("pre_dropout",
                             "post_dropout")), ("budget", ("epochs", "llp_steps", "llp_batch"))):
            if getattr(self, key) not in allowed:
                raise InputError(f"training option {key} must be one of {', '.join(allowed)}; got "
                                 f"{getattr(self, key)!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown training option(s) {', '.join(sorted(unknown))}")
        return cls(**values)


# A recipe's hooks: rewrite a batch's targets (label refinement) and add loss terms.
TargetFn = Callable[[torch.nn.Module, Batch, int], Batch]
LossFn = Callable[[torch.nn.Module, ParseOutput, Batch], dict[str, torch.Tensor]]
# Called after backward, before the optimiser step (gradient modulation); returns scalars logged per step.
StepHook = Callable[[torch.nn.Module, ParseOutput, Batch, dict[str, torch.Tensor]], dict[str, float]]
STEP_LOG = "steps.jsonl"
ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class FitResult:
    folder: Path
    metrics: dict[str, Any]
    log: list[dict[str, Any]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def base_losses(model: torch.nn.Module, out: ParseOutput, batch: Batch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The model's own objective plus the recipe-independent auxiliary terms switched on in `cfg`."""
    from .losses import segment_contrastive

    parts = mmil_losses(out, batch, cfg.visual_smoothing)
    if hasattr(model, "extra_losses"):
        parts.update(model.extra_losses(out, batch))
    if cfg.contrastive_weight:
        f = out.features
        parts["contrastive"] = cfg.contrastive_weight * segment_contrastive(f["audio"], f["visual_input"])
    if cfg.nce_weight:
        f = out.features
        visual = f.get("visual_pre_dropout", f["visual"]) if cfg.nce_visual == "pre_dropout" else f["visual"]
        parts["nce"] = cfg.nce_weight * segment_contrastive(f["audio"], visual, nce=True)
    return parts


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Refuse a second training into the same folder; a lock left by a dead process is taken over."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            except PermissionError:
                pass
            raise InputError(f"another training (pid {pid}) is writing to this folder", folder,
                             "wait for it, or choose another --out") from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "shuffle": generator.get_state(),
             "numpy": json.dumps(np.random.get_state()[1].tolist()), "numpy_pos": np.random.get_state()[2],
             "python": json.dumps(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    np.random.set_state(("MT19937", np.array(json.loads(state["numpy"]), dtype=np.uint32), int(state["numpy_pos"])))
    random.setstate((3, tuple(json.loads(state["python"])), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _flatten(prefix: str, summary: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in summary.items()}


def fit(
    model: torch.nn.Module,
    train: SplitFeeder,
    val: SplitFeeder | None,
    cfg: TrainConfig,
    out_dir: str | Path,
    card: dict[str, Any],
    test: SplitFeeder | None = None,
    target_fn: TargetFn | None = None,
    loss_fn: LossFn | None = None,
    after_backward: StepHook | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    terminal: bool = True,
) -> FitResult:
    """Train `model` and write its checkpoint folder at `out_dir`. `card` holds the config.json extras.

    Hooks (all optional): `target_fn` rewrites a batch's targets (label refinement), `loss_fn` adds loss
    terms (keys starting with "log/" are logged, not optimised), `after_backward` may edit gradients before
    the step and returns scalars written per step to steps.jsonl (and averaged into the epoch log).
    """
    out = Path(out_dir)
    device = torch.device(cfg.device)
    with folder_lock(out):
        if (out / METRICS).is_file() and json.loads((out / METRICS).read_text()).get("complete"):
            metrics = json.loads((out / METRICS).read_text())
            return FitResult(out, metrics, [json.loads(x) for x in (out / LOG).read_text().splitlines() if x])
        seed_everything(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
        start_epoch, best, best_epoch, elapsed = 1, -float("inf"), 0, 0.0
        card = {**card, "train": dataclasses.asdict(cfg), "seed": cfg.seed}

        if (out / STATE).is_file():  # resume an interrupted run
            state = torch.load(out / STATE, map_location="cpu", weights_only=True)
            if state["card"] != json.dumps(card, sort_keys=True, default=str):
                raise InputError("holds an interrupted run with a different configuration", out / STATE,
                                 "delete the folder or use another --out")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"], generator)
            start_epoch, best = state["epoch"] + 1, state["best"]
            best_epoch, elapsed = state["best_epoch"], state["elapsed"]
            _truncate_log(out / LOG, state["epoch"])
            _truncate_log(out / STEP_LOG, state["epoch"])
        else:
            (out / LOG).unlink(missing_ok=True)
            (out / STEP_LOG).unlink(missing_ok=True)
            save_checkpoint(out, model, card)  # config.json + initial weights: the folder is a checkpoint at once

        steps_per_epoch = -(-len(train) // cfg.batch_size)
        bar = _bar(cfg.epochs * steps_per_epoch, (start_epoch - 1) * steps_per_epoch, terminal)
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            sums: dict[str, float] = {}
            step_rows: list[str] = []
            count = 0
            for step, batch in enumerate(train.batches(cfg.batch_size, shuffle=True, generator=generator)):
                if should_stop is not None and should_stop():
                    bar.close()
                    raise KeyboardInterrupt("training cancelled")
                batch = batch.to(device)
                if target_fn is not None:
                    batch = target_fn(model, batch, epoch)
                output = model(batch)
                parts = base_losses(model, output, batch, cfg)
                if loss_fn is not None:
                    parts.update(loss_fn(model, output, batch))
                loss = sum(v for k, v in parts.items() if not k.startswith("log/"))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                step_logs = after_backward(model, output, batch, parts) if after_backward is not None else {}
                optimizer.step()
                n = len(batch)
                count += n
                for k, v in {"loss": loss, **parts}.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * n
                if step_logs:
                    step_rows.append(json.dumps({"epoch": epoch, "step": step + 1, **step_logs}))
                    for k, v in step_logs.items():
                        sums[f"log/{k}"] = sums.get(f"log/{k}", 0.0) + float(v) * n
                bar.update(1)
                if progress is not None:
                    progress({"epoch": epoch, "epochs": cfg.epochs, "step": step + 1, "steps": steps_per_epoch,
                              "loss": float(loss.detach())})
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            row: dict[str, Any] = {"epoch": epoch, "lr": lr}
            for k, v in sums.items():  # "log/x" stay as they are; loss parts become "loss/<part>"
                row[k if k == "loss" or k.startswith("log/") else f"loss/{k}"] = v / count
            if val is not None:
                row.update(_flatten("val", evaluate(model, val, cfg.gating, device).summary))
            elapsed += time.perf_counter() - t0
            row["seconds"] = round(elapsed, 3)
            score = row.get(cfg.select_metric) if cfg.select_metric else epoch
            if score is not None and score >= best:  # ">=" as the official selection
                best, best_epoch = score, epoch
                save_weights(out / "model.pt", model)
            if step_rows:  # per-step scalars of the epoch, written once the epoch is complete
                append_line(out / STEP_LOG, "\n".join(step_rows))
            append_line(out / LOG, json.dumps(row))
            shown = f" {cfg.select_metric} {score:.2f}" if cfg.select_metric and score is not None else ""
            bar.set_postfix_str(f"epoch {epoch} loss {row['loss']:.4f}{shown}")
            _save_state(out, model, optimizer, scheduler, generator, card, epoch, best, best_epoch, elapsed)
            if progress is not None:
                progress({"epoch": epoch, "epochs": cfg.epochs, "row": row})
        bar.close()

        model.load_state_dict({k: v.to(device) for k, v in load_state_dict(out / "model.pt").items()})
        metrics: dict[str, Any] = {"selected_epoch": best_epoch, "selection_metric": cfg.select_metric or "last",
                                   "gating": cfg.gating, "train_seconds": round(elapsed, 2)}
        if val is not None:
            metrics["val"] = evaluate(model, val, cfg.gating, device).summary
        if test is not None and cfg.eval_test and test.split.has_truth:
            metrics["test"] = evaluate(model, test, cfg.gating, device).summary
        metrics["complete"] = True
        save_checkpoint(out, model, card, metrics)
        (out / STATE).unlink(missing_ok=True)
        log = [json.loads(x) for x in (out / LOG).read_text().splitlines() if x]
        return FitResult(out, metrics, log)


def _save_state(out, model, optimizer, scheduler, generator, card, epoch, best, best_epoch, elapsed) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": _rng_state(generator), "card": json.dumps(card, sort_keys=True, default=str), "epoch": epoch,
             "best": best, "best_epoch": best_epoch, "elapsed": elapsed}
    with atomic_path(out / STATE) as tmp:
        torch.save(state, tmp)


def _truncate_log(path: Path, last_epoch: int) -> None:
    """Drop log lines past the last saved state (written by the killed run after its last state save)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["epoch"] <= last_epoch:
                keep.append(line)
        except (json.JSONDecodeError, KeyError):
            continue
    with atomic_path(path) as tmp:
        tmp.write_text("".join(x + "\n" for x in keep))


class _NullBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, s: str) -> None: ...
    def close(self) -> None: ...


def _bar(total: int, initial: int, terminal: bool):
    if not terminal or not sys.stderr.isatty():
        return _NullBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


__all__ = ["FitResult", "TrainConfig", "fit", "folder_lock", "seed_everything"]
