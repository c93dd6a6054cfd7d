"""The Assistants API v2 backend (`client.beta.assistants/threads/runs`).

start: assistant (tagged with the app and instance), thread with the question as
its first message (one call, so a retry never posts the question twice), run.
poll: `runs.retrieve`. submit: `runs.submit_tool_outputs` with every output of the
step. teardown: the thread, and the assistant if this run created it.

Following (see `following.py`): the run is created, and outputs are submitted, with
`stream=True`; the run's events say when it needs tools or ends, and the completed
message arrives in them, so no poll and no message listing is needed. A stream that
breaks falls back to one poll of the run (which goes on at the service).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from openai import BadRequestError, OpenAI, RateLimitError, Stream
from openai.resources.beta import Beta
from openai.types.beta import Assistant, FunctionToolParam, Thread
from openai.types.beta.thread_create_params import Message as ThreadMessage
from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput

from durable_assistant.backends.base import (
    claim,
    claim_again,
    delete_all,
    distinct_calls,
    guarded,
    open_intents,
    poll_after_ms,
    record_all_created,
    record_created,
    sent_once,
    settle,
    tags_for,
    warn_if_lost,
    without_sdk_retries,
)
from durable_assistant.backends.content_filter import (
    ANSWER,
    FILTERED,
    QUESTION,
    TOOL_OUTPUT,
    filtered_state,
)
from durable_assistant.backends.errors import model_errors, throttled_state
from durable_assistant.backends.following import (
    NO_FOLLOW,
    STREAM_BROKEN,
    Follow,
    Json,
    Timed,
    json_events,
    model_of,
)
from durable_assistant.logging_setup import run_log
from durable_assistant.model import (
    MAX_ANSWER_CHARS,
    Backend,
    RunHandle,
    RunPlan,
    RunState,
    RunStatus,
    StartInput,
    Step,
    SubmitInput,
    TeardownReport,
    ToolCall,
    Usage,
    short,
)
from durable_assistant.objects import INSTANCE_TAG_KEY, CreateIntent, ObjectKind, ObjectRecorder
from durable_assistant.tools.registry import ToolDefinition, ToolRegistry

logger = logging.getLogger(__name__)

KINDS = frozenset({ObjectKind.ASSISTANT, ObjectKind.THREAD})
ANSWER_SEARCH_LIMIT = 20
CLOCK_SKEW_SECONDS = 300
"""Slack between our clock and the service's when matching an assistant's created_at."""
RESTING = frozenset(
    {"requires_action", "completed", "failed", "cancelled", "expired", "incomplete"}
)
"""Run statuses a followed stream stops at: the orchestration acts on them."""


def function_tool(definition: ToolDefinition) -> FunctionToolParam:
    """A registry tool as an Assistants function tool."""
    return {
        "type": "function",
        "function": {
            "name": definition.name,
            "description": definition.description,
            "parameters": definition.parameters,
        },
    }


class AssistantsBackend:
    """`ModelBackend` over the Assistants API v2 of an `AzureOpenAI` client."""

    backend = Backend.ASSISTANTS

    def __init__(self, client: OpenAI, registry: ToolRegistry, recorder: ObjectRecorder) -> None:
        self._client = client
        self._registry = registry
        self._recorder = recorder

    def start(self, start: StartInput, follow: Follow = NO_FOLLOW) -> Step:
        plan = start.plan
        handle = start.handle or RunHandle(backend=self.backend, instance_id=start.instance_id)
        instance_id = handle.instance_id
        tags = tags_for(instance_id)
        beta = without_sdk_retries(self._client).beta  # creates: see `sent_once`
        try:
            with model_errors("starting an Assistants run"):
                fresh = False
                if handle.thread_id is None:
                    handle, fresh = self._create_objects(handle, plan, beta)
                # A thread made just now has no run; one an earlier attempt made may.
                if handle.run_id is None and not fresh:
                    handle = self._run_of_an_earlier_attempt(handle)
                if handle.run_id is not None:
                    return self._poll(handle)
                assert handle.assistant_id is not None
                assert handle.thread_id is not None
                if follow.enabled:
                    stream = json_events(
                        beta.threads.runs.with_raw_response.create(
                            handle.thread_id,
                            assistant_id=handle.assistant_id,
                            metadata=tags,
                            stream=True,
                        )
                    )
                    return self._follow(handle, stream, follow)
                raw = beta.threads.runs.with_raw_response.create(
                    handle.thread_id, assistant_id=handle.assistant_id, metadata=tags
                )
                run = raw.parse()
                handle = handle.model_copy(update={"run_id": run.id})
                run_log(logger, instance_id).info(
                    "started run %s on thread %s", run.id, handle.thread_id
                )
                return Step(handle=handle, state=self._state(handle, run, raw.headers))
        except RateLimitError as error:
            return Step(handle=handle, state=throttled_state(error))

    def _create_objects(
        self, handle: RunHandle, plan: RunPlan, beta: Beta
    ) -> tuple[RunHandle, bool]:
        """The handle with the assistant (unless it has one) and the thread; True when
        this attempt was the first, so nothing of an earlier one needed finding.

        The first attempt claims both creates in one write and records both objects
        in one more; only when an earlier attempt claimed them first is the ledger read
        (to adopt what it made) and each create claimed on its own.
        """
        instance_id = handle.instance_id
        kinds = [ObjectKind.THREAD]
        if handle.assistant_id is None:
            kinds.insert(0, ObjectKind.ASSISTANT)
        intents = {kind: self._intent(instance_id, kind) for kind in kinds}
        if not claim(self._recorder, list(intents.values())):
            return self._create_objects_again(handle, plan, beta), False
        made: list[tuple[ObjectKind, str, CreateIntent | None]] = []
        thread_sent = False
        try:
            if handle.assistant_id is None:
                assistant = sent_once(
                    self._recorder,
                    intents[ObjectKind.ASSISTANT],
                    lambda: self._create_assistant(beta, plan, instance_id),
                )
                made.append((ObjectKind.ASSISTANT, assistant.id, intents[ObjectKind.ASSISTANT]))
            thread_sent = True
            thread = sent_once(
                self._recorder,
                intents[ObjectKind.THREAD],
                lambda: self._create_thread(beta, plan, instance_id),
            )
            made.append((ObjectKind.THREAD, thread.id, intents[ObjectKind.THREAD]))
        except Exception:
            if not thread_sent:
                settle(self._recorder, intents[ObjectKind.THREAD], None)
            self._record_all(made, instance_id)
            raise
        self._record_all(made, instance_id)
        return self._with_objects(handle, made), True

    def _create_objects_again(self, handle: RunHandle, plan: RunPlan, beta: Beta) -> RunHandle:
        """After an earlier attempt: adopt what it recorded or made, create the rest."""
        instance_id = handle.instance_id
        handle = self._adopt_recorded(handle)
        if handle.assistant_id is None:
            assistant_id = self._assistant_of_a_lost_reply(instance_id)
            if assistant_id is None:
                intent = self._intent_again(instance_id, ObjectKind.ASSISTANT)
                assistant = sent_once(
                    self._recorder, intent, lambda: self._create_assistant(beta, plan, instance_id)
                )
                assistant_id = assistant.id
                self._record(ObjectKind.ASSISTANT, assistant_id, instance_id, intent)
            handle = handle.model_copy(
                update={"assistant_id": assistant_id, "created_assistant": True}
            )
        if handle.thread_id is None:
            warn_if_lost(self._recorder, instance_id, ObjectKind.THREAD.value)
            intent = self._intent_again(instance_id, ObjectKind.THREAD)
            thread = sent_once(
                self._recorder, intent, lambda: self._create_thread(beta, plan, instance_id)
            )
            self._record(ObjectKind.THREAD, thread.id, instance_id, intent)
            handle = handle.model_copy(update={"thread_id": thread.id})
        return handle

    def _create_assistant(self, beta: Beta, plan: RunPlan, instance_id: str) -> Assistant:
        tools = [function_tool(d) for d in self._registry.definitions(plan.tools)]
        return beta.assistants.create(
            model=plan.model,
            name=f"durable-assistant {instance_id}"[:256],
            instructions=plan.instructions,
            tools=tools,
            metadata=tags_for(instance_id),
        )

    def _create_thread(self, beta: Beta, plan: RunPlan, instance_id: str) -> Thread:
        """The thread with the question as its first message (one call, so a retry
        never posts the question twice)."""
        tags = tags_for(instance_id)
        message: ThreadMessage = {"role": "user", "content": plan.question, "metadata": tags}
        return beta.threads.create(messages=[message], metadata=tags)

    @staticmethod
    def _with_objects(
        handle: RunHandle, made: list[tuple[ObjectKind, str, CreateIntent | None]]
    ) -> RunHandle:
        update: dict[str, object] = {}
        for kind, object_id, _ in made:
            if kind is ObjectKind.ASSISTANT:
                update.update(assistant_id=object_id, created_assistant=True)
            else:
                update["thread_id"] = object_id
        return handle.model_copy(update=update)

    def _adopt_recorded(self, handle: RunHandle) -> RunHandle:
        """The handle with the assistant and thread an earlier attempt created and
        recorded (its result was lost with the attempt), so none is made twice."""
        if handle.assistant_id is not None and handle.thread_id is not None:
            return handle
        update: dict[str, object] = {}
        for obj in self._recorder.objects_of(handle.instance_id):
            if obj.deleted:
                continue
            if obj.kind is ObjectKind.ASSISTANT and handle.assistant_id is None:
                update.setdefault("assistant_id", obj.object_id)
                update["created_assistant"] = True
            elif obj.kind is ObjectKind.THREAD and handle.thread_id is None:
                update.setdefault("thread_id", obj.object_id)
        return handle.model_copy(update=update) if update else handle

    def _assistant_of_a_lost_reply(self, instance_id: str) -> str | None:
        """The assistant an earlier create made although its reply was lost.

        Assistants can be listed, and ours carry the instance id in their metadata:
        the newest ones since the earliest open intent are searched.
        """
        lost = open_intents(self._recorder, instance_id, ObjectKind.ASSISTANT.value)
        if not lost:
            return None
        since = min(i.started_at for i in lost).timestamp() - CLOCK_SKEW_SECONDS
        found: str | None = None
        for assistant in self._client.beta.assistants.list(order="desc", limit=100):
            if assistant.created_at < since:
                break
            if (assistant.metadata or {}).get(INSTANCE_TAG_KEY) == instance_id[:512]:
                found = assistant.id
                break
        for intent in lost:
            settle(self._recorder, intent, found)
        if found is not None:
            run_log(logger, instance_id).info(
                "adopted assistant %s, made by a create whose reply was lost", found
            )
            self._record(ObjectKind.ASSISTANT, found, instance_id)
        return found

    def _run_of_an_earlier_attempt(self, handle: RunHandle) -> RunHandle:
        """The handle with the run an earlier attempt started on this thread, if any
        (a retried create would be refused: the thread already has an active run)."""
        assert handle.thread_id is not None
        runs = self._client.beta.threads.runs.list(handle.thread_id, order="desc", limit=1)
        if not runs.data:
            return handle
        run_log(logger, handle.instance_id).info(
            "adopted run %s, started by an earlier attempt", runs.data[0].id
        )
        return handle.model_copy(update={"run_id": runs.data[0].id})

    def _intent(self, instance_id: str, kind: ObjectKind) -> CreateIntent:
        return CreateIntent.first(instance_id, kind.value, kind, self.backend)

    def _intent_again(self, instance_id: str, kind: ObjectKind) -> CreateIntent:
        intent = CreateIntent.new(instance_id, kind.value, kind, self.backend)
        claim_again(self._recorder, intent)
        return intent

    def poll(self, handle: RunHandle) -> Step:
        return guarded("polling the run", handle, lambda: self._poll(handle))

    def submit(self, submit: SubmitInput, follow: Follow = NO_FOLLOW) -> Step:
        handle = submit.handle
        return guarded(
            "submitting tool outputs", handle, lambda: self._submit(handle, submit, follow)
        )

    def cancel(self, handle: RunHandle) -> Step:
        if handle.run_id is None or handle.thread_id is None:
            state = RunState(status=RunStatus.CANCELLED, reason="cancelled before the run began")
            return Step(handle=handle, state=state)
        return guarded("cancelling the run", handle, lambda: self._cancel(handle))

    def teardown(self, handle: RunHandle) -> TeardownReport:
        ours: list[tuple[ObjectKind, str]] = []
        if handle.thread_id:
            ours.append((ObjectKind.THREAD, handle.thread_id))
        if handle.assistant_id and handle.created_assistant:
            ours.append((ObjectKind.ASSISTANT, handle.assistant_id))
        # Without a thread the start may have made objects the handle never got: every
        # start attempt claims the thread's create, which teardown closes or finds taken.
        closing = None if handle.thread_id else self._intent(handle.instance_id, ObjectKind.THREAD)
        return delete_all(self._client, self._recorder, handle, ours, KINDS, closing=closing)

    # -- operations, inside `_guard` --

    def _poll(self, handle: RunHandle) -> Step:
        thread_id, run_id = _ids(handle)
        raw = self._client.beta.threads.runs.with_raw_response.retrieve(run_id, thread_id=thread_id)
        return Step(handle=handle, state=self._state(handle, raw.parse(), raw.headers))

    def _submit(self, handle: RunHandle, submit: SubmitInput, follow: Follow) -> Step:
        thread_id, run_id = _ids(handle)
        outputs: list[ToolOutput] = [
            {"tool_call_id": r.call_id, "output": r.output} for r in submit.results
        ]
        runs = self._client.beta.threads.runs
        try:
            if follow.enabled:
                stream = json_events(
                    runs.with_raw_response.submit_tool_outputs(
                        run_id, thread_id=thread_id, tool_outputs=outputs, stream=True
                    )
                )
                return self._follow(handle, stream, follow)
            raw = runs.with_raw_response.submit_tool_outputs(
                run_id, thread_id=thread_id, tool_outputs=outputs
            )
        except BadRequestError:
            # A retried activity whose first attempt went through finds the run
            # no longer waiting for these calls: report where it is instead.
            current = self._poll(handle)
            waiting = {c.call_id for c in current.state.tool_calls}
            if current.state.status is RunStatus.REQUIRES_ACTION and waiting & {
                r.call_id for r in submit.results
            }:
                raise
            run_log(logger, handle.instance_id).info(
                "outputs for run %s were already submitted", run_id
            )
            return current
        return Step(handle=handle, state=self._state(handle, raw.parse(), raw.headers))

    def _cancel(self, handle: RunHandle) -> Step:
        thread_id, run_id = _ids(handle)
        try:
            raw = self._client.beta.threads.runs.with_raw_response.cancel(
                run_id, thread_id=thread_id
            )
        except BadRequestError:
            return self._poll(handle)  # already over: say how it ended
        return Step(handle=handle, state=self._state(handle, raw.parse(), raw.headers))

    def _follow(self, handle: RunHandle, stream: Stream[Json], follow: Follow) -> Step:
        """Read the run's events until it rests or the budget passes (then: pending)."""
        seen = _RunEvents(follow)
        timed = Timed(stream, follow.seconds, stream.close, seen.sift)
        try:
            for event in timed:
                seen.take(event)
                if seen.run is not None and handle.run_id is None:
                    handle = handle.model_copy(update={"run_id": seen.run.id})
                    self._started(handle)
                if seen.resting:
                    break
        except STREAM_BROKEN as error:
            run_log(logger, handle.instance_id).warning(
                "the run's stream broke (%s); polling the run instead", error
            )
            if handle.run_id is None:
                handle = self._adopt_run(handle, error)
            return self._poll(handle)
        if seen.run is not None and seen.resting:
            state = self._state(handle, seen.run, {}, answer=seen.answer)
            return Step(handle=handle, state=state)
        if handle.run_id is None:
            raise RuntimeError(f"instance {handle.instance_id}: the run's stream named no run")
        if timed.timed_out:
            return Step(handle=handle, state=RunState(status=RunStatus.PENDING))
        return self._poll(handle)  # the stream ended before the run came to rest

    def _adopt_run(self, handle: RunHandle, error: Exception) -> RunHandle:
        """The run a broken creation stream made before it named it (the thread is ours)."""
        assert handle.thread_id is not None
        runs = self._client.beta.threads.runs.list(handle.thread_id, limit=1, order="desc")
        if not runs.data:
            raise error
        handle = handle.model_copy(update={"run_id": runs.data[0].id})
        self._started(handle)
        return handle

    def _started(self, handle: RunHandle) -> None:
        run_log(logger, handle.instance_id).info(
            "started run %s on thread %s", handle.run_id, handle.thread_id
        )

    # -- mapping --

    def _state(
        self,
        handle: RunHandle,
        run: Run,
        headers: Mapping[str, str],
        *,
        answer: str | None = None,
    ) -> RunState:
        if run.status == "requires_action" and run.required_action is not None:
            calls = distinct_calls(
                (
                    ToolCall.from_model(call.id, call.function.name, call.function.arguments)
                    for call in run.required_action.submit_tool_outputs.tool_calls
                ),
                handle.instance_id,
            )
            return RunState(status=RunStatus.REQUIRES_ACTION, tool_calls=calls)
        if run.status == "completed":
            answer = short(
                self._answer(handle, run) if answer is None else answer, MAX_ANSWER_CHARS
            )
            return RunState(status=RunStatus.COMPLETED, answer=answer, usage=_usage(run))
        details = run.incomplete_details
        if run.status == "incomplete" and details is not None and details.reason == FILTERED:
            return filtered_state(self._what_was_filtered(run), usage=_usage(run))
        ended = _end_state(run)
        if ended is not None:
            return ended
        # queued, in_progress, cancelling (and any status newer than this code)
        return RunState(status=RunStatus.PENDING, poll_after_ms=poll_after_ms(headers))

    def _answer(self, handle: RunHandle, run: Run) -> str:
        """The text of the newest assistant message of this run."""
        messages = self._client.beta.threads.messages.list(
            run.thread_id, run_id=run.id, order="desc", limit=ANSWER_SEARCH_LIMIT
        )
        for message in messages.data:
            if message.role != "assistant":
                continue
            text = _message_text(message)
            if text:
                return text
        run_log(logger, handle.instance_id).warning(
            "run %s completed without an assistant message", run.id
        )
        return ""

    def _what_was_filtered(self, run: Run) -> str:
        """Azure names no culprit on a filtered run: an incomplete answer message means
        the answer; a tool-calls step means a tool output; else the question."""
        messages = self._client.beta.threads.messages.list(
            run.thread_id, run_id=run.id, order="desc", limit=ANSWER_SEARCH_LIMIT
        )
        for message in messages.data:
            details = message.incomplete_details
            if details is not None and details.reason == FILTERED:
                return ANSWER
        steps = self._client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id)
        if any(step.type == "tool_calls" for step in steps.data):
            return TOOL_OUTPUT
        return QUESTION

    def _record_all(
        self, made: list[tuple[ObjectKind, str, CreateIntent | None]], instance_id: str
    ) -> None:
        if made:
            record_all_created(
                self._client, self._recorder, made, instance_id=instance_id, backend=self.backend
            )

    def _record(
        self,
        kind: ObjectKind,
        object_id: str,
        instance_id: str,
        intent: CreateIntent | None = None,
    ) -> None:
        record_created(
            self._client,
            self._recorder,
            kind,
            object_id,
            instance_id=instance_id,
            backend=self.backend,
            intent=intent,
        )


