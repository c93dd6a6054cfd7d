# mypy: disable-error-code="untyped-decorator"
"""Sample app for devhost's tests: one small function per Durable Functions pattern."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("patterns")

Orchestration = Generator[Any, Any, Any]

# Flipped over HTTP to make an orchestrator change its mind (nondeterminism test).
SWITCH = {"changed": False}


def scratch() -> Path:
    """Folder the tests read side effects from."""
    path = Path(os.environ["PATTERNS_SCRATCH"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def bump(name: str) -> int:
    """Count an execution in a file; returns the new count."""
    path = scratch() / f"{name}.count"
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


# HTTP -------------------------------------------------------------------------------


@app.route(route="echo/{id}/{rest?}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {
        "method": req.method,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "header": req.headers.get("x-probe"),
        "body": req.get_body().decode(),
        "setting": os.environ.get("FROM_LOCAL_SETTINGS"),
        "overridden": os.environ.get("OVERRIDDEN_SETTING"),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json", status_code=201)


@app.route(route="slow-async", methods=["GET"])
async def slow_async(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params.get("s", "0.2")))
    return func.HttpResponse("slept")


@app.route(route="switch", methods=["POST"])
def switch(req: func.HttpRequest) -> func.HttpResponse:
    SWITCH["changed"] = True
    return func.HttpResponse("switched")


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    payload = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["name"], client_input=payload)
    log.info("started %s", instance_id)
    if req.params.get("wait"):
        waited: func.HttpResponse = (
            await client.wait_for_completion_or_create_check_status_response(
                req, instance_id, timeout_in_milliseconds=int(req.params["wait"])
            )
        )
        return waited
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


@app.route(route="client/{op}/{id?}", methods=["GET", "POST", "DELETE"])
@app.durable_client_input(client_name="client")
async def client_ops(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Drive the SDK's real client so tests can check each call against devhost."""
    op = req.route_params["op"]
    instance_id = req.route_params.get("id", "")
    result: Any = None
    if op == "status":
        status = await client.get_status(instance_id, show_history=True, show_history_output=True)
        result = status.to_json() if status else None
        if status:
            result["history"] = getattr(status, "historyEvents", None)
    elif op == "all":
        result = [s.to_json() for s in await client.get_status_all()]
    elif op == "by":
        statuses = [df.OrchestrationRuntimeStatus(s) for s in req.params["status"].split(",")]
        found = await client.get_status_by(runtime_status=statuses)
        result = sorted(s.instance_id for s in found)
    elif op == "raise":
        await client.raise_event(instance_id, req.params["event"], req.get_json())
    elif op == "terminate":
        await client.terminate(instance_id, req.params.get("reason", "stop"))
    elif op == "suspend":
        await client.suspend(instance_id, "pause")
    elif op == "resume":
        await client.resume(instance_id, "go on")
    elif op == "purge":
        result = (await client.purge_instance_history(instance_id)).instances_deleted
    elif op == "purge-by":
        from datetime import datetime

        since = datetime.fromisoformat(req.params["from"])
        statuses = [df.OrchestrationRuntimeStatus(s) for s in req.params["status"].split(",")]
        purged = await client.purge_instance_history_by(
            created_time_from=since, runtime_status=statuses
        )
        result = purged.instances_deleted
    elif op == "payload":
        result = client.create_http_management_payload(instance_id)
    return func.HttpResponse(json.dumps(result, default=str), mimetype="application/json")


@app.route(route="returns/{kind}", methods=["GET"])
def returns(req: func.HttpRequest) -> Any:
    """Returns a value of the requested type; the worker only encodes str and HttpResponse."""
    values: dict[str, Any] = {"str": "plain", "dict": {"a": 1}, "bytes": b"raw", "int": 3}
    return values.get(req.route_params["kind"])


@app.route(route="typed/{n:int}", methods=["GET"])
def typed_int(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"int {req.route_params['n']}")


@app.route(route="typed/{word:alpha}", methods=["GET"])
def typed_alpha(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"alpha {req.route_params['word']}")


@app.route(route="things/{id:guid}/{flag:bool?}", methods=["GET"])
def typed_guid(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(dict(req.route_params)), mimetype="application/json")


# Timer triggers ------------------------------------------------------------------------


@app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%")
def ticker(timer: func.TimerRequest) -> None:
    with (scratch() / "ticks.log").open("a") as handle:
        handle.write(f"{time.time()}\n")


