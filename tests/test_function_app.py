"""`function_app.py` indexed the way the Python worker indexes it.

The worker imports the script, calls `app.get_functions()` and sends each
function's raw bindings to the host; it then matches the user function's
parameters to the binding names. Every function the app has must be listed in
`EXPECTED` below with its bindings, so a function added without a check here fails.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from durable_assistant.composition import use_services
from durable_assistant.settings import Settings
from orchestrators import ORCHESTRATOR_NAME
from tests.support.function_index import index_app, raw_bindings

ROOT = Path(__file__).resolve().parents[1]


def activity(name: str) -> tuple[str, list[dict[str, Any]]]:
    return name, [{"direction": "IN", "type": "activityTrigger", "name": "payload"}]


def http(
    name: str, route: str, method: str, *, client: bool = True, auth: str = "FUNCTION"
) -> tuple[str, list[dict[str, Any]]]:
    bindings: list[dict[str, Any]] = [
        {
            "direction": "IN",
            "type": "httpTrigger",
            "name": "req",
            "methods": [method],
            "authLevel": auth,
            "route": route,
        },
        {"direction": "OUT", "type": "http", "name": "$return"},
    ]
    if client:
        bindings.insert(0, {"direction": "IN", "type": "durableClient", "name": "client"})
    return name, bindings


def expected(auth: str = "FUNCTION") -> dict[str, list[dict[str, Any]]]:
    return dict(
        [
            activity("start_run"),
            activity("poll_run"),
            activity("run_tool"),
            activity("submit_tool_outputs"),
            activity("cancel_run"),
            activity("teardown_run"),
            activity("record_run_events"),
            (
                ORCHESTRATOR_NAME,
                [{"direction": "IN", "type": "orchestrationTrigger", "name": "context"}],
            ),
            http("start_run_http", "runs", "POST", auth=auth),
            http("get_run_http", "runs/{instance_id}", "GET", auth=auth),
            http("cancel_run_http", "runs/{instance_id}/cancel", "POST", auth=auth),
            http("run_events_http", "runs/{instance_id}/events", "GET", auth=auth),
            http("list_tools_http", "tools", "GET", client=False, auth=auth),
            http("openapi_http", "openapi.json", "GET", client=False, auth=auth),
            (
                "purge_leftovers",
                [
                    {"direction": "IN", "type": "durableClient", "name": "client"},
                    {
                        "direction": "IN",
                        "type": "timerTrigger",
                        "name": "timer",
                        "schedule": "%PURGE_SCHEDULE%",
                        "runOnStartup": False,
                    },
                ],
            ),
        ]
    )


def by_name(bindings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {b["name"]: b for b in bindings}


def test_every_function_and_binding_is_as_expected() -> None:
    functions = index_app({})  # no settings at all: indexing must not need them
    want = expected()
    assert sorted(functions) == sorted(want), "a function was added or removed: update EXPECTED"
    for name, function in functions.items():
        assert by_name(raw_bindings(function)) == by_name(want[name]), name


def test_user_functions_take_exactly_their_bindings() -> None:
    """The worker passes each non-return binding as the parameter of the same name."""
    for name, function in index_app({}).items():
        user = function.get_user_function()
        target = getattr(user, "client_function", None) or getattr(
            user, "orchestrator_function", user
        )
        assert callable(target)
        parameters = set(inspect.signature(target).parameters)
        names = {b["name"] for b in raw_bindings(function) if b["name"] != "$return"}
        assert parameters == names, name


@pytest.mark.parametrize(
    ("environ", "auth"),
    [
        ({"HTTP_AUTH_ANONYMOUS": "true"}, "ANONYMOUS"),
        ({"HTTP_AUTH_ANONYMOUS": "1"}, "ANONYMOUS"),
        ({"HTTP_AUTH_ANONYMOUS": "false"}, "FUNCTION"),
        ({"HTTP_AUTH_ANONYMOUS": "nonsense"}, "FUNCTION"),
        # in Azure the setting is ignored: keys stay required
        ({"HTTP_AUTH_ANONYMOUS": "true", "WEBSITE_INSTANCE_ID": "abc123"}, "FUNCTION"),
    ],
)
def test_http_auth_level_follows_the_local_setting(environ: dict[str, str], auth: str) -> None:
    functions = index_app(environ)
    want = expected(auth)
    for name, function in functions.items():
        assert by_name(raw_bindings(function)) == by_name(want[name]), name


def test_host_json_is_the_real_thing() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    durable = host["extensions"]["durableTask"]
    assert durable["hubName"] == "%TASKHUB_NAME%"
    assert 1 <= durable["maxConcurrentActivityFunctions"] <= 100
    assert 1 <= durable["maxConcurrentOrchestratorFunctions"] <= 100
    assert host["extensions"]["http"]["routePrefix"] == "api"
    # Idle task-hub queues are looked at no less often than the run's longest poll wait.
    hours, minutes, seconds = durable["storageProvider"]["maxQueuePollingInterval"].split(":")
    queue_poll_ms = (int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000
    assert queue_poll_ms <= Settings.model_fields["poll_max_ms"].default
    assert host["logging"]["logLevel"]["default"] in {"Information", "Warning"}


def test_funcignore_keeps_tests_and_tools_out_of_the_package() -> None:
    ignored = set((ROOT / ".funcignore").read_text().split())
    assert {"tests/", ".venv/", "infra/", "local.settings.json"} <= ignored
    assert "function_app.py" not in ignored and "host.json" not in ignored


def test_loading_the_app_quiets_the_sdks_per_request_logging() -> None:
    chatty = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    chatty.setLevel(logging.NOTSET)

    index_app()

    assert chatty.level == logging.WARNING
    assert not chatty.isEnabledFor(logging.INFO)
    assert logging.getLogger("orchestrators.run").level == logging.NOTSET


def test_loading_the_app_without_settings_logs_each_missing_one_and_still_indexes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_services(None)
    with caplog.at_level(logging.ERROR, logger="durable_assistant.composition"):
        functions = index_app({"AZURE_OPENAI_DEPLOYMENT": "gpt-x"})
    use_services(None)

    assert "start_run_http" in functions
    assert "AZURE_OPENAI_ENDPOINT: is required but not set" in caplog.text
    assert "AZURE_OPENAI_DEPLOYMENT" not in caplog.text


def test_loading_the_app_with_good_settings_logs_no_settings_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_services(None)
    environ = {"AZURE_OPENAI_ENDPOINT": "https://x.example", "AZURE_OPENAI_DEPLOYMENT": "d"}
    with caplog.at_level(logging.ERROR, logger="durable_assistant.composition"):
        index_app(environ)
    use_services(None)

    assert caplog.text == ""
