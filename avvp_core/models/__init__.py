"""Models. This package imports every model module in it (which registers them); nothing else does.

A model module is any module of this package whose name does not start with "_" and is not one of the
shared ones (base, blocks, registry): adding a file is registering its models.
"""

import importlib
import pkgutil

from .base import AVVPModel
from .registry import ModelInfo, count_parameters, create_model, list_models, model_info, register_model, resolve_config

_SHARED = {"base", "blocks", "registry"}
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _module.startswith("_") and _module not in _SHARED:
        importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "AVVPModel", "ModelInfo", "count_parameters", "create_model", "list_models", "model_info", "register_model",
    "resolve_config",
]
