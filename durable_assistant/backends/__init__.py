"""Model backends: the Assistants API v2 and the Responses API behind one interface."""

from durable_assistant.backends.assistants import AssistantsBackend
from durable_assistant.backends.base import ModelBackend
from durable_assistant.backends.deletion import DeleteOutcome, delete_object
from durable_assistant.backends.errors import (
    CredentialsRejectedError,
    ModelRequestError,
    ModelServiceError,
)
from durable_assistant.backends.following import NO_FOLLOW, Follow, TextHook
from durable_assistant.backends.responses import ResponsesBackend

__all__ = [
    "NO_FOLLOW",
    "AssistantsBackend",
    "CredentialsRejectedError",
    "DeleteOutcome",
    "Follow",
    "ModelBackend",
    "ModelRequestError",
    "ModelServiceError",
    "ResponsesBackend",
    "TextHook",
    "delete_object",
]
