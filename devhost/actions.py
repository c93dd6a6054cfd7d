"""The orchestrator's answer: parsing it, and walking its actions in ID order."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


class ActionType(enum.IntEnum):
    """Action type numbers of the out-of-proc protocol."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


# Actions that take a number from DurableTask's sequence counter.
TAKES_ID = {
    ActionType.CALL_ACTIVITY,
    ActionType.CALL_ACTIVITY_WITH_RETRY,
    ActionType.CALL_SUB_ORCHESTRATOR,
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
    ActionType.CONTINUE_AS_NEW,
    ActionType.CREATE_TIMER,
    ActionType.CALL_ENTITY,
    ActionType.CALL_HTTP,
    ActionType.SIGNAL_ENTITY,
}

ACTIVITIES = {ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY}
SUB_ORCHESTRATIONS = {
    ActionType.CALL_SUB_ORCHESTRATOR,
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
}
WITH_RETRY = {ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}


@dataclass
class OrchestratorResult:
    """`{isDone, actions, output, customStatus, error}` as the SDK returns it."""

    is_done: bool = False
    actions: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None
    has_custom_status: bool = False
    custom_status: Any = None
    error: str | None = None

    @classmethod
    def from_json(cls, text: str) -> OrchestratorResult:
        """Parse the state JSON (any replay schema: the lists are concatenated)."""
        data = json.loads(text)
        actions = [a for group in data.get("actions") or [] for a in group]
        return cls(
            is_done=bool(data.get("isDone")),
            actions=actions,
            output=data.get("output"),
            has_custom_status="customStatus" in data,
            custom_status=data.get("customStatus"),
            error=data.get("error"),
        )

    @classmethod
    def from_failure(cls, message: str) -> OrchestratorResult:
        """Split `<error>\\n\\n$OutOfProcData$:<state>` raised by the SDK's handle."""
        error, marker, state = message.partition(OUT_OF_PROC_MARKER)
        result = cls.from_json(state) if marker else cls()
        result.is_done = False
        result.error = error or "orchestrator function failed"
        return result

    def id_actions(self) -> list[dict[str, Any]]:
        """Actions that take sequence ids, flattened pre-order (compound children in order)."""
        flat: list[dict[str, Any]] = []

        def walk(action: dict[str, Any]) -> None:
            kind = int(action.get("actionType", -1))
            if kind in (ActionType.WHEN_ANY, ActionType.WHEN_ALL):
                for child in action.get("compoundActions") or []:
                    walk(child)
            elif kind in TAKES_ID:
                flat.append(action)

        for action in self.actions:
            walk(action)
        return flat
