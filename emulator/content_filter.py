"""Content filtering, as Azure OpenAI's filter shows it: rules, results and refusals.

A rule flags text of one kind (`target`): the `prompt` (user and system text),
a `tool_output` sent back to the model, or the generated `answer`. Rules come
from the `content_filter` control or from a script file; a script turn can also
mark its own answer as filtered (`"filtered": "violence"`).

What the service does with flagged text (see docs/emulator.md for the sources):

- chat completions and Responses refuse a flagged prompt or tool output with a
  400 whose `error.code` is `content_filter` (inner code `ResponsibleAIPolicyViolation`);
- a flagged answer ends a chat completion with `finish_reason: "content_filter"`,
  and a response or an Assistants run `incomplete` with reason `content_filter`;
- an Assistants run whose prompt or tool output is flagged also ends `incomplete`
  with reason `content_filter` (runs have no synchronous refusal).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from emulator.errors import ApiError

TARGETS = ("prompt", "tool_output", "answer")
CATEGORIES = ("hate", "sexual", "violence", "self_harm")
SEVERITIES = ("low", "medium", "high")
FILTERED_REASON = "content_filter"
PROMPT_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy. Please modify your prompt and retry. To learn more about our "
    "content filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)

Json = dict[str, Any]


class FilterRuleError(ValueError):
    """A content-filter rule the emulator cannot use."""


@dataclass(frozen=True)
class FilterRule:
    """Flag `target` text that `pattern` finds (any text without a pattern) as `category`."""

    target: str
    pattern: str | None = None
    category: str = "violence"
    severity: str = "medium"

    @classmethod
    def parse(cls, data: Any) -> FilterRule:
        """A rule from its JSON object, checked."""
        if isinstance(data, FilterRule):
            return data
        if not isinstance(data, dict) or data.get("target") not in TARGETS:
            raise FilterRuleError(f"content filter rule {data!r}: needs 'target' in {TARGETS}")
        pattern = data.get("pattern")
        if pattern is not None:
            if not isinstance(pattern, str):
                raise FilterRuleError(f"content filter rule {data!r}: 'pattern' is a regex")
            try:
                re.compile(pattern)
            except re.error as error:
                raise FilterRuleError(f"content filter rule {data!r}: {error}") from error
        category = data.get("category", "violence")
        severity = data.get("severity", "medium")
        if category not in CATEGORIES or severity not in SEVERITIES:
            raise FilterRuleError(
                f"content filter rule {data!r}: 'category' in {CATEGORIES}, "
                f"'severity' in {SEVERITIES}"
            )
        return cls(target=data["target"], pattern=pattern, category=category, severity=severity)

    def flags(self, target: str, text: str) -> bool:
        """True when this rule flags this text."""
        if target != self.target:
            return False
        return self.pattern is None or re.search(self.pattern, text) is not None

    def to_json(self) -> Json:
        """The rule as the admin API shows it."""
        return {
            "target": self.target,
            "pattern": self.pattern,
            "category": self.category,
            "severity": self.severity,
        }


def flagged(rules: Iterable[FilterRule], target: str, texts: Iterable[str]) -> FilterRule | None:
    """The first rule that flags one of these texts of `target`, or None."""
    texts = list(texts)
    for rule in rules:
        if any(rule.flags(target, text) for text in texts):
            return rule
    return None


def answer_flag(rules: Iterable[FilterRule], text: str, category: str | None) -> FilterRule | None:
    """The rule that filters a generated answer: the script turn's own mark, or a rule."""
    if category is not None:
        return FilterRule(target="answer", category=category)
    return flagged(rules, "answer", [text])


def check_input(
    rules: Iterable[FilterRule], prompts: Iterable[str], tool_outputs: Iterable[str]
) -> None:
    """Refuse a request whose prompt or tool outputs a rule flags (chat, Responses)."""
    rules = list(rules)
    rule = flagged(rules, "prompt", prompts) or flagged(rules, "tool_output", tool_outputs)
    if rule is not None:
        raise refusal(rule)


def input_texts(items: Iterable[Json]) -> tuple[list[str], list[str]]:
    """The prompt texts (user, system, developer messages) and tool outputs of items."""
    prompts: list[str] = []
    outputs: list[str] = []
    for item in items:
        if item.get("type") == "message" and item.get("role") != "assistant":
            prompts += [str(p.get("text", "")) for p in item.get("content", [])]
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            outputs.append(output if isinstance(output, str) else str(output))
    return prompts, outputs


def results(rule: FilterRule | None = None) -> Json:
    """A `content_filter_results` object: every category safe, but the rule's."""
    found: Json = {}
    for category in CATEGORIES:
        if rule is not None and rule.category == category:
            found[category] = {"filtered": True, "severity": rule.severity}
        else:
            found[category] = {"filtered": False, "severity": "safe"}
    return found


def prompt_results(rule: FilterRule | None = None) -> list[Json]:
    """A chat completion's `prompt_filter_results` (one prompt, index 0)."""
    return [{"prompt_index": 0, "content_filter_results": results(rule)}]


def refusal(rule: FilterRule) -> ApiError:
    """Azure's 400 for a flagged prompt (tool outputs are part of the prompt)."""
    return ApiError(
        400,
        PROMPT_MESSAGE,
        type_=None,
        param="prompt",
        code=FILTERED_REASON,
        extra={
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": results(rule),
            },
        },
    )
