"""Re-extract the vendored OpenAPI schemas: `python -m tests.emulator.openapi.vendor SPEC`.

SPEC is `openapi.json` of github.com/openai/openai-openapi (MIT licence, see
LICENSE-openai-openapi). Only the component schemas the emulator's answers use
are kept, with everything they reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUT = HERE / "openai-schemas.json"

ROOTS = [
    "AssistantObject",
    "ListAssistantsResponse",
    "DeleteAssistantResponse",
    "ThreadObject",
    "DeleteThreadResponse",
    "MessageObject",
    "ListMessagesResponse",
    "DeleteMessageResponse",
    "RunObject",
    "ListRunsResponse",
    "RunStepObject",
    "ListRunStepsResponse",
    "Response",
    "ResponseItemList",
    "ConversationResource",
    "ConversationItemList",
    "ConversationItem",
    "DeletedConversationResource",
    "CreateChatCompletionResponse",
    "ErrorResponse",
]


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


_PROSE = frozenset({"description", "example", "examples", "title", "x-oaiMeta", "x-oaiTypeLabel"})


def _without_prose(node: Any, names: bool = False) -> Any:
    """The schema without its documentation keys (the checks stay whole).

    `names`: `node` maps property names to schemas, where "description" is a name.
    """
    if isinstance(node, dict):
        return {
            key: _without_prose(value, names=key == "properties" and not names)
            for key, value in node.items()
            if names or key not in _PROSE
        }
    if isinstance(node, list):
        return [_without_prose(value) for value in node]
    return node


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    """The root schemas and their transitive references."""
    schemas = spec["components"]["schemas"]
    kept: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        kept[name] = _without_prose(schemas[name])
        todo += sorted(_refs(schemas[name]) - set(kept))
    return {
        "source": "https://github.com/openai/openai-openapi (openapi.json), MIT licence",
        "openapi": spec["openapi"],
        "version": spec["info"]["version"],
        "components": {"schemas": dict(sorted(kept.items()))},
    }


def main(path: str) -> None:
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    text = json.dumps(extract(spec), separators=(",", ":"), sort_keys=True)
    OUT.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
