"""A tiny router: route templates, the request context handlers get, and their replies.

Our own (rather than Starlette's) because the route *template* is needed before
dispatch: requests are counted and faults are matched by it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from emulator.errors import ApiError, bad_request
from emulator.state import EmulatorState

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Reply:
    """A JSON answer; `poll_hint` adds `openai-poll-after-ms` when that control is set."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    poll_hint: bool = False
    stream: Response | None = None  # server-sent events instead of `body`


@dataclass
class Ctx:
    """What a handler sees of a request."""

    state: EmulatorState
    params: dict[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]
    drop_midway: bool = False  # a stream answering this request breaks halfway
    deployment: str | None = None

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter within bounds, else the service's 400."""
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as error:
            raise bad_request(
                f"Invalid '{name}': expected an integer, got '{raw}'.", param=name
            ) from error
        if not low <= value <= high:
            raise bad_request(
                f"Invalid '{name}': integer must be between {low} and {high}, got {value}.",
                param=name,
                code="integer_out_of_range",
            )
        return value


Handler = Callable[[Ctx], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    """One endpoint: method, template (`/threads/{thread_id}/runs`) and handler."""

    method: str
    template: str
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        """The template as an anchored regular expression."""
        return re.compile("^" + _PARAM.sub(r"(?P<\1>[^/]+)", self.template) + "/?$")


class Router:
    """Finds the route of a path (already stripped of `/openai`, `/openai/v1`, ...)."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = [(route, route.pattern) for route in routes]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and path parameters for a request, or None."""
        for route, pattern in self._routes:
            if route.method != method:
                continue
            found = pattern.match(path)
            if found:
                return route, found.groupdict()
        return None


def require_object(body: Mapping[str, Any], name: str) -> Any:
    """A required body field, or the service's 'Missing required parameter' 400."""
    if name not in body or body[name] is None:
        raise ApiError(400, f"Missing required parameter: '{name}'.", param=name)
    return body[name]
