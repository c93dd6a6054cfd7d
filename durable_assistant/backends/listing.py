"""Listing the account's assistants, for the purge (the one list the Assistants API has:
threads cannot be listed, which is why the ledger exists)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from openai import OpenAI

from durable_assistant.purge import ListedAssistant


class OpenAIAssistants:
    """`AssistantLister` over an OpenAI / AzureOpenAI client (Assistants API v2)."""

    def __init__(self, client: OpenAI, page_size: int = 100) -> None:
        self._client = client
        self._page_size = page_size

    def list_assistants(self) -> Iterator[ListedAssistant]:
        """Every assistant, oldest first; the SDK follows the `after` cursor."""
        for assistant in self._client.beta.assistants.list(limit=self._page_size, order="asc"):
            yield ListedAssistant(
                assistant_id=assistant.id,
                created_at=datetime.fromtimestamp(assistant.created_at, UTC),
                metadata={str(k): str(v) for k, v in (assistant.metadata or {}).items()},
            )
