"""The timer-triggered purge of leftovers and old history (see docs/ledger.md).

`purge_leftovers` runs on the NCRONTAB schedule in the app setting `PURGE_SCHEDULE`
(documented default `0 0 3 * * *`, daily at 03:00; the setting must exist for the
host to load the function), and on demand through the host's admin endpoint:
`POST /admin/functions/purge_leftovers` with body `{"input": ""}`.

This is only an adapter: the durable client becomes the purge's `Orchestrations`,
the OpenAI client its assistant lister and object deleter; the logic is in
`durable_assistant.purge`. The purge's calls (Table storage, OpenAI) are blocking, so
it runs in a worker thread and reaches the durable client, which lives on the
event loop, through `run_coroutine_threadsafe`. A failure is logged, never raised:
a timer that throws gains nothing from it, and the next run retries.
"""

# No `from __future__ import annotations` here: the Functions worker reads the
# function's parameter annotations at runtime and needs real types.
import asyncio
import logging
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus,
)

from durable_assistant import purge as purge_core
from durable_assistant.backends.listing import OpenAIAssistants
from durable_assistant.composition import services
from durable_assistant.ledger import ledger_configured
from durable_assistant.model import RuntimeStatus
from durable_assistant.purge import PurgePolicy, PurgeReport
from durable_assistant.service import delete_created_object

bp = df.Blueprint()
logger = logging.getLogger(__name__)

# `purge_instance_history_by` wants a lower bound on creation time: any time before
# the app existed will do.
HISTORY_FROM = datetime(2000, 1, 1, tzinfo=UTC)
CLIENT_CALL_TIMEOUT_SECONDS = 120.0

T = TypeVar("T")


class DurableClientOrchestrations:
    """The purge's `Orchestrations` over the durable client, callable from a thread."""

    def __init__(
        self,
        client: df.DurableOrchestrationClient,
        loop: asyncio.AbstractEventLoop,
        timeout_seconds: float = CLIENT_CALL_TIMEOUT_SECONDS,
    ) -> None:
        self._client = client
        self._loop = loop
        self._timeout = timeout_seconds

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(self._timeout)

    def status_of(self, instance_id: str) -> RuntimeStatus | None:
        """The runtime status; None when the host knows no such instance."""
        status = self._call(self._client.get_status(instance_id))
        # A missing instance comes back as an empty (falsy) status, not an error.
        runtime = status.runtime_status if status else None
        if runtime is None:
            return None
        # An unknown value raises here, so the purge keeps that instance's objects.
        return RuntimeStatus(runtime.value)

    def purge_history(self, created_before: datetime, statuses: Sequence[RuntimeStatus]) -> int:
        """Purge history of instances in `statuses` created before `created_before`."""
        result = self._call(
            self._client.purge_instance_history_by(
                created_time_from=HISTORY_FROM,
                # The SDK formats times as UTC without converting: convert first.
                created_time_to=created_before.astimezone(UTC),
                runtime_status=[OrchestrationRuntimeStatus(s.value) for s in statuses],
            )
        )
        return int(result.instances_deleted)


def purge_now(orchestrations: DurableClientOrchestrations, now: datetime) -> PurgeReport:
    """Build the purge's inputs from the app settings and run it (blocking)."""
    root = services()
    settings = root.settings
    ledger = root.ledger if ledger_configured(settings) else None
    if ledger is None:
        logger.warning("purge: no storage configured, so there is no ledger to purge")
    return purge_core.purge_leftovers(
        orchestrations=orchestrations,
        deleter=delete_created_object,
        ledger=ledger,
        assistants=OpenAIAssistants(root.clients.assistants),
        policy=PurgePolicy.from_settings(settings),
        now=now,
        events=root.run_events.store if ledger is not None else None,
    )


async def run_purge(
    client: df.DurableOrchestrationClient, now: datetime | None = None
) -> PurgeReport | None:
    """Run the purge off the event loop; the report, or None when it could not run."""
    orchestrations = DurableClientOrchestrations(client, asyncio.get_running_loop())
    try:
        return await asyncio.to_thread(purge_now, orchestrations, now or datetime.now(UTC))
    except Exception:
        logger.exception("purge_leftovers failed; the next run retries")
        return None


@bp.function_name("purge_leftovers")  # type: ignore[untyped-decorator]
@bp.timer_trigger(  # type: ignore[untyped-decorator]
    arg_name="timer", schedule="%PURGE_SCHEDULE%", run_on_startup=False
)
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def purge_leftovers(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Delete server-side objects teardown missed, and old orchestration history."""
    if getattr(timer, "past_due", False):
        logger.info("purge_leftovers is running late")
    report = await run_purge(client)
    if report is not None:
        logger.info("purge_leftovers: %s", report.summary())