@app.timer_trigger(arg_name="timer", schedule="0 0 3 * * *", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def nightly(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new(
        "chain", instance_id=f"nightly-{bump('nightly')}", client_input=["Night"]
    )


# Activities ----------------------------------------------------------------------------


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="seconds", activity="nap")
async def nap_activity(seconds: float) -> dict[str, float]:
    started = time.time()
    await asyncio.sleep(seconds)
    return {"start": started, "end": time.time()}


@app.activity_trigger(input_name="seconds")
def block(seconds: float) -> dict[str, float]:
    started = time.time()
    time.sleep(seconds)
    return {"start": started, "end": time.time()}


@app.activity_trigger(input_name="payload")
def flaky(payload: dict[str, Any]) -> str:
    count = bump(payload["key"])
    if count < payload["succeed_on"]:
        raise RuntimeError(f"attempt {count} failed")
    return f"ok after {count}"


@app.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise ValueError(message)


@app.activity_trigger(input_name="step")
def slow_step(step: int) -> int:
    bump(f"step-{step}")
    time.sleep(0.3)
    return step


# Orchestrators -------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext) -> Orchestration:
    names = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for name in names:
        results.append((yield context.call_activity("hello", name)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Orchestration:
    spec = context.get_input()
    tasks = [context.call_activity(spec["activity"], spec["seconds"]) for _ in range(spec["n"])]
    return (yield context.task_all(tasks))


@app.orchestration_trigger(context_name="context")
def timer(context: df.DurableOrchestrationContext) -> Orchestration:
    seconds = context.get_input()
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=seconds))
    return (context.current_utc_datetime - started).total_seconds()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Orchestration:
    seconds = context.get_input()
    deadline = context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, deadline])
    if winner == event:
        deadline.cancel()
        return {"approved": event.result}
    return "timed out"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext) -> Orchestration:
    value = context.get_input() or 0
    yield context.call_activity("hello", str(value))
    if value < 3:
        context.continue_as_new(value + 1)
        return None
    return {"final": value, "instance": context.instance_id}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext) -> Orchestration:
    first = yield context.call_sub_orchestrator("chain", ["Ann"])
    both = yield context.task_all(
        [
            context.call_sub_orchestrator("chain", ["Bo"], instance_id=f"{context.instance_id}-c1"),
            context.call_sub_orchestrator("counter", 2),
        ]
    )
    try:
        yield context.call_sub_orchestrator("failing", "from parent")
    except Exception as error:
        failure = str(error)
    return {"first": first, "both": both, "failure": failure}


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext) -> Orchestration:
    spec = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=spec["interval_ms"],
        max_number_of_attempts=spec["attempts"],
    )
    try:
        result = yield context.call_activity_with_retry("flaky", options, spec)
    except Exception as error:
        if spec.get("reraise"):
            raise
        return {"failed": str(error)}
    after = yield context.call_activity("hello", "after")
    return {"result": result, "after": after}


@app.orchestration_trigger(context_name="context")
def sub_retrying(context: df.DurableOrchestrationContext) -> Orchestration:
    spec = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    return (yield context.call_sub_orchestrator_with_retry("retrying", options, spec))


@app.orchestration_trigger(context_name="context")
def status_phases(context: df.DurableOrchestrationContext) -> Orchestration:
    context.set_custom_status({"phase": "waiting"})
    value = yield context.wait_for_external_event("go")
    context.set_custom_status({"phase": "done", "got": value})
    return "finished"


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext) -> Orchestration:
    yield context.call_activity("hello", "before")
    raise ValueError(f"boom {context.get_input()}")


@app.orchestration_trigger(context_name="context")
def catches(context: df.DurableOrchestrationContext) -> Orchestration:
    try:
        yield context.call_activity("explode", "kaput")
    except Exception as error:
        return str(error)
    return "not reached"


@app.orchestration_trigger(context_name="context")
def fickle(context: df.DurableOrchestrationContext) -> Orchestration:
    yield context.call_activity("explode" if SWITCH["changed"] else "hello", "x")
    yield context.wait_for_external_event("next")
    return "unreachable after a code change"


@app.orchestration_trigger(context_name="context")
def long_chain(context: df.DurableOrchestrationContext) -> Orchestration:
    results = []
    for step in range(1, context.get_input() + 1):
        results.append((yield context.call_activity("slow_step", step)))
    return results


@app.orchestration_trigger(context_name="context")
def leaves_timer(context: df.DurableOrchestrationContext) -> Orchestration:
    """Returns without cancelling its timer: the host keeps it Running until the timer fires."""
    deadline = context.create_timer(
        context.current_utc_datetime + timedelta(seconds=context.get_input())
    )
    event = context.wait_for_external_event("Now")
    yield context.task_any([event, deadline])
    return "returned"


@app.orchestration_trigger(context_name="context")
def big_status(context: df.DurableOrchestrationContext) -> Orchestration:
    """Sets a custom status of the given length (the extension caps it at 16 KB UTF-16)."""
    context.set_custom_status("x" * context.get_input())
    yield context.call_activity("hello", "after status")
    return "done"


@app.orchestration_trigger(context_name="context")
def calls_missing(context: df.DurableOrchestrationContext) -> Orchestration:
    """Calls a function that does not exist; the host never answers such a task."""
    try:
        if context.get_input() == "activity":
            yield context.call_activity("no_such_activity", 1)
        else:
            yield context.call_sub_orchestrator("no_such_orchestrator", 1)
    except Exception as error:
        return f"caught {error}"
    return "not reached"


@app.orchestration_trigger(context_name="context")
def adopts(context: df.DurableOrchestrationContext) -> Orchestration:
    """Starts `chain` under the given instance id ("self": its own)."""
    wanted = context.get_input()
    child_id = context.instance_id if wanted == "self" else wanted
    try:
        return (yield context.call_sub_orchestrator("chain", ["x"], instance_id=child_id))
    except Exception as error:
        return f"caught {error}"
