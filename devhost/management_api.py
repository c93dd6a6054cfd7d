"""The Durable extension's HTTP management API, which the SDK's client calls.

Served under `/runtime/webhooks/durabletask` (the public webhook URLs) and `/durabletask`
(the `rpcBaseUrl` the Python client uses); both take the same requests.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devhost.client_binding import RPC_PATH, WEBHOOK_PATH, management_urls
from devhost.engine import Engine
from devhost.history import EventType, iso_seconds, parse_time
from devhost.indexer import TriggerKind
from devhost.store import Instance
from devhost.tracing import Carried

TERMINAL_DEFAULT = ["Completed", "Failed", "Terminated"]
ORCHESTRATION_STATUS = {1: "Completed", 2: "ContinuedAsNew", 3: "Failed", 5: "Terminated"}
_BAD_ID = re.compile(r"[/\\?#\x00-\x1f\x7f]")


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "Message": "One or more of the arguments submitted is incorrect",
            "ExceptionMessage": message,
        }
        if status == 400
        else {"Message": message},
        status_code=status,
    )


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    return default if value is None else value.lower() == "true"


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class ManagementApi:
    """Request handlers over the engine and its store."""

    def __init__(self, engine: Engine, hub: str) -> None:
        self.engine = engine
        self.store = engine.store
        self.hub = hub

    def routes(self) -> list[BaseRoute]:
        """Starlette routes for both path prefixes."""
        routes: list[BaseRoute] = []
        for prefix in (WEBHOOK_PATH, RPC_PATH):
            routes += [
                Route(prefix + "/orchestrators/{name}", self.start, methods=["POST"]),
                Route(prefix + "/orchestrators/{name}/{instance_id}", self.start, methods=["POST"]),
                Route(prefix + "/instances", self.list_or_purge, methods=["GET", "DELETE"]),
                Route(prefix + "/instances/", self.list_or_purge, methods=["GET", "DELETE"]),
                Route(prefix + "/instances/{instance_id}", self.one, methods=["GET", "DELETE"]),
                Route(
                    prefix + "/instances/{instance_id}/raiseEvent/{event}",
                    self.raise_event,
                    methods=["POST"],
                ),
                Route(
                    prefix + "/instances/{instance_id}/{operation}",
                    self.operation,
                    methods=["POST"],
                ),
                Route(prefix + "/entities/{rest:path}", self.entities, methods=["GET", "POST"]),
            ]
        return routes

    # start ---------------------------------------------------------------------------

    async def start(self, request: Request) -> Response:
        """POST orchestrators/{name}[/{id}]: body is the (JSON) input."""
        name = request.path_params["name"]
        function = self.engine.index.orchestrator(name)
        if function is None:
            known = [f.durable_name for f in self.engine.index.of_kind(TriggerKind.ORCHESTRATION)]
            extra = (
                f"The following are the known orchestrator functions: {known}."
                if known
                else "No orchestrator functions are currently registered!"
            )
            return _error(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                f"function. Additional info: {extra}",
            )
        instance_id = request.path_params.get("instance_id") or uuid.uuid4().hex
        if len(instance_id) > 256 or instance_id.startswith("@") or _BAD_ID.search(instance_id):
            return _error(400, f"Instance ID '{instance_id}' is not valid.")
        body = (await request.body()).decode("utf-8").strip()
        if body:
            try:
                raw: str | None = json.dumps(json.loads(body))
            except ValueError:
                return _error(400, "Only application/json request content is supported")
        else:
            raw = None
        async with self.engine.lock(instance_id):
            existing = self.store.get(instance_id)
            if existing is not None and existing.is_active:
                return _error(
                    400,
                    f"An Orchestration instance with the status {existing.status} already exists.",
                )
            self.engine.new_instance(
                function.durable_name,
                instance_id,
                raw,
                request.query_params.get("version"),
                Carried.from_headers(request.headers),
            )
        timeout = request.query_params.get("timeout")
        if timeout is not None:
            return await self._wait(
                request,
                instance_id,
                float(timeout),
                float(request.query_params.get("pollingInterval", "1")),
            )
        return self._accepted(request, instance_id)

    async def _wait(
        self, request: Request, instance_id: str, timeout: float, interval: float
    ) -> Response:
        deadline = time.monotonic() + timeout
        while True:
            instance = self.store.get(instance_id)
            if instance is not None and not instance.is_active:
                return JSONResponse(_json_or_none(instance.output), status_code=200)
            if time.monotonic() >= deadline:
                return self._accepted(request, instance_id)
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def _accepted(self, request: Request, instance_id: str) -> Response:
        urls = management_urls(_origin(request), self.hub, instance_id)
        return JSONResponse(
            urls,
            status_code=202,
            headers={"Location": urls["statusQueryGetUri"], "Retry-After": "10"},
        )

    # status --------------------------------------------------------------------------

    def status_json(
        self, instance: Instance, *, show_input: bool, show_history: bool, show_output: bool
    ) -> dict[str, Any]:
        """Status object shaped like the extension's."""
        status: dict[str, Any] = {
            "name": instance.name,
            "instanceId": instance.instance_id,
            "runtimeStatus": instance.status,
            "input": _json_or_none(instance.input) if show_input else None,
            "customStatus": _json_or_none(instance.custom_status),
            "output": _json_or_none(instance.output),
            "createdTime": iso_seconds_from(instance.created_time),
            "lastUpdatedTime": iso_seconds_from(instance.last_updated_time),
        }
        history = self.store.history(instance.instance_id) if show_history else []
        if show_history and instance.status != "Pending" and history:
            status["historyEvents"] = history_events(
                history, show_input=show_input, show_output=show_output
            )
        return status

    async def one(self, request: Request) -> Response:
        """GET (status) or DELETE (purge) one instance."""
        instance_id = request.path_params["instance_id"]
        instance = self.store.get(instance_id)
        if request.method == "DELETE":
            if instance is None:
                return Response(status_code=404)
            async with self.engine.lock(instance_id):
                deleted = self.store.purge([instance_id])
            return JSONResponse({"instancesDeleted": deleted})
        if instance is None:
            return Response(status_code=404)
        body = self.status_json(
            instance,
            show_input=_flag(request, "showInput", True),
            show_history=_flag(request, "showHistory", False),
            show_output=_flag(request, "showHistoryOutput", False),
        )
        if instance.is_active:
            location = management_urls(_origin(request), self.hub, instance_id)
            return JSONResponse(
                body,
                status_code=202,
                headers={"Location": location["statusQueryGetUri"], "Retry-After": "10"},
            )
        code = 200
        if instance.status == "Failed" and _flag(
            request, "returnInternalServerErrorOnFailure", False
        ):
            code = 500
        return JSONResponse(body, status_code=code)

    def _filtered(self, request: Request, default_statuses: list[str] | None) -> list[Instance]:
        query = request.query_params
        statuses = [s for s in query.get("runtimeStatus", "").split(",") if s] or default_statuses
        created_from = query.get("createdTimeFrom")
        created_to = query.get("createdTimeTo")
        return self.store.query(
            created_from=parse_time(created_from).timestamp() if created_from else None,
            created_to=parse_time(created_to).timestamp() if created_to else None,
            statuses=statuses,
            prefix=query.get("instanceIdPrefix"),
        )

    async def list_or_purge(self, request: Request) -> Response:
        """GET: list/query (paged with `top` and x-ms-continuation-token); DELETE: purge by."""
        if request.method == "DELETE":
            if not request.query_params.get("createdTimeFrom"):
                return _error(400, "createdTimeFrom is required")
            deleted = 0
            for match in self._filtered(request, TERMINAL_DEFAULT):
                # One at a time under each instance's lock, re-checking the filter's status
                # so an episode cannot write over (or revive) a purged instance.
                async with self.engine.lock(match.instance_id):
                    current = self.store.get(match.instance_id)
                    if current is not None and current.status == match.status:
                        deleted += self.store.purge([match.instance_id])
            if deleted == 0:
                return Response(status_code=404)
            return JSONResponse({"instancesDeleted": deleted})
        matches = self._filtered(request, None)
        offset = int(request.headers.get("x-ms-continuation-token") or 0)
        top = int(request.query_params.get("top") or 0) or len(matches)
        page = matches[offset : offset + top]
        headers = {}
        if offset + top < len(matches):
            headers["x-ms-continuation-token"] = str(offset + top)
        show_input = _flag(request, "showInput", True)
        body = [
            self.status_json(i, show_input=show_input, show_history=False, show_output=False)
            for i in page
        ]
        return JSONResponse(body, headers=headers)

    # operations ----------------------------------------------------------------------

    async def raise_event(self, request: Request) -> Response:
        """POST instances/{id}/raiseEvent/{name}: body is the event data."""
        instance_id = request.path_params["instance_id"]
        instance = self.store.get(instance_id)
        if instance is None:
            return Response(status_code=404)
        if not instance.is_active:
            return Response(status_code=410)
        body = (await request.body()).decode("utf-8").strip()
        try:
            raw = json.dumps(json.loads(body)) if body else None
        except ValueError:
            return _error(400, "Only application/json request content is supported")
        await self.engine.raise_event(instance_id, request.path_params["event"], raw)
        return Response(status_code=202)

    async def operation(self, request: Request) -> Response:  # noqa: PLR0911
        """POST instances/{id}/terminate|suspend|resume|rewind|restart."""
        instance_id = request.path_params["instance_id"]
        operation = request.path_params["operation"].lower()
        instance = self.store.get(instance_id)
        if instance is None:
            return Response(status_code=404)
        reason = request.query_params.get("reason", "")
        if operation == "restart":
            new_id = instance_id
            if _flag(request, "restartWithNewInstanceId", True):
                new_id = uuid.uuid4().hex
            async with self.engine.lock(new_id):
                current = self.store.get(new_id) if new_id == instance_id else None
                if current is not None and current.is_active:
                    return _error(
                        400,
                        f"An Orchestration instance with the status {current.status} already "
                        "exists.",
                    )
                self.engine.new_instance(instance.name, new_id, instance.input)
            return self._accepted(request, new_id)
        if operation == "rewind":
            return _error(501, "rewind is not supported by devhost")
        if not instance.is_active:
            return Response(status_code=410)
        if operation == "terminate":
            await self.engine.terminate(instance, reason)
        elif operation in ("suspend", "resume"):
            await self.engine.set_suspended(instance, operation == "suspend")
        else:
            return Response(status_code=404)
        return Response(status_code=202)

    async def entities(self, request: Request) -> Response:
        """Durable entities are not implemented."""
        return _error(501, "durable entities are not supported by devhost")


