"""The client factory: identity by default, a key only when set, built once per process."""

from __future__ import annotations

import logging

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from durable_assistant.clients import (
    COGNITIVE_SERVICES_SCOPE,
    build_clients,
    build_credential,
)
from durable_assistant.composition import AppServices, services
from durable_assistant.objects import ObjectKind
from tests.support.backends import StubCredential


def test_an_injected_credential_gives_bearer_tokens_for_cognitive_services(
    app_env: pytest.MonkeyPatch, credential: StubCredential
) -> None:
    clients = build_clients(services().settings, credential)
    provider = clients.assistants._azure_ad_token_provider
    assert provider is not None
    assert provider() == "stub-token"
    assert credential.scopes == [(COGNITIVE_SERVICES_SCOPE,)]
    responses_provider = clients.responses._api_key_provider
    assert responses_provider is not None
    assert responses_provider() == "stub-token"


def test_urls_retries_and_timeouts_come_from_settings(
    app_env: pytest.MonkeyPatch, credential: StubCredential
) -> None:
    app_env.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com/")
    app_env.setenv("OPENAI_MAX_RETRIES", "5")
    app_env.setenv("OPENAI_TIMEOUT_SECONDS", "12.5")
    clients = build_clients(services().settings, credential)
    assert str(clients.assistants.base_url) == "https://example.openai.azure.com/openai/"
    assert clients.assistants._api_version == "2024-05-01-preview"
    assert str(clients.responses.base_url) == "https://example.openai.azure.com/openai/v1/"
    for client in (clients.assistants, clients.responses):
        assert client.max_retries == 5
        assert client.timeout == 12.5
    assert clients.for_kind(ObjectKind.THREAD) is clients.assistants
    assert clients.for_kind(ObjectKind.ASSISTANT) is clients.assistants
    assert clients.for_kind(ObjectKind.RESPONSE) is clients.responses
    assert clients.for_kind(ObjectKind.CONVERSATION) is clients.responses


def test_the_api_key_is_used_only_when_set_and_never_logged(
    app_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app_env.setenv("AZURE_OPENAI_API_KEY", "sk-very-secret")
    with caplog.at_level(logging.DEBUG):
        clients = build_clients(services().settings)
    assert clients.assistants.api_key == "sk-very-secret"
    assert clients.assistants._azure_ad_token_provider is None
    assert clients.responses.api_key == "sk-very-secret"
    assert "API key" in caplog.text
    assert "sk-very-secret" not in caplog.text


def test_an_explicit_credential_wins_over_a_key(
    app_env: pytest.MonkeyPatch, credential: StubCredential
) -> None:
    app_env.setenv("AZURE_OPENAI_API_KEY", "sk-very-secret")
    clients = build_clients(services().settings, credential)
    assert clients.assistants._azure_ad_token_provider is not None


def test_managed_identity_by_default_user_assigned_with_a_client_id(
    app_env: pytest.MonkeyPatch,
) -> None:
    assert isinstance(build_credential(services().settings), DefaultAzureCredential)
    app_env.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    assert isinstance(build_credential(AppServices().settings), ManagedIdentityCredential)


def test_credential_and_clients_are_built_once_per_root(app_env: pytest.MonkeyPatch) -> None:
    root = services()
    clients = root.clients
    assert root.clients is clients
    assert root.credential is root.credential
    assert services() is root
    assert AppServices().clients is not clients