class _RunEvents:
    """What a run's events said so far: the run's latest state and the answer."""

    def __init__(self, follow: Follow) -> None:
        self.follow = follow
        self.run: Run | None = None
        self.answer: str | None = None
        self._run_named = False

    @property
    def resting(self) -> bool:
        return self.run is not None and self.run.status in RESTING

    def sift(self, event: Json) -> bool:
        """On the reading thread: text deltas go to the text hook; the run's first
        event (its id), its resting state and the completed message go on to `take`."""
        name = str(event.get("event") or "")
        data = event.get("data")
        if not isinstance(data, dict):
            return False
        if name == "thread.message.delta":
            for part in (data.get("delta") or {}).get("content") or []:
                text = part.get("text") if part.get("type") == "text" else None
                if isinstance(text, dict):
                    self.follow.text(str(text.get("value") or ""))
            return False
        if name == "thread.message.completed":
            return True
        if name.startswith("thread.run.") and not name.startswith("thread.run.step."):
            wanted = not self._run_named or data.get("status") in RESTING
            self._run_named = True
            return wanted
        return False

    def take(self, event: Json) -> None:
        """An event `sift` let through, made into the SDK's model."""
        if event["event"] == "thread.message.completed":
            self.answer = _message_text(model_of(Message, event["data"]))
        else:
            self.run = model_of(Run, event["data"])


