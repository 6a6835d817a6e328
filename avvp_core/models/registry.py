"""timm-style registry: each model is a short registered builder with its paper and default config.

`create_model(name, **overrides)` validates overrides against the builder's defaults (unknown keys and
wrong types are refused) and stamps `model.arch` and `model.config` on the instance, so a checkpoint can
store exactly what is needed to rebuild it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import InputError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    paper: str  # citation of the method's paper
    summary: str  # first line of the builder's docstring
    defaults: dict[str, Any]  # the paper configuration
    gating: str  # video-level gating the paper evaluates with: "fused" (p) or "modality" (a_prob / v_prob)
    demo: dict[str, Any] = field(default_factory=dict)  # overrides for the small CPU "demo" width
    train: dict[str, Any] = field(default_factory=dict)  # the paper's training recipe (TrainConfig values)
    paper_params: str = ""  # the parameter count the paper or its official code gives, where one exists
    # At demo width every recipe's learning rate is multiplied by this (a measured, named deviation per model; 1 =
    # the paper's rate at both widths). recipes.stage_values applies it unless the user sets the rate.
    demo_lr_scale: float = 1.0
    builder: Callable[..., nn.Module] | None = field(default=None, repr=False, compare=False)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(paper: str, gating: str = "fused", demo: dict[str, Any] | None = None,
                   train: dict[str, Any] | None = None, paper_params: str = "", demo_lr_scale: float = 1.0,
                   **defaults: Any):
    """Decorator: register `fn(**config) -> nn.Module` under its function name."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else fn.__name__
        _REGISTRY[fn.__name__] = ModelInfo(fn.__name__, paper, summary, dict(defaults), gating, dict(demo or {}),
                                           dict(train or {}), paper_params, float(demo_lr_scale), fn)
        return fn

    return wrap


def list_models(pattern: str = "") -> list[str]:
    return sorted(n for n in _REGISTRY if pattern in n)


def model_info(name: str) -> ModelInfo:
    if name not in _REGISTRY:
        raise InputError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name]


def with_later_options(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """A recorded build config with the options registered since it was written filled in at their defaults (every
    new option defaults to the behaviour before it, e.g. CM-PIE's cma_concat), so two runs of one configuration
    compare equal whichever version wrote them. An unregistered model's config is returned as it is."""
    if name not in _REGISTRY:
        return dict(config)
    return {**{k: v for k, v in _REGISTRY[name].defaults.items() if k not in config}, **config}


def resolve_config(name: str, width: str = "paper", **overrides: Any) -> dict[str, Any]:
    """The full build config: paper defaults, then the demo overrides if asked, then user overrides."""
    info = model_info(name)
    if width not in ("paper", "demo"):
        raise InputError(f"unknown width {width!r}; choose paper or demo")
    config = dict(info.defaults)
    if width == "demo":
        config.update(info.demo)
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in config:
            raise InputError(f"model {name!r} has no option {key!r}; options: {', '.join(sorted(config))}")
        default = config[key]
        if isinstance(default, bool) != isinstance(value, bool) or (
            not isinstance(value, type(default)) and not (isinstance(default, float) and isinstance(value, int))
        ):
            raise InputError(f"option {key!r} of {name!r} takes {type(default).__name__}, got {value!r}")
        config[key] = float(value) if isinstance(default, float) else value
        problem = _range_problem(key, default, config[key])
        if problem:
            raise InputError(f"option {key!r} of {name!r} {problem}, got {value!r}")
    return config


def _range_problem(key: str, default: Any, value: Any) -> str:
    """Ranges every registered model shares: sizes and counts are positive (or >= 0 where the default is 0),
    probabilities (dropouts) lie in [0, 1), real values are finite. Model-specific constraints (heads dividing the
    width) are found by building the model on the meta device (checkpoints.meta_model)."""
    import math

    if isinstance(value, (bool, str)):
        return ""
    if isinstance(default, int):
        low = 0 if default == 0 else 1
        return "" if low <= value <= 1_000_000 else f"must be between {low} and 1000000"
    if not math.isfinite(value):
        return "must be a finite number"
    if "drop" in key:
        return "" if 0 <= value < 1 else "is a probability: between 0 and 1 (1 excluded)"
    return "" if value > 0 or (default <= 0 and value >= 0) else "must be positive"


def create_model(name: str, width: str = "paper", **overrides: Any) -> nn.Module:
    config = resolve_config(name, width, **overrides)
    model = model_info(name).builder(**config)
    model.arch = name
    model.config = config
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
