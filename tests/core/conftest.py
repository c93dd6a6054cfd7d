"""Shared fixtures of the core tests: app settings in the environment, fresh caches."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.core.credentials import AccessToken

from durable_assistant.clients import reset_clients
from durable_assistant.recorder import get_recorder
from durable_assistant.settings import get_settings

SETTING_NAMES = (
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_DEPLOYMENT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_CLIENT_ID",
    "OPENAI_API_VERSION",
    "OPENAI_MAX_RETRIES",
    "OPENAI_TIMEOUT_SECONDS",
    "ASSISTANT_BACKEND",
    "RESPONSES_BACKGROUND",
    "POLL_INITIAL_MS",
    "POLL_MAX_MS",
    "TOOL_TIMEOUT_SECONDS",
    "TOOL_OUTPUT_MAX_CHARS",
    "OPENAI_API_KEY",
)


def reset_caches() -> None:
    """Forget the process-wide settings, credential, clients and recorder."""
    get_settings.cache_clear()
    reset_clients()
    get_recorder.cache_clear()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No app setting from the developer's shell leaks in; caches are fresh."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    reset_caches()
    yield monkeypatch
    reset_caches()


@pytest.fixture
def app_env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The minimal valid settings (an endpoint nothing listens on, no key)."""
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9")
    clean_env.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt-test")
    return clean_env


class StubCredential:
    """A `TokenCredential` that hands out a fixed token and counts the requests."""

    def __init__(self, token: str = "stub-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def credential() -> StubCredential:
    return StubCredential()
