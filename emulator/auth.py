"""Credentials: `api-key` (AzureOpenAI) or `Authorization: Bearer` (token or v1 key)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from emulator.errors import ApiError, unauthorized
from emulator.identity import REFUSED_BEARER_MESSAGE, token_is_valid


def _same(given: str | None, expected: str | None) -> bool:
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def refusal(
    headers: Mapping[str, str], api_key: str | None, token: str | None, now: float
) -> ApiError | None:
    """Azure's 401 when the request lacks what the emulator was told to require, else None.

    With neither a key nor a token configured, anything (or nothing) passes.
    A configured key is accepted as `api-key: K` or `Bearer K` (the v1 client
    sends keys that way); a configured token as `Bearer T`, or as `Bearer` with a
    token the identity endpoint issued (signed with T, unexpired, for Azure OpenAI).
    A refused bearer token gets Azure's message for tokens, anything else the key one.
    """
    if api_key is None and token is None:
        return None
    authorization = headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    bearer = credential.strip() if scheme.lower() == "bearer" else None
    if _same(headers.get("api-key"), api_key) or _same(bearer, api_key):
        return None
    if token is not None and bearer is not None:
        if _same(bearer, token) or token_is_valid(token, bearer, now):
            return None
        if "api-key" not in headers:
            return ApiError(401, REFUSED_BEARER_MESSAGE, type_=None, code="401", gateway=True)
    return unauthorized()
