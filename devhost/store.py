"""SQLite persistence: instances, history, the orchestration inbox and activity work items.

Each orchestration episode is committed in one transaction (history appended, the
messages it consumed deleted, the work and messages it produced inserted), and an
activity's result replaces its work item in one transaction, so a process killed at
any point loses nothing and never applies a result twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.history import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time REAL NOT NULL,
    last_updated_time REAL NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    visible_at REAL NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_instance ON messages (instance_id, visible_at);
CREATE TABLE IF NOT EXISTS work_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
"""

ACTIVE = ("Pending", "Running", "Suspended")


@dataclass
class Instance:
    """One orchestration instance (its current execution)."""

    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    created_time: float
    last_updated_time: float
    output: str | None = None
    custom_status: str | None = None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        """Still able to make progress (not completed, failed or terminated)."""
        return self.status in ACTIVE


@dataclass(frozen=True)
class Message:
    """An event waiting in an instance's inbox."""

    id: int
    instance_id: str
    execution_id: str | None
    visible_at: float
    event: Event


@dataclass(frozen=True)
class NewMessage:
    """A message to enqueue; visible_at None means now."""

    instance_id: str
    execution_id: str | None
    event: Event
    visible_at: float = 0.0


@dataclass(frozen=True)
class WorkItem:
    """An activity to run for a task id of an instance's execution."""

    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class ChildStart:
    """A sub-orchestration to create, and what its parent gets if the id is taken."""

    instance: Instance
    start: NewMessage
    refuse: Callable[[str], NewMessage]  # status of the active instance holding the id


@dataclass
class Commit:
    """Everything one episode changes, written atomically."""

    instance: Instance
    history: list[Event] = field(default_factory=list)
    replace_history: bool = False
    consumed: list[int] = field(default_factory=list)
    messages: list[NewMessage] = field(default_factory=list)
    work: list[tuple[int, str, str | None]] = field(default_factory=list)
    cancel_work: bool = False
    creates: list[ChildStart] = field(default_factory=list)
    # The execution the episode read; None: the instance's own (unchanged) execution id.
    execution_id: str | None = None


def _instance(row: sqlite3.Row) -> Instance:
    data = dict(row)
    data["state"] = json.loads(data["state"] or "{}")
    return Instance(**data)


