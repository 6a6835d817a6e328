"""Models. This is the only module that imports the model files (which registers them)."""

from . import han  # noqa: F401  (registers "han")
from .base import AVVPModel
from .registry import ModelInfo, count_parameters, create_model, list_models, model_info, register_model, resolve_config

__all__ = [
    "AVVPModel", "ModelInfo", "count_parameters", "create_model", "list_models", "model_info", "register_model",
    "resolve_config",
]
