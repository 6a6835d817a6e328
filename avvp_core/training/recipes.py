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
from .loop import FitResult, LossFn, ProgressFn, StepHook, TargetFn, TrainConfig, fit, seed_everything

LLP_TRAIN_VIDEOS = 10_000  # the official LLP train split


def llp_steps_batch(paper_batch: int, n_train: int, floor: int = 16) -> int:
    """The batch that gives as many optimiser steps per epoch on `n_train` videos as `paper_batch` gives on LLP.

    Recipes are tuned in steps: on SynthLLP mini (2,000 videos) MMT's batch 64 runs 320 steps before its first LR
    decay instead of ~1,560 and stalls (measured: 24.6 segment Type@AV), JoMoLD's batch 128 gives 16 steps per
    epoch and its noise estimator never leaves the class priors. Batches at or below `floor` (HAN's 16) are kept:
    shrinking them further only adds gradient noise.
    """
    if paper_batch <= floor:
        return paper_batch
    return max(floor, paper_batch * n_train // LLP_TRAIN_VIDEOS)  # rounded down: never fewer steps than on LLP


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
    llp_steps: bool = False  # scale every stage's batch with llp_steps_batch (small data; the zoo uses it)
    _feeders: dict[str, SplitFeeder] = field(default_factory=dict)

    def feeder(self, split: str) -> SplitFeeder:
        if split not in self._feeders:
            self._feeders[split] = SplitFeeder(self.data.split(split))
        return self._feeders[split]

    def train_config(self, recipe_defaults: dict[str, Any] | None = None, **stage: Any) -> TrainConfig:
        """Paper recipe of the model, then the recipe's own defaults, then the stage's, then the user's."""
        values = {**model_info(self.model).train, **(recipe_defaults or {}), **stage, **self.train_overrides}
        if self.llp_steps and "batch_size" not in self.train_overrides:
            values["batch_size"] = llp_steps_batch(values.get("batch_size", TrainConfig.batch_size),
                                                   len(self.data.split("train")))
        return TrainConfig.from_dict(values)

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

    def fit(self, out: Path, model, cfg: TrainConfig, recipe: str, target_fn: TargetFn | None = None,
            loss_fn: LossFn | None = None, after_backward: StepHook | None = None, **card_extra: Any) -> FitResult:
        card = self.card(recipe, gating=cfg.gating, **card_extra)
        return fit(model, self.feeder("train"), self.feeder("val"), cfg, out, card, test=self.feeder("test"),
                   target_fn=target_fn, loss_fn=loss_fn, after_backward=after_backward, progress=self.progress,
                   should_stop=self.should_stop, terminal=self.terminal)


def plain(ctx: RecipeContext) -> FitResult:
    """The model's paper recipe, trained on the weak labels."""
    cfg = ctx.train_config()
    return ctx.fit(ctx.out, ctx.build(cfg.seed), cfg, "plain")


_REGISTRY: dict[str, Callable[[RecipeContext], FitResult]] = {"plain": plain}


def register_recipe(name: str):
    def wrap(fn: Callable[[RecipeContext], FitResult]):
        _REGISTRY[name] = fn
        return fn

    return wrap


def run_recipe(recipe: str, ctx: RecipeContext) -> FitResult:
    recipes = _recipes()
    if recipe not in recipes:
        raise InputError(f"unknown recipe {recipe!r}; choose one of {', '.join(sorted(recipes))}")
    resolve_config(ctx.model, ctx.width, **ctx.model_overrides)  # fail fast on bad model options
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
