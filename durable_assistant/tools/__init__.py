"""Tools the model can call, and the registry that runs them.

Every module in this package is imported when the package is, so a tool is one
`@tool`-decorated function in one module (see `builtin.py` and docs/core.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from durable_assistant.settings import SettingsError, get_settings
from durable_assistant.tools.registry import (
    CallId,
    Tool,
    ToolArgumentError,
    ToolDefinition,
    ToolDefinitionError,
    ToolRegistry,
    UnknownToolError,
    default_registry,
    tool,
)


def _import_tool_modules() -> None:
    """Import every module of this package so their `@tool` functions register."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "registry" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_tool_modules()


@lru_cache(maxsize=1)
def app_registry() -> ToolRegistry:
    """The registry with this package's tools and those of the `TOOL_MODULES` setting.

    `TOOL_MODULES` names modules of your own (comma-separated, importable from the app
    root) whose `@tool` functions join the built-in ones, so tools can live outside
    this package. Read on first use, never at import time.
    """
    for name in get_settings().tool_module_names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise SettingsError(
                f"invalid app settings: TOOL_MODULES: cannot import {name!r} ({error})"
            ) from None
    return default_registry


__all__ = [
    "CallId",
    "Tool",
    "ToolArgumentError",
    "ToolDefinition",
    "ToolDefinitionError",
    "ToolRegistry",
    "UnknownToolError",
    "app_registry",
    "default_registry",
    "tool",
]
