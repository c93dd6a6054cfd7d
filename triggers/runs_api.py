"""The HTTP API: start a run, read it, cancel it, list the tools, describe the API.

Thin adapters: the request is decoded and checked by `durable_assistant.api`, the
durable client does the rest. Every HTTP trigger of the app takes and returns the
FastAPI types of `azurefunctions.extensions.http.fastapi`: the run events route
streams (Server-Sent Events), and HTTP streams switch the worker's HTTP handling
for the whole app (see `triggers.http_types`). Routes carry no auth level of their own, so the app's
level applies (FUNCTION unless `HTTP_AUTH_ANONYMOUS` allows otherwise locally; see
`triggers.http_auth`). Settings are read per request, so a missing setting is a 500
JSON answer naming it, never a host that loads no function. See docs/api.md.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# functions' parameter annotations at runtime and needs real types.
import logging

import azure.durable_functions as df
from azurefunctions.extensions.http.fastapi import Request, Response

from durable_assistant.api import (
    ApiError,
    CancelAccepted,
    RunView,
    parse_cancel_request,
    parse_run_request,
    parse_wait,
    resolve_plan,
    run_links,
    run_view,
    tools_listing,
)
from durable_assistant.composition import services
from durable_assistant.logging_setup import run_log
from durable_assistant.model import RuntimeStatus
from durable_assistant.openapi import openapi_document
from durable_assistant.run_loop import CANCEL_EVENT
from durable_assistant.run_wait import view_now, view_when_done
from durable_assistant.settings import SettingsError
from durable_assistant.telemetry import annotate, traced_plan, traced_request
from orchestrators.run import ORCHESTRATOR_NAME
from triggers.http_types import (
    error_response,
    json_response,
    not_found,
    public_url,
    settings_error_response,
)

bp = df.Blueprint()
logger = logging.getLogger(__name__)


RETRY_AFTER_SECONDS = 1
"""The `Retry-After` of a 202: runs take seconds, so look again soon."""


@bp.function_name("start_run_http")  # type: ignore[untyped-decorator]
@bp.route(route="runs", methods=["POST"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
@traced_request("POST", "/api/runs")
async def start_run_http(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """POST /api/runs: start a run; 202 with the run and its URLs, or 200 once it ended."""
    try:
        wait_seconds = parse_wait(req.query_params.get("wait"))
        root = services()
        request = parse_run_request(await req.body(), root.registry)
        plan = resolve_plan(request, root.settings, root.registry)
    except ApiError as error:
        return error_response(error)
    except SettingsError as error:
        return settings_error_response(error)

    plan = traced_plan(plan)
    instance_id = await client.start_new(ORCHESTRATOR_NAME, client_input=plan.to_json())
    annotate(instance_id, plan)
    run_log(logger, instance_id).info(
        "started (%s backend, tools %s)", plan.backend.value, plan.tools
    )
    view = await wait_for_view(req, client, instance_id, wait_seconds, just_started=True)
    if view is None:  # purged already: nothing to show, but it was started
        view = RunView(
            id=instance_id,
            runtime_status=RuntimeStatus.PENDING,
            done=False,
            links=run_links(public_url(req), instance_id),
        )
    if view.done:
        return json_response(view.to_json())
    headers = {"Location": view.links.status, "Retry-After": str(RETRY_AFTER_SECONDS)}
    return json_response(view.to_json(), 202, headers=headers)


async def wait_for_view(
    req: Request,
    client: df.DurableOrchestrationClient,
    instance_id: str,
    wait_seconds: int,
    *,
    just_started: bool = False,
) -> RunView | None:
    """The run's view once it is done (its end recorded), or as it is after
    `wait_seconds` (see `durable_assistant.run_wait`; `just_started`: started by this
    request)."""
    return await view_when_done(
        lambda: view_of(req, client, instance_id),
        lambda: services().run_events,
        instance_id,
        wait_seconds,
        just_started=just_started,
    )


@bp.function_name("get_run_http")  # type: ignore[untyped-decorator]
@bp.route(route="runs/{instance_id}", methods=["GET"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def get_run_http(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """GET /api/runs/{id}: the run's view (with `?wait=N`, once it is done or N
    seconds passed); 404 for an unknown id."""
    instance_id = req.path_params.get("instance_id", "")
    try:
        wait_seconds = parse_wait(req.query_params.get("wait"))
    except ApiError as error:
        return error_response(error)
    view = await wait_for_view(req, client, instance_id, wait_seconds)
    if view is None:
        return not_found(instance_id)
    return json_response(view.to_json())


async def view_of(
    req: Request, client: df.DurableOrchestrationClient, instance_id: str
) -> RunView | None:
    """The view of a run from its durable status alone; None when the host knows no
    such instance."""
    status = await client.get_status(instance_id)
    if not status:
        return None
    runtime = status.runtime_status.value if status.runtime_status else None
    return run_view(
        instance_id,
        runtime_status=runtime,
        custom_status=status.custom_status,
        output=status.output,
        created_at=status.created_time,
        last_updated_at=status.last_updated_time,
        links=run_links(public_url(req), instance_id),
    )


@bp.function_name("cancel_run_http")  # type: ignore[untyped-decorator]
@bp.route(route="runs/{instance_id}/cancel", methods=["POST"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def cancel_run_http(req: Request, client: df.DurableOrchestrationClient) -> Response:
    """POST /api/runs/{id}/cancel: ask the run to stop; it cancels, tears down, ends.

    The optional body `{"reason": "..."}` ends up in the result's reason.
    """
    instance_id = req.path_params.get("instance_id", "")
    try:
        reason = parse_cancel_request(await req.body())
    except ApiError as error:
        return error_response(error)
    view = await view_now(
        lambda: view_of(req, client, instance_id), lambda: services().run_events, instance_id
    )
    if view is None:
        return not_found(instance_id)
    if view.done:  # over, or its end recorded while it tears down: nothing to cancel
        ended = view.runtime_status.value if view.runtime_status.is_finished else view.outcome
        return error_response(
            ApiError(409, "conflict", f"run {instance_id!r} already finished ({ended})")
        )
    try:
        await client.raise_event(instance_id, CANCEL_EVENT, {"reason": reason})
    except Exception as error:  # the SDK raises bare Exceptions for 404/410
        text = str(error)
        if "is gone" in text:
            return error_response(ApiError(409, "conflict", f"run {instance_id!r} already ended"))
        if "No instance" in text:
            return not_found(instance_id)
        raise
    run_log(logger, instance_id).info("cancel requested")
    body = CancelAccepted(id=instance_id).to_json()
    return json_response(
        body, 202, headers={"Location": run_links(public_url(req), instance_id).status}
    )


@bp.function_name("list_tools_http")  # type: ignore[untyped-decorator]
@bp.route(route="tools", methods=["GET"])  # type: ignore[untyped-decorator]
def list_tools_http(req: Request) -> Response:
    """GET /api/tools: the registered tools and the JSON schemas the model sees."""
    try:
        return json_response(tools_listing(services().registry).to_json())
    except SettingsError as error:
        return settings_error_response(error)


@bp.function_name("openapi_http")  # type: ignore[untyped-decorator]
@bp.route(route="openapi.json", methods=["GET"])  # type: ignore[untyped-decorator]
def openapi_http(req: Request) -> Response:
    """GET /api/openapi.json: the API's OpenAPI 3.1 document."""
    return json_response(openapi_document())
