"""Call an indexed function the way the Python worker does.

Parameters are filled by binding name; `context` gets a `func.Context`; coroutine
functions run on the host's single event loop (the SDK's durable client keeps one
aiohttp session for the process, bound to that loop) and plain functions on threads.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import azure.functions as func

from devhost import logs
from devhost.indexer import IndexedFunction
from devhost.tracing import Carried, TraceContext, attach_if_enabled


class InvocationContext(func.Context):
    """The `context` parameter handed to functions that ask for one."""

    def __init__(
        self,
        invocation_id: str,
        function_name: str,
        function_directory: str,
        trace_context: TraceContext,
    ) -> None:
        self._invocation_id = invocation_id
        self._trace_context = trace_context
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> Any:
        return None


ClientJson = Callable[[dict[str, Any]], str]

LOGGER = logging.getLogger("devhost.invoker")


def _same(value: Any) -> Any:
    return value


def _no_detail(_: Any) -> str:
    return ""


class Invoker:
    """Runs user functions; knows how to fill every parameter the indexer accepted."""

    def __init__(self, app_dir: str, client_json: ClientJson, executor: Executor | None = None):
        self._app_dir = app_dir
        self._client_json = client_json
        self._executor = executor

    def arguments(
        self,
        function: IndexedFunction,
        trigger_value: Any,
        invocation_id: str,
        trace_context: TraceContext | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for one call: trigger, durable clients, context."""
        kwargs: dict[str, Any] = {}
        for binding in function.bindings:
            name = str(binding["name"])
            if name == "$return" or name not in function.parameters:
                continue
            if binding is function.trigger or name == function.trigger_name:
                kwargs[name] = trigger_value
            elif binding.get("type") == "durableClient":
                kwargs[name] = self._client_json(binding)
            else:
                kwargs[name] = None
        if function.wants_context:
            kwargs["context"] = InvocationContext(
                invocation_id,
                function.name,
                self._app_dir,
                trace_context or Carried().invocation(),
            )
        return kwargs

    async def call(
        self,
        function: IndexedFunction,
        trigger_value: Any,
        *,
        invocation_id: str | None = None,
        executor: Executor | None = None,
        trace_context: TraceContext | None = None,
    ) -> Any:
        """Invoke and return the function's return value (exceptions propagate).
        `trace_context` is the invocation's span (a new trace when None)."""
        trace = trace_context or Carried().invocation()
        kwargs = self.arguments(function, trigger_value, invocation_id or str(uuid.uuid4()), trace)
        if function.is_async:
            undo = attach_if_enabled(trace)
            try:
                return await function.func(**kwargs)
            finally:
                undo()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            executor or self._executor, functools.partial(_traced, trace, function.func, kwargs)
        )

    async def call_logged(
        self,
        function: IndexedFunction,
        trigger_value: Any,
        *,
        invocation_id: str | None = None,
        trace_context: TraceContext | None = None,
        convert: Callable[[Any], Any] = _same,
        detail: Callable[[Any], str] = _no_detail,
    ) -> tuple[bool, Any]:
        """Invoke, pass the return value through `convert` (the worker's output
        encoding, which can fail the invocation too) and log the execution line;
        returns (succeeded, converted value), exceptions logged, not raised."""
        invocation_id = invocation_id or str(uuid.uuid4())
        started = time.monotonic()
        try:
            returned = await self.call(
                function, trigger_value, invocation_id=invocation_id, trace_context=trace_context
            )
            converted = convert(returned)
        except Exception as exc:
            LOGGER.exception("function %s raised", function.name)
            logs.executed(
                function.name,
                ok=False,
                seconds=time.monotonic() - started,
                invocation_id=invocation_id,
                detail=f"{type(exc).__name__}: {exc}",
            )
            return False, None
        logs.executed(
            function.name,
            ok=True,
            seconds=time.monotonic() - started,
            invocation_id=invocation_id,
            detail=detail(converted),
        )
        return True, converted


def _traced(trace: TraceContext, func_: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run a sync function on its thread with the invocation's OpenTelemetry context."""
    undo = attach_if_enabled(trace)
    try:
        return func_(**kwargs)
    finally:
        undo()
