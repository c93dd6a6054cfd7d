"""Server-side objects the app creates, and the recorder (ledger) interface.

Backends record every object they create before acknowledging it and mark it
deleted at teardown, through `ObjectRecorder`. The Table-storage ledger implements
it in production; `MemoryRecorder` serves tests and runs without storage.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

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


class ObjectRecorder(Protocol):
    """Where created objects are written down, so nothing is ever lost track of."""

    def record(self, obj: CreatedObject) -> None:
        """Remember an object (idempotent on kind + id)."""

    def mark_deleted(self, kind: ObjectKind, object_id: str) -> None:
        """Note that an object is gone (idempotent; unknown ids are fine)."""

    def objects_of(self, instance_id: str) -> list[CreatedObject]:
        """Every object an instance created, deleted ones included."""
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
