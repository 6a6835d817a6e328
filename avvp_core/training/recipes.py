"""Recipes: how a registered model is trained end to end. "plain" is the model's own paper recipe; label
refinement recipes (MA, JoMoLD) are multi-stage and work with any model that outputs a_prob / v_prob.

Multi-stage recipes keep each intermediate stage as a checkpoint under `<out>/stages/<stage>/` (resumable,
inspectable); the final model is the checkpoint at `<out>` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.dataset import LLPDataset
from ..errors import InputError
from ..models import create_model, model_info, resolve_config
from .feeder import SplitFeeder
from .loop import FitResult, LossFn, ProgressFn, StepHook, TargetFn, TrainConfig, _finished, adopt, fit, seed_everything

LLP_TRAIN_VIDEOS = 10_000  # the official LLP train split

# How a recipe's schedule is sized for the data it trains on (TrainConfig.budget):
#   "llp_steps"  LLP's optimiser steps in every phase (the rule below; the zoo's, the Train page's default)
#   "epochs"     the recipe's epochs as written (the paper's schedule; what LLP itself gets under every rule)
#   "llp_batch"  batches above 16 shrunk to LLP's steps per epoch, epochs as written (the zoo before issue 19)
BUDGETS = ("llp_steps", "epochs", "llp_batch")
# Schedule values counted in epochs: the total, the StepLR step, and the first epoch after each warm-up.
EPOCH_KEYS = ("epochs", "lr_step")
START_EPOCH_KEYS = ("cms_start_epoch", "denoise_start_epoch")


def llp_steps_batch(paper_batch: int, n_train: int, floor: int = 16) -> int:
    """Budget "llp_batch" (the zoo before issue 19): the batch that gives as many optimiser steps per epoch on
    `n_train` videos as `paper_batch` gives on LLP. Batches at or below `floor` were kept, so HAN, MGN, MA and
    CM-PIE got a fifth of LLP's steps on mini and their epoch-based LR drops came early; "llp_steps" replaces it.
    """
    if paper_batch <= floor:
        return paper_batch
    return max(floor, paper_batch * n_train // LLP_TRAIN_VIDEOS)  # rounded down: never fewer steps than on LLP


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return -(-n_train // batch_size)  # the loop keeps the last, partial batch


def llp_steps_factor(batch_size: int, n_train: int) -> float:
    """Epochs on `n_train` videos per epoch on LLP at the same batch: LLP's steps per epoch over this data's."""
    return steps_per_epoch(LLP_TRAIN_VIDEOS, batch_size) / steps_per_epoch(n_train, batch_size)


# Deviation (issue 19), for recipes whose paper keeps the last epoch (MA's stages): on LLP the last of 12 epochs
# is a model that has seen each video 12 times; under "llp_steps" on a set f times smaller the same steps show
# each video 12 f times, and the last epoch is an overfitted one (HAN + MA on SynthLLP mini, f = 5: val Type@AV
# peaks at epoch 25 of 60 and the last epoch ships 42.0 / 33.7 against 51.0 / 42.3 kept at the best val epoch).
# So where the budget stretches the epochs (f > 1) the run keeps its best val epoch, as HAN's own recipe does; on
# LLP (f = 1), under the other budgets, or with select_metric set by the user, the last epoch is kept as written.
LAST_EPOCH_UNDER_STEPS = "val/segment/type"


def _nearest(x: float) -> int:
    return int(x + 0.5)  # half up (Python's round() rounds halves to even)


def apply_budget(values: dict[str, Any], n_train: int, keep: frozenset[str] | set[str] = frozenset()
                 ) -> dict[str, Any]:
    """The training values with the schedule sized by their `budget` for `n_train` training videos.

    Budget "llp_steps" (issue 19), one rule for every recipe and batch: the batch stays the recipe's (the paper's),
    and every schedule value counted in epochs is multiplied by f = LLP's steps per epoch / this data's
    (`llp_steps_factor`), to the nearest epoch: the total epochs and the StepLR step (so the learning-rate drops
    come after LLP's number of steps), and each warm-up (CM-S's `cms_start_epoch`, JoMoLD's
    `denoise_start_epoch`: the warm-up's length in epochs is scaled, the start is the epoch after it). A run then
    sees, in every phase (warm-up, each stretch between LR drops, the run), the optimiser steps the recipe gives on
    LLP's 10,000 training videos, each phase's length within half an epoch of this data (exactly where f is whole:
    5 for batch 16 on SynthLLP mini; batch 64 there: 34 epochs of 32 steps per LR phase for LLP's 7 of 157). On
    LLP itself f = 1: nothing changes. Values in `keep` (set by the user, counted in this data's epochs) are left
    as given. A recipe that keeps its last epoch (select_metric "") keeps its best val epoch instead when f > 1
    (`LAST_EPOCH_UNDER_STEPS`, a named deviation).
    """
    out = dict(values)
    budget = out.get("budget", "epochs")
    batch = int(out.get("batch_size", 16))
    if budget == "llp_batch" and "batch_size" not in keep:
        out["batch_size"] = llp_steps_batch(batch, n_train)
    elif budget == "llp_steps":
        f = llp_steps_factor(batch, n_train)
        defaults = TrainConfig()
        for key in EPOCH_KEYS:
            if key not in keep:
                out[key] = max(1, _nearest(out.get(key, getattr(defaults, key)) * f))
        for key in START_EPOCH_KEYS:
            if key not in keep:
                out[key] = 1 + _nearest((out.get(key, getattr(defaults, key)) - 1) * f)
        if f > 1 and out.get("select_metric", defaults.select_metric) == "" and "select_metric" not in keep:
            out["select_metric"] = LAST_EPOCH_UNDER_STEPS
    return out


def schedule(cfg: TrainConfig, n_train: int, stage: str = "model") -> dict[str, Any]:
    """What `cfg` runs on `n_train` videos, in optimiser steps: epochs, steps per epoch, total steps, the steps
    after which the learning rate drops, and the step each warm-up ends (CM-S's when cms_weight is on, JoMoLD's
    in its "denoise" stage)."""
    spe = steps_per_epoch(n_train, cfg.batch_size)
    drops = list(range(cfg.lr_step, cfg.epochs, cfg.lr_step)) if cfg.lr_step > 0 else []
    row: dict[str, Any] = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "steps_per_epoch": spe,
                           "total_steps": cfg.epochs * spe, "lr_drop_steps": [e * spe for e in drops]}
    warm = {}
    if cfg.cms_weight:
        warm["cms"] = (cfg.cms_start_epoch - 1) * spe
    if stage == "denoise":
        warm["denoise"] = (cfg.denoise_start_epoch - 1) * spe
    row["warmup_steps"] = warm
    return row


@dataclass
class RecipeContext:
    """Everything a recipe needs: data, the model to build, where to write, training overrides."""

    data: LLPDataset
    model: str
    out: Path
    width: str = "paper"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    progress: ProgressFn | None = None
    should_stop: Callable[[], bool] | None = None
    terminal: bool = True
    budget: str | None = None  # TrainConfig.budget for every stage unless the overrides set one (None: theirs)
    # A finished run of the model's own training (recipe "plain", same model, options, seed and data) taken as the
    # recipe's first stage instead of training it again; only for recipes whose first stage is that training
    # (register_recipe(adopts_base=True): capc). `train --base-from`.
    base_from: Path | None = None
    _feeders: dict[str, SplitFeeder] = field(default_factory=dict)

    def feeder(self, split: str) -> SplitFeeder:
        if split not in self._feeders:
            self._feeders[split] = SplitFeeder(self.data.split(split))
        return self._feeders[split]

    def train_config(self, recipe_defaults: dict[str, Any] | None = None, **stage: Any) -> TrainConfig:
        """Paper recipe of the model, then the recipe's own defaults, then the stage's, then the user's; the
        schedule then sized by the budget (`apply_budget`; the user's own values are kept as given)."""
        values = stage_values(self.model, recipe_defaults, stage, self.train_overrides, self.budget, self.width)
        user = set(self.train_overrides) - {"budget"}
        return TrainConfig.from_dict(apply_budget(values, len(self.data.split("train")), user))

    def build(self, seed: int, **extra: Any):
        """A fresh model, its initial weights drawn from `seed` (same seed, same model)."""
        seed_everything(seed)
        return create_model(self.model, self.width, **{**self.model_overrides, **extra})

    def card(self, recipe: str, **extra: Any) -> dict[str, Any]:
        meta = self.data.synth_meta
        return {
            "name": self.out.name,
            "recipe": recipe,
            "width": self.width,
            "gating": extra.pop("gating", None) or model_info(self.model).gating,
            "data": {
                "root": str(self.data.root),
                "fingerprint": self.data.fingerprint(),
                "synth": None if meta is None else {k: meta.get(k) for k in ("generator_version", "preset", "seed")},
            },
            **extra,
        }

    def stage_card(self, recipe: str, cfg: TrainConfig, **card_extra: Any) -> dict[str, Any]:
        # the schedule as run, in optimiser steps (budget "llp_steps" sizes it in LLP's)
        return self.card(recipe, gating=cfg.gating, steps=schedule(cfg, len(self.data.split("train"))), **card_extra)

    def fit_base(self, out: Path, model, cfg: TrainConfig, recipe: str, **card_extra: Any) -> FitResult:
        """A recipe's first stage when it is the model's own training: adopted from `base_from` (checked to be
        this very training, loop.adopt) when one is given and the stage is not finished yet, else trained."""
        if self.base_from is None or _finished(out) is not None:
            return self.fit(out, model, cfg, recipe, **card_extra)
        result = adopt(self.base_from, out, model, cfg, self.stage_card(recipe, cfg, **card_extra))
        if self.terminal:
            print(f"{out.name}: adopted {self.base_from} (a finished training of this configuration)", flush=True)
        return result

    def fit(self, out: Path, model, cfg: TrainConfig, recipe: str, target_fn: TargetFn | None = None,
            loss_fn: LossFn | None = None, after_backward: StepHook | None = None, **card_extra: Any) -> FitResult:
        card = self.stage_card(recipe, cfg, **card_extra)
        return fit(model, self.feeder("train"), self.feeder("val"), cfg, out, card, test=self.feeder("test"),
                   target_fn=target_fn, loss_fn=loss_fn, after_backward=after_backward, progress=self.progress,
                   should_stop=self.should_stop, terminal=self.terminal)


def stage_values(model: str, recipe_defaults: dict[str, Any] | None, stage: dict[str, Any],
                 overrides: dict[str, Any], budget: str | None = None, width: str = "paper") -> dict[str, Any]:
    """The stage's training values: the model's paper recipe, the recipe's defaults, the stage's, then the
    user's. At demo width the recipe's learning rate is scaled by the model's `demo_lr_scale` (unless the user set
    one): the rates the papers give are tuned at their width, and where one measurably fails to train the smaller
    model within LLP's steps (CM-Co, models/cmco.py) that model says so and by how much."""
    info = model_info(model)
    values = {**info.train, **(recipe_defaults or {}), **stage}
    if width == "demo" and info.demo_lr_scale != 1.0 and "lr" in values:
        values["lr"] = float(values["lr"]) * info.demo_lr_scale
    values.update(overrides)
    if budget is not None and "budget" not in overrides:
        values["budget"] = budget
    return values


def plain(ctx: RecipeContext) -> FitResult:
    """The model's paper recipe, trained on the weak labels."""
    cfg = ctx.train_config()
    return ctx.fit(ctx.out, ctx.build(cfg.seed), cfg, "plain")


_REGISTRY: dict[str, Callable[[RecipeContext], FitResult]] = {"plain": plain}
# Per recipe, its training stages in order: (stage name, the recipe defaults that stage's train_config gets, and
# the values the recipe forces on that stage after it). tests/test_budget.py checks these against what each
# recipe really trains.
Stage = tuple[str, dict[str, Any], dict[str, Any]]
_STAGES: dict[str, tuple[Stage, ...]] = {"plain": (("model", {}, {}),)}
_ADOPTS_BASE: set[str] = set()  # recipes whose first stage is the model's own training (RecipeContext.base_from)


def register_recipe(name: str, stages: tuple[Stage, ...] = (("model", {}, {}),), adopts_base: bool = False):
    def wrap(fn: Callable[[RecipeContext], FitResult]):
        _REGISTRY[name] = fn
        _STAGES[name] = stages
        if adopts_base:
            _ADOPTS_BASE.add(name)
        return fn

    return wrap


def adopts_base(recipe: str) -> bool:
    """Whether `recipe` can take its first stage from a finished plain run (`train --base-from`)."""
    return recipe in _recipes() and recipe in _ADOPTS_BASE


def budget_plan(model: str, recipe: str, n_train: int, train_overrides: dict[str, Any] | None = None,
                budget: str | None = None, width: str = "paper") -> list[dict[str, Any]]:
    """Per training stage of `recipe` for `model` on `n_train` videos: its schedule here (`schedule`) and, beside
    it, the same stage on LLP's 10,000 videos with the recipe's own values ("llp"). What `train` prints and the
    Train page shows before a run; the stages are those the recipe trains (`register_recipe(stages=...)`)."""
    recipes = _recipes()
    if recipe not in recipes:
        raise InputError(f"unknown recipe {recipe!r}; choose one of {', '.join(sorted(recipes))}")
    overrides = dict(train_overrides or {})
    user = set(overrides) - {"budget"}
    rows = []
    for name, defaults, forced in _STAGES[recipe]:
        values = {**stage_values(model, defaults, {}, overrides, budget, width), **forced}
        cfg = TrainConfig.from_dict(apply_budget(values, n_train, user))
        paper = TrainConfig.from_dict({**stage_values(model, defaults, {}, overrides), **forced, "budget": "epochs"})
        rows.append({"stage": name, "budget": cfg.budget, "train_videos": n_train, **schedule(cfg, n_train, name),
                     "selection": cfg.select_metric or "last", "lr": cfg.lr,
                     "llp": {**schedule(paper, LLP_TRAIN_VIDEOS, name), "selection": paper.select_metric or "last",
                             "lr": paper.lr}})
    return rows


def format_plan(rows: list[dict[str, Any]]) -> str:
    """The plan as text lines (the `train` command prints it before training)."""
    lines = []
    for r in rows:
        llp = r["llp"]
        warm = "".join(f", {k} warm-up until step {v:,} (LLP {llp['warmup_steps'].get(k, 0):,})"
                       for k, v in r["warmup_steps"].items())
        if r["selection"] != llp["selection"]:  # LAST_EPOCH_UNDER_STEPS
            warm += f", keeps the best {r['selection']} epoch (LLP: the {llp['selection']})"
        if r["lr"] != llp["lr"]:  # demo_lr_scale
            warm += f", learning rate {r['lr']:.3g} (the paper's {llp['lr']:.3g})"
        lines.append(
            f"{r['stage']}: {r['epochs']} epochs x {r['steps_per_epoch']:,} steps (batch {r['batch_size']}, "
            f"{r['train_videos']:,} videos) = {r['total_steps']:,} steps; LR drops after steps "
            f"{', '.join(f'{x:,}' for x in r['lr_drop_steps']) or 'none'}{warm} | on LLP: {llp['epochs']} x "
            f"{llp['steps_per_epoch']:,} = {llp['total_steps']:,}, drops after "
            f"{', '.join(f'{x:,}' for x in llp['lr_drop_steps']) or 'none'} [budget {r['budget']}]")
    return "\n".join(lines)


def run_recipe(recipe: str, ctx: RecipeContext) -> FitResult:
    recipes = _recipes()
    if recipe not in recipes:
        raise InputError(f"unknown recipe {recipe!r}; choose one of {', '.join(sorted(recipes))}")
    resolve_config(ctx.model, ctx.width, **ctx.model_overrides)  # fail fast on bad model options
    if ctx.base_from is not None and not adopts_base(recipe):
        takers = ", ".join(sorted(_ADOPTS_BASE)) or "none"
        raise InputError(f"recipe {recipe!r} cannot take a finished run as its first stage (--base-from: {takers})")
    return recipes[recipe](ctx)


def _recipes() -> dict[str, Callable[[RecipeContext], FitResult]]:
    """Every recipe, by name. The recipe modules are imported here, on first use, not when this module is: they
    import this module (and refinement each other), so importing them from its top made `import
    avvp_core.training.refinement` fail when it was the first training module imported."""
    import importlib
    import pkgutil

    from .. import training

    for info in pkgutil.iter_modules(training.__path__):
        if info.name == "refinement" or info.name.endswith("_recipe"):
            importlib.import_module(f"{training.__name__}.{info.name}")
    return _REGISTRY


def __getattr__(name: str) -> Any:
    if name == "RECIPES":  # `from .recipes import RECIPES` gets the full registry
        return _recipes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
