"""The scripted model: plays one script through a conversation, a turn at a time.

An `Episode` is one question being answered. Both APIs drive it the same way:
ask it for the next decision (tool calls or an answer), hand back the outputs
of the calls, repeat. It never sees HTTP or wire objects.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.script import Script, ScriptBook, TemplateError, render


@dataclass(frozen=True)
class PlannedCall:
    """A tool call the model makes: what the client must run and answer by `call_id`."""

    call_id: str
    name: str
    arguments: str
    alias: str


@dataclass(frozen=True)
class Decision:
    """The model's next move: tool calls, or (when `calls` is empty) the answer text."""

    calls: tuple[PlannedCall, ...] = ()
    text: str = ""
    filtered: str | None = None
    """The content-filter category the script marked this answer with, if any."""

    @property
    def is_answer(self) -> bool:
        """True when the model answers instead of calling tools."""
        return not self.calls


def new_call_id() -> str:
    """A fresh tool-call id, shaped like the service's."""
    return "call_" + secrets.token_hex(12)


def count_tokens(text: str) -> int:
    """A stable token estimate (about four characters a token) for `usage`."""
    return max(1, (len(text) + 3) // 4)


@dataclass
class Episode:
    """One question being played by one script (or by the fallback answer)."""

    question: str
    script: Script | None
    groups: dict[str, str]
    fallback: str
    turn: int = 0
    issued: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, PlannedCall] = field(default_factory=dict)
    asked: int = 0

    @classmethod
    def start(cls, book: ScriptBook, question: str, script_name: str | None = None) -> Episode:
        """Pick the script for the question (or the named one) and begin at its first turn."""
        script, groups = book.select(question, script_name)
        return cls(question=question, script=script, groups=groups, fallback=book.fallback)

    def context(self) -> dict[str, Any]:
        """What templates may quote."""
        return {"question": self.question, "match": self.groups, "outputs": self.outputs}

    def decide(
        self,
        offered: Collection[str] | None,
        *,
        parallel: bool = True,
        call_id: Callable[[], str] = new_call_id,
    ) -> Decision:
        """The next move. `offered` are the tool names the caller made available."""
        if self.pending:
            raise RuntimeError("the previous tool calls are still unanswered")
        if self.script is None:
            return self._answer(self.fallback)
        if self.turn >= len(self.script.turns):
            return Decision(text=f"(script {self.script.name} has no more turns)")
        turn = self.script.turns[self.turn]
        if turn.answer is not None:
            decision = self._answer(turn.answer)
            return Decision(text=decision.text, filtered=turn.filtered)
        specs = turn.calls[self.issued :]
        if not parallel:
            specs = specs[:1]
        calls: list[PlannedCall] = []
        for spec in specs:
            if offered is not None and spec.name not in offered:
                return Decision(
                    text=f"I cannot answer that: the tool '{spec.name}' is not available to me."
                )
            try:
                arguments = render(spec.arguments, self.context())
            except TemplateError as error:
                return Decision(text=f"I cannot answer that: {error}.")
            calls.append(
                PlannedCall(
                    call_id=spec.call_id or call_id(),
                    name=spec.name,
                    arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
                    alias=spec.alias,
                )
            )
        self.pending = {call.call_id: call for call in calls}
        self.asked = len(calls)  # calls may share an id: `pending` can hold fewer
        return Decision(calls=tuple(calls))

    def answer_calls(self, outputs: Mapping[str, str]) -> None:
        """Take the outputs of the pending calls (the caller checked the ids) and move on."""
        for call_id, call in self.pending.items():
            self.outputs[call.alias] = _parse_output(outputs.get(call_id, ""))
        self.issued += max(self.asked, len(self.pending))
        self.pending = {}
        turns = self.script.turns if self.script is not None else ()
        if self.turn < len(turns) and self.issued >= len(turns[self.turn].calls):
            self.turn += 1
            self.issued = 0

    def _answer(self, template: str) -> Decision:
        try:
            text = render(template, self.context())
        except TemplateError as error:
            return Decision(text=f"I cannot answer that: {error}.")
        return Decision(text=text if isinstance(text, str) else json.dumps(text))


def _parse_output(output: str) -> Any:
    """A tool output as templates see it: parsed JSON when it is JSON, else the text."""
    try:
        return json.loads(output)
    except (json.JSONDecodeError, TypeError):
        return output
