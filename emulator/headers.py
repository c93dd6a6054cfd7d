"""The headers Azure OpenAI puts on every answer: request ids, rate-limit budget, retry hint.

- `apim-request-id` (Azure's API Management gateway) and `x-request-id`, both fresh ids;
- `x-ratelimit-limit-requests/-tokens` and `x-ratelimit-remaining-requests/-tokens`:
  a deployment's per-minute budget, counted down over a sliding minute by the
  requests served and the (estimated) tokens they sent;
- `x-should-retry`: `true` on 408/409/429/5xx, `false` on other errors; the SDK
  follows it over its own rules.
"""

from __future__ import annotations

import uuid
from collections import deque

REQUESTS_PER_MINUTE = 1_000
TOKENS_PER_MINUTE = 150_000
"""A plausible S0 deployment quota (150 K tokens per minute, 1 K requests per minute)."""

WINDOW_SECONDS = 60.0
RETRYABLE = frozenset({408, 409, 429})


class RateWindow:
    """Requests and tokens seen over the last minute, for the rate-limit headers."""

    def __init__(self) -> None:
        self._seen: deque[tuple[float, int]] = deque()

    def clear(self) -> None:
        """Forget everything (the admin reset)."""
        self._seen.clear()

    def add(self, now: float, tokens: int) -> tuple[int, int]:
        """Count one request; the remaining (requests, tokens) of the minute."""
        while self._seen and self._seen[0][0] <= now - WINDOW_SECONDS:
            self._seen.popleft()
        self._seen.append((now, tokens))
        used_tokens = sum(t for _, t in self._seen)
        return (
            max(0, REQUESTS_PER_MINUTE - len(self._seen)),
            max(0, TOKENS_PER_MINUTE - used_tokens),
        )


def request_tokens(body: bytes) -> int:
    """The tokens a request costs against the quota: about four bytes a token."""
    return max(1, len(body) // 4)


def azure_headers(status: int, remaining: tuple[int, int] | None) -> dict[str, str]:
    """The headers of one answer of `status` (rate-limit ones when a budget was counted)."""
    headers = {"apim-request-id": str(uuid.uuid4()), "x-request-id": str(uuid.uuid4())}
    if remaining is not None:
        headers.update(
            {
                "x-ratelimit-limit-requests": str(REQUESTS_PER_MINUTE),
                "x-ratelimit-limit-tokens": str(TOKENS_PER_MINUTE),
                "x-ratelimit-remaining-requests": str(remaining[0]),
                "x-ratelimit-remaining-tokens": str(remaining[1]),
            }
        )
    if status >= 400:
        retry = status in RETRYABLE or status >= 500
        headers["x-should-retry"] = "true" if retry else "false"
    return headers
