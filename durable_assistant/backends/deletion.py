"""Delete one server-side object by kind: shared by teardown and the purge."""

from __future__ import annotations

import logging
from typing import Literal

from openai import NotFoundError, OpenAI

from durable_assistant.backends.errors import model_errors
from durable_assistant.logging_setup import run_log
from durable_assistant.objects import CreatedObject, ObjectKind

logger = logging.getLogger(__name__)

DeleteOutcome = Literal["deleted", "already_gone"]


def delete_object(client: OpenAI, obj: CreatedObject) -> DeleteOutcome:
    """Delete `obj` with `client`; a 404 means it is already gone.

    Assistants and threads need the Assistants client (`AzureOpenAI`), responses
    and conversations the v1 client (see `clients.ModelClients.for_kind`). Any
    other failure raises (credentials as `CredentialsRejectedError`).
    """
    with model_errors(f"deleting {obj.kind.value} {obj.object_id}"):
        try:
            if obj.kind is ObjectKind.ASSISTANT:
                client.beta.assistants.delete(obj.object_id)
            elif obj.kind is ObjectKind.THREAD:
                client.beta.threads.delete(obj.object_id)
            elif obj.kind is ObjectKind.RESPONSE:
                client.responses.delete(obj.object_id)
            else:
                client.conversations.delete(obj.object_id)
        except NotFoundError:
            run_log(logger, obj.instance_id).info(
                "%s %s was already gone", obj.kind.value, obj.object_id
            )
            return "already_gone"
    run_log(logger, obj.instance_id).info("deleted %s %s", obj.kind.value, obj.object_id)
    return "deleted"
