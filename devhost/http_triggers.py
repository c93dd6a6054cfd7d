"""HTTP triggers: route templates, `func.HttpRequest` in, `func.HttpResponse` out, or the
FastAPI types throughout when the app uses HTTP streams (see `http_streaming`)."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from devhost.http_streaming import StreamingHttp
from devhost.indexer import AppIndex, FunctionLoadError, IndexedFunction, TriggerKind
from devhost.invoker import Invoker
from devhost.tracing import Carried

LOGGER = logging.getLogger("devhost.http")

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)((?::[^}?=]+)*)(\?)?(?:=[^}]*)?\}")

_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_FLOAT = re.compile(r"^\s*[+-]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_DECIMAL = re.compile(r"^\s*[+-]?(?:\d[\d,]*\.?\d*|\.\d+)\s*$")
_ALPHA = re.compile(r"^[a-z]*$", re.IGNORECASE)
_HEX = "[0-9a-fA-F]"
_GUID_D = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_GUID = re.compile(rf"^\s*(?:{_HEX}{{32}}|{_GUID_D}|\{{{_GUID_D}\}}|\({_GUID_D}\))\s*$")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_ARGS = re.compile(r"^([a-z]+)(?:\((.*)\))?$", re.IGNORECASE)

Check = Callable[[str], bool]


class RouteTemplateError(FunctionLoadError):
    """A route template devhost cannot enforce as the host would."""


def _integer(bounds: tuple[int, int]) -> Check:
    return lambda v: bool(_INTEGER.match(v)) and bounds[0] <= int(v) <= bounds[1]


def _constraint(spec: str, template: str) -> Check:
    """One ASP.NET route constraint (`int`, `guid`, `minlength(3)`, ...) as a value test."""
    found = _ARGS.match(spec)
    name, raw = (found.group(1).lower(), found.group(2)) if found else (spec, None)
    simple: dict[str, Check] = {
        "int": _integer(_INT32),
        "long": _integer(_INT64),
        "bool": lambda v: v.strip().lower() in ("true", "false"),
        "guid": lambda v: bool(_GUID.match(v)),
        "alpha": lambda v: bool(_ALPHA.match(v)),
        "double": lambda v: bool(_FLOAT.match(v)),
        "float": lambda v: bool(_FLOAT.match(v)),
        "decimal": lambda v: bool(_DECIMAL.match(v)),
    }
    if found and raw is None and name in simple:
        return simple[name]
    try:
        args = [int(a) for a in (raw or "").split(",")] if raw is not None else []
    except ValueError:
        args = []
    bounded: dict[tuple[str, int], Check] = {}
    if len(args) == 1:
        n = args[0]
        bounded = {
            ("minlength", 1): lambda v: len(v) >= n,
            ("maxlength", 1): lambda v: len(v) <= n,
            ("length", 1): lambda v: len(v) == n,
            ("min", 1): lambda v: _integer(_INT64)(v) and int(v) >= n,
            ("max", 1): lambda v: _integer(_INT64)(v) and int(v) <= n,
        }
    elif len(args) == 2:
        low, high = args
        bounded = {
            ("length", 2): lambda v: low <= len(v) <= high,
            ("range", 2): lambda v: _integer(_INT64)(v) and low <= int(v) <= high,
        }
    check = bounded.get((name, len(args)))
    if check is None:
        raise RouteTemplateError(
            f"route '{template}': devhost does not support the route constraint '{spec}' "
            "(supported: int, long, bool, guid, alpha, double, float, decimal, minlength(n), "
            "maxlength(n), length(n), length(a,b), min(n), max(n), range(a,b))"
        )
    return check


def route_constraints(template: str) -> dict[str, list[Check]]:
    """Value tests per parameter; raises RouteTemplateError for unsupported constraints."""
    checks: dict[str, list[Check]] = {}
    for match in _PARAM.finditer(template):
        specs = [s for s in match.group(3).split(":") if s]
        checks[match.group(2)] = [_constraint(s, template) for s in specs]
    return checks


def route_pattern(template: str) -> re.Pattern[str]:
    """Regex for an ASP.NET-style route template (`{id}`, `{id?}`, `{id:int}`, `{*rest}`);
    constraints are tested separately (`route_constraints`)."""
    out = []
    pos = 0
    for match in _PARAM.finditer(template):
        out.append(re.escape(template[pos : match.start()]))
        catch_all, name, optional = match.group(1), match.group(2), match.group(4)
        body = ".*" if catch_all else "[^/]+"
        if optional or catch_all:
            if out and out[-1].endswith("/"):
                out[-1] = out[-1][:-1]
                out.append(f"(?:/(?P<{name}>{body}))?")
            else:
                out.append(f"(?P<{name}>{body})?")
        else:
            out.append(f"(?P<{name}>{body})")
        pos = match.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out).strip("/") + "/?$", re.IGNORECASE)


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP-triggered function and where it listens."""

    function: IndexedFunction
    pattern: re.Pattern[str]
    methods: frozenset[str]
    constraints: dict[str, list[Check]]

    def accepts(self, params: dict[str, str]) -> bool:
        """Every present parameter meets its constraints (an absent optional one is fine)."""
        return all(
            all(check(params[name]) for check in checks)
            for name, checks in self.constraints.items()
            if name in params
        )


