"""Credentials: keys as `api-key` or Bearer, managed-identity tokens as Bearer, else 401."""

from __future__ import annotations

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from emulator.testing import RunningEmulator, running_emulator
from tests.support.emulator_sdk import API_VERSION, EMULATOR_KEY

TOKEN = "token-from-the-identity"


def test_a_key_is_accepted_in_both_forms_and_checked(
    azure: AzureOpenAI, v1: OpenAI, emu: RunningEmulator
) -> None:
    assert azure.beta.assistants.list().data == []  # api-key header
    assert v1.conversations.create().object == "conversation"  # Authorization: Bearer <key>

    wrong = AzureOpenAI(
        azure_endpoint=emu.url, api_key="wrong", api_version=API_VERSION, max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.beta.assistants.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "401"
    assert "Access denied due to invalid subscription key" in caught.value.message


def test_a_token_is_accepted_as_bearer_only() -> None:
    with running_emulator(token=TOKEN) as emu:
        by_identity = AzureOpenAI(
            azure_endpoint=emu.url,
            azure_ad_token_provider=lambda: TOKEN,
            api_version=API_VERSION,
            max_retries=0,
        )
        assert by_identity.beta.assistants.create(model="m").object == "assistant"

        as_key = AzureOpenAI(
            azure_endpoint=emu.url, api_key=TOKEN, api_version=API_VERSION, max_retries=0
        )
        with pytest.raises(openai.AuthenticationError):
            as_key.beta.assistants.list()
        other = AzureOpenAI(
            azure_endpoint=emu.url,
            azure_ad_token_provider=lambda: "another-token",
            api_version=API_VERSION,
            max_retries=0,
        )
        with pytest.raises(openai.AuthenticationError):
            other.beta.assistants.list()
        assert emu.counts()["requests"]["GET /assistants"] == 2  # refusals are counted


def test_without_configured_credentials_anything_goes() -> None:
    with running_emulator() as emu:
        client = AzureOpenAI(
            azure_endpoint=emu.url, api_key="whatever", api_version=API_VERSION, max_retries=0
        )
        assert client.beta.assistants.list().data == []


def test_key_and_token_together() -> None:
    with running_emulator(api_key=EMULATOR_KEY, token=TOKEN) as emu:
        for client in (
            AzureOpenAI(azure_endpoint=emu.url, api_key=EMULATOR_KEY, api_version=API_VERSION),
            AzureOpenAI(
                azure_endpoint=emu.url,
                azure_ad_token_provider=lambda: TOKEN,
                api_version=API_VERSION,
            ),
        ):
            assert client.beta.assistants.list().data == []
