"""SDK exceptions mapped to throttled states and clear, secret-free errors."""

from __future__ import annotations

import email.utils
import time
import traceback
from typing import Any

import httpx2
import openai
import pytest
from azure.core.exceptions import ClientAuthenticationError

from durable_assistant.backends import CredentialsRejectedError, ModelRequestError
from durable_assistant.backends.base import poll_after_ms
from durable_assistant.backends.errors import (
    DEFAULT_RETRY_AFTER_SECONDS,
    model_errors,
    retry_after_seconds,
    throttled_state,
)
from durable_assistant.model import RunStatus

URL = "http://127.0.0.1:9/openai/threads?api-version=2024-05-01-preview"
SECRET = "sk-very-secret"


def status_error(
    cls: type[openai.APIStatusError], code: int, message: str, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    body: dict[str, Any] = {"error": {"code": str(code), "message": message}}
    request = httpx2.Request("POST", URL, headers={"api-key": SECRET})
    response = httpx2.Response(code, headers=headers or {}, json=body, request=request)
    return cls(f"Error code: {code} - {body}", response=response, body=body["error"])


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "6500", "retry-after": "7"}, 6.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({}, DEFAULT_RETRY_AFTER_SECONDS),
        ({"retry-after": "soon"}, DEFAULT_RETRY_AFTER_SECONDS),
        ({"retry-after-ms": "0"}, DEFAULT_RETRY_AFTER_SECONDS),
        ({"retry-after": "-3"}, DEFAULT_RETRY_AFTER_SECONDS),
        ({"retry-after": "86400"}, 3_600.0),
    ],
)
def test_retry_after_headers(headers: dict[str, str], seconds: float) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": when}) <= 30


def test_a_429_becomes_a_throttled_state() -> None:
    error = status_error(
        openai.RateLimitError, 429, "Please retry after 6 seconds.", {"retry-after": "6"}
    )
    state = throttled_state(error)  # type: ignore[arg-type]
    assert state.status is RunStatus.THROTTLED
    assert state.retry_after_seconds == 6.0
    assert state.reason is not None and "Please retry after 6 seconds." in state.reason


@pytest.mark.parametrize(
    ("cls", "code"), [(openai.AuthenticationError, 401), (openai.PermissionDeniedError, 403)]
)
def test_refused_credentials_read_clearly_without_a_traceback_or_secret(
    cls: type[openai.APIStatusError], code: int
) -> None:
    with pytest.raises(CredentialsRejectedError) as raised, model_errors("polling the run"):
        raise status_error(cls, code, "Access denied due to invalid subscription key.")
    error = raised.value
    message = str(error)
    assert message.startswith(f"Azure OpenAI refused the API key ({code}): check ")
    assert "AZURE_OPENAI_API_KEY" in message
    assert "Access denied due to invalid subscription key." in message
    assert error.__cause__ is None and error.__suppress_context__
    shown = "".join(traceback.format_exception_only(error))
    assert SECRET not in shown and "Traceback" not in shown


def test_a_refused_token_names_the_identity_not_a_key() -> None:
    body: dict[str, Any] = {"error": {"code": "401", "message": "Access token ... expired."}}
    request = httpx2.Request("POST", URL, headers={"authorization": "Bearer eyJ.x.y"})
    response = httpx2.Response(401, json=body, request=request)
    refused = openai.AuthenticationError("401", response=response, body=body["error"])
    with pytest.raises(CredentialsRejectedError) as raised, model_errors("starting"):
        raise refused
    message = str(raised.value)
    assert message.startswith("Azure OpenAI refused the managed identity's token (401)")
    assert "Cognitive Services OpenAI User" in message
    assert "AZURE_OPENAI_API_KEY" not in message


def test_a_credential_that_cannot_get_a_token_reads_clearly() -> None:
    expected = pytest.raises(CredentialsRejectedError, match="managed identity")
    with expected as raised, model_errors("starting"):
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")
    assert "failed to retrieve a token" in str(raised.value)
    assert raised.value.__cause__ is None


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (openai.BadRequestError, 400),
        (openai.NotFoundError, 404),
        (openai.UnprocessableEntityError, 422),
    ],
)
def test_other_client_errors_name_the_operation(
    cls: type[openai.APIStatusError], code: int
) -> None:
    with pytest.raises(ModelRequestError) as raised, model_errors("submitting tool outputs"):
        raise status_error(cls, code, "No thread found with id 'thread_x'.")
    assert str(raised.value) == (
        f"Azure OpenAI rejected submitting tool outputs ({code}): No thread found with id "
        "'thread_x'."
    )


def test_server_errors_and_timeouts_propagate_for_activity_retries() -> None:
    server_error = status_error(openai.InternalServerError, 503, "busy")
    with pytest.raises(openai.InternalServerError), model_errors("polling"):
        raise server_error
    timeout = openai.APITimeoutError(request=httpx2.Request("GET", URL))
    with pytest.raises(openai.APITimeoutError), model_errors("polling"):
        raise timeout


def test_rate_limits_are_left_to_the_backends() -> None:
    error = status_error(openai.RateLimitError, 429, "slow down")
    with pytest.raises(openai.RateLimitError), model_errors("polling"):
        raise error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("250", 250),
        ("12.9", 12),
        ("0", 0),
        ("-5", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_the_poll_hint_is_used_only_when_it_is_a_usable_number(
    value: str, expected: int | None
) -> None:
    assert poll_after_ms({"openai-poll-after-ms": value}) == expected
    assert poll_after_ms({}) is None
