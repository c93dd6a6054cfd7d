"""Fault and latency controls, as the SDK experiences them (its retries included)."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import API_VERSION, EMULATOR_KEY

LIST = "GET /assistants"


def client(emu: RunningEmulator, retries: int) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=emu.url, api_key=EMULATOR_KEY, api_version=API_VERSION, max_retries=retries
    )


def served(emu: RunningEmulator, route: str = LIST) -> int:
    return int(emu.counts()["requests"].get(route, 0))


def test_a_429_is_retried_after_retry_after_ms(emu: RunningEmulator) -> None:
    emu.configure(retry_after=None, retry_after_ms=120, faults=[{"fault": "429", "count": 1}])
    began = time.monotonic()

    assert client(emu, 1).beta.assistants.list().data == []

    assert time.monotonic() - began >= 0.12
    assert served(emu) == 2  # the 429, then the SDK's retry


def test_a_fault_asked_by_header_hits_every_attempt(emu: RunningEmulator) -> None:
    emu.configure(retry_after_ms=20)
    with pytest.raises(openai.RateLimitError):
        client(emu, 1).beta.assistants.list(extra_headers={"x-emulator-fault": "429"})
    assert served(emu) == 2


def test_a_429_carries_the_service_headers_and_body(emu: RunningEmulator) -> None:
    emu.configure(retry_after=0.05, retry_after_ms=50, faults=[{"fault": "429", "count": 1}])
    with pytest.raises(openai.RateLimitError) as caught:
        client(emu, 0).beta.assistants.list()
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "0.05"
    assert error.response.headers["retry-after-ms"] == "50"
    assert error.code == "429"
    assert "Please retry after 0.05 seconds" in error.message
    assert isinstance(error.body, dict)
    assert set(error.body) == {"message", "code"}  # the gateway's body: no type, no param
    assert error.response.headers["x-should-retry"] == "true"
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_retry_after_in_seconds_alone_is_honoured(emu: RunningEmulator) -> None:
    emu.configure(retry_after=0.15, retry_after_ms=None, faults=[{"fault": "429", "count": 2}])
    began = time.monotonic()
    client(emu, 2).beta.assistants.list()
    assert time.monotonic() - began >= 0.3
    assert served(emu) == 3


def test_429s_beyond_the_retries_surface(emu: RunningEmulator) -> None:
    emu.configure(retry_after_ms=10, faults=[{"fault": "429", "count": 3}])
    with pytest.raises(openai.RateLimitError):
        client(emu, 2).beta.assistants.list()
    assert served(emu) == 3
    client(emu, 0).beta.assistants.list()  # the rule is used up


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(emu: RunningEmulator, status: int) -> None:
    emu.configure(faults=[{"fault": str(status), "count": 1, "route": LIST}])
    client(emu, 1).beta.assistants.list()
    assert served(emu) == 2

    emu.configure(faults=[{"fault": str(status), "count": 1}])
    with pytest.raises(openai.InternalServerError) as caught:
        client(emu, 0).beta.assistants.list()
    assert caught.value.status_code == status
    assert caught.value.type == "server_error"


def test_a_dropped_connection(emu: RunningEmulator) -> None:
    with pytest.raises(openai.APIConnectionError):
        client(emu, 0).beta.assistants.list(extra_headers={"x-emulator-fault": "drop"})

    emu.configure(faults=[{"fault": "drop", "count": 1}])
    assert client(emu, 1).beta.assistants.list().data == []
    assert served(emu) == 3


def test_a_lost_reply_is_performed_then_dropped(emu: RunningEmulator) -> None:
    """Unlike `drop`, the request is carried out: the object exists, the client never hears."""
    with pytest.raises(openai.APIConnectionError):
        client(emu, 0).beta.assistants.create(model="m", extra_headers={"x-emulator-fault": "lost"})
    assert emu.live()["assistants"] == 1

    emu.configure(faults=[{"fault": "lost", "count": 1, "route": "POST /threads"}])
    with pytest.raises(openai.APIConnectionError):
        client(emu, 0).beta.threads.create()
    assert emu.live()["threads"] == 1
    client(emu, 0).beta.threads.create()  # the rule is used up
    assert emu.live()["threads"] == 2

    emu.configure(rate_lost=1.0)
    with pytest.raises(openai.APIConnectionError):
        client(emu, 0).beta.assistants.create(model="m")
    assert emu.live()["assistants"] == 2


def test_a_lost_reply_of_a_refused_request_changes_nothing(emu: RunningEmulator) -> None:
    with pytest.raises(openai.APIConnectionError):
        client(emu, 0).beta.threads.delete("thread_x", extra_headers={"x-emulator-fault": "lost"})
    assert set(emu.live().values()) == {0}


def test_fault_rules_match_their_route_only(emu: RunningEmulator) -> None:
    azure = client(emu, 0)
    assistant = azure.beta.assistants.create(model="m")
    emu.configure(faults=[{"fault": "500", "count": 2, "route": "/assistants/{assistant_id}"}])

    azure.beta.assistants.list()
    with pytest.raises(openai.InternalServerError):
        azure.beta.assistants.retrieve(assistant.id)
    with pytest.raises(openai.InternalServerError):
        azure.beta.assistants.update(assistant.id, name="x")
    assert azure.beta.assistants.retrieve(assistant.id).id == assistant.id
    assert emu.config()["faults"] == []


def test_an_outage_rule_fails_every_matching_request_while_it_lasts(
    emu: RunningEmulator,
) -> None:
    azure = client(emu, 0)
    emu.configure(faults=[{"fault": "503", "seconds": 0.5, "route": LIST}])
    began = time.monotonic()

    failed = 0
    while time.monotonic() - began < 0.4:  # well inside the outage
        with pytest.raises(openai.InternalServerError):
            azure.beta.assistants.list()
        failed += 1
    assert azure.beta.assistants.create(model="m").id  # another route is served
    assert failed > 1  # not used up by a count
    assert emu.config()["faults"][0]["seconds"] == 0.5

    while time.monotonic() - began < 0.6:
        time.sleep(0.05)
    assert len(azure.beta.assistants.list().data) == 1  # over: served again
    assert emu.config()["faults"] == []


def test_fault_rates_follow_the_seed(emu: RunningEmulator) -> None:
    azure = client(emu, 0)

    def pattern() -> list[bool]:
        emu.configure(rate_500=0.5, seed=3)
        failed = []
        for _ in range(12):
            try:
                azure.beta.assistants.list()
                failed.append(False)
            except openai.InternalServerError:
                failed.append(True)
        return failed

    first = pattern()
    assert True in first
    assert False in first
    assert pattern() == first


def test_request_latency_by_header_and_by_control(emu: RunningEmulator) -> None:
    azure = client(emu, 0)
    began = time.monotonic()
    azure.beta.assistants.list(extra_headers={"x-emulator-latency-ms": "100"})
    assert time.monotonic() - began >= 0.1

    emu.configure(request_latency_ms="60-80")
    began = time.monotonic()
    azure.beta.assistants.list()
    assert time.monotonic() - began >= 0.06


def test_model_latency_holds_a_foreground_response(emu: RunningEmulator) -> None:
    emu.configure(latency_ms=150)
    v1 = OpenAI(base_url=emu.url + "/openai/v1/", api_key=EMULATOR_KEY, max_retries=0)
    began = time.monotonic()
    assert v1.responses.create(model="m", input="hi").status == "completed"
    assert time.monotonic() - began >= 0.15


def test_controls_are_checked(emu: RunningEmulator) -> None:
    with pytest.raises(ValueError, match="unknown control"):
        emu.configure(nonsense=1)
    with pytest.raises(ValueError, match="probability"):
        emu.configure(rate_429=2)
    with pytest.raises(ValueError, match="latency"):
        emu.configure(latency_ms="soon")
    with pytest.raises(ValueError, match="fault rule"):
        emu.configure(faults=[{"fault": "418"}])
    with pytest.raises(ValueError, match="seconds"):
        emu.configure(faults=[{"fault": "500", "seconds": -1}])
    assert emu.config()["rate_429"] == 0.0  # nothing was half-applied


def test_reset_forgets_objects_counts_and_control_changes(emu: RunningEmulator) -> None:
    azure = client(emu, 0)
    azure.beta.assistants.create(model="m")
    emu.configure(rate_500=0.25, latency_ms="exp:10")
    assert emu.config()["latency_ms"] == "exp:10"
    emu.reset()
    assert emu.counts() == {
        "live": {
            "assistants": 0,
            "threads": 0,
            "messages": 0,
            "runs": 0,
            "responses": 0,
            "conversations": 0,
        },
        "requests": {},
        "model_seconds": 0.0,
    }
    assert emu.config()["rate_500"] == 0.0
    assert emu.config()["poll_after_ms"] == 5  # the starting controls stay


def raw_request(emu: RunningEmulator, method: str, path: str) -> tuple[int, bytes]:
    parts = urlsplit(emu.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request(method, path, headers={"api-key": EMULATOR_KEY})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_unknown_paths_and_missing_api_version(emu: RunningEmulator) -> None:
    status, body = raw_request(emu, "GET", f"/openai/nothing-here?api-version={API_VERSION}")
    assert status == 404
    assert b"Resource not found" in body
    assert emu.counts()["requests"]["GET (unmatched)"] == 1
    status, body = raw_request(emu, "GET", "/openai/assistants")
    assert status == 404
    assert b"Resource not found" in body
    path = f"/openai/deployments/gpt/assistants?api-version={API_VERSION}"
    assert raw_request(emu, "GET", path)[0] == 200
