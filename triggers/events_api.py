"""`GET /api/runs/{id}/events`: a run's events as Server-Sent Events or a JSON long-poll.

Only an adapter: the query is checked and the answers are shaped by
`durable_assistant.event_stream`, the events come from the run event log
(`durable_assistant.event_log`), the durable client says whether the run exists and
whether it is over. See docs/api.md#run-events.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# functions' parameter annotations at runtime and needs real types.
import asyncio
from collections.abc import AsyncIterator

import azure.durable_functions as df
from azurefunctions.extensions.http.fastapi import Request, Response, StreamingResponse

from durable_assistant.api import ApiError
from durable_assistant.composition import services
from durable_assistant.event_log import RunEvents
from durable_assistant.event_stream import (
    SSE_MEDIA_TYPE,
    page_of,
    parse_events_query,
    sse_frame,
    sse_keepalive,
    sse_preamble,
)
from durable_assistant.events import EventType
from durable_assistant.model import FINISHED_STATUSES
from durable_assistant.settings import SettingsError
from triggers.http_types import error_response, json_response, not_found, settings_error_response

bp = df.Blueprint()

IDLE_SECONDS = 5.0
"""How long a stream or page waits for an event before it looks at the run's status."""


async def is_finished(client: df.DurableOrchestrationClient, instance_id: str) -> bool | None:
    """Whether the orchestration is over; None when the host knows no such instance."""
    status = await client.get_status(instance_id)
    if not status:
        return None
    runtime = status.runtime_status.value if status.runtime_status else ""
    return runtime in FINISHED_STATUSES


@bp.function_name("run_events_http")  # type: ignore[untyped-decorator]
@bp.route(route="runs/{instance_id}/events", methods=["GET"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def run_events_http(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """GET /api/runs/{id}/events: Server-Sent Events with `Accept: text/event-stream`,
    else a page of events (`?after=N&wait=S`); 404 for an unknown run."""
    instance_id = req.path_params.get("instance_id", "")
    try:
        query = parse_events_query(
            req.query_params,
            accept=req.headers.get("accept"),
            last_event_id=req.headers.get("last-event-id"),
        )
        log = services().run_events
        stream_seconds = services().settings.events_stream_seconds
    except ApiError as error:
        return error_response(error)
    except SettingsError as error:
        return settings_error_response(error)
    finished = await is_finished(client, instance_id)
    if finished is None:
        return not_found(instance_id)
    if query.stream:
        return StreamingResponse(
            stream(log, client, instance_id, query.after, stream_seconds),
            media_type=SSE_MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + query.wait_seconds
    while True:
        wait = 0.0 if finished else min(IDLE_SECONDS, max(0.0, deadline - loop.time()))
        events = await log.next_events(instance_id, query.after, wait, complete=finished)
        if events or finished or loop.time() >= deadline:
            break
        finished = bool(await is_finished(client, instance_id))
    return json_response(page_of(events, query.after, finished=finished).to_json())


async def stream(
    log: RunEvents,
    client: df.DurableOrchestrationClient,
    instance_id: str,
    after: int,
    max_seconds: float,
) -> AsyncIterator[str]:
    """The run's events from `after` on, as they are written, until the end event (or
    the run is over without one, or `max_seconds` pass: the client's `EventSource`
    reconnects with `Last-Event-ID` and goes on where it stopped)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + max_seconds
    yield sse_preamble()
    while loop.time() < until:
        events = await log.next_events(instance_id, after, min(IDLE_SECONDS, until - loop.time()))
        for event in events:
            yield sse_frame(event)
            after = event.seq
            if event.type is EventType.END:
                return
        if not events:
            if await is_finished(client, instance_id) is not False:
                # Over (or purged) with no end event: a terminated run. One last look,
                # as the end may have been written just before the run finished.
                for event in await log.next_events(instance_id, after, 0, complete=True):
                    yield sse_frame(event)
                return
            yield sse_keepalive()
