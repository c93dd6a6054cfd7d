# mypy: disable-error-code="untyped-decorator"
"""Sample app using HTTP streams: every HTTP trigger takes the FastAPI types."""

import asyncio
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azurefunctions.extensions.http.fastapi import (
    JSONResponse,
    PlainTextResponse,
    Request,
    Response,
    StreamingResponse,
)

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# What the generators did, by stream name: "open", "finished" or "cancelled".
STATE: dict[str, str] = {}
RELEASE: dict[str, asyncio.Event] = {}
RELEASE_SYNC: dict[str, threading.Event] = {}


async def held_events(name: str, count: int) -> AsyncIterator[str]:
    """First event at once, the rest only after `POST /api/release/{name}`."""
    STATE[name] = "open"
    try:
        yield f"id: 0\nevent: first\ndata: {name}\n\n"
        await RELEASE.setdefault(name, asyncio.Event()).wait()
        for number in range(1, count):
            yield f"id: {number}\nevent: more\ndata: {name}\n\n"
        STATE[name] = "finished"
    except asyncio.CancelledError:
        STATE[name] = "cancelled"
        raise


def held_lines(name: str) -> Iterator[bytes]:
    """A sync generator: the host iterates it on a thread, chunk by chunk."""
    STATE[name] = "open"
    yield b"first\n"
    RELEASE_SYNC.setdefault(name, threading.Event()).wait(timeout=30)
    yield b"second\n"
    STATE[name] = "finished"


async def endless(name: str) -> AsyncIterator[str]:
    STATE[name] = "open"
    try:
        number = 0
        while True:
            yield f"data: {number}\n\n"
            number += 1
            await asyncio.sleep(0.02)
    finally:
        if STATE[name] == "open":
            STATE[name] = "cancelled"


@app.route(route="events/{name}", methods=["GET"])
async def events(req: Request) -> StreamingResponse:
    name = req.path_params["name"]
    count = int(req.query_params.get("count", "3"))
    return StreamingResponse(
        held_events(name, count),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


@app.route(route="lines/{name}", methods=["GET"])
def lines(req: Request) -> StreamingResponse:
    return StreamingResponse(held_lines(req.path_params["name"]), media_type="text/plain")


@app.route(route="endless/{name}", methods=["GET"])
async def endless_events(req: Request) -> StreamingResponse:
    return StreamingResponse(endless(req.path_params["name"]), media_type="text/event-stream")


@app.route(route="release/{name}", methods=["POST"])
async def release(req: Request) -> Response:
    name = req.path_params["name"]
    RELEASE.setdefault(name, asyncio.Event()).set()
    RELEASE_SYNC.setdefault(name, threading.Event()).set()
    return Response(status_code=204)


@app.route(route="state/{name}", methods=["GET"])
async def state(req: Request) -> JSONResponse:
    return JSONResponse({"state": STATE.get(req.path_params["name"])})


@app.route(route="items/{id:int}/{rest?}", methods=["POST"])
async def items(req: Request) -> JSONResponse:
    body = await req.body()
    return JSONResponse(
        {
            "path_params": dict(req.path_params),
            "query": dict(req.query_params),
            "body": body.decode(),
            "invocation_header": bool(req.headers.get("x-ms-invocation-id")),
            "url": str(req.url),
            "forwarded_host": req.headers.get("x-forwarded-host"),
        },
        status_code=201,
        headers={"x-item": req.path_params["id"]},
    )


@app.route(route="plain", methods=["GET"])
def plain(req: Request) -> PlainTextResponse:
    return PlainTextResponse("sync and plain", status_code=203)


@app.route(route="as-dict", methods=["GET"])
async def as_dict(req: Request) -> dict:  # type: ignore[type-arg]  # the worker takes classes only
    return {"served": "by FastAPI's encoder"}


@app.route(route="as-str", methods=["GET"])
async def as_str(req: Request) -> str:
    return "a string"


@app.route(route="boom", methods=["GET"])
async def boom(req: Request) -> Response:
    raise RuntimeError("boom")


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: Request, client: df.DurableOrchestrationClient) -> JSONResponse:
    instance_id = await client.start_new(req.path_params["name"], None, await req.json())
    return JSONResponse({"id": instance_id}, status_code=202)


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    name = context.get_input()
    greeting: str = yield context.call_activity("hello", name)
    return greeting


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"hello {name}"
