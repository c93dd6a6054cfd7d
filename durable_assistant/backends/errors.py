"""SDK exceptions mapped to what the orchestration can act on.

- A 429 that outlasted the SDK's own retries is not an error: it becomes a
  `throttled` state carrying how long the service asked us to wait, which the
  orchestration waits out on a durable timer (not in a sleeping activity).
- 401/403, and a credential that cannot get a token, become
  `CredentialsRejectedError` with a message that says what to check, without the
  SDK's traceback chain and never with the secret.
- Other 4xx become `ModelRequestError` (retrying will not help, but the message is
  clear); 5xx, timeouts and connection errors propagate unchanged so the activity's
  retry options apply.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from azure.core.exceptions import ClientAuthenticationError
from openai import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

from durable_assistant.model import RunState, RunStatus

DEFAULT_RETRY_AFTER_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 3_600.0


class ModelServiceError(RuntimeError):
    """A model-service failure whose message is safe to show to the caller."""


class CredentialsRejectedError(ModelServiceError):
    """Azure OpenAI refused our credentials, or no token could be had."""


class ModelRequestError(ModelServiceError):
    """Azure OpenAI rejected a request (4xx other than 401/403/429)."""


class TeardownIncompleteError(ModelServiceError):
    """Some objects could not be deleted: raised so the teardown activity is retried."""


def service_message(error: APIStatusError) -> str:
    """The service's own short error message, or the SDK's."""
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return error.message


def retry_after_seconds(
    headers: Mapping[str, str], default: float = DEFAULT_RETRY_AFTER_SECONDS
) -> float:
    """Seconds to wait from `retry-after-ms`, then `retry-after` (seconds or HTTP date)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds > 0:
            return min(seconds, MAX_RETRY_AFTER_SECONDS)
    when = headers.get("retry-after")
    if when:
        parsed = email.utils.parsedate_tz(when)
        if parsed is not None:
            seconds = email.utils.mktime_tz(parsed) - time.time()
            if seconds > 0:
                return min(seconds, MAX_RETRY_AFTER_SECONDS)
    return default


def throttled_state(error: RateLimitError) -> RunState:
    """The state a 429 becomes once the SDK's retries are spent."""
    return RunState(
        status=RunStatus.THROTTLED,
        retry_after_seconds=retry_after_seconds(error.response.headers),
        reason=f"throttled by Azure OpenAI: {service_message(error)}",
    )


def credentials_message(status_code: int | None, detail: str, *, identity: bool) -> str:
    """What to check when the service refuses us (no secret, no traceback).

    `identity`: the request carried a managed-identity token, not the API key.
    """
    code = f" ({status_code})" if status_code is not None else ""
    if identity:
        return (
            f"Azure OpenAI refused the managed identity's token{code}: check the identity's "
            "role ('Cognitive Services OpenAI User' on the resource) and AZURE_CLIENT_ID for "
            f"a user-assigned identity. The service said: {detail}"
        )
    return (
        f"Azure OpenAI refused the API key{code}: check AZURE_OPENAI_API_KEY (or leave it "
        f"unset to use the managed identity). The service said: {detail}"
    )


def sent_an_api_key(error: APIStatusError) -> bool:
    """True when the refused request carried the API key (`api-key`), not a token.

    Both clients send `api-key` when they use the key (clients.py), and only then.
    """
    return "api-key" in error.request.headers


@contextmanager
def model_errors(operation: str) -> Iterator[None]:
    """Translate credential and request errors of one backend operation.

    RateLimitError is left alone: the backends turn it into a throttled state.
    """
    try:
        yield
    except (AuthenticationError, PermissionDeniedError) as error:
        raise CredentialsRejectedError(
            credentials_message(
                error.status_code, service_message(error), identity=not sent_an_api_key(error)
            )
        ) from None
    except ClientAuthenticationError as error:
        raise CredentialsRejectedError(
            "could not get a token for Azure OpenAI from the managed identity: "
            f"{error.message}; locally, sign in with `az login` or set AZURE_OPENAI_API_KEY"
        ) from None
    except (BadRequestError, NotFoundError, ConflictError, UnprocessableEntityError) as error:
        raise ModelRequestError(
            f"Azure OpenAI rejected {operation} ({error.status_code}): {service_message(error)}"
        ) from None
