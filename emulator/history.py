"""A conversation's items, read back: were the tool calls answered, where does the script stand.

Used by every API that takes a whole context at once (Responses, chat
completions): the scripted model replays it to find its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from emulator.errors import bad_request
from emulator.items import item_text, output_text
from emulator.model import Episode, new_call_id
from emulator.state import EmulatorState

Json = dict[str, Any]


def check_tool_outputs(history: list[Json]) -> None:
    """Every function call is answered, and every output answers a call before it."""
    calls: set[str] = set()
    answered: set[str] = set()
    for item in history:
        if item["type"] == "function_call":
            calls.add(item["call_id"])
        elif item["type"] == "function_call_output":
            if item["call_id"] not in calls:
                raise bad_request(
                    f"No tool call found for function call output with call_id {item['call_id']}.",
                    param="input",
                )
            answered.add(item["call_id"])
    for item in history:
        if item["type"] == "function_call" and item["call_id"] not in answered:
            raise bad_request(
                f"No tool output found for function call {item['call_id']}.", param="input"
            )


def _ids_from(ids: Iterator[str]) -> Callable[[], str]:
    """Call ids taken from history first, fresh ones after."""
    return lambda: next(ids, None) or new_call_id()


def replay(state: EmulatorState, history: list[Json], script: str | None) -> Episode:
    """Rebuild where the script stands from a context: the question, then the calls made.

    Calls made together (consecutive `function_call` items) are one batch: a
    turn asked one call at a time (parallel_tool_calls off) spans several.
    """
    users = [i for i, item in enumerate(history) if item.get("role") == "user"]
    start = users[-1] if users else -1
    question = item_text(history[start]) if users else ""
    episode = Episode.start(state.book, question, script)
    outputs: dict[str, str] = {}
    batches: list[list[str]] = []
    previous_type = None
    for item in history[start + 1 :]:
        if item["type"] == "function_call":
            if previous_type != "function_call":
                batches.append([])
            batches[-1].append(item["call_id"])
        elif item["type"] == "function_call_output":
            outputs[item["call_id"]] = output_text(item)
        previous_type = item["type"]
    for batch in batches:
        decision = episode.decide(None, call_id=_ids_from(iter(batch)))
        if decision.is_answer:
            break
        made = decision.calls[: len(batch)]
        episode.pending = {call.call_id: call for call in made}
        episode.asked = len(made)
        if not all(call.call_id in outputs for call in made):
            break
        episode.answer_calls(outputs)
    episode.pending = {}
    return episode
