"""What a fault campaign against the app found, each checked over real HTTP: devhost
serving the app, the emulator injecting the fault, Azurite holding the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from openai import AzureOpenAI

from durable_assistant.ledger import TableLedger
from durable_assistant.objects import ObjectKind
from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess
from localrun.stack import EMULATOR_KEY, Stack, running_stack
from tests.support.app_http import (
    E2E_SETTINGS,
    SCRIPTS,
    SEED_QUESTION,
    cancel_run,
    checked,
    run_to_end,
    start_run,
    wait_for_phase,
    wait_until_finished,
)
from tests.support.waiting import holds_within


def all_gone(model: AdminClient, timeout: float = 10) -> bool:
    """Whether the emulator holds nothing, waiting a little for a teardown to finish."""
    return holds_within(lambda: not any(model.live().values()), timeout)


# -- bad input: a clean 400 on every body parser -----------------------------------------

DEEP = 100_000


@pytest.mark.parametrize(
    "body",
    [
        b'{"question": "x", "tools": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        b'{"question": "x", "tools": ' + b"[" * DEEP + b"}",  # not even closed
        b'{"question": "x", "instructions": {"a": ' * 5_000 + b"1" + b"}" * 5_000,
    ],
    ids=["closed", "unclosed", "objects"],
)
def test_deeply_nested_json_is_a_400_on_start(app: DevhostProcess, body: bytes) -> None:
    reply = checked(requests.post(f"{app.url}/api/runs", data=body, timeout=30))

    assert reply.status_code == 400, reply.text
    assert reply.json()["fields"] == ["body"]


def test_deeply_nested_json_is_a_400_on_cancel(app: DevhostProcess, model: AdminClient) -> None:
    model.configure(latency_ms=60_000)
    instance_id = start_run(app.url, {"question": SEED_QUESTION}).json()["id"]
    body = b'{"reason": ' + b"[" * DEEP + b"]" * DEEP + b"}"

    url = f"{app.url}/api/runs/{instance_id}/cancel"
    reply = checked(requests.post(url, data=body, timeout=30))

    assert reply.status_code == 400, reply.text
    assert reply.json()["fields"] == ["body"]
    assert cancel_run(app.url, instance_id).ok
    assert wait_until_finished(app.url, instance_id)["outcome"] == "cancelled"


@pytest.mark.parametrize("deadline", ["10", 10.0, True, "ten"])
def test_deadline_seconds_must_be_a_json_integer(app: DevhostProcess, deadline: object) -> None:
    reply = start_run(app.url, {"question": SEED_QUESTION, "deadline_seconds": deadline})

    assert reply.status_code == 400, reply.text
    assert reply.json()["fields"] == ["deadline_seconds"]


@pytest.mark.parametrize("wait", [" 5 ", "\uff15", "+5", "1_0", "5 "])
def test_wait_must_be_plain_ascii_digits(app: DevhostProcess, wait: str) -> None:
    reply = checked(
        requests.post(
            f"{app.url}/api/runs",
            params={"wait": wait},
            json={"question": SEED_QUESTION},
            timeout=30,
        )
    )

    assert reply.status_code == 400, reply.text
    assert reply.json()["fields"] == ["wait"]


# -- teardown retries a delete that failed ------------------------------------------------


def test_teardown_retries_a_delete_that_failed(app: DevhostProcess, model: AdminClient) -> None:
    # OPENAI_MAX_RETRIES is 1: the first teardown attempt sees two drops, the second one.
    route = "DELETE /assistants/{assistant_id}"
    model.configure(faults=[{"fault": "drop", "count": 3, "route": route}])

    assert run_to_end(app.url, SEED_QUESTION, "assistants")["outcome"] == "completed"
    assert model.config()["faults"] == []  # every drop was used
    assert all_gone(model), model.live()


# -- answers the service refuses: fail fast, cleanly ---------------------------------------


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_a_call_id_the_model_repeats_is_answered_once(
    app: DevhostProcess, model: AdminClient, backend: str
) -> None:
    result = run_to_end(app.url, "Use one call id twice.", backend)

    assert result["outcome"] == "completed", result
    assert result["answer"] == "Counted once."
    assert [c["call_id"] for c in result["tool_calls"]] == ["call_same"]
    assert all_gone(model), model.live()


def test_a_request_the_service_refuses_ends_the_run_at_once(
    app: DevhostProcess, model: AdminClient, settings: dict[str, str]
) -> None:
    model.configure(latency_ms=60_000)
    body = {"question": SEED_QUESTION, "backend": "assistants"}
    instance_id = start_run(app.url, body).json()["id"]
    wait_for_phase(app.url, instance_id, "waiting_for_model")
    ledger = TableLedger.from_connection_string(settings["AzureWebJobsStorage"], "assistantledger")
    [thread_id] = [
        o.object_id for o in ledger.objects_of(instance_id) if o.kind is ObjectKind.THREAD
    ]
    AzureOpenAI(
        azure_endpoint=model.url, api_key=EMULATOR_KEY, api_version="2024-05-01-preview"
    ).beta.threads.delete(thread_id)  # every poll of its run is now a 404

    status = wait_until_finished(app.url, instance_id)

    assert status["outcome"] == "failed", status
    # the refusal itself ends the run, not a poll activity that failed its retries
    assert status["error"].startswith("Azure OpenAI rejected polling the run (404)"), status
    assert "No thread found" in status["error"], status
    assert all_gone(model), model.live()


# -- a create whose reply is lost -------------------------------------------------------


def ledger_of(settings: dict[str, str]) -> TableLedger:
    return TableLedger.from_connection_string(settings["AzureWebJobsStorage"], "assistantledger")


def served(model: AdminClient, route: str) -> int:
    return int(model.counts()["requests"].get(route, 0))


@pytest.mark.parametrize(
    "route", ["POST /assistants", "POST /threads/{thread_id}/runs"], ids=["assistant", "run"]
)
def test_a_lost_create_reply_on_assistants_is_found_again(
    app: DevhostProcess, model: AdminClient, route: str
) -> None:
    before = served(model, route)
    model.configure(faults=[{"fault": "lost", "count": 1, "route": route}])

    reply = start_run(app.url, {"question": SEED_QUESTION, "backend": "assistants"}, wait=60)

    assert reply.status_code == 200, reply.text
    assert reply.json()["outcome"] == "completed", reply.json()
    assert served(model, route) - before == 1  # adopted, never created twice
    wait_until_finished(app.url, reply.json()["id"])  # teardown may end behind the answer
    assert all_gone(model), model.live()


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own for the tests that leave what no API can reach (the shared
    emulator must hold nothing after each test)."""
    data_dir = tmp_path_factory.mktemp("leaky")
    with running_stack(
        data_dir, overrides=E2E_SETTINGS, scripts=[SCRIPTS / "pauses.json"]
    ) as stack:
        yield stack


