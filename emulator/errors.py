"""The service's error answers, as `{"error": {"message", "type", "param", "code"}}` bodies."""

from __future__ import annotations

from typing import Any

UNAUTHORIZED_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
NO_STREAMING = "The emulator does not stream; call without stream=True."
UNAVAILABLE_MESSAGE = (
    "The service is temporarily unable to process your request. Please try again later."
)


class ApiError(Exception):
    """An error answer: raised anywhere in a handler, rendered by the app."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str | None = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        gateway: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.gateway = gateway
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON body the SDK turns into `APIStatusError.body`.

        Azure's gateway answers (401, 404 of an unknown route, 429, an unknown
        api-version) carry only `code` and `message`; the model service's own
        errors have `type` and `param` too, and some more fields (`extra`).
        """
        if self.gateway:
            return {"error": {"code": self.code, "message": self.message}}
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
                **self.extra,
            }
        }


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 `invalid_request_error`, the service's answer to a rule broken by the caller."""
    return ApiError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str) -> ApiError:
    """The 404 for an unknown or deleted object, e.g. `No thread found with id 'thread_x'.`."""
    return ApiError(404, f"No {kind} found with id '{object_id}'.")


def missing(param: str) -> ApiError:
    """The 400 for a required body field that was not sent."""
    return bad_request(f"Missing required parameter: '{param}'.", param=param)


def invalid_type(param: str, expected: str) -> ApiError:
    """The 400 for a body field of the wrong JSON type."""
    return bad_request(
        f"Invalid type for '{param}': expected {expected}.",
        param=param,
        code="invalid_type",
    )


def unauthorized() -> ApiError:
    """Azure's 401 for a missing or wrong key or token."""
    return ApiError(401, UNAUTHORIZED_MESSAGE, type_=None, code="401", gateway=True)


def route_not_found() -> ApiError:
    """Azure's answer to a path (or api-version) it does not serve."""
    return ApiError(404, "Resource not found", type_=None, code="404", gateway=True)


def rate_limited(retry_after: float | None, retry_after_ms: int | None) -> ApiError:
    """Azure's 429, with the `retry-after` / `retry-after-ms` headers the SDK honours."""
    headers: dict[str, str] = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "0",
    }
    wait = "a moment"
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
        wait = f"{retry_after:g} seconds"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
        if retry_after is None:
            wait = f"{retry_after_ms} milliseconds"
    message = (
        "Requests to the Assistants and Responses Operations under Azure OpenAI API have "
        "exceeded call rate limit of your current OpenAI S0 pricing tier. "
        f"Please retry after {wait}."
    )
    return ApiError(429, message, type_=None, code="429", headers=headers, gateway=True)


def server_error(status: int) -> ApiError:
    """A 500 or 503, as the service words them."""
    if status == 503:
        return ApiError(503, UNAVAILABLE_MESSAGE, type_="server_error", code="503")
    return ApiError(status, SERVER_ERROR_MESSAGE, type_="server_error")
