"""One training loop for every model and recipe: Adam + step LR, per-epoch validation and checkpoint
selection, a JSON-lines log, progress callback, cancel, resume, and a lock on the output folder.

Resume: after every epoch the full training state (model, optimiser, scheduler, every RNG, best-so-far) is
written atomically to `train_state.pt`; a killed run restarted with the same arguments continues from the
last finished epoch and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
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

from ..checkpoints import CONFIG, LOG, METRICS, load_state_dict, save_checkpoint, save_weights
from ..errors import InputError
from ..evaluation import evaluate
from ..fileio import append_line, atomic_path
from ..models.registry import with_later_options
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
    dgm_scale: str = "gradient"  # what mu scales: the encoders' "gradient" before the optimiser (the paper's text) or
    # their optimiser "step" (Eq. 8's update under Adam); see dgm_recipe
    dgm_reach: str = "encoders"  # where mu acts: the separable "encoders"' parameters (the paper's text) or each
    # modality's "paths": the gradient flowing back through its output features, shared layers included; see dgm_recipe
    nce_visual: str = "pre_dropout"  # JoMoLD's NCE on the visual features before ("pre_dropout") or after the
    # model's visual head dropout ("post_dropout", the zoo before issue 19)
    denoise_start_epoch: int = 2  # JoMoLD denoises from this epoch on (official: one warm-up epoch)
    budget: str = "epochs"  # how the recipe's schedule was sized for this data: see recipes.BUDGETS
    eval_test: bool = True  # score the selected model on test at the end
    log_test: bool = False  # also score test every epoch into the log, as CM-Co's official script does (it selects
    # on them); here they are never selected on, only kept to measure what selecting on test would have reported
    # (bench/selection_on_test.py)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown training option(s) {', '.join(sorted(unknown))}")
        return cls(**values)

    def __post_init__(self) -> None:
        """Every value checked for type and range here, where every path (CLI, Train page, recipes, zoo) builds one,
        so a bad value is one line before any job, folder or file exists."""
        for f in dataclasses.fields(self):
            value, default = getattr(self, f.name), f.default
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if ok:
                    setattr(self, f.name, value := float(value))
            else:
                ok = isinstance(value, str)
            if not ok:
                raise InputError(f"training option {f.name!r} takes {type(default).__name__}, got {value!r}")
            problem = _RANGES.get(f.name, lambda v: "")(value)
            if problem:
                raise InputError(f"training option {f.name!r} {problem}, got {value!r}")
        if self.dgm_reach == "paths" and self.dgm_scale == "step":  # mu acts inside backward there, not on a step
            raise InputError("training option 'dgm_reach' 'paths' scales gradients during backward; it does not "
                             "combine with dgm_scale 'step' (use dgm_scale 'gradient')")


def _device_problem(name: str) -> str:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        return "must be a torch device such as cpu, cuda or cuda:0"
    if device.type == "cuda" and not torch.cuda.is_available():
        return "asks for CUDA, which is not available on this machine"
    if device.type not in ("cpu", "cuda"):
        return "must be cpu or cuda (cuda:N)"
    return ""


def _select_problem(name: str) -> str:
    from ..constants import METRIC_KEYS

    if name == "" or (name.startswith("val/") and name[4:] in METRIC_KEYS):
        return ""
    return "must be '' (keep the last epoch) or val/<figure>, e.g. val/segment/type"


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    return "" if value in allowed else f"must be one of {', '.join(allowed)}"


_positive = lambda v: "" if v >= 1 else "must be at least 1"  # noqa: E731
_non_negative = lambda v: "" if math.isfinite(v) and v >= 0 else "must be a finite number >= 0"  # noqa: E731
_RANGES: dict[str, Callable[[Any], str]] = {
    "epochs": lambda v: "" if 1 <= v <= 100_000 else "must be between 1 and 100000",
    "batch_size": lambda v: "" if 1 <= v <= 1_000_000 else "must be between 1 and 1000000",
    "lr": lambda v: "" if math.isfinite(v) and v > 0 else "must be a finite number > 0",
    "lr_step": _positive,
    "lr_gamma": lambda v: "" if math.isfinite(v) and v > 0 else "must be a finite number > 0",
    "weight_decay": _non_negative,
    "seed": lambda v: "" if 0 <= v < 2**32 else "must be between 0 and 4294967295",
    "device": _device_problem,
    "select_metric": _select_problem,
    "gating": lambda v: "" if v in ("fused", "modality", "none") else "must be fused, modality or none",
    "contrastive_weight": _non_negative,
    "nce_weight": _non_negative,
    "capc_weight": _non_negative,
    "capc_audios": _positive,
    "cms_weight": _non_negative,
    "cms_start_epoch": lambda v: "" if v >= 0 else "must be >= 0",
    "dgm_gamma": _non_negative,
    "denoise_start_epoch": lambda v: "" if v >= 0 else "must be >= 0",
    "dgm_noise_reading": lambda v: _one_of(v, ("ogm_ge", "literal")),
    "dgm_scale": lambda v: _one_of(v, ("gradient", "step")),
    "dgm_reach": lambda v: _one_of(v, ("encoders", "paths")),
    "nce_visual": lambda v: _one_of(v, ("pre_dropout", "post_dropout")),
    "budget": lambda v: _one_of(v, ("epochs", "llp_steps", "llp_batch")),
}


# A recipe's hooks: rewrite a batch's targets (label refinement) and add loss terms.
TargetFn = Callable[[torch.nn.Module, Batch, int], Batch]
LossFn = Callable[[torch.nn.Module, ParseOutput, Batch], dict[str, torch.Tensor]]
# Called after backward, before the optimiser step (gradient modulation); returns scalars logged per step. A hook
# with an `after_step(model)` method has it called right after the optimiser step (DGM's step scaling), and one with
# a `before_backward(model, output, batch)` method has it called once the loss is computed, before its backward
# (DGM's reach "paths": gradient hooks on the step's own output features).
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


class FolderBusy(InputError):
    """Another process holds the folder's lock (the zoo skips such a folder and trains the next one)."""

    holder = "unknown"  # the holder's pid as its lock file says (informative only)


