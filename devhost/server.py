"""Assemble devhost for one app: index, store, engine, and the ASGI app serving it."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devhost.admin import AdminApi
from devhost.client_binding import client_binding
from devhost.config import HostConfig
from devhost.engine import Engine
from devhost.http_streaming import StreamingHttp, check_streaming_app, web_extension
from devhost.http_triggers import HttpTriggers
from devhost.indexer import AppIndex, TriggerKind, index_app, unsupported
from devhost.invoker import Invoker
from devhost.management_api import ManagementApi
from devhost.store import Store
from devhost.timer_triggers import TimerTriggers

LOGGER = logging.getLogger("devhost")


class DevHost:
    """Everything that serves one app; `origin` is the URL clients reach it at."""

    def __init__(
        self, app_dir: Path, data_dir: Path, origin: str, function_key: str | None = None
    ) -> None:
        self.app_dir = app_dir
        self.origin = origin
        self.config = HostConfig.load(app_dir)
        self.index: AppIndex = index_app(app_dir)
        for note in unsupported(self.index):
            LOGGER.warning("%s", note)
        self.store = Store(data_dir)
        self.invoker = Invoker(
            str(app_dir), lambda binding: client_binding(self.origin, self.config.hub_name, binding)
        )
        self.engine = Engine(self.store, self.index, self.config, self.invoker)
        self.streaming: StreamingHttp | None = None
        extension = web_extension()
        if extension is not None:
            for warning in check_streaming_app(self.index):
                LOGGER.warning("%s", warning)
            self.streaming = StreamingHttp(extension, self.invoker)
        self.http = HttpTriggers(
            self.index, self.invoker, self.config.route_prefix, function_key, self.streaming
        )
        self.timers = TimerTriggers(self.index, self.invoker)
        self.management = ManagementApi(self.engine, self.config.hub_name)
        self.admin = AdminApi(
            self.index, self.invoker, self.timers, self.store, self.engine.episodes
        )
        routes = [
            *self.management.routes(),
            *self.admin.routes(),
            Route("/", self._root),
            Route(
                "/{path:path}",
                self.http,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            ),
        ]
        self.asgi = Starlette(routes=routes)

    async def _root(self, request: Request) -> Response:
        return Response("devhost is running", media_type="text/plain")

    def describe(self) -> None:
        """Log the indexed functions like the host's startup listing."""
        prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
        if self.streaming is not None:
            LOGGER.info("HTTP streams: the app's HTTP triggers use the FastAPI types (ASGI mode)")
        for function in self.index.functions.values():
            if function.kind is TriggerKind.HTTP:
                methods = ",".join(function.trigger.get("methods") or []) or "ALL"
                route = str(function.trigger.get("route") or function.name).strip("/")
                LOGGER.info("%s: [%s] %s%s/%s", function.name, methods, self.origin, prefix, route)
            else:
                LOGGER.info("%s: %s", function.name, function.kind.value)

    def start_background(self) -> None:
        """Start the durable engine (resumes stored work)."""
        self.engine.start()

    def start_timers(self) -> None:
        """Start timer triggers (after the server listens, so they can call it)."""
        self.timers.start()

    async def stop(self) -> None:
        """Stop timers and the engine, then close the store."""
        await self.timers.stop()
        await self.engine.stop()
        self.store.close()
