"""Credentials: `api-key` (AzureOpenAI) or `Authorization: Bearer` (token or v1 key)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def _same(given: str | None, expected: str | None) -> bool:
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def authorized(headers: Mapping[str, str], api_key: str | None, token: str | None) -> bool:
    """True when the request carries what the emulator was told to require.

    With neither a key nor a token configured, anything (or nothing) passes.
    A configured key is accepted as `api-key: K` or `Bearer K` (the v1 client
    sends keys that way); a configured token only as `Bearer T`.
    """
    if api_key is None and token is None:
        return True
    authorization = headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    bearer = credential.strip() if scheme.lower() == "bearer" else None
    if _same(headers.get("api-key"), api_key) or _same(bearer, api_key):
        return True
    return _same(bearer, token)
