"""The HTTP types every HTTP trigger of the app uses, and the answers they share.

HTTP streams (Server-Sent Events from `GET /api/runs/{id}/events`) need the Python
worker's FastAPI integration: the package `azurefunctions-extensions-http-fastapi`,
the app setting `PYTHON_ENABLE_INIT_INDEXING=1` and Functions runtime 4.34.1 or later.
Once one trigger takes these types the worker serves every HTTP trigger of the app
that way (the classic `func.HttpRequest` ones stop working), so all of them take the
FastAPI `Request` and return a FastAPI `Response`.
"""

# No `from __future__ import annotations`: the Functions worker reads the
# functions' parameter annotations at runtime and needs real types.
import json
import logging
import re
from typing import Any

from azurefunctions.extensions.http.fastapi import Request, Response

from durable_assistant.api import ApiError
from durable_assistant.settings import SettingsError

logger = logging.getLogger(__name__)

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(
        content=json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def error_response(error: ApiError) -> Response:
    """The project's error body with the error's status."""
    return json_response(error.body(), error.status)


def settings_error_response(error: SettingsError) -> Response:
    """500 naming the bad settings (never a stack trace)."""
    logger.error("refusing a request: %s", error)
    body = {"error": "configuration_error", "message": str(error), "fields": []}
    return json_response(body, 500)


def not_found(instance_id: str) -> Response:
    return error_response(ApiError(404, "not_found", f"no run with id {instance_id!r}"))


def public_url(req: Request) -> str:
    """The URL the caller used.

    On Azure the worker's server sits behind the host's proxy, so the request's own
    URL names the worker's internal address; the proxy's `X-Forwarded-Host` and
    `X-Forwarded-Proto` name the public one (malformed values are ignored).
    """
    url = req.url
    host = (req.headers.get("x-forwarded-host") or "").split(",")[0].strip()
    if not _HOST.match(host):
        return str(url)
    proto = (req.headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    scheme = proto if proto in ("http", "https") else url.scheme
    return str(url.replace(scheme=scheme, netloc=host))
