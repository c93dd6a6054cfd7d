"""The HTTP API: start a run, read its status, cancel it, list the tools.

Thin adapters: the request is decoded and checked by `durable_assistant.api`, the
durable client does the rest. Routes carry no auth level of their own, so the app's
level applies (FUNCTION unless `HTTP_AUTH_ANONYMOUS` allows otherwise locally; see
`triggers.http_auth`). Settings are read per request, so a missing setting is a 500
JSON answer naming it, never a host that loads no function. See docs/api.md.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# functions' parameter annotations at runtime and needs real types.
import json
import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_assistant.api import (
    WAIT_POLL_MS,
    ApiError,
    RunView,
    is_run_result,
    parse_cancel_request,
    parse_run_request,
    parse_wait,
    resolve_plan,
    run_view,
    tools_listing,
)
from durable_assistant.composition import services
from durable_assistant.purge import FINISHED_STATUSES
from durable_assistant.run_loop import CANCEL_EVENT
from durable_assistant.settings import SettingsError
from orchestrators.run import ORCHESTRATOR_NAME

bp = df.Blueprint()
logger = logging.getLogger(__name__)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def error_response(error: ApiError) -> func.HttpResponse:
    return json_response(error.body(), error.status)


def settings_error_response(error: SettingsError) -> func.HttpResponse:
    logger.error("refusing a request: %s", error)
    body = {"error": "configuration_error", "message": str(error), "fields": []}
    return json_response(body, 500)


def not_found(instance_id: str) -> func.HttpResponse:
    return error_response(ApiError(404, "not_found", f"no run with id {instance_id!r}"))


@bp.function_name("start_run_http")  # type: ignore[untyped-decorator]
@bp.route(route="runs", methods=["POST"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def start_run_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/runs: start a run; 202 with status URLs, or 200 with the result."""
    try:
        wait_seconds = parse_wait(req.params.get("wait"))
        root = services()
        request = parse_run_request(req.get_body(), root.registry)
        plan = resolve_plan(request, root.settings, root.registry)
    except ApiError as error:
        return error_response(error)
    except SettingsError as error:
        return settings_error_response(error)

    instance_id = await client.start_new(ORCHESTRATOR_NAME, client_input=plan.to_json())
    logger.info(
        "instance %s: started (%s backend, tools %s)",
        instance_id,
        plan.backend.value,
        plan.tools,
        extra={"instance_id": instance_id},
    )
    if wait_seconds == 0:
        response: func.HttpResponse = client.create_check_status_response(req, instance_id)
        return response
    return await result_or_status(req, client, instance_id, wait_seconds)


async def result_or_status(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    instance_id: str,
    wait_seconds: int,
) -> func.HttpResponse:
    """Wait up to `wait_seconds` for the run: its result (200), the status URLs (202),
    or, for a run that failed or was terminated and so has no result, its friendly
    status like GET's (500 when it failed)."""
    response: func.HttpResponse = await client.wait_for_completion_or_create_check_status_response(
        req,
        instance_id,
        timeout_in_milliseconds=wait_seconds * 1000,
        retry_interval_in_milliseconds=min(WAIT_POLL_MS, wait_seconds * 1000),
    )
    if response.status_code == 202:
        return response
    links = client.get_client_response_links(req, instance_id)
    result = json.loads(response.get_body() or b"null")
    if response.status_code == 200 and is_run_result(result):
        # The result, with what a caller needs to find the run again.
        body = {"id": instance_id, "statusQueryGetUri": links["statusQueryGetUri"], **result}
        return json_response(body)
    view = await view_of(client, instance_id)
    if view is None:
        return not_found(instance_id)
    body = {**view.to_json(), "statusQueryGetUri": links["statusQueryGetUri"]}
    return json_response(body, 500 if view.runtime_status == "Failed" else 200)


@bp.function_name("get_run_http")  # type: ignore[untyped-decorator]
@bp.route(route="runs/{instance_id}", methods=["GET"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def get_run_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """GET /api/runs/{id}: the run's friendly status; 404 for an unknown id."""
    instance_id = req.route_params.get("instance_id", "")
    view = await view_of(client, instance_id)
    if view is None:
        return not_found(instance_id)
    return json_response(view.to_json())


async def view_of(client: df.DurableOrchestrationClient, instance_id: str) -> RunView | None:
    """The friendly status of a run; None when the host knows no such instance."""
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
    )


@bp.function_name("cancel_run_http")  # type: ignore[untyped-decorator]
@bp.route(route="runs/{instance_id}/cancel", methods=["POST"])  # type: ignore[untyped-decorator]
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def cancel_run_http(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/runs/{id}/cancel: ask the run to stop; it cancels, tears down, ends.

    The optional body `{"reason": "..."}` ends up in the result's reason.
    """
    instance_id = req.route_params.get("instance_id", "")
    try:
        reason = parse_cancel_request(req.get_body())
    except ApiError as error:
        return error_response(error)
    status = await client.get_status(instance_id)
    if not status:
        return not_found(instance_id)
    runtime = status.runtime_status.value if status.runtime_status else ""
    if runtime in FINISHED_STATUSES:
        return error_response(
            ApiError(409, "conflict", f"run {instance_id!r} already finished ({runtime})")
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
    logger.info("instance %s: cancel requested", instance_id, extra={"instance_id": instance_id})
    body = {"id": instance_id, "status": "cancel_requested"}
    return json_response(body, 202, headers={"Location": _status_url(req, instance_id)})


@bp.function_name("list_tools_http")  # type: ignore[untyped-decorator]
@bp.route(route="tools", methods=["GET"])  # type: ignore[untyped-decorator]
def list_tools_http(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/tools: the registered tools and the JSON schemas the model sees."""
    try:
        return json_response(tools_listing(services().registry))
    except SettingsError as error:
        return settings_error_response(error)


def _status_url(req: func.HttpRequest, instance_id: str) -> str:
    """The friendly status URL of a run, beside the cancel URL that was called."""
    url = req.url.split("?", 1)[0]
    suffix = "/cancel"
    return url[: -len(suffix)] if url.endswith(suffix) else f"{url.rstrip('/')}/{instance_id}"
