"""The durable engine: dispatches orchestration episodes and activities from the store.

Work is pulled from SQLite (never only held in memory), so whatever a killed process
was doing is picked up again on restart: inbox messages replay their episode, and work
items still present run again (activities are at-least-once, as on the real host).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
import time
import traceback
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.durable_functions.models.utils import http_utils
from azure.functions import meta
from azure.functions.durable_functions import (
    ActivityTriggerConverter,
    OrchestrationTriggerConverter,
)

from devhost import logs
from devhost.config import HostConfig
from devhost.history import EventType, event, utcnow
from devhost.indexer import AppIndex, IndexedFunction
from devhost.invoker import Invoker
from devhost.orchestration_runner import EpisodeRunner, execution_started
from devhost.store import Commit, Instance, NewMessage, Store, WorkItem
from devhost.tracing import Carried, execution_trace

LOGGER = logging.getLogger("devhost.engine")

# Longest the dispatcher sleeps without a wake-up (a safety net, not the latency).
IDLE_POLL_SECONDS = 1.0


class EpisodeTally:
    """How many orchestrator episodes ran and the CPU seconds their threads spent
    (the SDK's replay, the orchestrator's code and the store's reads and commits), so
    a benchmark can tell the orchestrations' share of the host's CPU from the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._episodes = 0
        self._cpu_seconds = 0.0

    def add(self, cpu_seconds: float) -> None:
        with self._lock:
            self._episodes += 1
            self._cpu_seconds += cpu_seconds

    def totals(self) -> dict[str, float]:
        """`{"episodes": n, "cpu_seconds": s}` since the host started."""
        with self._lock:
            return {"episodes": self._episodes, "cpu_seconds": self._cpu_seconds}


class Engine:
    """Runs orchestrations and activities for one app over one store."""

    def __init__(self, store: Store, index: AppIndex, config: HostConfig, invoker: Invoker) -> None:
        self.store = store
        self.index = index
        self.invoker = invoker
        self.config = config
        self._orchestration_pool = ThreadPoolExecutor(
            max_workers=config.max_concurrent_orchestrations, thread_name_prefix="orchestrator"
        )
        self._activity_pool = ThreadPoolExecutor(
            max_workers=config.max_concurrent_activities, thread_name_prefix="activity"
        )
        self._activity_slots = asyncio.Semaphore(config.max_concurrent_activities)
        self._runner = EpisodeRunner(index, self._call_orchestrator, config.versioning)
        self.episodes = EpisodeTally()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._busy: set[str] = set()
        # Instances whose version this worker may not run (versionFailureStrategy Reject):
        # their work stays stored for a worker with a fitting defaultVersion (a restart).
        self._rejected: set[str] = set()
        # ParentTraceContext of scheduled activities, by (instance id, task id): read
        # from each episode's new events, so an activity needs no history read.
        self._task_traces: dict[tuple[str, int], dict[str, Any] | None] = {}
        self._running_work: set[int] = set()
        self._work_given_back = False
        self._wake_orchestrations = asyncio.Event()
        self._wake_activities = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []

    # lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatch loops (resuming whatever the store holds)."""
        self._loops = [
            asyncio.create_task(self._orchestration_loop(), name="orchestrations"),
            asyncio.create_task(self._activity_loop(), name="activities"),
        ]

    async def stop(self) -> None:
        """Stop dispatching; unfinished work stays in the store for the next start."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        await close_client_session()
        self._orchestration_pool.shutdown(wait=False, cancel_futures=True)
        self._activity_pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """Something was enqueued: look again now instead of at the next poll."""
        self._wake_orchestrations.set()
        self._wake_activities.set()

    def lock(self, instance_id: str) -> asyncio.Lock:
        """Per-instance lock: episodes and management operations never interleave."""
        return self._locks[instance_id]

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # starting ------------------------------------------------------------------------

    def new_instance(
        self,
        name: str,
        instance_id: str,
        raw_input: str | None,
        version: str | None = None,
        caller: Carried | None = None,
    ) -> Instance:
        """Create an instance (Pending) with its ExecutionStarted message; it gets
        `version`, else host.json's `defaultVersion`, for life."""
        now = utcnow()
        instance = Instance(
            instance_id=instance_id,
            name=name,
            execution_id=uuid.uuid4().hex,
            status="Pending",
            input=raw_input,
            created_time=now.timestamp(),
            last_updated_time=now.timestamp(),
        )
        version = self.config.versioning.for_new_instance(version)
        trace = execution_trace(caller or Carried())
        start = NewMessage(instance_id, None, execution_started(instance, now, version, trace))
        self.store.create(instance, start)
        self.wake()
        return instance

    # orchestrations ------------------------------------------------------------------

    async def _orchestration_loop(self) -> None:
        while True:
            self._wake_orchestrations.clear()
            now = time.time()
            busy = self._busy | self._rejected
            for instance_id in self.store.ready_instances(now, exclude=busy):
                self._busy.add(instance_id)
                self._spawn(self._episode(instance_id))
            next_at = self.store.next_visible_at(now)
            timeout = IDLE_POLL_SECONDS
            if next_at is not None:
                timeout = min(timeout, max(0.0, next_at - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_orchestrations.wait(), timeout)

    async def _episode(self, instance_id: str) -> None:
        try:
            async with self.lock(instance_id):
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._orchestration_pool, self._run_episode, instance_id)
        except Exception:
            LOGGER.exception("episode of %s failed inside devhost", instance_id)
        finally:
            self._busy.discard(instance_id)
            self.wake()

    def _run_episode(self, instance_id: str) -> None:
        cpu_started = time.thread_time()  # this thread's CPU: the episode runs on it alone
        try:
            self._run_episode_counted(instance_id)
        finally:
            self.episodes.add(time.thread_time() - cpu_started)

    def _run_episode_counted(self, instance_id: str) -> None:
        started = time.monotonic()
        now = utcnow()
        instance, messages, history = self.store.episode_input(instance_id, now.timestamp())
        if instance is None:
            self.store.commit_drop([m.id for m in messages])
            return
        commit, outcome = self._runner.run(instance, history, messages, now)
        if outcome.rejected:
            self._rejected.add(instance_id)
            LOGGER.warning(
                "instance %s (version %r) left for another worker: versionMatchStrategy %s "
                "with defaultVersion %r rejects it",
                instance_id,
                outcome.version,
                self.config.versioning.match.value,
                self.config.versioning.default_version,
            )
            return
        if not self.store.commit(commit):
            LOGGER.warning(
                "episode of %s dropped: the instance was replaced meanwhile", instance_id
            )
            return
        if commit.cancel_work:  # the instance ended or started over: its work is gone
            for key in [k for k in self._task_traces if k[0] == instance_id]:
                del self._task_traces[key]
        for item in commit.history:
            if item["EventType"] == EventType.TASK_SCHEDULED:
                key = (instance_id, int(item["EventId"]))
                self._task_traces[key] = item.get("ParentTraceContext")
        if not outcome.ran and not outcome.ok:
            LOGGER.warning("instance %s failed: %s", instance_id, outcome.detail)
        if outcome.ran:
            logs.executed(
                instance.name,
                ok=outcome.ok,
                seconds=time.monotonic() - started,
                invocation_id=uuid.uuid4().hex,
                instance_id=instance_id,
                detail=f"({outcome.detail})" if outcome.detail else "",
            )

    def _call_orchestrator(self, function: IndexedFunction, payload: str) -> str:
        """Call the orchestrator as the worker does: trigger datum in, JSON string out."""
        context = OrchestrationTriggerConverter.decode(
            meta.Datum(type="json", value=payload), trigger_metadata=None
        )
        kwargs = self.invoker.arguments(function, context, uuid.uuid4().hex)
        result = function.func(**kwargs)
        return result if isinstance(result, str) else json.dumps(result)

    # activities ----------------------------------------------------------------------

    async def _activity_loop(self) -> None:
        # A wake looks only at work added since the last look (the table holds every
        # running item too); a quiet second, or an item given back, looks at all again.
        seen = 0
        while True:
            self._wake_activities.clear()
            if self._work_given_back:
                self._work_given_back = False
                seen = 0
            for item in self.store.work_items(exclude=self._running_work, after=seen):
                self._running_work.add(item.id)
                self._spawn(self._activity(item))
                seen = max(seen, item.id)
            try:
                await asyncio.wait_for(self._wake_activities.wait(), IDLE_POLL_SECONDS)
            except TimeoutError:
                seen = 0

    async def _activity(self, item: WorkItem) -> None:
        try:
            async with self._activity_slots:
                result = await self._execute_activity(item)
            message = NewMessage(item.instance_id, item.execution_id, result)
            if self.store.finish_work(item.id, message):
                self._wake_orchestrations.set()
        except Exception:
            LOGGER.exception("activity %s of %s failed inside devhost", item.name, item.instance_id)
            self._work_given_back = True  # still stored: the next look runs it again
        finally:
            self._running_work.discard(item.id)

    def _activity_trace(self, item: WorkItem) -> Carried:
        """The span the activity's TaskScheduled event hangs it under (DurableTask's
        `ParentTraceContext`); from history when scheduled before a restart."""
        key = (item.instance_id, item.task_id)
        if key in self._task_traces:
            return Carried.from_event({"ParentTraceContext": self._task_traces.pop(key)})
        scheduled = next(
            (
                e
                for e in reversed(self.store.history(item.instance_id))
                if e["EventType"] == EventType.TASK_SCHEDULED and e["EventId"] == item.task_id
            ),
            None,
        )
        return Carried.from_event(scheduled)

    async def _execute_activity(self, item: WorkItem) -> dict[str, Any]:
        """Run one activity; returns its TaskCompleted or TaskFailed event."""
        function = self.index.activity(item.name)
        started = time.monotonic()
        invocation_id = uuid.uuid4().hex
        try:
            if function is None:
                raise LookupError(f"The function '{item.name}' doesn't exist.")
            value = None
            if item.input is not None:
                value = ActivityTriggerConverter.decode(
                    meta.Datum(type="string", value=item.input), trigger_metadata=None
                )
            returned = await self.invoker.call(
                function,
                value,
                invocation_id=invocation_id,
                executor=self._activity_pool,
                trace_context=self._activity_trace(item).invocation(),
            )
            result = None
            if returned is not None:
                result = ActivityTriggerConverter.encode(returned, expected_type=None).value
        except Exception as exc:
            logs.executed(
                item.name,
                ok=False,
                seconds=time.monotonic() - started,
                invocation_id=invocation_id,
                instance_id=item.instance_id,
                detail=f"{type(exc).__name__}: {exc}",
            )
            return event(
                EventType.TASK_FAILED,
                utcnow(),
                TaskScheduledId=item.task_id,
                Reason=f"Activity function '{item.name}' failed: {type(exc).__name__}: {exc}",
                Details=user_traceback(exc),
            )
        logs.executed(
            item.name,
            ok=True,
            seconds=time.monotonic() - started,
            invocation_id=invocation_id,
            instance_id=item.instance_id,
        )
        return event(
            EventType.TASK_COMPLETED, utcnow(), TaskScheduledId=item.task_id, Result=result
        )

    # management ----------------------------------------------------------------------

    async def terminate(self, instance: Instance, reason: str) -> None:
        """End an active instance as Terminated; no user code runs."""
        async with self.lock(instance.instance_id):
            current = self.store.get(instance.instance_id)
            if current is None or not current.is_active:
                return
            now = utcnow()
            current.status = "Terminated"
            current.output = json.dumps(reason)
            current.last_updated_time = now.timestamp()
            commit = Commit(instance=current, cancel_work=True)
            commit.history = [
                event(EventType.ORCHESTRATOR_STARTED, now),
                event(EventType.EXECUTION_TERMINATED, now, Input=json.dumps(reason)),
                event(EventType.EXECUTION_COMPLETED, now, OrchestrationStatus=5, Result=None),
                event(EventType.ORCHESTRATOR_COMPLETED, now),
            ]
            if current.parent_instance_id and current.parent_task_id is not None:
                failed = event(
                    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                    now,
                    TaskScheduledId=current.parent_task_id,
                    Reason=f"Sub-orchestration '{current.name}' was terminated: {reason}",
                    Details="",
                )
                commit.messages.append(
                    NewMessage(current.parent_instance_id, current.parent_execution_id, failed)
                )
            self.store.commit(commit)
            self.store.drop_instance_messages(current.instance_id)
        self.wake()

    async def set_suspended(self, instance: Instance, suspended: bool) -> None:
        """Suspend (hold messages) or resume an active instance."""
        async with self.lock(instance.instance_id):
            current = self.store.get(instance.instance_id)
            if current is None or not current.is_active:
                return
            if suspended and current.status != "Suspended":
                current.state["resume_status"] = current.status
                current.status = "Suspended"
            elif not suspended and current.status == "Suspended":
                current.status = current.state.pop("resume_status", "Running")
            current.last_updated_time = time.time()
            self.store.commit(Commit(instance=current))
        self.wake()

    async def raise_event(self, instance_id: str, name: str, raw: str | None) -> None:
        """Deliver an external event to the instance's inbox."""
        item = event(EventType.EVENT_RAISED, utcnow(), Name=name, Input=raw)
        self.store.post([NewMessage(instance_id, None, item)])
        self.wake()


_INTERNAL = (
    str(Path(__file__).resolve().parent),
    str(Path(asyncio.__file__).parent),
    str(Path(concurrent.futures.__file__).parent),
)


def user_traceback(exc: BaseException) -> str:
    """The exception's traceback without devhost's and asyncio's own frames."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_INTERNAL)
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(exc)
    return "".join(lines).strip()


async def close_client_session() -> None:
    """Close the SDK client's shared aiohttp session, as a worker shutting down would."""
    closer = getattr(http_utils, "_close_session", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()
