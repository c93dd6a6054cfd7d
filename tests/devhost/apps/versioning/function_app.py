# mypy: disable-error-code="untyped-decorator"
"""Sample app for orchestration versioning: one orchestrator whose code branches on
`context.version`, pausing for an event so an instance can outlive a deploy."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="shipments", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_shipment(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    version = req.params.get("version")
    instance_id = await client.start_new("ship", None, req.get_json(), version=version)
    return func.HttpResponse(instance_id, status_code=202)


@app.orchestration_trigger(context_name="context")
def ship(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    parcel = context.get_input()
    # Instances created under 1.0 keep the old step for life; newer ones take the new one.
    if context.version == "1.0":
        label = yield context.call_activity("print_paper_label", parcel)
    else:
        label = yield context.call_activity("send_digital_label", parcel)
    context.set_custom_status("waiting for pickup")
    yield context.wait_for_external_event("PickedUp")
    tracked_default = yield context.call_sub_orchestrator("tracking")
    tracked_pinned = yield context.call_sub_orchestrator("tracking", version="0.9")
    return {
        "version": context.version,
        "label": label,
        "tracking_default": tracked_default,
        "tracking_pinned": tracked_pinned,
    }


@app.orchestration_trigger(context_name="context")
def tracking(context: df.DurableOrchestrationContext) -> str | None:
    version: str | None = context.version
    return version


@app.orchestration_trigger(context_name="context")
def loop_twice(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    round_number = context.get_input() or 0
    if round_number >= 1:
        return {"round": round_number, "version": context.version}
    yield context.call_activity("send_digital_label", f"round {round_number}")
    context.continue_as_new(round_number + 1)
    return None


@app.activity_trigger(input_name="parcel")
def print_paper_label(parcel: str) -> str:
    return f"paper label for {parcel}"


@app.activity_trigger(input_name="parcel")
def send_digital_label(parcel: str) -> str:
    return f"digital label for {parcel}"
