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
from typing import Protocol

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
    writer: str = Field(default_factory=lambda: uuid.uuid4().hex)
    """Who wrote the intent: a write refused by its own earlier try (a resend after
    a lost reply) is told apart from one refused by another attempt's row."""

    @classmethod
    def new(
        cls, instance_id: str, purpose: str, kind: ObjectKind, backend: Backend
    ) -> CreateIntent:
        """An intent for a later attempt, stamped now (its key is new every time)."""
        return cls(
            instance_id=instance_id,
            attempt=uuid.uuid4().hex,
            purpose=purpose,
            kind=kind,
            backend=backend,
            started_at=datetime.now(UTC),
        )

    @classmethod
    def first(
        cls, instance_id: str, purpose: str, kind: ObjectKind, backend: Backend
    ) -> CreateIntent:
        """The intent of the first attempt at `purpose`, stamped now.

        Its key is the purpose itself, so writing it fails when an earlier attempt
        (or a teardown, see `ObjectRecorder.mark_deleted_of`) got there first: only
        then is there anything to find again, and only then does the backend read.
        """
        return cls(
            instance_id=instance_id,
            attempt=purpose,
            purpose=purpose,
            kind=kind,
            backend=backend,
            started_at=datetime.now(UTC),
        )

    def settled_with(self, object_id: str | None) -> CreateIntent:
        """This intent with its outcome known: the object it made, or None."""
        return self.model_copy(update={"object_id": object_id, "settled": True})


class ObjectRecorder(Protocol):
    """Where created objects are written down, so nothing is ever lost track of.

    A run's rows share one partition (its instance), so each method is one write or
    one read: a run's bookkeeping costs a few requests, not one per row.
    """

    def record(self, obj: CreatedObject) -> None:
        """Remember an object (idempotent on kind + id)."""

    def record_all(
        self, objects: Sequence[CreatedObject], settled: Sequence[CreateIntent] = ()
    ) -> None:
        """Remember objects of one instance and settle the intents that made them
        (`CreateIntent.settled_with`), at once; an object already known keeps its row."""

    def mark_deleted_of(
        self,
        instance_id: str,
        objects: Sequence[tuple[ObjectKind, str]],
        closing: CreateIntent | None = None,
        unrecorded: Sequence[tuple[CreatedObject, CreateIntent]] = (),
    ) -> bool:
        """Mark recorded objects of one instance deleted and, with `closing` (the first
        intent of the create that would come next), close that create; write down the
        `unrecorded` objects (deleted or not, as they say) with the settling of the
        intents that made them; all at once.

        False, and nothing written, when one of the objects is not on record, an
        unrecorded one is, or the closing intent's key is taken (an attempt at that
        create was made): the caller then reads what is on record.
        """
        ...

    def objects_of(self, instance_id: str) -> list[CreatedObject]:
        """Every object an instance created, deleted ones included."""
        ...

    def record_intents(self, intents: Sequence[CreateIntent]) -> bool:
        """Write down creates of one instance before they are sent, at once.

        False, and nothing written, when one of their keys is taken: an earlier
        attempt (see `CreateIntent.first`) made them, or tried to.
        """
        ...

    def settle_intent(self, intent: CreateIntent, object_id: str | None) -> None:
        """Note that a create's outcome is known: its object, or None for nothing made."""

    def intents_of(self, instance_id: str) -> list[CreateIntent]:
        """Every create intent of an instance, settled or not."""
        ...


class MemoryRecorder:
    """An in-process recorder: for tests and for runs without a storage account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, ObjectKind, str], CreatedObject] = {}
        self._intents: dict[tuple[str, str], CreateIntent] = {}

    def record(self, obj: CreatedObject) -> None:
        self.record_all([obj])

    def record_all(
        self, objects: Sequence[CreatedObject], settled: Sequence[CreateIntent] = ()
    ) -> None:
        with self._lock:
            for obj in objects:
                self._objects.setdefault((obj.instance_id, obj.kind, obj.object_id), obj)
            for intent in settled:
                self._intents[(intent.instance_id, intent.attempt)] = intent

    def mark_deleted_of(
        self,
        instance_id: str,
        objects: Sequence[tuple[ObjectKind, str]],
        closing: CreateIntent | None = None,
        unrecorded: Sequence[tuple[CreatedObject, CreateIntent]] = (),
    ) -> bool:
        keys = [(instance_id, kind, object_id) for kind, object_id in objects]
        new = {(o.instance_id, o.kind, o.object_id): o for o, _ in unrecorded}
        with self._lock:
            if any(key not in self._objects for key in keys):
                return False
            if any(key in self._objects for key in new):
                return False
            if closing is not None:
                closing_key = (closing.instance_id, closing.attempt)
                if closing_key in self._intents:
                    return False
                self._intents[closing_key] = closing.settled_with(None)
            self._objects.update(new)
            for _, intent in unrecorded:
                self._intents[(intent.instance_id, intent.attempt)] = intent
            for key in keys:
                self._objects[key] = self._objects[key].model_copy(update={"deleted": True})
        return True

    def objects_of(self, instance_id: str) -> list[CreatedObject]:
        with self._lock:
            return [o for o in self._objects.values() if o.instance_id == instance_id]

    def record_intents(self, intents: Sequence[CreateIntent]) -> bool:
        keys = [(i.instance_id, i.attempt) for i in intents]
        with self._lock:
            if any(key in self._intents for key in keys):
                return False
            self._intents.update(zip(keys, intents, strict=True))
        return True

    def settle_intent(self, intent: CreateIntent, object_id: str | None) -> None:
        with self._lock:
            self._intents[(intent.instance_id, intent.attempt)] = intent.settled_with(object_id)

    def intents_of(self, instance_id: str) -> list[CreateIntent]:
        with self._lock:
            return [i for i in self._intents.values() if i.instance_id == instance_id]
