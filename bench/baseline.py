"""The baselines: the tool-calling loop as the seed notebook runs it, and the SDK's helpers.

`notebook_loop`: create an assistant, a thread, a message and a run; then, in the
notebook's order, retrieve the run, `time.sleep`, and only then act on what that
retrieve said: submit tool outputs (the calls run one after another) or stop when
completed. So it notices `requires_action` (and the end) one sleep late: three
model turns cost six sleeps. Then read the answer and delete the thread and the
assistant.

`sdk_helpers_loop`: the same conversation with the SDK's own polling helpers,
`runs.create_and_poll` and `runs.submit_tool_outputs_and_poll` (they poll every
second unless the service sends `openai-poll-after-ms`).

Both use the real `openai` SDK against the same model service as the app. Tools are
looked up in a plain dict (the notebook's `eval` of the tool name costs nothing
measurable, and the bench has no reason to copy it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from openai import AzureOpenAI
from openai.types.beta.threads import Run

ToolFunction = Callable[..., Any]

ACTIVE = ("queued", "in_progress", "requires_action")


def notebook_loop(
    client: AzureOpenAI,
    *,
    deployment: str,
    instructions: str,
    question: str,
    tools: Mapping[str, ToolFunction],
    tool_specs: list[dict[str, Any]],
    poll_seconds: float = 1.0,
) -> str:
    """Answer `question` the notebook way; return the answer text.

    Everything happens in the caller's thread: retrieve, a fixed sleep, then act on
    that retrieve; tool calls run sequentially; cleanup at the end (and, as in a
    notebook, only when the loop got there).
    """
    assistant = client.beta.assistants.create(
        model=deployment,
        instructions=instructions,
        tools=tool_specs,  # type: ignore[arg-type]
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=question)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    while True:
        run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
        time.sleep(poll_seconds)
        if run.status == "completed":
            break
        if run.status == "requires_action" and run.required_action is not None:
            client.beta.threads.runs.submit_tool_outputs(
                thread_id=thread.id,
                run_id=run.id,
                tool_outputs=_outputs(run, tools),  # type: ignore[arg-type]
            )
        elif run.status not in ACTIVE:
            raise RuntimeError(f"run ended {run.status}: {run.last_error}")
    return _answer_and_clean_up(client, thread.id, assistant.id)


def sdk_helpers_loop(
    client: AzureOpenAI,
    *,
    deployment: str,
    instructions: str,
    question: str,
    tools: Mapping[str, ToolFunction],
    tool_specs: list[dict[str, Any]],
) -> str:
    """Answer `question` with `create_and_poll` / `submit_tool_outputs_and_poll`."""
    assistant = client.beta.assistants.create(
        model=deployment,
        instructions=instructions,
        tools=tool_specs,  # type: ignore[arg-type]
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=question)
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    while run.status == "requires_action" and run.required_action is not None:
        run = runs.submit_tool_outputs_and_poll(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=_outputs(run, tools),  # type: ignore[arg-type]
        )
    if run.status != "completed":
        raise RuntimeError(f"run ended {run.status}: {run.last_error}")
    return _answer_and_clean_up(client, thread.id, assistant.id)


def _outputs(run: Run, tools: Mapping[str, ToolFunction]) -> list[dict[str, str]]:
    """Run the requested calls one after another; their outputs as the SDK takes them."""
    assert run.required_action is not None
    outputs = []
    for call in run.required_action.submit_tool_outputs.tool_calls:
        function = tools[call.function.name]
        result = function(**json.loads(call.function.arguments))
        outputs.append({"tool_call_id": call.id, "output": json.dumps(result)})
    return outputs


def _answer_and_clean_up(client: AzureOpenAI, thread_id: str, assistant_id: str) -> str:
    messages = client.beta.threads.messages.list(thread_id=thread_id, order="desc", limit=1)
    answer = "".join(part.text.value for part in messages.data[0].content if part.type == "text")
    client.beta.threads.delete(thread_id)
    client.beta.assistants.delete(assistant_id)
    return answer
