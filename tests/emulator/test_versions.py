"""api-version: the versions Azure serves, the APIs each has, and Azure's refusals."""

from __future__ import annotations

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from durable_assistant.settings import Settings
from emulator.testing import RunningEmulator
from emulator.versions import DATED, Api
from tests.support.emulator_sdk import API_VERSION, EMULATOR_KEY

MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "hello"}]


def dated(emu: RunningEmulator, version: str) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=emu.url, api_key=EMULATOR_KEY, api_version=version, max_retries=0
    )


@pytest.mark.parametrize("version", ["banana", "1999-01-01", "2024-05-01", "v1", "preview"])
def test_an_unknown_dated_version_is_refused_as_azure_does(
    emu: RunningEmulator, version: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        dated(emu, version).beta.assistants.list()
    assert caught.value.body == {"code": "BadRequest", "message": "API version not supported"}
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_a_dated_version_on_the_v1_path_is_refused(emu: RunningEmulator) -> None:
    v1 = OpenAI(
        base_url=emu.url + "/openai/v1/",
        api_key=EMULATOR_KEY,
        default_query={"api-version": API_VERSION},
        max_retries=0,
    )
    with pytest.raises(openai.BadRequestError) as caught:
        v1.responses.create(model="gpt-4o", input="hi")
    assert caught.value.code == "BadRequest"
    assert caught.value.body == {"code": "BadRequest", "message": "API version not supported"}


@pytest.mark.parametrize("version", [None, "v1", "preview"])
def test_the_v1_path_takes_v1_preview_or_nothing(emu: RunningEmulator, version: str | None) -> None:
    query = {"api-version": version} if version else None
    v1 = OpenAI(base_url=emu.url + "/openai/v1/", api_key=EMULATOR_KEY, default_query=query)
    assert v1.responses.create(model="gpt-4o", input="hi").status == "completed"


def test_an_api_the_version_lacks_is_not_found(emu: RunningEmulator) -> None:
    for call in (
        dated(emu, "2024-10-21").beta.assistants.list,  # GA: no Assistants
        lambda: dated(emu, API_VERSION).responses.create(model="m", input="hi"),  # too old
        dated(emu, "2025-04-01-preview").conversations.create,  # v1 only
        OpenAI(base_url=emu.url + "/openai/v1/", api_key=EMULATOR_KEY).beta.assistants.list,
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert caught.value.body == {"code": "404", "message": "Resource not found"}


def test_cancelling_a_response_is_a_v1_operation(emu: RunningEmulator) -> None:
    emu.configure(latency_ms=5_000)
    azure = dated(emu, "2025-04-01-preview")
    response = azure.responses.create(model="gpt-4o", input="hi", background=True)
    with pytest.raises(openai.NotFoundError):
        azure.responses.cancel(response.id)
    v1 = OpenAI(base_url=emu.url + "/openai/v1/", api_key=EMULATOR_KEY)
    assert v1.responses.cancel(response.id).status == "cancelled"


def test_chat_parameters_newer_than_the_version_are_unrecognized(emu: RunningEmulator) -> None:
    old = dated(emu, "2024-06-01")
    assert old.chat.completions.create(model="gpt", messages=MESSAGES).choices  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as caught:
        old.chat.completions.create(
            model="gpt",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_completion_tokens=300,
        )
    assert "Unrecognized request argument supplied: max_completion_tokens" in caught.value.message
    newer = dated(emu, "2024-10-21")
    assert newer.chat.completions.create(
        model="gpt",
        messages=MESSAGES,  # type: ignore[arg-type]
        max_completion_tokens=300,
    ).choices


def test_chat_on_a_deployment_url_needs_no_model(emu: RunningEmulator) -> None:
    client = AzureOpenAI(
        azure_endpoint=emu.url,
        api_key=EMULATOR_KEY,
        api_version=API_VERSION,
        azure_deployment="gpt-d",
    )
    raw = client.chat.completions.with_raw_response.create(
        model="",
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    assert raw.parse().model == "gpt-d"


def test_every_answer_carries_azure_headers(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    first = azure.beta.assistants.with_raw_response.list().headers
    second = azure.beta.assistants.with_raw_response.list().headers
    for headers in (first, second):
        assert headers["apim-request-id"]
        assert headers["x-ratelimit-limit-requests"] == "1000"
        assert int(headers["x-ratelimit-remaining-tokens"]) < 150_000
    assert first["apim-request-id"] != second["apim-request-id"]
    assert int(second["x-ratelimit-remaining-requests"]) == (
        int(first["x-ratelimit-remaining-requests"]) - 1
    )
    with pytest.raises(openai.NotFoundError) as caught:
        azure.beta.assistants.retrieve("asst_nope")
    assert caught.value.response.headers["apim-request-id"]
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_the_apps_default_version_has_assistants() -> None:
    default = Settings.model_fields["openai_api_version"].default
    assert Api.ASSISTANTS in DATED[default].apis


def test_runs_carry_a_poll_hint_by_default(emulator_session: RunningEmulator) -> None:
    emulator_session.start_over()  # the emulator's own default controls
    azure = dated(emulator_session, API_VERSION)
    assistant = azure.beta.assistants.create(model="m")
    raw = azure.beta.threads.with_raw_response.create_and_run(assistant_id=assistant.id)
    assert raw.headers["openai-poll-after-ms"] == "1000"
    listed = azure.beta.assistants.with_raw_response.list()
    assert "openai-poll-after-ms" not in listed.headers