class Store:
    """Thread-safe access to the devhost database under the data dir."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "devhost.sqlite3"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, tuple(args)))

    # instances -----------------------------------------------------------------------

    def get(self, instance_id: str) -> Instance | None:
        """The instance row, or None."""
        rows = self._rows("SELECT * FROM instances WHERE instance_id = ?", [instance_id])
        return _instance(rows[0]) if rows else None

    def episode_input(
        self, instance_id: str, now: float
    ) -> tuple[Instance | None, list[Message], list[Event]]:
        """What an episode reads, under one hold of the lock: the instance (None when
        gone), its visible messages and its current execution's history."""
        with self._lock:
            messages = self.messages(instance_id, now)
            instance = self.get(instance_id)
            history = self.history(instance_id) if instance is not None else []
        return instance, messages, history

    def history(self, instance_id: str) -> list[Event]:
        """History of the instance's current execution, in order."""
        rows = self._rows(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", [instance_id]
        )
        return [json.loads(r["event"]) for r in rows]

    def create(self, instance: Instance, start: NewMessage) -> None:
        """Create (or replace) an instance and post its ExecutionStarted message."""
        with self._tx() as db:
            self._delete(db, instance.instance_id)
            self._upsert(db, instance)
            self._post(db, [start])

    def query(
        self,
        *,
        created_from: float | None = None,
        created_to: float | None = None,
        statuses: list[str] | None = None,
        prefix: str | None = None,
    ) -> list[Instance]:
        """Instances matching every given filter, oldest first."""
        sql = "SELECT * FROM instances WHERE 1=1"
        args: list[Any] = []
        if created_from is not None:
            sql += " AND created_time >= ?"
            args.append(created_from)
        if created_to is not None:
            sql += " AND created_time <= ?"
            args.append(created_to)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        if prefix:
            sql += " AND substr(instance_id, 1, ?) = ?"
            args.extend([len(prefix), prefix])
        return [_instance(r) for r in self._rows(sql + " ORDER BY created_time, rowid", args)]

    def purge(self, instance_ids: list[str]) -> int:
        """Delete instances with their history, messages and work; returns how many."""
        with self._tx() as db:
            count = 0
            for instance_id in instance_ids:
                count += self._delete(db, instance_id)
            return count

    # inbox ---------------------------------------------------------------------------

    def post(self, messages: list[NewMessage]) -> None:
        """Enqueue messages (external events, control messages)."""
        with self._tx() as db:
            self._post(db, messages)

    def ready_instances(self, now: float, exclude: set[str]) -> list[str]:
        """Instances with a visible message that are not suspended, oldest message first."""
        rows = self._rows(
            "SELECT m.instance_id, MIN(m.id) AS first FROM messages m "
            "LEFT JOIN instances i ON i.instance_id = m.instance_id "
            "WHERE m.visible_at <= ? AND (i.status IS NULL OR i.status != 'Suspended') "
            "GROUP BY m.instance_id ORDER BY first",
            [now],
        )
        return [r["instance_id"] for r in rows if r["instance_id"] not in exclude]

    def next_visible_at(self, now: float) -> float | None:
        """When the earliest future message becomes visible (None if there is none)."""
        rows = self._rows("SELECT MIN(visible_at) AS t FROM messages WHERE visible_at > ?", [now])
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    def messages(self, instance_id: str, now: float) -> list[Message]:
        """Visible messages of one instance, in arrival order."""
        rows = self._rows(
            "SELECT * FROM messages WHERE instance_id = ? AND visible_at <= ? ORDER BY id",
            [instance_id, now],
        )
        return [
            Message(
                r["id"],
                r["instance_id"],
                r["execution_id"],
                r["visible_at"],
                json.loads(r["event"]),
            )
            for r in rows
        ]

    # episodes ------------------------------------------------------------------------

    def commit(self, commit: Commit) -> bool:
        """Write one episode's outcome atomically; False (nothing written) when the
        instance's row now belongs to another execution (restarted, purged meanwhile)."""
        with self._tx() as db:
            instance = commit.instance
            row = db.execute(
                "SELECT execution_id, "
                "(SELECT COALESCE(MAX(seq), -1) FROM history WHERE instance_id = ?) "
                "FROM instances WHERE instance_id = ?",
                [instance.instance_id, instance.instance_id],
            ).fetchone()
            if row is None or row[0] != (commit.execution_id or instance.execution_id):
                return False
            next_seq = 0 if commit.replace_history else int(row[1]) + 1
            self._upsert(db, instance)
            for child in commit.creates:
                taken = db.execute(
                    "SELECT status FROM instances WHERE instance_id = ?",
                    [child.instance.instance_id],
                ).fetchone()
                if taken is not None and taken[0] in ACTIVE:
                    # Never replace a live instance: the parent's task fails instead.
                    self._post(db, [child.refuse(str(taken[0]))])
                    continue
                self._delete(db, child.instance.instance_id)
                self._upsert(db, child.instance)
                self._post(db, [child.start])
            if commit.replace_history:
                db.execute("DELETE FROM history WHERE instance_id = ?", [instance.instance_id])
            if commit.history:
                db.executemany(
                    "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                    [
                        (instance.instance_id, next_seq + i, json.dumps(e))
                        for i, e in enumerate(commit.history)
                    ],
                )
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in commit.consumed])
            if commit.cancel_work:
                db.execute("DELETE FROM work_items WHERE instance_id = ?", [instance.instance_id])
            db.executemany(
                "INSERT INTO work_items (instance_id, execution_id, task_id, name, input) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (instance.instance_id, instance.execution_id, task_id, name, data)
                    for task_id, name, data in commit.work
                ],
            )
            self._post(db, commit.messages)
            return True

    def commit_drop(self, message_ids: list[int]) -> None:
        """Delete messages nobody can use (their instance is gone)."""
        with self._tx() as db:
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in message_ids])

    def drop_instance_messages(self, instance_id: str) -> None:
        """Forget an ended instance's pending messages."""
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE instance_id = ?", [instance_id])

    # activities ----------------------------------------------------------------------

    def work_items(self, exclude: set[int], after: int = 0) -> list[WorkItem]:
        """Activities waiting to run (including ones whose run a kill interrupted);
        with `after`, only those added since the item of that id (ids only grow)."""
        rows = self._rows("SELECT * FROM work_items WHERE id > ? ORDER BY id", [after])
        return [WorkItem(**dict(r)) for r in rows if r["id"] not in exclude]

    def finish_work(self, work_id: int, result: NewMessage) -> bool:
        """Replace a work item by its result message; False if the item is gone."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM work_items WHERE id = ?", [work_id]).rowcount == 0
            if gone:
                return False
            self._post(db, [result])
            return True

    # helpers -------------------------------------------------------------------------

    @staticmethod
    def _post(db: sqlite3.Connection, messages: list[NewMessage]) -> None:
        db.executemany(
            "INSERT INTO messages (instance_id, execution_id, visible_at, event) "
            "VALUES (?, ?, ?, ?)",
            [(m.instance_id, m.execution_id, m.visible_at, json.dumps(m.event)) for m in messages],
        )

    @staticmethod
    def _upsert(db: sqlite3.Connection, i: Instance) -> None:
        db.execute(
            "INSERT OR REPLACE INTO instances (instance_id, name, execution_id, status, input, "
            "output, custom_status, created_time, last_updated_time, parent_instance_id, "
            "parent_execution_id, parent_task_id, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                i.instance_id,
                i.name,
                i.execution_id,
                i.status,
                i.input,
                i.output,
                i.custom_status,
                i.created_time,
                i.last_updated_time,
                i.parent_instance_id,
                i.parent_execution_id,
                i.parent_task_id,
                json.dumps(i.state),
            ],
        )

    @staticmethod
    def _delete(db: sqlite3.Connection, instance_id: str) -> int:
        deleted = db.execute("DELETE FROM instances WHERE instance_id = ?", [instance_id]).rowcount
        for table in ("history", "messages", "work_items"):
            db.execute(f"DELETE FROM {table} WHERE instance_id = ?", [instance_id])  # noqa: S608
        return deleted