class HttpTriggers:
    """Dispatches `/<routePrefix>/<route>` requests to the app's HTTP functions."""

    def __init__(
        self,
        index: AppIndex,
        invoker: Invoker,
        route_prefix: str,
        key: str | None = None,
        streaming: StreamingHttp | None = None,
    ) -> None:
        self._invoker = invoker
        self._streaming = streaming
        self._prefix = route_prefix.strip("/")
        self._key = key
        self.routes = []
        for function in index.of_kind(TriggerKind.HTTP):
            template = str(function.trigger.get("route") or function.name).strip("/")
            methods = function.trigger.get("methods") or []
            try:
                constraints = route_constraints(template)
            except RouteTemplateError as exc:
                raise RouteTemplateError(f"function {function.name}: {exc}") from None
            self.routes.append(
                HttpRoute(
                    function,
                    route_pattern(template),
                    frozenset(m.upper() for m in methods),
                    constraints,
                )
            )

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | bool | None:
        """The route and its parameters; False when the path matches but not the method."""
        path = path.strip("/")
        if self._prefix:
            if not (path.lower() + "/").startswith(self._prefix.lower() + "/"):
                return None
            path = path[len(self._prefix) :].strip("/")
        path_matched = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            params = {k: v for k, v in found.groupdict().items() if v is not None}
            if not route.accepts(params):
                continue
            path_matched = True
            if route.methods and method.upper() not in route.methods:
                continue
            return route, params
        return False if path_matched else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: 404/405 when no function takes the request, else run the function."""
        request = Request(scope, receive)
        matched = self.match(request.method, request.url.path)
        if matched is None:
            await Response(status_code=404)(scope, receive, send)
            return
        if matched is False:
            await Response(status_code=405)(scope, receive, send)
            return
        assert not isinstance(matched, bool)
        route, params = matched
        if not self._authorized(route.function, request):
            await Response(status_code=401)(scope, receive, send)
            return
        if self._streaming is not None:
            await self._streaming.forward(scope, receive, send, route.function, params)
            return
        response = await self._classic(request, route, params)
        await response(scope, receive, send)

    async def _classic(
        self, request: Request, route: HttpRoute, params: dict[str, str]
    ) -> Response:
        """`func.HttpRequest` in, the encoded `func.HttpResponse` (or `str`) out."""
        body = await request.body()
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query_params),
            route_params=params,
            body=body,
        )
        ok, response = await self._invoker.call_logged(
            route.function,
            http_request,
            trace_context=Carried.from_headers(request.headers).invocation(),
            convert=to_starlette,
            detail=lambda r: f"{request.method} {request.url.path} -> {r.status_code}",
        )
        return response if ok else Response(status_code=500)

    def _authorized(self, function: IndexedFunction, request: Request) -> bool:
        """Keys are only checked when devhost was asked to (`--require-keys`)."""
        if self._key is None:
            return True
        if str(function.trigger.get("authLevel") or "function").lower() == "anonymous":
            return True
        given = request.query_params.get("code") or request.headers.get("x-functions-key")
        return given is not None and hmac.compare_digest(given, self._key)


def to_starlette(returned: Any) -> Response:
    """Turn what an HTTP function returned into the response the host would send."""
    if isinstance(returned, func.HttpResponse):
        headers = dict(returned.headers)
        media_type = headers.pop("Content-Type", None) or headers.pop("content-type", None)
        if media_type is None and returned.mimetype:
            media_type = returned.mimetype
            if returned.charset and media_type.startswith("text/"):
                media_type += f"; charset={returned.charset}"
        return Response(
            content=returned.get_body(),
            status_code=returned.status_code,
            headers=headers,
            media_type=media_type,
        )
    if isinstance(returned, str):
        return Response(content=returned, media_type="text/plain; charset=utf-8")
    # The worker's HttpResponseConverter.encode takes only these two; anything else
    # (None, dict, bytes, int, ...) fails the invocation and the host answers 500.
    raise TypeError(
        "unable to encode outgoing TypedData: unsupported type "
        f'"HttpResponseConverter" for Python type "{type(returned).__name__}"'
    )
