"""The proxy model: each turn is asked of a real chat-completions endpoint instead of a script.

Give `--proxy-url` the base URL the SDK would take (it appends
`/chat/completions`), e.g. `http://localhost:11434/v1` or
`https://RES.openai.azure.com/openai/deployments/DEPLOYMENT` with
`--proxy-api-version`. Everything else (objects, rules, faults) stays emulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.chat import chat_tools, items_to_chat
from emulator.model import Decision, PlannedCall, new_call_id

if TYPE_CHECKING:
    from openai import AsyncOpenAI

Json = dict[str, Any]


@dataclass(frozen=True)
class ProxySettings:
    """Where the upstream model is and how to call it."""

    url: str
    api_key: str | None = None
    model: str | None = None
    api_version: str | None = None


class ProxyModel:
    """Asks an upstream chat-completions endpoint for the next move."""

    def __init__(self, settings: ProxySettings) -> None:
        # imported here: the SDK is slow to import and only the proxy needs it
        from openai import AsyncOpenAI  # noqa: PLC0415

        self.settings = settings
        key = settings.api_key or "none"
        self._client: AsyncOpenAI = AsyncOpenAI(
            base_url=settings.url,
            api_key=key,
            default_headers={"api-key": key},
            default_query={"api-version": settings.api_version} if settings.api_version else None,
            max_retries=2,
        )

    async def decide(
        self,
        items: list[Json],
        *,
        instructions: str | None,
        tools: list[Json],
        parallel: bool,
        model: str,
    ) -> Decision:
        """One turn: the context as chat messages in, tool calls or an answer out."""
        offered = chat_tools(tools)
        options: dict[str, Any] = {"tools": offered, "parallel_tool_calls": parallel}
        completion = await self._client.chat.completions.create(
            model=self.settings.model or model,
            messages=items_to_chat(items, instructions),  # type: ignore[arg-type]
            **(options if offered else {}),
        )
        message = completion.choices[0].message
        calls = [
            PlannedCall(
                call_id=call.id or new_call_id(),
                name=call.function.name,
                arguments=call.function.arguments,
                alias=call.function.name,
            )
            for call in message.tool_calls or []
            if call.type == "function"
        ]
        if calls:
            return Decision(calls=tuple(calls))
        return Decision(text=message.content or "")


def proxy_failure(error: BaseException) -> str:
    """The `last_error` / `error` message of a turn the upstream model could not play."""
    return f"The upstream model failed: {type(error).__name__}: {error}"[:500]