def _message_text(message: Message) -> str:
    """The text parts of a message, one per line."""
    return "\n".join(part.text.value for part in message.content if part.type == "text")


def _ids(handle: RunHandle) -> tuple[str, str]:
    if handle.thread_id is None or handle.run_id is None:
        raise ValueError(f"instance {handle.instance_id}: the handle has no thread or run yet")
    return handle.thread_id, handle.run_id


def _usage(run: Run) -> Usage | None:
    if run.usage is None:
        return None
    return Usage(
        prompt_tokens=run.usage.prompt_tokens,
        completion_tokens=run.usage.completion_tokens,
        total_tokens=run.usage.total_tokens,
    )


def _end_state(run: Run) -> RunState | None:
    """failed / cancelled / expired / incomplete, each with its reason; else None."""
    usage = _usage(run)
    error = f"{run.last_error.code}: {run.last_error.message}" if run.last_error else None
    if run.status == "failed":
        return RunState(
            status=RunStatus.FAILED, reason=short(error or "the run failed"), usage=usage
        )
    if run.status == "cancelled":
        return RunState(status=RunStatus.CANCELLED, reason="the run was cancelled", usage=usage)
    if run.status == "expired":
        reason = "the run expired before its tool outputs were submitted"
        reason = f"{reason} ({error})" if error else reason
        return RunState(status=RunStatus.EXPIRED, reason=short(reason), usage=usage)
    if run.status == "incomplete":
        details = run.incomplete_details
        why = details.reason if details and details.reason else "unknown reason"
        reason = f"the run stopped early: {why}"
        return RunState(status=RunStatus.INCOMPLETE, reason=reason, usage=usage)
    return None
