"""Scripts: the data files that play the model's part, and their `{{...}}` templates.

A script is a list of turns. A turn either calls tools (one or several at once)
or answers with text. Arguments and answers are templates over the question
(`{{question}}`), the named groups of the script's `match` pattern
(`{{match.cat}}`) and the outputs of earlier calls (`{{outputs.get_flights.flights}}`).
See docs/emulator.md for the file format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.content_filter import CATEGORIES, FilterRule, FilterRuleError

SCRIPTS_DIR = Path(__file__).parent / "scripts"
DEFAULT_SCRIPT = SCRIPTS_DIR / "seed.json"
DEFAULT_FALLBACK = "I have no script for this question: {{question}}"

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_WHOLE = re.compile(r"^\{\{\s*([^{}]+?)\s*\}\}$")


class ScriptError(ValueError):
    """A script file that cannot be used: bad JSON, a turn of unknown shape, ..."""


class TemplateError(LookupError):
    """A `{{path}}` with no value, e.g. a tool output without the expected key."""


@dataclass(frozen=True)
class CallSpec:
    """One tool call of a turn: the tool, its argument template, the name its output gets."""

    name: str
    arguments: Any
    alias: str
    call_id: str | None = None  # a fixed id (two calls may share one, as a model may do)


@dataclass(frozen=True)
class Turn:
    """Either tool calls (`calls`) or a text answer (`answer`)."""

    calls: tuple[CallSpec, ...] = ()
    answer: str | None = None
    filtered: str | None = None


@dataclass(frozen=True)
class Script:
    """A named list of turns, picked when `match` finds the question (or always, without it)."""

    name: str
    turns: tuple[Turn, ...]
    match: re.Pattern[str] | None = None

    def groups(self, question: str) -> dict[str, str] | None:
        """The named groups of `match` in the question, or None when it does not match."""
        if self.match is None:
            return {}
        found = self.match.search(question)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


@dataclass
class ScriptBook:
    """All loaded scripts, in order; the first that matches a question plays it."""

    scripts: list[Script] = field(default_factory=list)
    fallback: str = DEFAULT_FALLBACK
    filters: list[FilterRule] = field(default_factory=list)

    @classmethod
    def load(cls, paths: Iterable[Path | str] | None = None) -> ScriptBook:
        """Read script files (the default `seed.json` when none are given)."""
        book = cls()
        for path in list(paths or []) or [DEFAULT_SCRIPT]:
            book.add_file(Path(path))
        return book

    def add_file(self, path: Path) -> None:
        """Add the scripts of one file; its `fallback`, if any, replaces the current one."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ScriptError(f"{path}: {error}") from error
        self.add_data(data, default_name=path.stem)

    def add_data(self, data: Any, *, default_name: str = "script") -> None:
        """Add scripts from parsed JSON: a list of turns, a script, or `{"scripts": [...]}`."""
        if isinstance(data, list):
            self.scripts.append(parse_script({"name": default_name, "turns": data}))
            return
        if not isinstance(data, dict):
            raise ScriptError(f"{default_name}: a script file holds a list or an object")
        if "scripts" in data:
            if not isinstance(data["scripts"], list):
                raise ScriptError(f"{default_name}: 'scripts' must be a list")
            self.scripts.extend(parse_script(item) for item in data["scripts"])
        elif "turns" in data:
            self.scripts.append(parse_script({"name": default_name, **data}))
        rules = data.get("content_filter", [])
        if not isinstance(rules, list):
            raise ScriptError(f"{default_name}: 'content_filter' must be a list of rules")
        try:
            self.filters.extend(FilterRule.parse(rule) for rule in rules)
        except FilterRuleError as error:
            raise ScriptError(f"{default_name}: {error}") from error
        if "fallback" in data:
            if not isinstance(data["fallback"], str):
                raise ScriptError(f"{default_name}: 'fallback' must be a string")
            self.fallback = data["fallback"]

    def select(
        self, question: str, name: str | None = None
    ) -> tuple[Script | None, dict[str, str]]:
        """The script for this question (or the one named), with its match groups."""
        for script in self.scripts:
            if name is not None:
                if script.name == name:
                    return script, script.groups(question) or {}
                continue
            groups = script.groups(question)
            if groups is not None:
                return script, groups
        return None, {}


def parse_script(data: Any) -> Script:
    """Check and build one script from its JSON object."""
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
        raise ScriptError(f"a script needs a list of 'turns': {data!r}")
    name = str(data.get("name") or "script")
    pattern = data.get("match")
    if pattern is not None and not isinstance(pattern, str):
        raise ScriptError(f"script {name}: 'match' must be a regular expression string")
    try:
        match = re.compile(pattern) if pattern is not None else None
    except re.error as error:
        raise ScriptError(f"script {name}: bad 'match' pattern: {error}") from error
    turns = tuple(_parse_turn(name, index, turn) for index, turn in enumerate(data["turns"]))
    if not turns:
        raise ScriptError(f"script {name}: no turns")
    return Script(name=name, turns=turns, match=match)


def _parse_turn(script: str, index: int, data: Any) -> Turn:
    where = f"script {script}, turn {index}"
    if not isinstance(data, dict) or ("call" in data) == ("answer" in data):
        raise ScriptError(f"{where}: a turn has either 'call' or 'answer'")
    if "answer" in data:
        if not isinstance(data["answer"], str):
            raise ScriptError(f"{where}: 'answer' must be a string")
        filtered = data.get("filtered")
        if filtered is not None and filtered not in CATEGORIES:
            raise ScriptError(f"{where}: 'filtered' is one of {CATEGORIES}")
        return Turn(answer=data["answer"], filtered=filtered)
    items = data["call"] if isinstance(data["call"], list) else [data["call"]]
    calls: list[CallSpec] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ScriptError(f"{where}: each call needs a tool 'name'")
        alias = item.get("as", item["name"])
        if not isinstance(alias, str) or alias in {c.alias for c in calls}:
            raise ScriptError(f"{where}: two calls named {alias!r}; give one an 'as'")
        fixed_id = item.get("id")
        if fixed_id is not None and not isinstance(fixed_id, str):
            raise ScriptError(f"{where}: a call's 'id' must be a string")
        arguments = item.get("arguments", {})
        calls.append(CallSpec(item["name"], arguments, alias, call_id=fixed_id))
    if not calls:
        raise ScriptError(f"{where}: 'call' lists no tool")
    return Turn(calls=tuple(calls))


def render(template: Any, context: Mapping[str, Any]) -> Any:
    """Fill `{{path}}` placeholders; a string that is one placeholder keeps the value's type."""
    if isinstance(template, dict):
        return {key: render(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, context) for value in template]
    if not isinstance(template, str):
        return template
    whole = _WHOLE.match(template)
    if whole:
        return lookup(context, whole.group(1))
    return _PLACEHOLDER.sub(lambda m: _as_text(lookup(context, m.group(1))), template)


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`outputs.get_flights.flights`, `outputs.list.0`)."""
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"'{{{{{path}}}}}' has no value")
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)
