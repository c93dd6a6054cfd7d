"""Where backends write down the objects they create: one provider, one place to change.

For now a process-wide `MemoryRecorder`; when storage settings exist this returns
the Table-storage ledger instead (see `durable_assistant.ledger`).
"""

from __future__ import annotations

from functools import lru_cache

from durable_assistant.objects import MemoryRecorder, ObjectRecorder


@lru_cache(maxsize=1)
def get_recorder() -> ObjectRecorder:
    """The process-wide recorder of created objects."""
    return MemoryRecorder()