def _lock_pid(fd: int) -> str:
    """The pid a lock file names (folder_lock writes its holder's; only for messages), "unknown" when empty."""
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"


@contextlib.contextmanager
def folder_lock(folder: Path, wait: bool = False):
    """Refuse a second training into the same folder, with a lock that cannot outlive its owner (`wait`: block
    until the holder releases it instead; the zoo's export waits so, as exports are short).

    The lock is an flock on `.lock`, held for the whole training: the kernel drops it when the process ends however
    it ends, so a lock file left by a kill or a full disk (empty, or naming a dead pid) is simply taken over, and no
    pid check can be fooled by a reused pid. The file's content (our pid) is only for the message. After taking the
    flock we check that the path still names the file we locked: a release unlinks it, and a lock taken on an
    unlinked file would let two trainings in."""
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder", folder, "choose another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder ({exc.strerror or exc})", folder) from None
    lock = folder / LOCK
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot write in this folder ({exc.strerror or exc})", folder) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = _lock_pid(fd)
            os.close(fd)
            busy = FolderBusy(f"another training (pid {holder}) is writing to this folder", folder,
                              "wait for it, or choose another --out")
            busy.holder = holder
            raise busy from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # released and unlinked meanwhile by its previous holder: lock the new file instead
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError:  # a full disk: the pid is only informative, the flock is the lock
        pass
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def lock_holder(folder: Path) -> str | None:
    """The pid (as its lock file says) of the training that holds `folder_lock(folder)` now, or None when none does.
    A probe for status displays: it takes a shared flock without blocking and drops it at once (microseconds), so a
    training that starts in that same instant would be refused as busy (FolderBusy) and need starting again."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY)
    except OSError:  # no lock file: nothing has locked the folder, or its holder released it
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _lock_pid(fd)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


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


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device,
                   fused: bool = True) -> torch.optim.Adam:
    """Adam over every parameter. Fused (the default where torch has it: CPU and CUDA) is the same update in one
    kernel per step instead of a Python loop over the parameters: on one CPU thread an MMT step at paper width
    (batch 64) runs 1.20x as fast, HAN, CM-Co and MGN as fast as before (bench/bench_training.py --adam both,
    bench/RESULTS.md). Its rounding differs from the loop's in the last bits, so a run is bitwise reproducible
    within one implementation: a run resumed from a state the loop wrote keeps the loop (load_state_dict restores
    the saved group's flags)."""
    use_fused = fused and device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                            fused=True if use_fused else None)


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
        clean_stale_temporaries(out)  # left by a kill between a temporary's write and its rename; we hold the lock
        card = {**card, "train": dataclasses.asdict(cfg), "seed": cfg.seed}
        identity = _identity(model, card)
        finished = _finished(out)
        if finished is not None:  # rerunning the command that made it: its result, after checking it is that command
            _refuse_other(out / CONFIG, _identity_of_config(finished.config), identity, "a finished checkpoint")
            return FitResult(out, finished.metrics, finished.log())
        seed_everything(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        model.to(device)
        optimizer = make_optimizer(model, cfg, device)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
        start_epoch, best, best_epoch, elapsed = 1, -float("inf"), 0, 0.0

        if (out / STATE).exists():  # resume an interrupted run
            state = _read_state(out / STATE)
            there = state["identity"]
            if there is None:  # written before states recorded the model: its card alone is compared
                there = {**identity, **{k: v for k, v in json.loads(state["card"]).items() if k != "data"}}
            _refuse_other(out / STATE, there, identity, "an interrupted run")
            try:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                _set_rng_state(state["rng"], generator)
            except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
                raise InputError(f"damaged training state ({' '.join(str(exc).split())[:100]})", out / STATE,
                                 "delete it to train this folder from the start") from None
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
                if (before_backward := getattr(after_backward, "before_backward", None)) is not None:
                    before_backward(model, output, batch)
                loss.backward()
                step_logs = after_backward(model, output, batch, parts) if after_backward is not None else {}
                optimizer.step()
                if (after_step := getattr(after_backward, "after_step", None)) is not None:
                    after_step(model)
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
            if cfg.log_test and test is not None and test.split.has_truth:
                row.update(_flatten("test", evaluate(model, test, cfg.gating, device).summary))
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
            _save_state(out, model, optimizer, scheduler, generator, identity, epoch, best, best_epoch, elapsed)
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


# What may differ between a finished training and the stage that adopts it: the run's name, the recipe that wrote it
# and the stage it was (a plain `mmt` run is stage 1 of `capc`, trained identically).
ADOPTABLE_DIFFERENCES = ("name", "recipe", "stage")


def adopt(source: str | Path, out_dir: str | Path, model: torch.nn.Module, cfg: TrainConfig,
          card: dict[str, Any]) -> FitResult:
    """A stage's result taken from `source`, a finished training of exactly the configuration `fit` would run here
    (model, build, training values, seed, data fingerprint; ADOPTABLE_DIFFERENCES aside), instead of training it
    again: its weights, logs and figures are written to `out_dir` as that stage's checkpoint, its metrics naming the
    source ("adopted_from"). Anything else in `source` is one line naming it. `model` ends holding the weights."""
    from ..checkpoints import STEPS

    src, out = Path(source), Path(out_dir)
    finished = _finished(src) if (src / CONFIG).is_file() else None
    if finished is None:
        raise InputError("not a finished training (no complete metrics.json)", src,
                         "point at a run folder whose training finished")
    card = {**card, "train": dataclasses.asdict(cfg), "seed": cfg.seed}
    identity = _identity(model, card)
    there = {k: v for k, v in _identity_of_config(finished.config).items() if k not in ADOPTABLE_DIFFERENCES}
    there.update({k: identity[k] for k in ADOPTABLE_DIFFERENCES if k in identity})
    _refuse_other(src / CONFIG, there, identity, "a training",
                  "leave out --base-from to train the stage, or name a run of this configuration")
    rows, steps = finished.log(), finished.steps() if (src / STEPS).exists() else []
    try:
        model.load_state_dict(load_state_dict(src / "model.pt"))
    except RuntimeError as exc:  # the weights do not fit the model its config.json describes
        raise InputError(f"weights do not fit its config ({' '.join(str(exc).split())[:100]})",
                         src / "model.pt") from None
    with folder_lock(out):
        clean_stale_temporaries(out)
        with atomic_path(out / LOG) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        if steps:
            with atomic_path(out / STEP_LOG) as tmp:
                tmp.write_text("".join(json.dumps(r) + "\n" for r in steps))
        (out / STATE).unlink(missing_ok=True)  # an interrupted training of this stage, superseded
        source_card = {"name": finished.config.get("name"), "folder": str(src.resolve())}
        metrics = {**finished.metrics, "adopted_from": source_card}
        save_checkpoint(out, model, card, metrics)  # metrics.json last: the stage is finished once it exists
    return FitResult(out, metrics, rows)


def _identity(model: torch.nn.Module, card: dict[str, Any]) -> dict[str, Any]:
    """What makes a training this training: model, build config and the card (recipe, training config, seed, data);
    the data's folder may move, its fingerprint may not."""
    data = dict(card.get("data") or {})
    data.pop("root", None)
    return json.loads(json.dumps({"model": model.arch, "model_config": model.config, **card, "data": data},
                                 sort_keys=True, default=str))


def _identity_of_config(config: dict[str, Any]) -> dict[str, Any]:
    """The identity of a finished checkpoint, from its config.json (written by save_checkpoint from the same card)."""
    data = dict(config.get("data") or {})
    data.pop("root", None)
    skip = {"format", "classes", "code_version", "weights_dtype", "zoo"}  # written at save, not chosen by the user
    return {**{k: v for k, v in config.items() if k not in skip}, "data": data}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


def _refuse_other(where: Path, there: dict[str, Any], asked: dict[str, Any], what: str,
                  hint: str = "use another --out, or delete the folder to start again") -> None:
    """One line naming the first setting in which the folder's run and the asked one differ (device and name
    excepted: a run may continue on another device, a finished folder may have been renamed)."""
    a, b = _flat(there), _flat(asked)
    # A training or model option added after that run was written is, at its default, the training it ran (every new
    # option defaults to the behaviour before it), so an interrupted or finished run of an older version still
    # matches (e.g. CM-PIE's cma_concat, added with "time", the only reading before it).
    added = {f"train.{k}": v for k, v in dataclasses.asdict(TrainConfig()).items()} if "train.seed" in a else {}
    if isinstance(there.get("model_config"), dict):
        later = with_later_options(str(there.get("model")), there["model_config"])
        added.update({f"model_config.{k}": v for k, v in later.items()})
    a.update({k: v for k, v in added.items() if k not in a and b.get(k) == v})
    differing = sorted((k for k in a.keys() | b.keys() if k not in ("train.device", "name") and a.get(k) != b.get(k)),
                       key=lambda k: (not k.startswith(("model", "recipe")), k))  # the model first, then the rest
    if differing:
        k = differing[0]
        more = f"; {len(differing) - 1} more settings differ" if len(differing) > 1 else ""
        raise InputError(f"holds {what} of another configuration ({k}: {a.get(k)!r} there, {b.get(k)!r} asked{more})",
                         where, hint)


def _finished(out: Path):
    """The folder's finished checkpoint (metrics.json says complete), checked; None when there is none."""
    from ..checkpoints import read_card

    if not (out / METRICS).exists():
        return None
    card = read_card(out)
    return card if card.metrics.get("complete") else None


STATE_KEYS = {"model": dict, "optimizer": dict, "scheduler": dict, "rng": dict, "identity": dict, "epoch": int,
              "best": float, "best_epoch": int, "elapsed": float}


def _read_state(path: Path) -> dict[str, Any]:
    """train_state.pt, tensors only, with the keys and types resume needs; anything else is one line."""
    from ..checkpoint_schema import MAX_WEIGHTS_BYTES, declared_tree

    # Sizes bounded (Adam keeps two moments per weight) and every tensor within the file before torch allocates any.
    declared_tree(path, 4 * MAX_WEIGHTS_BYTES)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: one line, whatever torch raised
        raise InputError(f"unreadable training state ({type(exc).__name__}: {str(exc)[:80]})", path,
                         "delete it to train this folder from the start") from None
    if not isinstance(state, dict):
        raise InputError("damaged training state (not a dict)", path, "delete it to train this folder from the start")
    if "identity" not in state and isinstance(state.get("card"), str):
        try:  # written before states recorded their model: resumable, checked on its card alone
            old_card = json.loads(state["card"])
        except (ValueError, RecursionError):
            old_card = None
        state["identity"] = None if isinstance(old_card, dict) else "damaged"
    wrong = [k for k, t in STATE_KEYS.items()
             if not (isinstance(state.get(k), t) or (t is float and isinstance(state.get(k), int))
                     or (k == "identity" and state.get(k) is None))]
    if wrong or state["epoch"] < 0:
        raise InputError(f"damaged training state ({(wrong or ['epoch'])[0]!r} missing or ill-typed)", path,
                         "delete it to train this folder from the start")
    return state


def clean_stale_temporaries(folder: Path) -> None:
    """Remove the temporaries of the trainer's atomic writes (fileio.atomic_path: `.<name>.<random>.tmp`) a kill left
    in the folder; only the lock holder writes these files (the app writes job.json there, so its are left alone)."""
    for name in (CONFIG, METRICS, LOG, STEP_LOG, STATE, "model.pt"):
        for tmp in folder.glob(f".{name}.*.tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)


def _save_state(out, model, optimizer, scheduler, generator, identity, epoch, best, best_epoch, elapsed) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": _rng_state(generator), "identity": identity, "epoch": epoch,
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


__all__ = ["FitResult", "FolderBusy", "TrainConfig", "fit", "folder_lock", "seed_everything"]
