"""The baseline: the tool-calling loop as a notebook or script runs it today.

Create an assistant, a thread, a message and a run; poll with a fixed `time.sleep`;
when the run asks for tools, run the calls one after another and submit the
outputs; read the answer; delete the thread and the assistant. It uses the real
`openai` SDK against the same model service as the app, so the two are compared
on the same wire. Tools are looked up in a plain dict (the notebook's `eval` of
the tool name costs nothing measurable, and the bench has no reason to copy it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from openai import AzureOpenAI

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

    Everything happens in the caller's thread: a fixed sleep before every poll,
    tool calls run sequentially, cleanup at the end (and, as in a notebook, only
    when the loop got there).
    """
    assistant = client.beta.assistants.create(
        model=deployment,
        instructions=instructions,
        tools=tool_specs,  # type: ignore[arg-type]
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=question)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    while run.status in ACTIVE:
        if run.status == "requires_action" and run.required_action is not None:
            outputs = []
            for call in run.required_action.submit_tool_outputs.tool_calls:
                function = tools[call.function.name]
                result = function(**json.loads(call.function.arguments))
                outputs.append({"tool_call_id": call.id, "output": json.dumps(result)})
            run = client.beta.threads.runs.submit_tool_outputs(
                thread_id=thread.id,
                run_id=run.id,
                tool_outputs=outputs,  # type: ignore[arg-type]
            )
            continue
        time.sleep(poll_seconds)
        run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    if run.status != "completed":
        raise RuntimeError(f"run ended {run.status}: {run.last_error}")
    messages = client.beta.threads.messages.list(thread_id=thread.id, order="desc", limit=1)
    answer = "".join(part.text.value for part in messages.data[0].content if part.type == "text")
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)
    return answer
