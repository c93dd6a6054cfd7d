"""Settings come from the environment; a bad or missing one fails naming the setting."""

from __future__ import annotations

import logging

import pytest

from durable_assistant.composition import services
from durable_assistant.model import Backend
from durable_assistant.settings import SettingsError, load_settings


def test_missing_required_settings_are_named(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "AZURE_OPENAI_ENDPOINT: is required but not set" in message
    assert "AZURE_OPENAI_DEPLOYMENT: is required but not set" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AZURE_OPENAI_ENDPOINT", "not a url"),
        ("OPENAI_MAX_RETRIES", "-1"),
        ("OPENAI_TIMEOUT_SECONDS", "0"),
        ("ASSISTANT_BACKEND", "chat"),
        ("TOOL_TIMEOUT_SECONDS", "soon"),
        ("TOOL_OUTPUT_MAX_CHARS", "10"),
    ],
)
def test_an_invalid_setting_is_named(app_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    app_env.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name}: "):
        load_settings()


def test_poll_bounds_must_be_ordered(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("POLL_INITIAL_MS", "2000")
    app_env.setenv("POLL_MAX_MS", "1000")
    with pytest.raises(SettingsError, match="POLL_MAX_MS"):
        load_settings()


def test_defaults_and_overrides(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com/")
    app_env.setenv("ASSISTANT_BACKEND", "assistants")
    app_env.setenv("RESPONSES_BACKGROUND", "false")
    settings = load_settings()
    assert settings.endpoint == "https://example.openai.azure.com"
    assert settings.assistant_backend is Backend.ASSISTANTS
    assert settings.responses_background is False
    assert settings.azure_openai_api_key is None
    assert settings.openai_max_retries == 2


def test_the_api_key_never_shows(
    app_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app_env.setenv("AZURE_OPENAI_API_KEY", "sk-very-secret")
    settings = load_settings()
    assert settings.azure_openai_api_key is not None
    assert settings.azure_openai_api_key.get_secret_value() == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings.model_dump())
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %s", settings)
    assert "sk-very-secret" not in caplog.text


def test_settings_are_read_once(app_env: pytest.MonkeyPatch) -> None:
    first = services().settings
    app_env.setenv("AZURE_OPENAI_DEPLOYMENT", "changed")
    assert services().settings is first
