"""The client factory: identity by default, a key only when set, built once per process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from openai import APITimeoutError, InternalServerError

from durable_assistant.clients import (
    COGNITIVE_SERVICES_SCOPE,
    ModelClients,
    build_clients,
    build_credential,
)
from durable_assistant.composition import AppServices, services
from durable_assistant.objects import ObjectKind
from durable_assistant.settings import Settings
from tests.support.backends import StubCredential
from tests.support.recording_server import RecordingServer, recording_server

DEFAULT_API_VERSION = Settings.model_fields["openai_api_version"].default


@pytest.fixture
def server(app_env: pytest.MonkeyPatch) -> Iterator[RecordingServer]:
    """A loopback server the app's settings point at (what the clients send is seen)."""
    with recording_server() as recorder:
        app_env.setenv("AZURE_OPENAI_ENDPOINT", recorder.url)
        yield recorder


def list_with_both(clients: ModelClients) -> None:
    """One request from each client (a list call every API family serves)."""
    clients.assistants.models.list()
    clients.responses.models.list()


def test_an_injected_credential_gives_bearer_tokens_for_cognitive_services(
    server: RecordingServer, credential: StubCredential
) -> None:
    list_with_both(build_clients(services().settings, credential))

    assert [seen.headers.get("authorization") for seen in server.seen] == [
        "Bearer stub-token",
        "Bearer stub-token",
    ]
    assert "api-key" not in server.seen[0].headers
    assert set(credential.scopes) == {(COGNITIVE_SERVICES_SCOPE,)}


def test_urls_retries_and_timeouts_come_from_settings(
    server: RecordingServer, app_env: pytest.MonkeyPatch, credential: StubCredential
) -> None:
    app_env.setenv("OPENAI_MAX_RETRIES", "2")
    list_with_both(build_clients(services().settings, credential))
    assistants, responses = server.seen
    assert assistants.path == f"/openai/models?api-version={DEFAULT_API_VERSION}"
    assert responses.path == "/openai/v1/models"

    server.seen.clear()
    server.status, server.headers = 503, {"retry-after-ms": "1"}
    with pytest.raises(InternalServerError):
        build_clients(AppServices().settings, credential).assistants.models.list()
    assert len(server.seen) == 3  # the first try and OPENAI_MAX_RETRIES more

    app_env.setenv("OPENAI_MAX_RETRIES", "0")
    app_env.setenv("OPENAI_TIMEOUT_SECONDS", "0.2")
    server.status, server.delay_seconds = 200, 2.0
    with pytest.raises(APITimeoutError):
        build_clients(AppServices().settings, credential).responses.models.list()


def test_each_kind_is_deleted_with_the_client_of_its_api(
    credential: StubCredential, app_env: pytest.MonkeyPatch
) -> None:
    clients = build_clients(services().settings, credential)
    assert clients.for_kind(ObjectKind.THREAD) is clients.assistants
    assert clients.for_kind(ObjectKind.ASSISTANT) is clients.assistants
    assert clients.for_kind(ObjectKind.RESPONSE) is clients.responses
    assert clients.for_kind(ObjectKind.CONVERSATION) is clients.responses


def test_the_api_key_is_used_only_when_set_and_never_logged(
    server: RecordingServer, app_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app_env.setenv("AZURE_OPENAI_API_KEY", "sk-very-secret")
    with caplog.at_level(logging.DEBUG):
        list_with_both(build_clients(services().settings))
    assistants, responses = server.seen
    assert assistants.headers.get("api-key") == "sk-very-secret"
    assert "authorization" not in assistants.headers
    assert responses.headers.get("authorization") == "Bearer sk-very-secret"
    assert "API key" in caplog.text
    assert "sk-very-secret" not in caplog.text


def test_an_explicit_credential_wins_over_a_key(
    server: RecordingServer, app_env: pytest.MonkeyPatch, credential: StubCredential
) -> None:
    app_env.setenv("AZURE_OPENAI_API_KEY", "sk-very-secret")
    list_with_both(build_clients(services().settings, credential))
    assert [seen.headers.get("authorization") for seen in server.seen] == [
        "Bearer stub-token",
        "Bearer stub-token",
    ]
    assert all("sk-very-secret" not in str(seen.headers) for seen in server.seen)


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
