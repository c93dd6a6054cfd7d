"""Read the Bicep templates with pycep (a maintained, pure-Python Bicep parser).

The parser turns a `.bicep` file into plain dicts: `parameters`, `variables`,
`resources`, `modules`, `outputs`, each keyed by symbolic name. Expressions come back
as nested dicts (`{"function": ...}`, `{"operator": ...}`), literals as themselves,
and a plain identifier as its name. These helpers pull out what the tests compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"


def bicep_files() -> list[Path]:
    """Every Bicep file of the template."""
    return sorted(INFRA.rglob("*.bicep"))


def parse_text(text: str) -> dict[str, Any]:
    """The parsed template; raises on a syntax error."""
    return dict(BicepParser().parse(text=text))


@cache
def parse(path: Path) -> dict[str, Any]:
    """The parsed file at `path` (cached: the templates do not change during a run)."""
    return parse_text(path.read_text(encoding="utf-8"))


def parameters(path: Path) -> dict[str, dict[str, Any]]:
    """The file's parameters by name."""
    return dict(parse(path).get("parameters", {}))


def required_parameters(path: Path) -> set[str]:
    """Parameters without a default: a caller must pass them."""
    return {name for name, p in parameters(path).items() if p.get("default") is None}


def modules(path: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Each module of the file: the module file and the params it is given."""
    found = {}
    for name, module in parse(path).get("modules", {}).items():
        target = (path.parent / module["detail"]["path"]).resolve()
        config = module["config"]
        config = config.get("config", config) if "condition" in config else config
        found[name] = (target, dict(config.get("params", {})))
    return found


def decorator(param: dict[str, Any], kind: str) -> Any:
    """The argument of a parameter's `@kind(...)` decorator, or None."""
    for item in param.get("decorators", []):
        if item.get("type") == kind:
            return item.get("argument")
    return None


def object_keys(expression: Any) -> Iterator[str]:
    """Every key of every object literal inside an expression (unquoted)."""
    if isinstance(expression, dict):
        if set(expression) == {"function"}:
            yield from object_keys(list(expression["function"].get("parameters", {}).values()))
        elif set(expression) == {"operator"}:
            yield from object_keys(list(expression["operator"].get("operands", {}).values()))
        else:
            for key, value in expression.items():
                yield key.strip("'")
                yield from object_keys(value)
    elif isinstance(expression, list):
        for item in expression:
            yield from object_keys(item)


def app_settings(path: Path) -> set[str]:
    """The names of the app settings a `Microsoft.Web/sites/config` resource sets.

    Object literals in the settings expression (and in the variables it uses, however
    deep) are settings; parameters (such as `extraAppSettings`) are the user's own.
    """
    template = parse(path)
    variables = template.get("variables", {})
    names: set[str] = set()
    for resource in template.get("resources", {}).values():
        if resource.get("type") != "Microsoft.Web/sites/config":
            continue
        pending = [resource["config"]["properties"]]
        seen: set[str] = set()
        while pending:
            expression = pending.pop()
            names.update(object_keys(expression))
            for var in (_identifiers(expression) & variables.keys()) - seen:
                seen.add(var)
                pending.append(variables[var]["value"])
    return names


def _identifiers(expression: Any) -> set[str]:
    """Names an expression uses as whole values (not a member or an element of)."""
    if isinstance(expression, str):
        return {expression}
    if isinstance(expression, dict):
        operator = expression.get("operator", {})
        if isinstance(operator, dict) and operator.get("type", "").endswith("_accessor"):
            return set()
        return {name for value in expression.values() for name in _identifiers(value)}
    if isinstance(expression, list):
        return {name for item in expression for name in _identifiers(item)}
    return set()
