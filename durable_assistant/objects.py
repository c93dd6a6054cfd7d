"""Server-side objects the app creates, and the recorder (ledger) interface.

Backends record every object they create before acknowledging it and mark it
deleted at teardown, through `ObjectRecorder`. The Table-storage ledger implements
it in production; `MemoryRecorder` serves tests and runs without storage.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import Field

from durable_assistant.model import Backend, Model

APP_TAG_KEY = "app"
APP_TAG_VALUE = "durable-assistant"
INSTANCE_TAG_KEY = "instance_id"


class ObjectKind(StrEnum):
    """Kinds of server-side objects a run can create."""

    ASSISTANT = "assistant"
    THREAD = "thread"
    RESPONSE = "response"
    CONVERSATION = "conversation"


class CreatedObject(Model):
    """One server-side object and the orchestration instance that owns it."""

    kind: ObjectKind
    object_id: str
    instance_id: str
    backend: Backend
    created_at: datetime
    deleted: bool = False


class CreateIntent(Model):
    """A create about to be sent, written down first so that a lost reply is known.

    A create whose reply never arrives (a reset connection, a timeout, a host that
    died) may still have made its object. The next attempt finds the open intent:
    it adopts the object where the API can find it again (assistants can be listed),
    or refuses to repeat a create that would bill a second model turn, and the purge
    counts what no API can find (see docs/ledger.md). `settled` once the reply came
    (`object_id` set) or the request surely made nothing (the service answered an
    error, or no connection was made).
    """

    instance_id: str
    attempt: str = Field(min_length=1)
    purpose: str
    kind: ObjectKind
    backend: Backend
    started_at: datetime
    object_id: str | None = None
    settled: bool = False

    @classmethod
    def new(
        cls, instance_id: str, purpose: str, kind: ObjectKind, backend: Backend
    ) -> CreateIntent:
        """An intent for one attempt, stamped now."""
        return cls(
            instance_id=instance_id,
            attempt=uuid.uuid4().hex,
            purpose=purpose,
            kind=kind,
            backend=backend,
            started_at=datetime.now(UTC),
        )


class ObjectRecorder(Protocol):
    """Where created objects are written down, so nothing is ever lost track of."""

    def record(self, obj: CreatedObject) -> None:
        """Remember an object (idempotent on kind + id)."""

    def mark_deleted(self, kind: ObjectKind, object_id: str) -> None:
        """Note that an object is gone (idempotent; unknown ids are fine)."""

    def objects_of(self, instance_id: str) -> list[CreatedObject]:
        """Every object an instance created, deleted ones included."""
        ...

    def record_intent(self, intent: CreateIntent) -> None:
        """Write down a create before it is sent."""

    def settle_intent(self, intent: CreateIntent, object_id: str | None) -> None:
        """Note that a create's outcome is known: its object, or None for nothing made."""

    def intents_of(self, instance_id: str) -> list[CreateIntent]:
        """Every create intent of an instance, settled or not."""
        ...


@runtime_checkable
class BatchDeletes(Protocol):
    """A recorder that marks several objects of one instance deleted in one write."""

    def mark_deleted_of(self, instance_id: str, objects: Sequence[tuple[ObjectKind, str]]) -> None:
        """Note that these recorded, not yet deleted objects of the instance are gone."""


class MemoryRecorder:
    """An in-process recorder: for tests and for runs without a storage account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[ObjectKind, str], CreatedObject] = {}
        self._intents: dict[str, CreateIntent] = {}

    def record(self, obj: CreatedObject) -> None:
        with self._lock:
            self._objects.setdefault((obj.kind, obj.object_id), obj)

    def mark_deleted(self, kind: ObjectKind, object_id: str) -> None:
        with self._lock:
            obj = self._objects.get((kind, object_id))
            if obj is not None:
                self._objects[(kind, object_id)] = obj.model_copy(update={"deleted": True})

    def mark_deleted_of(self, instance_id: str, objects: Sequence[tuple[ObjectKind, str]]) -> None:
        for kind, object_id in objects:
            self.mark_deleted(kind, object_id)

    def objects_of(self, instance_id: str) -> list[CreatedObject]:
        with self._lock:
            return [o for o in self._objects.values() if o.instance_id == instance_id]

    def record_intent(self, intent: CreateIntent) -> None:
        with self._lock:
            self._intents.setdefault(intent.attempt, intent)

    def settle_intent(self, intent: CreateIntent, object_id: str | None) -> None:
        with self._lock:
            self._intents[intent.attempt] = intent.model_copy(
                update={"object_id": object_id, "settled": True}
            )

    def intents_of(self, instance_id: str) -> list[CreateIntent]:
        with self._lock:
            return [i for i in self._intents.values() if i.instance_id == instance_id]
