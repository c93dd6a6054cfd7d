"""The API versions Azure OpenAI serves, and which APIs and parameters each one has.

Two URL forms, as Azure has them:

- `/openai/v1/<path>` (and `/v1/<path>`): the v1 API. `api-version` may be left
  out, or be `v1` or `preview` (the `AzureAIFoundryModelsApiVersion` enum of
  Azure's v1 spec); a dated version there is refused.
- `/openai/<path>` and `/openai/deployments/<d>/<path>`: dated versions, one per
  release, each with the APIs it shipped with.

What Azure answers when a version is not one it serves, or lacks the API asked
for, is in `refusal` (sources in docs/emulator.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from emulator.errors import ApiError, route_not_found


class Api(StrEnum):
    """The API families the emulator serves, as versions gain them."""

    CHAT = "chat completions"
    ASSISTANTS = "assistants v2"
    RESPONSES = "responses"
    RESPONSE_CANCEL = "responses cancel"
    CONVERSATIONS = "conversations"


class Param(StrEnum):
    """Chat-completions parameters that arrived in a later version than chat itself."""

    MAX_COMPLETION_TOKENS = "max_completion_tokens"
    PARALLEL_TOOL_CALLS = "parallel_tool_calls"
    JSON_SCHEMA = "response_format.json_schema"


@dataclass(frozen=True)
class Version:
    """One api-version: the APIs it serves and the later chat parameters it knows."""

    name: str
    apis: frozenset[Api]
    params: frozenset[Param] = frozenset()


_ALL_PARAMS = frozenset(Param)
_GA_CHAT = frozenset({Api.CHAT})
_ASSISTANTS = frozenset({Api.CHAT, Api.ASSISTANTS})
_RESPONSES = _ASSISTANTS | {Api.RESPONSES}
_V1 = frozenset({Api.CHAT, Api.RESPONSES, Api.RESPONSE_CANCEL, Api.CONVERSATIONS})

DATED: dict[str, Version] = {
    version.name: version
    for version in (
        Version("2024-02-01", _GA_CHAT),
        Version("2024-06-01", _GA_CHAT),
        Version("2024-10-21", _GA_CHAT, _ALL_PARAMS),
        Version("2024-05-01-preview", _ASSISTANTS),
        Version("2024-07-01-preview", _ASSISTANTS),
        Version("2024-08-01-preview", _ASSISTANTS, frozenset({Param.JSON_SCHEMA})),
        Version("2024-09-01-preview", _ASSISTANTS, _ALL_PARAMS),
        Version("2024-10-01-preview", _ASSISTANTS, _ALL_PARAMS),
        Version("2024-12-01-preview", _ASSISTANTS, _ALL_PARAMS),
        Version("2025-01-01-preview", _ASSISTANTS, _ALL_PARAMS),
        Version("2025-02-01-preview", _ASSISTANTS, _ALL_PARAMS),
        Version("2025-03-01-preview", _RESPONSES, _ALL_PARAMS),
        Version("2025-04-01-preview", _RESPONSES, _ALL_PARAMS),
    )
}
"""Dated versions: GA ones (chat only: Assistants and Responses were never GA in a
dated version), and the previews since Assistants v2 arrived (2024-05-01-preview)."""

V1_VERSIONS: dict[str | None, Version] = {
    None: Version("v1", _V1, _ALL_PARAMS),
    "v1": Version("v1", _V1, _ALL_PARAMS),
    "preview": Version("preview", _V1, _ALL_PARAMS),
}

UNSUPPORTED_MESSAGE = "API version not supported"


def api_of(template: str) -> Api:
    """The API family of a route template (`/threads/{thread_id}/runs` -> assistants)."""
    if template.startswith("/chat/"):
        return Api.CHAT
    if template == "/responses/{response_id}/cancel":
        return Api.RESPONSE_CANCEL
    if template.startswith("/responses"):
        return Api.RESPONSES
    if template.startswith("/conversations"):
        return Api.CONVERSATIONS
    return Api.ASSISTANTS


def unsupported_version() -> ApiError:
    """Azure's answer to an api-version it does not know (or a dated one on /openai/v1/)."""
    return ApiError(400, UNSUPPORTED_MESSAGE, type_=None, code="BadRequest", gateway=True)


def version_for(v1_path: bool, asked: str | None) -> Version:
    """The version a request asks for, or Azure's refusal."""
    if v1_path:
        found = V1_VERSIONS.get(asked)
    else:
        found = DATED.get(asked) if asked is not None else None
        if asked is None:
            raise route_not_found()  # no api-version: the gateway finds no route
    if found is None:
        raise unsupported_version()
    return found


def check_route(version: Version, template: str) -> None:
    """A route of an API this version does not have is not found, as on Azure."""
    if api_of(template) not in version.apis:
        raise route_not_found()


def check_chat_params(version: Version, body: Mapping[str, Any]) -> None:
    """Chat parameters newer than the version are refused as unknown arguments."""
    asked: list[Param] = []
    if "max_completion_tokens" in body:
        asked.append(Param.MAX_COMPLETION_TOKENS)
    if "parallel_tool_calls" in body:
        asked.append(Param.PARALLEL_TOOL_CALLS)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        asked.append(Param.JSON_SCHEMA)
    for param in asked:
        if param not in version.params:
            name = param.value.split(".")[0]
            raise ApiError(
                400, f"Unrecognized request argument supplied: {name}", param=None, code=None
            )
