"""Index `function_app.py` the way the Python worker does, as often as a test needs.

The worker imports the script and calls `app.get_functions()` once; a `DFApp`
refuses a second call (it remembers the names it validated), so each indexing here
loads `function_app.py` afresh, under its own module name, with the environment the
test gives (the HTTP auth level is read at import time).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

from azure.functions.decorators.function_app import Function

APP_SCRIPT = Path(__file__).resolve().parents[2] / "function_app.py"
APP_PACKAGES = frozenset({"activities", "orchestrators", "triggers"})
_counter = itertools.count()


def index_app(environ: Mapping[str, str] | None = None) -> dict[str, Function]:
    """Every function of the app by name, from a fresh import of function_app.py.

    The app's own packages are imported afresh too (and the previous modules put
    back afterwards): the SDK stores the app's auth level on the shared trigger
    objects when indexing, so reusing them would hide a different `environ`.
    """
    saved = {k: m for k, m in sys.modules.items() if k.split(".")[0] in APP_PACKAGES}
    for key in saved:
        del sys.modules[key]
    name = f"function_app_indexed_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, APP_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        with mock.patch.dict(os.environ, dict(environ or {}), clear=environ is not None):
            spec.loader.exec_module(module)
            functions = module.app.get_functions()
    finally:
        for key in [k for k in sys.modules if k.split(".")[0] in APP_PACKAGES]:
            del sys.modules[key]
        sys.modules.update(saved)
    return {f.get_function_name(): f for f in functions}


def raw_bindings(function: Function) -> list[dict[str, Any]]:
    """The function's bindings as the worker reports them to the host (function.json)."""
    return [json.loads(binding) for binding in function.get_raw_bindings()]


def user_function(name: str) -> Any:
    """The callable the worker invokes for function `name`."""
    return index_app()[name].get_user_function()
