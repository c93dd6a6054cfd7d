"""Tools the model can call, and the registry that runs them.

Every module in this package is imported when the package is, so a tool is one
`@tool`-decorated function in one module (see `builtin.py` and docs/core.md).
"""

from __future__ import annotations

import importlib
import pkgutil

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


__all__ = [
    "CallId",
    "Tool",
    "ToolArgumentError",
    "ToolDefinition",
    "ToolDefinitionError",
    "ToolRegistry",
    "UnknownToolError",
    "default_registry",
    "tool",
]
