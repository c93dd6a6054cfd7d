"""Failures a later retry can fix: the model service or the app's storage did not
answer, or answered with a server error.

An activity that meets one raises `ServiceUnavailableError`, whose message says which
service and how (never a host, port or body: the detail goes to the log). The
orchestration waits such a failure out on a durable timer and calls again, with
backoff, for as long as the run's deadline allows (`polling.outage_wait_ms`). Anything
else (a refusal, rejected credentials, a bug) is not an outage and is not retried
that way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from openai import APIConnectionError, APIStatusError, APITimeoutError

from durable_assistant.logging_setup import run_log

logger = logging.getLogger(__name__)

MODEL_SERVICE = "Azure OpenAI"
STORAGE = "the app's storage"


class ServiceUnavailableError(RuntimeError):
    """A service the run depends on is out for now; its message is written for callers."""


def _retryable_status(status: int | None) -> bool:
    return status is not None and (status >= 500 or status in (408, 429))


def _status_reason(service: str, status: int | None) -> str | None:
    return f"{service} answered {status}" if _retryable_status(status) else None


def unavailable_reason(error: BaseException) -> str | None:
    """What was out, for the caller, when `error` is an outage; None when it is not."""
    if isinstance(error, APIStatusError):
        return _status_reason(MODEL_SERVICE, error.status_code)
    if isinstance(error, HttpResponseError):
        return _status_reason(STORAGE, error.status_code)
    reasons: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        (APITimeoutError, f"{MODEL_SERVICE} did not answer in time"),
        ((APIConnectionError, httpx2.TransportError), f"{MODEL_SERVICE} could not be reached"),
        ((ServiceRequestError, ServiceResponseError), f"{STORAGE} could not be reached"),
        ((ConnectionError, TimeoutError), f"a connection broke ({type(error).__name__})"),
    ]
    return next((reason for kinds, reason in reasons if isinstance(error, kinds)), None)


@contextmanager
def outages_named(instance_id: str) -> Iterator[None]:
    """Raise an outage met inside as `ServiceUnavailableError`, its detail logged."""
    try:
        yield
    except Exception as error:
        reason = unavailable_reason(error)
        if reason is None:
            raise
        run_log(logger, instance_id).warning("%s: %s: %s", reason, type(error).__name__, error)
        raise ServiceUnavailableError(reason) from None
