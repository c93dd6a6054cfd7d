"""HTTP triggers: route templates, `func.HttpRequest` in, `func.HttpResponse` out."""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from starlette.requests import Request
from starlette.responses import Response

from devhost import logs
from devhost.indexer import AppIndex, IndexedFunction, TriggerKind
from devhost.invoker import Invoker

LOGGER = logging.getLogger("devhost.http")

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?=]+)*(\?)?(?:=[^}]*)?\}")


def route_pattern(template: str) -> re.Pattern[str]:
    """Regex for an ASP.NET-style route template (`{id}`, `{id?}`, `{id:int}`, `{*rest}`)."""
    out = []
    pos = 0
    for match in _PARAM.finditer(template):
        out.append(re.escape(template[pos : match.start()]))
        catch_all, name, optional = match.group(1), match.group(2), match.group(3)
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


class HttpTriggers:
    """Dispatches `/<routePrefix>/<route>` requests to the app's HTTP functions."""

    def __init__(
        self, index: AppIndex, invoker: Invoker, route_prefix: str, key: str | None = None
    ) -> None:
        self._invoker = invoker
        self._prefix = route_prefix.strip("/")
        self._key = key
        self.routes = []
        for function in index.of_kind(TriggerKind.HTTP):
            template = str(function.trigger.get("route") or function.name).strip("/")
            methods = function.trigger.get("methods") or []
            self.routes.append(
                HttpRoute(function, route_pattern(template), frozenset(m.upper() for m in methods))
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
            path_matched = True
            if route.methods and method.upper() not in route.methods:
                continue
            params = {k: v for k, v in found.groupdict().items() if v is not None}
            return route, params
        return False if path_matched else None

    async def handle(self, request: Request) -> Response:
        """Serve one request (404/405 when no function takes it)."""
        matched = self.match(request.method, request.url.path)
        if matched is None:
            return Response(status_code=404)
        if matched is False:
            return Response(status_code=405)
        assert not isinstance(matched, bool)
        route, params = matched
        if not self._authorized(route.function, request):
            return Response(status_code=401)
        body = await request.body()
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query_params),
            route_params=params,
            body=body,
        )
        invocation_id = str(uuid.uuid4())
        started = time.monotonic()
        try:
            returned = await self._invoker.call(
                route.function, http_request, invocation_id=invocation_id
            )
        except Exception as exc:
            LOGGER.exception("function %s raised", route.function.name)
            logs.executed(
                route.function.name,
                ok=False,
                seconds=time.monotonic() - started,
                invocation_id=invocation_id,
                detail=f"{type(exc).__name__}: {exc}",
            )
            return Response(status_code=500)
        response = to_starlette(returned)
        logs.executed(
            route.function.name,
            ok=True,
            seconds=time.monotonic() - started,
            invocation_id=invocation_id,
            detail=f"{request.method} {request.url.path} -> {response.status_code}",
        )
        return response

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
    if returned is None:
        return Response(status_code=204)
    if isinstance(returned, bytes):
        return Response(content=returned, media_type="application/octet-stream")
    return Response(content=str(returned), media_type="text/plain; charset=utf-8")
