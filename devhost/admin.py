"""Admin endpoints: `POST /admin/functions/<name>` runs a non-HTTP function now (as the
host's does); `GET /admin/instances/<id>/history` shows an instance's stored history
exactly as the orchestrator receives it (DurableTask events, ids and all);
`GET /admin/episodes` counts the orchestrator episodes run so far and their CPU
seconds (devhost's own, for benchmarks: the real host has no such endpoint)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devhost.engine import EpisodeTally
from devhost.indexer import AppIndex, TriggerKind
from devhost.invoker import Invoker
from devhost.store import Store
from devhost.timer_triggers import TimerTriggers, run_logged, timer_request_json


class AdminApi:
    """Accepts the request (202) and runs the function in the background."""

    def __init__(
        self,
        index: AppIndex,
        invoker: Invoker,
        timers: TimerTriggers,
        store: Store,
        episodes: EpisodeTally,
    ) -> None:
        self._index = index
        self._episodes = episodes
        self._store = store
        self._invoker = invoker
        self._timers = timers
        self._tasks: set[asyncio.Task[Any]] = set()

    def routes(self) -> list[Route]:
        """The admin routes."""
        return [
            Route("/admin/functions/{name}", self.run, methods=["POST"]),
            Route("/admin/instances/{instance_id}/history", self.history, methods=["GET"]),
            Route("/admin/episodes", self.episodes, methods=["GET"]),
        ]

    async def episodes(self, request: Request) -> Response:
        """Orchestrator episodes run since the host started, and their CPU seconds."""
        return JSONResponse(self._episodes.totals())

    async def history(self, request: Request) -> Response:
        """The stored history of the instance's current execution (404 when unknown)."""
        instance_id = request.path_params["instance_id"]
        if self._store.get(instance_id) is None:
            return Response(status_code=404)
        return JSONResponse(self._store.history(instance_id))

    async def run(self, request: Request) -> Response:
        """Run the named function with `{"input": ...}` from the body."""
        name = request.path_params["name"]
        function = next(
            (f for f in self._index.functions.values() if f.name.lower() == name.lower()), None
        )
        if function is None:
            return Response(status_code=404)
        if function.kind in (TriggerKind.HTTP, TriggerKind.ORCHESTRATION, TriggerKind.ACTIVITY):
            return JSONResponse(
                {
                    "error": f"'{function.name}' is a {function.kind.value} function; "
                    "the admin endpoint runs non-HTTP, non-durable functions"
                },
                status_code=400,
            )
        raw = await request.body()
        payload = json.loads(raw) if raw.strip() else {}
        value: Any = payload.get("input") if isinstance(payload, dict) else None
        if function.kind is TriggerKind.TIMER:
            schedule = self._timers.schedules[function.name]
            now = datetime.now(UTC)
            task = asyncio.create_task(
                self._timers.fire(function, timer_request_json(schedule, None, now))
            )
        else:
            task = asyncio.create_task(run_logged(self._invoker, function, value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response(status_code=202)
