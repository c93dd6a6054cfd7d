"""The operations the activities call: one function per activity, domain model in and out.

Each picks the backend the handle (or plan) names, with the process-wide clients,
recorder and tool registry, so an activity is only decode → call → encode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from durable_assistant.backends import (
    AssistantsBackend,
    DeleteOutcome,
    Follow,
    ModelBackend,
    ResponsesBackend,
    TextHook,
    delete_object,
)
from durable_assistant.backends.errors import ModelRequestError, TeardownIncompleteError
from durable_assistant.composition import AppServices, services
from durable_assistant.logging_setup import run_log
from durable_assistant.model import (
    Backend,
    RunHandle,
    RunState,
    RunStatus,
    StartInput,
    Step,
    SubmitInput,
    TeardownReport,
    ToolInvocation,
    ToolResult,
    short,
)
from durable_assistant.objects import CreatedObject
from durable_assistant.tools.registry import ERROR_PREFIX

logger = logging.getLogger(__name__)


def backend_for(backend: Backend, root: AppServices) -> ModelBackend:
    """The backend named by `backend`, built from the root's clients, tools and recorder."""
    clients, registry, recorder = root.clients, root.registry, root.recorder
    if backend is Backend.ASSISTANTS:
        return AssistantsBackend(clients.assistants, registry, recorder)
    return ResponsesBackend(
        clients.responses, registry, recorder, background=root.settings.responses_background
    )


def _backend(backend: Backend) -> ModelBackend:
    return backend_for(backend, services())


def _logged(operation: str, step: Step) -> Step:
    state = step.state
    run_log(logger, step.handle.instance_id).info(
        "%s → %s%s", operation, state.status.value, f" ({state.reason})" if state.reason else ""
    )
    return step


def _follow(on_text: TextHook | None) -> Follow:
    """Follow each model turn for MODEL_FOLLOW_SECONDS (0: return at once, poll later)."""
    return Follow(seconds=services().settings.model_follow_seconds, on_text=on_text)


def _final_on_refusal(handle: RunHandle, operation: Callable[[], Step]) -> Step:
    """Run one model operation; a request the service refused (a 4xx that retrying
    cannot fix) ends the run at once as failed, with the service's reason, instead of
    failing the activity into retries that would be refused the same way."""
    try:
        return operation()
    except ModelRequestError as error:
        state = RunState(status=RunStatus.FAILED, reason=short(str(error)))
        return Step(handle=handle, state=state)


def start_run(start: StartInput, on_text: TextHook | None = None) -> Step:
    """Create the run's server-side objects (those the handle lacks) and start it,
    following the first model turn (see `_follow`)."""
    handle = start.handle or RunHandle(backend=start.plan.backend, instance_id=start.instance_id)
    backend = _backend(start.plan.backend)
    follow = _follow(on_text)
    return _logged("start", _final_on_refusal(handle, lambda: backend.start(start, follow)))


def poll_run(handle: RunHandle) -> Step:
    """Where the run is now (with the service's poll-after hint while pending)."""
    backend = _backend(handle.backend)
    return _logged("poll", _final_on_refusal(handle, lambda: backend.poll(handle)))


def submit_outputs(submit: SubmitInput, on_text: TextHook | None = None) -> Step:
    """Submit every tool output of one step at once, following the next model turn."""
    backend = _backend(submit.handle.backend)
    follow = _follow(on_text)
    return _logged(
        "submit", _final_on_refusal(submit.handle, lambda: backend.submit(submit, follow))
    )


def cancel_run(handle: RunHandle) -> Step:
    """Ask the service to stop the run."""
    backend = _backend(handle.backend)
    return _logged("cancel", _final_on_refusal(handle, lambda: backend.cancel(handle)))


def teardown_run(handle: RunHandle) -> TeardownReport:
    """Delete what the run created (and whatever the recorder holds for the instance).

    A delete that failed fails the activity, after every other object was tried, so
    its retry policy tries again (already deleted objects then count as gone; a 404
    always counts as deleted). What is left after the last attempt waits for the purge.
    """
    report = _backend(handle.backend).teardown(handle)
    if report.failed:
        raise TeardownIncompleteError(
            f"could not delete {len(report.failed)} object(s): {', '.join(report.failed)}"
        )
    return report


def run_tool(invocation: ToolInvocation) -> ToolResult:
    """Run one tool call; a call outside the run's allowed tools is refused as its output."""
    call = invocation.call
    if call.name not in invocation.allowed_tools:
        allowed = ", ".join(invocation.allowed_tools) or "none"
        text = f"tool {call.name!r} is not available in this run; available tools: {allowed}"
        run_log(logger, invocation.instance_id).warning(
            "refused tool call %s (%s): not allowed", call.call_id, call.name
        )
        return ToolResult(
            call_id=call.call_id, name=call.name, output=ERROR_PREFIX + text, ok=False
        )
    root = services()
    settings = root.settings
    return root.registry.invoke(
        call,
        timeout_seconds=settings.tool_timeout_seconds,
        max_output_chars=settings.tool_output_max_chars,
        instance_id=invocation.instance_id,
    )


def delete_created_object(obj: CreatedObject) -> DeleteOutcome:
    """Delete one recorded object with the client its kind needs (for the purge)."""
    return delete_object(services().clients.for_kind(obj.kind), obj)
