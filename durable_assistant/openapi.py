"""The API's OpenAPI 3.1 document, generated from the pydantic models the routes use.

Every route is one `Operation` in `OPERATIONS`: its request body, query and path
parameters and its answers, each answer naming the model its body is. The schemas
come from those models (`model_json_schema`), so the document cannot drift from the
bodies the API validates and returns; adding a route is adding one `Operation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from durable_assistant.api import (
    MAX_WAIT_SECONDS,
    CancelAccepted,
    CancelRequest,
    ErrorBody,
    RunView,
    ToolsListing,
)
from durable_assistant.event_stream import SSE_MEDIA_TYPE, EventsPage
from durable_assistant.model import RunRequest

API_VERSION = "1.0.0"
"""The version of the API's contract (the document's `info.version`)."""

JSON = "application/json"
REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Answer:
    """One status a route answers: the body's model (None: a free-form JSON object,
    `media_type` other than JSON: the stream's own format) and the headers it sets."""

    description: str
    model: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = JSON
    stream_media_type: str | None = None  # the same status may answer a stream instead


@dataclass(frozen=True)
class Parameter:
    """A path or query parameter, with its JSON schema."""

    name: str
    where: str  # "path" or "query"
    description: str
    schema: Mapping[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One route of the API, as the document describes it."""

    method: str
    path: str  # as the app serves it, e.g. "/api/runs/{instance_id}"
    operation_id: str
    summary: str
    answers: Mapping[int, Answer]
    body: type[BaseModel] | None = None
    body_required: bool = True
    parameters: tuple[Parameter, ...] = ()


def refusal(description: str) -> Answer:
    return Answer(description, ErrorBody)


INSTANCE_ID = Parameter(
    "instance_id", "path", "the run's id, from the answer that started it", {"type": "string"}, True
)
WAIT = Parameter(
    "wait",
    "query",
    "seconds to wait for the run to be `done` (its outcome final) before answering",
    {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 0},
)
LOCATION = "the run's status URL: `GET /api/runs/{instance_id}`"
CONFIGURATION_ERROR = refusal("`configuration_error`: an app setting is missing or invalid")

OPERATIONS: list[Operation] = [
    Operation(
        "post",
        "/api/runs",
        "startRun",
        "Start a run; with `?wait=N`, wait up to N seconds for it to end",
        body=RunRequest,
        parameters=(WAIT,),
        answers={
            200: Answer("the run's outcome was final within `wait` (`done`)", RunView),
            202: Answer(
                "the run goes on: follow `Location` (or `links`)",
                RunView,
                headers={"Location": LOCATION, "Retry-After": "seconds before looking again"},
            ),
            400: refusal("`bad_request`: the body or `wait` is not acceptable"),
            500: CONFIGURATION_ERROR,
        },
    ),
    Operation(
        "get",
        "/api/runs/{instance_id}",
        "getRun",
        "A run: its phase, answer, tool calls, usage, timings and error; with `?wait=N`, "
        "once it is done or N seconds passed",
        parameters=(INSTANCE_ID, WAIT),
        answers={
            200: Answer("the run", RunView),
            400: refusal("`bad_request`: `wait` is not acceptable"),
            404: refusal("`not_found`: no run with that id"),
        },
    ),
    Operation(
        "post",
        "/api/runs/{instance_id}/cancel",
        "cancelRun",
        "Ask a run to stop: its model run is cancelled and what it created deleted",
        body=CancelRequest,
        body_required=False,
        parameters=(INSTANCE_ID,),
        answers={
            202: Answer("the run was asked to stop", CancelAccepted, {"Location": LOCATION}),
            400: refusal('`bad_request`: the body is not `{"reason": "..."}`'),
            404: refusal("`not_found`: no run with that id"),
            409: refusal("`conflict`: the run already finished (or its outcome is final)"),
        },
    ),
    Operation(
        "get",
        "/api/runs/{instance_id}/events",
        "getRunEvents",
        "A run's events: Server-Sent Events with `Accept: text/event-stream` (resuming "
        "after `Last-Event-ID`), else a page of the events after `after`, waiting up to "
        "`wait` seconds for one",
        parameters=(
            INSTANCE_ID,
            Parameter(
                "after",
                "query",
                "the sequence number of the last event already seen",
                {"type": "integer", "minimum": 0, "default": 0},
            ),
            Parameter(
                "wait",
                "query",
                "seconds to wait for an event when there is none yet (JSON answers only)",
                {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 0},
            ),
        ),
        answers={
            200: Answer(
                "the events after `after` (`next`: the `after` to ask with next; `done`: "
                "no event will follow), or the stream of them",
                EventsPage,
                stream_media_type=SSE_MEDIA_TYPE,
            ),
            400: refusal("`bad_request`: `after`, `wait` or `Last-Event-ID` is not acceptable"),
            404: refusal("`not_found`: no run with that id"),
            500: CONFIGURATION_ERROR,
        },
    ),
    Operation(
        "get",
        "/api/tools",
        "listTools",
        "The tools the model may call, with the JSON schemas it is given",
        answers={200: Answer("the tools", ToolsListing), 500: CONFIGURATION_ERROR},
    ),
    Operation(
        "get",
        "/api/openapi.json",
        "getOpenApiDocument",
        "This document",
        answers={200: Answer("the OpenAPI 3.1 document of the API")},
    ),
]

SECURITY_SCHEMES = {
    "functionKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
        "description": "a function key of the app (not needed when the app runs locally "
        "with HTTP_AUTH_ANONYMOUS=true)",
    },
    "functionKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "code",
        "description": "the same key as a query parameter",
    },
}


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in `OPERATIONS`."""
    return build_document(OPERATIONS)


def build_document(operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in operations:
        if op.body is not None:
            wanted[(op.body, "validation")] = None
        for answer in op.answers.values():
            if answer.model is not None:
                wanted[(answer.model, "serialization")] = None
    refs, schemas = models_json_schema(list(wanted), ref_template=REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "durable-assistant",
            "version": API_VERSION,
            "description": "Answer questions with a model and the app's tools, as durable "
            "runs. See docs/api.md.",
        },
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
        "security": [{name: []} for name in SECURITY_SCHEMES],
    }


def _operation(op: Operation, refs: Mapping[Any, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "responses": {
            str(status): _answer(answer, refs) for status, answer in sorted(op.answers.items())
        },
    }
    if op.parameters:
        described["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "description": p.description,
                "required": p.required,
                "schema": dict(p.schema),
            }
            for p in op.parameters
        ]
    if op.body is not None:
        described["requestBody"] = {
            "required": op.body_required,
            "content": {JSON: {"schema": refs[(op.body, "validation")]}},
        }
    return described


def _answer(answer: Answer, refs: Mapping[Any, Any]) -> dict[str, Any]:
    schema = (
        refs[(answer.model, "serialization")] if answer.model is not None else {"type": "object"}
    )
    described: dict[str, Any] = {
        "description": answer.description,
        "content": {answer.media_type: {"schema": schema}},
    }
    if answer.stream_media_type is not None:
        described["content"][answer.stream_media_type] = {"schema": {"type": "string"}}
    if answer.headers:
        described["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in answer.headers.items()
        }
    return described