def iso_seconds_from(epoch: float) -> str:
    """Epoch seconds as the status API's timestamp."""
    return iso_seconds(datetime.fromtimestamp(epoch, UTC))


# Completions whose scheduling event the extension folds into them.
_COMPLETIONS = {
    EventType.TASK_COMPLETED: EventType.TASK_SCHEDULED,
    EventType.TASK_FAILED: EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
}
_WITH_RESULT = (
    EventType.TASK_COMPLETED,
    EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
    EventType.EXECUTION_COMPLETED,
)


def _event_type_name(kind: EventType) -> str:
    """DurableTask.Core's `EventType` name (`TaskScheduled`, `ExecutionStarted`, ...)."""
    return "".join(part.title() for part in kind.name.split("_"))


def _json_token(text: Any) -> Any:
    """The extension's ParseToJToken: JSON when it parses, else the text itself."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _trimmed(
    kind: EventType, entry: dict[str, Any], *, show_input: bool, show_output: bool
) -> dict[str, Any]:
    """One history event with the fields the extension renames, drops or parses."""
    if kind is EventType.EXECUTION_STARTED:
        entry["FunctionName"] = entry.pop("Name", None)
        for key in ("OrchestrationInstance", "ParentInstance", "Tags"):
            entry.pop(key, None)
    elif kind is EventType.EXECUTION_COMPLETED:
        status = entry.get("OrchestrationStatus")
        if isinstance(status, int):
            entry["OrchestrationStatus"] = ORCHESTRATION_STATUS.get(status, str(status))
    if kind in _WITH_RESULT:
        if show_output:
            entry["Result"] = _json_token(entry.get("Result"))
        else:
            entry.pop("Result", None)
    if not show_input:
        entry.pop("Input", None)
    for key in ("EventId", "IsPlayed", "TaskScheduledId", "TimerId", "Version"):
        entry.pop(key, None)
    return entry


def history_events(
    history: list[dict[str, Any]], *, show_input: bool, show_output: bool
) -> list[dict[str, Any]]:
    """`historyEvents` as the extension's status API builds them from DurableTask's
    history: event types by name; episode markers dropped; a completion carries its
    scheduling event's `FunctionName`, `ScheduledTime` (and `Input`) and replaces it;
    `ExecutionStarted` shows `FunctionName`; `Result` only with `showHistoryOutput`
    (parsed as JSON), `Input` only with `showInput`; no `EventId`, `IsPlayed`,
    `TaskScheduledId`, `TimerId`, `Version`, instance or tag fields."""
    shown: list[dict[str, Any] | None] = []
    scheduled: dict[tuple[EventType, int], int] = {}
    for item in history:
        kind = EventType(item["EventType"])
        entry = {**item, "EventType": _event_type_name(kind)}
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            shown.append(None)
            continue
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED):
            scheduled[(kind, int(item["EventId"]))] = len(shown)
        elif kind in _COMPLETIONS:
            at = scheduled.get((_COMPLETIONS[kind], int(item.get("TaskScheduledId", -1))))
            if at is not None:
                origin = history[at]
                entry["ScheduledTime"] = origin["Timestamp"]
                entry["FunctionName"] = origin.get("Name")
                if show_input:
                    entry["Input"] = origin.get("Input")
                shown[at] = None
        shown.append(_trimmed(kind, entry, show_input=show_input, show_output=show_output))
    return [entry for entry in shown if entry is not None]
