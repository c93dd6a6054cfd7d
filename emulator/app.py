"""The ASGI application: URL forms, auth, faults, dispatch, error rendering.

Order per request: admin prefix (served as is) -> API path -> route -> count ->
api-version (and its APIs) -> auth -> rate-limit budget -> request latency ->
injected fault -> body (chat parameters of the version) -> handler. Every answer
carries Azure's headers (emulator/headers.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from emulator import assistants_api, chat, responses_api, runs, versions
from emulator.admin import PREFIX as ADMIN_PREFIX
from emulator.admin import handle_admin
from emulator.auth import refusal
from emulator.config import ConfigError, Latency
from emulator.errors import (
    ApiError,
    bad_request,
    rate_limited,
    route_not_found,
    server_error,
    unauthorized,
)
from emulator.headers import azure_headers, request_tokens
from emulator.identity import IDENTITY_PATH, token_answer
from emulator.routing import Ctx, Reply, Router
from emulator.state import EmulatorState

logger = logging.getLogger(__name__)

FAULT_HEADER = "x-emulator-fault"
LOST = "lost"
"""The fault that handles the request, then drops the answer (a lost reply)."""
LATENCY_HEADER = "x-emulator-latency-ms"
POLL_HEADER = "openai-poll-after-ms"
UNUSABLE_JSON = (
    "We could not parse the JSON body of your request. The API expects a JSON payload, "
    "but what was sent was not valid JSON."
)
_DROPPED = "ASGI callable returned without completing response."


class _HideDroppedConnections(logging.Filter):
    """Keep uvicorn from logging as an error the connections dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROPPED


def _hide_dropped_connection_errors() -> None:
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDroppedConnections) for f in server_log.filters):
        server_log.addFilter(_HideDroppedConnections())


@dataclass(frozen=True)
class ApiPath:
    """Where a URL points: the API path, whether it is the v1 form, and the deployment."""

    path: str
    v1: bool
    deployment: str | None = None


def api_path(path: str) -> ApiPath | None:
    """The API path behind a URL form.

    `/openai/v1/<p>` and `/v1/<p>` are the v1 API (api-version optional: v1 or
    preview); `/openai/<p>` and `/openai/deployments/<d>/<p>` take dated versions.
    """
    for prefix in ("/openai/v1/", "/v1/"):
        if path.startswith(prefix):
            return ApiPath("/" + path[len(prefix) :], v1=True)
    if path.startswith("/openai/deployments/"):
        parts = path.split("/", 4)
        return ApiPath("/" + parts[4], v1=False, deployment=parts[3]) if len(parts) == 5 else None
    if path.startswith("/openai/"):
        return ApiPath(path[len("/openai") :], v1=False)
    return None


class EmulatorApp:
    """The emulator as an ASGI callable over one `EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.router = Router(
            assistants_api.ROUTES + runs.ROUTES + responses_api.ROUTES + chat.ROUTES
        )
        _hide_dropped_connection_errors()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if request.url.path.startswith(ADMIN_PREFIX):
            response: Response | None = await handle_admin(self.state, request)
        elif request.url.path == IDENTITY_PATH and self.state.token is not None:
            response = self._identity(request)
        else:
            response = await self._serve(request, send)
        if response is not None:
            await response(scope, receive, send)

    def _identity(self, request: Request) -> Response:
        """The managed-identity token endpoint (see emulator/identity.py)."""
        state = self.state
        assert state.token is not None
        state.requests[f"GET {IDENTITY_PATH}"] += 1
        status, body = token_answer(
            state.token,
            state.identity_header or state.token,
            query=request.query_params,
            headers=request.headers,
            now=state.clock(),
            lifetime_seconds=state.controls.token_lifetime_seconds,
        )
        return JSONResponse(body, status_code=status)

    async def _serve(self, request: Request, send: Send) -> Response | None:
        """Answer an API request; None when the connection was dropped on purpose."""
        method = request.method
        fault: str | None = None
        remaining: tuple[int, int] | None = None
        try:
            resolved = api_path(request.url.path)
            matched = self.router.match(method, resolved.path) if resolved else None
            if resolved is None or matched is None:
                self.state.requests[f"{method} (unmatched)"] += 1
                raise route_not_found()
            route, params = matched
            self.state.requests[f"{method} {route.template}"] += 1
            version = versions.version_for(resolved.v1, request.query_params.get("api-version"))
            versions.check_route(version, route.template)
            refused = refusal(
                request.headers, self.state.api_key, self.state.token, self.state.clock()
            )
            if refused is not None:
                raise refused
            raw = await request.body()
            remaining = self.state.rate_window.add(self.state.clock(), request_tokens(raw))
            await self._delay(request)
            fault = self.state.pick_fault(method, route.template, request.headers.get(FAULT_HEADER))
            if fault == "drop":
                await _drop(send)
                return None
            if fault is not None and fault not in ("drop_midway", LOST):
                raise self._fault_error(fault)
            body = _json_body(raw)
            if versions.api_of(route.template) is versions.Api.CHAT:
                versions.check_chat_params(version, body)
            ctx = Ctx(
                state=self.state,
                params=params,
                query=request.query_params,
                headers=request.headers,
                body=body,
                drop_midway=fault == "drop_midway",
                deployment=resolved.deployment,
            )
            reply = await route.handler(ctx)
        except ApiError as error:
            if fault == LOST:
                await _drop(send)
                return None
            return _error_response(error, remaining)
        if fault == LOST:  # done, but the client never hears of it
            await _drop(send)
            return None
        return self._reply(reply, remaining)

    async def _delay(self, request: Request) -> None:
        asked = request.headers.get(LATENCY_HEADER)
        try:
            latency = Latency.parse(asked) if asked else self.state.controls.request_latency_ms
        except ConfigError as error:
            raise bad_request(str(error), param=LATENCY_HEADER) from error
        seconds = latency.sample_seconds(self.state.rng)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _fault_error(self, fault: str) -> ApiError:
        if fault == "429":
            controls = self.state.controls
            return rate_limited(controls.retry_after, controls.retry_after_ms)
        if fault in ("500", "503"):
            return server_error(int(fault))
        if fault == "401":
            return unauthorized()
        return bad_request(
            f"Unknown {FAULT_HEADER} {fault!r}: use 401, 429, 500, 503, drop, drop_midway or lost."
        )

    def _reply(self, reply: Reply, remaining: tuple[int, int] | None) -> Response:
        headers = {**azure_headers(reply.status, remaining), **reply.headers}
        if reply.stream is not None:
            reply.stream.headers.update(headers)
            return reply.stream
        poll_after = self.state.controls.poll_after_ms
        if reply.poll_hint and poll_after is not None:
            headers[POLL_HEADER] = str(poll_after)
        return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def _error_response(error: ApiError, remaining: tuple[int, int] | None = None) -> Response:
    headers = {**azure_headers(error.status, remaining), **error.headers}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise bad_request(UNUSABLE_JSON) from error
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


async def _drop(send: Send) -> None:
    """Start an answer and stop halfway: the client sees the connection break."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
