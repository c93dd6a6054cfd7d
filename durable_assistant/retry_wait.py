"""A cap on how long the SDK may sleep before retrying, inside an activity.

The SDK honours `retry-after` up to two minutes by sleeping in the calling thread: in
an activity that holds a worker slot and hides a cancel for that long. Past the cap,
the answer is marked not to be retried (the SDK obeys `x-should-retry: false`), so a
429 reaches the backend, which hands the wait back to the orchestration as a
`throttled` state for a durable timer, and a 5xx fails the attempt for the
activity's own retry.
"""

from __future__ import annotations

import httpx2
from openai import DefaultHttpxClient

from durable_assistant.backends.errors import retry_after_seconds

SDK_RETRY_WAIT_CAP_SECONDS = 5.0
"""Longest wait the SDK may sleep inside an activity before its own retry."""


def refuse_long_retry_waits(response: httpx2.Response) -> None:
    """Response hook: an answer asking for a wait over the cap is not retried by the SDK."""
    if response.status_code != 429 and response.status_code < 500:
        return
    if retry_after_seconds(response.headers, default=0.0) > SDK_RETRY_WAIT_CAP_SECONDS:
        response.headers["x-should-retry"] = "false"


def capped_http_client() -> httpx2.Client:
    """The SDK's default HTTP client, with the retry-wait cap."""
    return DefaultHttpxClient(event_hooks={"response": [refuse_long_retry_waits]})
