"""A local managed identity: the App Service / Functions token endpoint, and its tokens.

On App Service and Functions, `azure-identity` (through MSAL) gets a managed
identity's token with `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R`
and the header `X-IDENTITY-HEADER: {IDENTITY_HEADER}`; the answer is
`{"access_token", "expires_on", "resource", "token_type", "client_id"}`, with
`expires_on` in epoch seconds. The emulator serves that endpoint at
`/_identity/token` when it was started with `--token SECRET`, and issues JSON Web
Tokens signed with SECRET (HS256) for the audience asked. It accepts them, as
Azure accepts Entra tokens, while they are unexpired and for the Cognitive
Services audience; anything else gets Azure's 401 for a bad token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

IDENTITY_PATH = "/_identity/token"
IDENTITY_API_VERSION = "2019-08-01"
AUDIENCE = "https://cognitiveservices.azure.com"
CLIENT_ID = "00000000-0000-0000-0000-00000000e1e1"
TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
REFUSED_BEARER_MESSAGE = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)

Json = dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, signing_input: str) -> str:
    return _b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())


def issue(secret: str, resource: str, now: float, lifetime_seconds: float) -> Json:
    """A token answer of the identity endpoint for `resource`, valid `lifetime_seconds`."""
    expires_on = int(now + lifetime_seconds)
    claims = {
        "aud": resource.rstrip("/"),
        "iss": f"https://sts.windows.net/{TENANT_ID}/",
        "iat": int(now),
        "nbf": int(now),
        "exp": expires_on,
        "appid": CLIENT_ID,
        "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, CLIENT_ID)),
        "tid": TENANT_ID,
    }
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    token = f"{header}.{body}.{_sign(secret, f'{header}.{body}')}"
    return {
        "access_token": token,
        "expires_on": str(expires_on),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": CLIENT_ID,
    }


def token_is_valid(secret: str, token: str, now: float) -> bool:
    """True for a token this emulator issued: signed with `secret`, unexpired, right audience."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    expected = _sign(secret, f"{parts[0]}.{parts[1]}")
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        return False
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(claims, dict) or claims.get("aud") != AUDIENCE:
        return False
    expires = claims.get("exp")
    return isinstance(expires, int) and now < expires


def token_answer(
    secret: str,
    identity_header: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    now: float,
    lifetime_seconds: float,
) -> tuple[int, Json]:
    """The endpoint's (status, body) for one token request."""
    given = headers.get("x-identity-header")
    if given is None or not hmac.compare_digest(given.encode(), identity_header.encode()):
        return 401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong."}
    if query.get("api-version") != IDENTITY_API_VERSION:
        return 400, {"statusCode": 400, "message": "Unsupported api-version."}
    resource = query.get("resource")
    if not resource:
        return 400, {"statusCode": 400, "message": "The resource parameter is required."}
    return 200, issue(secret, resource, now, lifetime_seconds)