def test_a_lost_thread_create_reply_is_known_to_the_ledger(leaky: Stack) -> None:
    app, model, settings = leaky.app, leaky.emulator, leaky.settings
    before = served(model, "POST /threads")
    model.configure(faults=[{"fault": "lost", "count": 1, "route": "POST /threads"}])

    reply = start_run(app.url, {"question": SEED_QUESTION, "backend": "assistants"}, wait=60)

    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["outcome"] == "completed", result
    wait_until_finished(app.url, result["id"])  # teardown may end behind the answer
    # Threads cannot be listed: the lost one stays, and the ledger says so.
    assert holds_within(lambda: model.live()["threads"] == 1, 10), model.live()
    assert served(model, "POST /threads") - before == 2
    lost = [i for i in ledger_of(settings).intents_of(result["id"]) if not i.settled]
    assert [i.kind for i in lost] == [ObjectKind.THREAD]


def test_a_lost_submit_on_responses_never_starts_a_second_turn(leaky: Stack) -> None:
    app, model, settings = leaky.app, leaky.emulator, leaky.settings
    body = {"question": "Please pause twice.", "backend": "responses"}
    instance_id = start_run(app.url, body).json()["id"]
    wait_for_phase(app.url, instance_id, "running_tools")
    before = served(model, "POST /responses")
    model.configure(faults=[{"fault": "lost", "count": 1, "route": "POST /responses"}])

    status = wait_until_finished(app.url, instance_id)

    assert status["outcome"] == "failed", status
    assert "not sent again" in status["error"], status
    assert served(model, "POST /responses") - before == 1  # one submit, never two
    # The response the lost submit made cannot be found; the ledger says it may exist.
    assert holds_within(lambda: model.live()["responses"] == 1, 10), model.live()
    lost = [i for i in ledger_of(settings).intents_of(instance_id) if not i.settled]
    assert [i.kind for i in lost] == [ObjectKind.RESPONSE]


def test_a_run_that_fails_unexpectedly_keeps_its_trace_and_a_clean_error(leaky: Stack) -> None:
    app, model = leaky.app, leaky.emulator
    body = {"question": "Please pause twice.", "backend": "responses"}
    instance_id = start_run(app.url, body).json()["id"]
    wait_for_phase(app.url, instance_id, "running_tools")
    before = served(model, "POST /responses")
    model.configure(faults=[{"fault": "401", "count": 10_000}])  # credentials refused

    status = wait_until_finished(app.url, instance_id, timeout=120)
    model.configure(faults=[])

    assert status["runtime_status"] == "Failed", status
    assert status["outcome"] == "failed", status
    assert [c["name"] for c in status["tool_calls"]] == ["pause", "pause"], status
    assert status["usage"]["total_tokens"] > 0, status
    assert status["error"].startswith("the run stopped on an unexpected failure"), status
    # what to check, in the app's words; the SDK's text (status, body) stays in the logs
    assert "refused the managed identity's token (401)" in status["error"], status
    assert "Error code" not in status["error"] and "{" not in status["error"], status
    # retrying cannot fix refused credentials: the submit was sent once, not retried
    assert served(model, "POST /responses") - before == 1
