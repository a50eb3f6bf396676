"""Networks of hdrlift (one module per method) behind one registry."""

from hdrlift.models.base import HDRModel, ModelSpec, SizeRequirements
from hdrlift.models.registry import create_model, get_spec, list_models

__all__ = ["HDRModel", "ModelSpec", "SizeRequirements", "create_model", "get_spec", "list_models"]
