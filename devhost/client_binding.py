"""The durable client binding JSON and the management URLs it advertises."""

from __future__ import annotations

import json
from urllib.parse import quote

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"


def management_urls(origin: str, hub: str, instance_id: str) -> dict[str, str]:
    """The check-status payload (`id`, `statusQueryGetUri`, ...) for one instance."""
    base = f"{origin}{WEBHOOK_PATH}/instances/{quote(instance_id, safe='')}"
    qs = f"taskHub={quote(hub)}&connection=Storage"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{base}?{qs}",
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{qs}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}&{qs}",
        "rewindPostUri": f"{base}/rewind?reason={{text}}&{qs}",
        "purgeHistoryDeleteUri": f"{base}?{qs}",
        "restartPostUri": f"{base}/restart?{qs}",
        "suspendPostUri": f"{base}/suspend?reason={{text}}&{qs}",
        "resumePostUri": f"{base}/resume?reason={{text}}&{qs}",
    }


def client_binding(origin: str, hub: str, binding: dict[str, object] | None = None) -> str:
    """Binding JSON handed to a `durable_client_input` parameter, like the extension's."""
    binding = binding or {}
    task_hub = str(binding.get("taskHub") or hub)
    base = f"{origin}{WEBHOOK_PATH}"
    qs = f"taskHub={quote(task_hub)}&connection=Storage"
    urls = management_urls(origin, task_hub, "INSTANCEID")
    return json.dumps(
        {
            "taskHubName": task_hub,
            "connectionName": binding.get("connectionName"),
            "creationUrls": {
                "createNewInstancePostUri": (
                    f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{qs}"
                ),
                "createAndWaitOnNewInstancePostUri": (
                    f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                    f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{qs}"
                ),
            },
            "managementUrls": urls,
            "baseUrl": base,
            "requiredQueryStringParameters": "",
            "rpcBaseUrl": f"{origin}{RPC_PATH}/",
            "httpBaseUrl": None,
        }
    )
