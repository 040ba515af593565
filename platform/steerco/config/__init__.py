"""Tenant configuration: load, validate (schema, then semantics) and compile."""

from __future__ import annotations

from steerco.config.compiler import compile_config, problems_of
from steerco.config.errors import ConfigInvalid, ConfigProblem
from steerco.config.loader import load_folder, read_folder, validate_folder
from steerco.config.model import TenantConfig

__all__ = ["ConfigInvalid", "ConfigProblem", "TenantConfig", "compile_config", "load_folder",
           "problems_of", "read_folder", "validate_folder"]
