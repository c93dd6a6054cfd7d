"""Following a model turn's event stream for a bounded time.

A start or submit that follows its turn reads the service's events until the run
needs tools or ends, and then acts at once instead of waiting for a poll to notice.
It never holds on longer than its budget: the stream is read on a helper thread
and handed over through a queue, so even a stream that stays silent (a long
tool-call turn) is let go when the budget passes. The turn goes on at the service
(Assistants runs and background responses do not stop when their reader goes
away) and the orchestration's durable-timer polling takes over.

The stream is read as the SDK's decoded JSON (`json_events`), and the helper thread
sifts it: text deltas go to the text hook there and then, and only the few events
the reader acts on are handed over (each hand-over wakes the reader's thread) and
made into the SDK's models. Building a model for every event, and waking for it,
cost more CPU than everything else a followed turn does.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from openai import APIConnectionError, Stream
from pydantic import BaseModel, ValidationError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger(__name__)

TextHook = Callable[[str], None]
"""Hears each piece of the answer's text as the model writes it (on the thread that
reads the stream, so it must be quick and thread-safe)."""


@dataclass(frozen=True)
class Follow:
    """How long a start or submit may follow its model turn, and who hears the text."""

    seconds: float = 0.0
    on_text: TextHook | None = None

    @property
    def enabled(self) -> bool:
        """False keeps the call as it was: start or submit, and return at once."""
        return self.seconds > 0

    def text(self, piece: str) -> None:
        """Pass a piece of the answer on; a failing hook never fails the run."""
        if self.on_text is None or not piece:
            return
        try:
            self.on_text(piece)
        except Exception as error:
            logger.warning("the text hook failed: %s", error)


NO_FOLLOW = Follow()

STREAM_BROKEN: tuple[type[Exception], ...] = (APIConnectionError, OSError)
"""What a stream that broke midway raises (the SDK wraps its transport errors)."""


Json = dict[str, Any]


class RawReply(Protocol):
    """What `with_raw_response` gives back: the reply, parsed on request."""

    def parse(self, *, to: type[Stream[object]]) -> Stream[object]: ...


def json_events(raw: RawReply) -> Stream[Json]:
    """The events of a streamed reply (`with_raw_response`, `stream=True`), each as
    the SDK decodes it from JSON, without the model the SDK would build for it."""
    return cast(Stream[Json], raw.parse(to=Stream[object]))


def model_of(kind: type[M], data: Json) -> M:
    """`data` as the SDK's model, the way the SDK makes one of a streamed event:
    validated, or taken as it is when it does not validate."""
    try:
        return kind.model_validate(data)
    except ValidationError:
        return kind.model_construct(**data)


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Timed(Generic[T]):
    """Iterate a stream until it ends or `seconds` pass (`timed_out` then says so).

    `close` is called once when iteration stops for any reason, which lets the
    stream go; errors of the stream itself are raised to the reader. `sift`, when
    given, sees each event first, on the helper thread, and says whether the reader
    needs it; it may act on the events it keeps back (it must be quick and
    thread-safe), and is never called once iteration has stopped.
    """

    def __init__(
        self,
        events: Iterable[T],
        seconds: float,
        close: Callable[[], None],
        sift: Callable[[T], bool] | None = None,
    ) -> None:
        self._events = events
        self._seconds = seconds
        self._close = close
        self._sift = sift
        self._sifting = threading.Lock()
        self._stopped = False
        self._queue: queue.Queue[T | _End] = queue.Queue()
        self.timed_out = False

    def _read(self) -> None:
        try:
            for event in self._events:
                if self._sift is not None:
                    with self._sifting:
                        if self._stopped:
                            return
                        if not self._sift(event):
                            continue
                self._queue.put(event)
        except BaseException as error:  # handed to the reader, who raises it
            self._queue.put(_End(error))
            return
        self._queue.put(_End())

    def __iter__(self) -> Iterator[T]:
        reading = contextvars.copy_context()  # the sift runs in the reader's context
        threading.Thread(
            target=reading.run, args=(self._read,), name="follow-stream", daemon=True
        ).start()
        deadline = time.monotonic() + self._seconds
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=max(0.0, remaining))
                except queue.Empty:
                    self.timed_out = True
                    return
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            with self._sifting:
                self._stopped = True
            try:
                self._close()
            except Exception as error:  # closing a broken stream may fail too
                logger.debug("closing a followed stream failed: %s", error)
