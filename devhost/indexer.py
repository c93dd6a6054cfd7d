"""Load an app's function_app.py and index its functions the way the Python worker does."""

from __future__ import annotations

import enum
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from azure.functions import FunctionRegister

SCRIPT_FILE = "function_app.py"


class FunctionLoadError(Exception):
    """The app cannot be indexed; the real host would load no function at all."""


class TriggerKind(enum.StrEnum):
    """The trigger types devhost knows how to drive."""

    HTTP = "httpTrigger"
    ORCHESTRATION = "orchestrationTrigger"
    ACTIVITY = "activityTrigger"
    ENTITY = "entityTrigger"
    TIMER = "timerTrigger"
    OTHER = "other"


@dataclass(frozen=True)
class IndexedFunction:
    """One function of the app with the binding metadata the host would read."""

    name: str
    kind: TriggerKind
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    func: Callable[..., Any]
    parameters: tuple[str, ...] = field(default=())
    wants_context: bool = False

    @cached_property
    def is_async(self) -> bool:
        """Coroutine functions run on the host's event loop, the others on threads."""
        return inspect.iscoroutinefunction(self.func)

    @property
    def trigger_name(self) -> str:
        """Parameter that receives the trigger payload."""
        return str(self.trigger["name"])

    @property
    def client_bindings(self) -> list[dict[str, Any]]:
        """durableClient input bindings (each gets the client binding JSON)."""
        return [b for b in self.bindings if b.get("type") == "durableClient"]

    @property
    def durable_name(self) -> str:
        """Name orchestrations and activities are called by (binding property, else name)."""
        key = {TriggerKind.ACTIVITY: "activity", TriggerKind.ORCHESTRATION: "orchestration"}
        alias = self.trigger.get(key.get(self.kind, ""))
        return str(alias) if alias else self.name


@dataclass
class AppIndex:
    """Every function of the app, looked up by role."""

    functions: dict[str, IndexedFunction]
    # Orchestrators and activities by (kind, lower-cased durable name): looked up for
    # every episode and activity; the first one declared wins, as a scan would find it.
    _durables: dict[tuple[TriggerKind, str], IndexedFunction] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for function in self.functions.values():
            key = (function.kind, function.durable_name.lower())
            self._durables.setdefault(key, function)

    def of_kind(self, kind: TriggerKind) -> list[IndexedFunction]:
        """Functions with that trigger type, in declaration order."""
        return [f for f in self.functions.values() if f.kind is kind]

    def orchestrator(self, name: str) -> IndexedFunction | None:
        """The orchestrator callable by that name (case-insensitive, like the extension)."""
        return self._durable(TriggerKind.ORCHESTRATION, name)

    def activity(self, name: str) -> IndexedFunction | None:
        """The activity callable by that name (case-insensitive, like the extension)."""
        return self._durable(TriggerKind.ACTIVITY, name)

    def _durable(self, kind: TriggerKind, name: str) -> IndexedFunction | None:
        return self._durables.get((kind, name.lower()))


# Binding types devhost drives; any other binding's parameter receives None.
SUPPORTED_BINDINGS = frozenset(
    {"httpTrigger", "http", "orchestrationTrigger", "activityTrigger", "timerTrigger"}
    | {"durableClient"}
)
_DIRECTIONS = {0: "in", 1: "out", 2: "inout"}


def _direction(value: Any) -> str:
    if isinstance(value, int):
        return _DIRECTIONS.get(value, str(value))
    return str(value or "in").lower()


def unsupported(index: AppIndex) -> list[str]:
    """What devhost would silently not do for this app, one sentence per function and
    binding, for warnings at load time (instead of a `None` found deep in a run)."""
    notes = []
    for function in index.functions.values():
        trigger_type = function.trigger.get("type")
        if function.kind is TriggerKind.ENTITY:
            notes.append(
                f"function {function.name}: devhost does not run durable entities "
                "(entityTrigger); orchestrations that call or signal it fail"
            )
        elif function.kind is TriggerKind.OTHER:
            notes.append(
                f"function {function.name}: devhost does not run {trigger_type} triggers; "
                f"only POST /admin/functions/{function.name} calls it"
            )
        for binding in function.bindings:
            name, kind = str(binding.get("name")), binding.get("type")
            if name == function.trigger_name or kind in SUPPORTED_BINDINGS:
                continue
            direction = _direction(binding.get("direction"))
            if name == "$return":
                effect = "the function's return value is dropped"
            elif direction == "in":
                effect = f"parameter '{name}' receives None"
            else:
                effect = f"parameter '{name}' receives None, not a func.Out (.set() fails)"
            notes.append(
                f"function {function.name}: devhost does not support {kind} bindings "
                f"({direction}); {effect}"
            )
    return notes


def _plain(value: Any) -> Any:
    """Binding dicts hold enums; the host sees their JSON values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _find_app(module: Any) -> FunctionRegister:
    apps = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
    if not apps:
        raise FunctionLoadError(f"{SCRIPT_FILE} defines no FunctionApp/DFApp instance")
    if len(apps) > 1:
        raise FunctionLoadError(f"{SCRIPT_FILE} defines more than one FunctionApp instance")
    return apps[0]


def _check_parameters(name: str, func: Callable[..., Any], bindings: list[dict[str, Any]]) -> bool:
    """Match parameters to binding names like the worker; returns whether `context` is wanted."""
    params = set(inspect.signature(func).parameters)
    bound = {str(b["name"]) for b in bindings if b.get("name") != "$return"}
    wants_context = "context" in params and "context" not in bound
    if wants_context:
        params.discard("context")
    if missing := bound - params:
        raise FunctionLoadError(
            f"function {name}: the following parameters are declared in function.json "
            f"but not in Python: {sorted(missing)}"
        )
    if extra := params - bound:
        raise FunctionLoadError(
            f"function {name}: the following parameters are declared in Python "
            f"but not in function.json: {sorted(extra)}"
        )
    return wants_context


def index_app(app_dir: Path) -> AppIndex:
    """Import APP_DIR/function_app.py (APP_DIR first on sys.path) and index its functions."""
    app_dir = app_dir.resolve()
    if not (app_dir / SCRIPT_FILE).is_file():
        raise FunctionLoadError(f"no {SCRIPT_FILE} in {app_dir}")
    sys.path.insert(0, str(app_dir))
    module = importlib.import_module(SCRIPT_FILE.removesuffix(".py"))
    app = _find_app(module)
    functions: dict[str, IndexedFunction] = {}
    for function in app.get_functions():
        name = str(function.get_function_name())
        trigger = function.get_trigger()
        if trigger is None:
            raise FunctionLoadError(f"function {name} has no trigger")
        bindings = [_plain(b.get_dict_repr()) for b in function.get_bindings()]
        trigger_dict = _plain(trigger.get_dict_repr())
        kind_value = trigger_dict.get("type")
        kinds = {k.value: k for k in TriggerKind}
        kind = kinds.get(str(kind_value), TriggerKind.OTHER)
        func = function.get_user_function()
        wants_context = _check_parameters(name, func, bindings)
        functions[name] = IndexedFunction(
            name=name,
            kind=kind,
            trigger=trigger_dict,
            bindings=bindings,
            func=func,
            parameters=tuple(inspect.signature(func).parameters),
            wants_context=wants_context,
        )
    return AppIndex(functions)
