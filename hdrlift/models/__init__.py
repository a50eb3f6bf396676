"""Networks of hdrlift (one module per method) behind one registry."""

from hdrlift.models.base import ExportRequirements, HDRModel, ModelSpec, SizeRequirements
from hdrlift.models.registry import (
    create_model,
    get_spec,
    list_models,
    register,
    temporary_registration,
    unregister,
)

__all__ = [
    "ExportRequirements",
    "HDRModel",
    "ModelSpec",
    "SizeRequirements",
    "create_model",
    "get_spec",
    "list_models",
    "register",
    "temporary_registration",
    "unregister",
]
