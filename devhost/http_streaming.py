"""HTTP streams: apps whose HTTP triggers use the FastAPI types of
`azurefunctions-extensions-http-fastapi`.

Importing that extension switches the Python worker's HTTP handling for the whole app:
the worker serves an ASGI app of its own (FastAPI under uvicorn), the host forwards each
HTTP request to it, the function receives the FastAPI `Request` (route parameters in
`request.path_params`), and whatever it returns goes back through FastAPI, so a
`StreamingResponse` reaches the client chunk by chunk. devhost mirrors that: it matches
the route as the host does, then hands the request to a FastAPI app built by the
extension's own `WebApp`, whose one catch-all route calls the function.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import socket
import typing
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from devhost.indexer import AppIndex, FunctionLoadError, IndexedFunction, TriggerKind
from devhost.invoker import Invoker
from devhost.tracing import Carried

LOGGER = logging.getLogger("devhost.http")

INVOCATION_HEADER = "x-ms-invocation-id"
INIT_INDEXING = "PYTHON_ENABLE_INIT_INDEXING"


def web_extension() -> ModuleType | None:
    """The web extension module the app imported, or None when HTTP works the classic way.

    The worker asks `azurefunctions.extensions.base` whether any web extension defined its
    classes (the import alone is enough), exactly as here."""
    try:
        from azurefunctions.extensions.base import ModuleTrackerMeta  # noqa: PLC0415
    except ImportError:
        return None
    name = ModuleTrackerMeta.get_module()
    return importlib.import_module(name) if name else None


def _is_false(value: str | None) -> bool:
    return (value or "").strip().lower() in ("false", "0")


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def _annotations(function: IndexedFunction) -> dict[str, Any]:
    """Resolved annotations, as the worker reads them (`typing.get_type_hints`)."""
    try:
        return typing.get_type_hints(function.func)
    except Exception:  # unresolvable names: the worker would fail differently; skip
        return {}


def check_streaming_app(index: AppIndex) -> list[str]:
    """Refuse what the worker refuses in streaming mode; return warnings for the rest.

    With the extension imported, an HTTP trigger parameter annotated with anything but
    the FastAPI `Request` (e.g. `func.HttpRequest`), or a return annotation that is no
    response type the extension knows (e.g. `func.HttpResponse`), stops the worker from
    indexing the app: the two HTTP models cannot be mixed in one app."""
    from azurefunctions.extensions.base import (  # noqa: PLC0415
        RequestTrackerMeta,
        ResponseTrackerMeta,
    )

    if _is_false(os.environ.get(INIT_INDEXING)):
        raise FunctionLoadError(
            f"the app imports an HTTP streaming extension but {INIT_INDEXING} is false; "
            "the worker then neither starts its HTTP server nor accepts the FastAPI types"
        )
    for function in index.of_kind(TriggerKind.HTTP):
        hints = _annotations(function)
        param = function.trigger_name
        if param in hints and not RequestTrackerMeta.check_type(hints[param]):
            raise FunctionLoadError(
                f"cannot load the {function.name} function: type of {param} binding in "
                f'function.json "httpTrigger" does not match its Python annotation '
                f'"{getattr(hints[param], "__name__", hints[param])}" (the app imports '
                "azurefunctions.extensions.http.fastapi, so every HTTP trigger takes its "
                "Request type)"
            )
        returned = hints.get("return", inspect.Signature.empty)
        has_return = any(b.get("name") == "$return" for b in function.bindings)
        annotated = returned is not inspect.Signature.empty
        if has_return and annotated and not isinstance(returned, type):
            raise FunctionLoadError(
                f"cannot load the {function.name} function: has invalid non-type return "
                f"annotation {returned!r}"
            )
        if has_return and annotated and not ResponseTrackerMeta.check_type(returned):
            raise FunctionLoadError(
                f"cannot load the {function.name} function: Python return annotation "
                f'"{getattr(returned, "__name__", returned)}" does not match binding '
                'type "http" (the app imports azurefunctions.extensions.http.fastapi, '
                "so HTTP triggers return its response types)"
            )
    warnings = []
    if not _is_true(os.environ.get(INIT_INDEXING)):
        warnings.append(
            f"HTTP streams on Azure need the app setting {INIT_INDEXING}=1 "
            "(devhost serves them without it)"
        )
    return warnings


@dataclass(frozen=True)
class _Pending:
    function: IndexedFunction
    params: dict[str, str]


class StreamingHttp:
    """The worker's side of HTTP streams: an ASGI app that runs the matched function."""

    def __init__(self, extension: ModuleType, invoker: Invoker) -> None:
        from azurefunctions.extensions.base import RequestTrackerMeta  # noqa: PLC0415

        self._invoker = invoker
        self._pending: dict[str, _Pending] = {}
        self._synchronizer = RequestTrackerMeta.get_synchronizer()
        web_app = extension.WebApp()
        web_app.route(self._catch_all)
        self.asgi = web_app.get_app()
        # The worker's own server listens on a free loopback port; the host's proxy
        # sends requests there with that address as their Host. devhost only needs the
        # address (nothing listens on it): it is what `request.url` shows on Azure.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.worker_address: tuple[str, int] = probe.getsockname()

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        function: IndexedFunction,
        params: dict[str, str],
    ) -> None:
        """Forward one matched request as the host's proxy does: to the worker's address
        (the Host header names it), with `X-Forwarded-Host/Proto/For` and the invocation
        id added. The worker's uvicorn applies `X-Forwarded-Proto` and `-For` (it trusts
        loopback), not `-Host`: so on Azure `request.url` is the worker's address, and
        public URLs must be built from `X-Forwarded-Host`."""
        invocation_id = str(uuid.uuid4())
        self._pending[invocation_id] = _Pending(function, params)
        original = Request(scope)
        client = scope.get("client")
        worker_host, worker_port = self.worker_address
        added = {
            "host": f"{worker_host}:{worker_port}",
            INVOCATION_HEADER: invocation_id,
            "x-forwarded-host": original.headers.get("host", ""),
            "x-forwarded-proto": scope.get("scheme", "http"),
            "x-forwarded-for": client[0] if client else "",
        }
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1") not in added]
        headers += [(k.encode(), v.encode("latin-1")) for k, v in added.items() if v]
        inner: Scope = {
            key: scope[key]
            for key in (
                "type",
                "asgi",
                "http_version",
                "method",
                "scheme",
                "path",
                "raw_path",
                "query_string",
                "client",
            )
            if key in scope
        }
        inner.update(headers=headers, root_path="", server=self.worker_address)
        try:
            await self.asgi(inner, receive, send)
        finally:
            self._pending.pop(invocation_id, None)

    # No return annotation, like the worker's own catch-all: FastAPI would otherwise read
    # it as a response model and serialize what the function returns differently.
    async def _catch_all(self, request: Request):  # type: ignore[no-untyped-def]
        """The worker's catch-all route: sync route params, call the function, return."""
        invocation_id = request.headers.get(INVOCATION_HEADER, "")
        pending = self._pending.pop(invocation_id, None)
        if pending is None:
            return PlainTextResponse("Not Found", status_code=404)
        self._synchronizer.sync_route_params(request, pending.params)
        ok, returned = await self._invoker.call_logged(
            pending.function,
            request,
            invocation_id=invocation_id,
            trace_context=Carried.from_headers(request.headers).invocation(),
            detail=lambda r: (
                f"{request.method} {request.url.path} -> {getattr(r, 'status_code', 200)}"
            ),
        )
        return returned if ok else PlainTextResponse("Internal Server Error", status_code=500)
