"""A durable client for HTTP tests: the real SDK client, its host calls answered here.

`FakeDurableClient` is a real `DurableOrchestrationClient` built from the binding
JSON the host hands a client function, so URL building, the check-status payload
and wait-or-check-status are the SDK's own code; only its HTTP calls to the Durable
extension's management API (start, status, raise event) are answered in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df

BASE = "http://localhost:7071/runtime/webhooks/durabletask"
RPC = "http://127.0.0.1:17071/durabletask/"
QUERY = "taskHub=TestHub&connection=Storage&code=SYSTEMKEY"

BINDING = {
    "taskHubName": "TestHub",
    "creationUrls": {
        "createNewInstancePostUri": (
            f"{BASE}/orchestrators/{{functionName}}[/{{instanceId}}]?{QUERY}"
        ),
        "createAndWaitOnNewInstancePostUri": (
            f"{BASE}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
            f"&pollingInterval={{intervalInSeconds}}&{QUERY}"
        ),
    },
    "managementUrls": {
        "id": "INSTANCEID",
        "statusQueryGetUri": f"{BASE}/instances/INSTANCEID?{QUERY}",
        "sendEventPostUri": f"{BASE}/instances/INSTANCEID/raiseEvent/{{eventName}}?{QUERY}",
        "terminatePostUri": f"{BASE}/instances/INSTANCEID/terminate?reason={{text}}&{QUERY}",
        "rewindPostUri": f"{BASE}/instances/INSTANCEID/rewind?reason={{text}}&{QUERY}",
        "purgeHistoryDeleteUri": f"{BASE}/instances/INSTANCEID?{QUERY}",
        "restartPostUri": f"{BASE}/instances/INSTANCEID/restart?{QUERY}",
        "suspendPostUri": f"{BASE}/instances/INSTANCEID/suspend?reason={{text}}&{QUERY}",
        "resumePostUri": f"{BASE}/instances/INSTANCEID/resume?reason={{text}}&{QUERY}",
    },
    "baseUrl": BASE,
    "requiredQueryStringParameters": QUERY,
    "rpcBaseUrl": RPC,
    "httpBaseUrl": None,
}

FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}


@dataclass
class Instance:
    name: str
    input: Any
    runtime_status: str = "Pending"
    custom_status: Any = None
    output: Any = None
    created: str = "2026-03-01T12:00:00Z"
    updated: str = "2026-03-01T12:00:05Z"
    events: list[tuple[str, Any]] = field(default_factory=list)
    complete_after_checks: int | None = None
    checks: int = 0
    pending_output: Any = None
    final_status: str = "Completed"

    def status(self, instance_id: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "instanceId": instance_id,
            "runtimeStatus": self.runtime_status,
            "input": self.input,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": self.created,
            "lastUpdatedTime": self.updated,
        }


class FakeDurableClient(df.DurableOrchestrationClient):  # type: ignore[misc]
    """The SDK's client with the Durable extension's management API in memory."""

    def __init__(self) -> None:
        super().__init__(json.dumps(BINDING))
        self.instances: dict[str, Instance] = {}
        self.calls: list[tuple[str, str]] = []
        self.gone_on_raise = False
        self.on_start: dict[str, Any] = {}  # fields set on every instance started
        self._post_async_request = self._post
        self._get_async_request = self._get

    def add(self, instance_id: str, runtime_status: str, **fields: Any) -> Instance:
        instance = Instance(name="run_orchestrator", input=None, runtime_status=runtime_status)
        for key, value in fields.items():
            setattr(instance, key, value)
        self.instances[instance_id] = instance
        return instance

    def started(self) -> list[tuple[str, Any]]:
        """(orchestrator name, decoded input) of every start, in order."""
        return [(i.name, i.input) for i in self.instances.values() if i.input is not None]

    async def _post(
        self,
        url: str,
        data: Any = None,
        trace_parent: str | None = None,
        trace_state: str | None = None,
        function_invocation_id: str | None = None,
    ) -> list[Any]:
        path = urlsplit(url).path.removeprefix(urlsplit(RPC).path).split("/")
        self.calls.append(("POST", "/".join(path)))
        if path[0] == "orchestrators":
            instance_id = f"inst{len(self.instances) + 1:04d}"
            instance = Instance(name=path[1], input=json.loads(data))
            for key, value in self.on_start.items():
                setattr(instance, key, value)
            self.instances[instance_id] = instance
            return [202, {"id": instance_id}]
        if path[0] == "instances" and path[2] == "raiseEvent":
            target = self.instances.get(path[1])
            if target is None:
                return [404, None]
            if target.runtime_status in FINISHED or self.gone_on_raise:
                return [410, None]
            target.events.append((path[3], json.loads(data)))
            return [202, None]
        raise AssertionError(f"unexpected POST {url}")

    async def _get(self, url: str, function_invocation_id: str | None = None) -> list[Any]:
        path = urlsplit(url).path.removeprefix(urlsplit(RPC).path).split("/")
        self.calls.append(("GET", "/".join(path)))
        assert path[0] == "instances", url
        instance = self.instances.get(path[1])
        if instance is None:
            return [404, ""]
        instance.checks += 1
        after = instance.complete_after_checks
        if after is not None and instance.checks >= after:
            instance.runtime_status = instance.final_status
            instance.output = instance.pending_output
        code = 200 if instance.runtime_status in FINISHED else 202
        return [code, instance.status(path[1])]
