"""The timer trigger's adapter: the real durable client's requests and replies, its
registration, and a purge failure that is logged instead of raised."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.durable_functions as df
import pytest

from durable_assistant.model import FINISHED_STATUSES, RuntimeStatus
from triggers import purge as purge_trigger
from triggers.purge import DurableClientOrchestrations, bp, run_purge

RPC = "http://127.0.0.1:7071/runtime/webhooks/durabletask/"


class FakeHost:
    """Answers the durable client's HTTP calls the way the Functions host does."""

    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.urls: list[str] = []

    async def get(self, url: str, function_invocation_id: str | None = None) -> list[Any]:
        self.urls.append(url)
        instance_id = urlsplit(url).path.rsplit("/", 1)[-1]
        if instance_id not in self.statuses:
            return [404, ""]  # what get_async_request makes of an empty 404 body
        body = {
            "name": "run_orchestrator",
            "instanceId": instance_id,
            "runtimeStatus": self.statuses[instance_id],
            "createdTime": "2026-05-01T00:00:00Z",
            "lastUpdatedTime": "2026-05-01T00:01:00Z",
        }
        return [200 if self.statuses[instance_id] == "Completed" else 202, body]

    async def delete(self, url: str, function_invocation_id: str | None = None) -> list[Any]:
        self.urls.append(url)
        return [200, {"instancesDeleted": 4}]


def durable_client(host: FakeHost) -> df.DurableOrchestrationClient:
    context = {
        "taskHubName": "durableassistant",
        "creationUrls": {},
        "managementUrls": {},
        "rpcBaseUrl": RPC,
    }
    client = df.DurableOrchestrationClient(json.dumps(context))
    client._get_async_request = host.get
    client._delete_async_request = host.delete
    return client


async def in_thread(host: FakeHost, call: Any) -> Any:
    """Call the adapter from a worker thread, as the trigger does."""
    adapter = DurableClientOrchestrations(durable_client(host), asyncio.get_running_loop())
    return await asyncio.to_thread(call, adapter)


def test_status_of_maps_runtime_statuses_and_missing_instances() -> None:
    host = FakeHost({"a": "Running", "b": "Completed", "c": "ContinuedAsNew", "d": "Terminated"})

    def lookups(adapter: DurableClientOrchestrations) -> list[RuntimeStatus | None]:
        return [adapter.status_of(i) for i in ("a", "b", "c", "d", "missing")]

    assert asyncio.run(in_thread(host, lookups)) == [
        RuntimeStatus.RUNNING,
        RuntimeStatus.COMPLETED,
        RuntimeStatus.CONTINUED_AS_NEW,
        RuntimeStatus.TERMINATED,
        None,
    ]
    assert host.urls[0] == RPC + "instances/a"


def test_purge_history_asks_for_finished_instances_created_before_the_cutoff() -> None:
    host = FakeHost({})
    cutoff = datetime(2026, 4, 24, 5, 30, tzinfo=timezone(timedelta(hours=2)))

    purged = asyncio.run(
        in_thread(host, lambda adapter: adapter.purge_history(cutoff, FINISHED_STATUSES))
    )

    assert purged == 4
    [url] = host.urls
    query = parse_qs(urlsplit(url).query)
    assert query["createdTimeTo"] == ["2026-04-24T03:30:00.000000Z"]  # in UTC
    assert query["createdTimeFrom"] == ["2000-01-01T00:00:00.000000Z"]
    assert query["runtimeStatus"] == ["Completed,Failed,Terminated,Canceled"]


def test_a_purge_that_cannot_run_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("invalid app settings: AZURE_OPENAI_ENDPOINT is required")

    monkeypatch.setattr(purge_trigger, "purge_now", broken)

    with caplog.at_level(logging.ERROR):
        report = asyncio.run(run_purge(durable_client(FakeHost({})), datetime.now(UTC)))

    assert report is None
    assert "purge_leftovers failed" in caplog.text


def test_the_function_is_registered_as_a_timer_with_a_durable_client() -> None:
    app = df.DFApp()
    app.register_functions(bp)
    [function] = [f for f in app.get_functions() if f.get_function_name() == "purge_leftovers"]
    bindings = {b.type: b.get_dict_repr() for b in function.get_bindings()}

    assert bindings["timerTrigger"]["schedule"] == "%PURGE_SCHEDULE%"
    assert bindings["timerTrigger"]["name"] == "timer"
    assert bindings["durableClient"]["name"] == "client"
