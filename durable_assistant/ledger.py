"""The ledger: every server-side object the app creates, in Azure Table storage.

Why a table: the Assistants API cannot list threads, so an object whose id is lost is
an object that lives (and bills) forever. Each object is written down here before the
call that created it is acknowledged, marked deleted by teardown, and whatever is
still live when its orchestration is over is found and deleted by the purge.

Layout (one table, `LEDGER_TABLE_NAME`):

- object rows: PartitionKey = the owning instance id, RowKey = `kind:object_id`
  (both escaped, see `table_key`), with the fields kind, object_id, instance_id,
  backend, created_at, deleted and deleted_at. One partition per instance makes
  `objects_of` a single-partition query.
- intent rows: in the instance's partition, RowKey = `intent:<attempt>`: a create
  about to be sent, settled when its reply came (see `objects.CreateIntent`). The
  first attempt at a create is keyed by its purpose, so writing it tells whether an
  earlier attempt exists without reading.

Every write of a run names its keys and stays in the run's partition, so it is one
request (a batch) and needs no read first: intents before creates, objects with the
settling of their intents, teardown's marks. Reads happen only when a write was
refused because an earlier attempt left rows behind.

Auth: a connection string locally (Azurite), managed identity in Azure (account name
or table service URI plus the app's credential from `clients`). Nothing is read or connected at
import time; the table is created on first use.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from durable_assistant.clients import build_credential
from durable_assistant.model import Backend
from durable_assistant.objects import CreatedObject, CreateIntent, ObjectKind
from durable_assistant.settings import Settings
from durable_assistant.table_transport import table_transport

logger = logging.getLogger(__name__)

INDEX_PREFIX = "~"
INDEX_ROW_KEY = "owner"
"""Keys of the per-object index rows earlier versions wrote (the prune removes them)."""
INTENT_PREFIX = "intent:"
"""RowKey prefix of create intents, beside the instance's object rows (no object kind
is spelled `intent`, and intent rows have no `deleted` field, so the purge's object
queries never see them)."""
DEFAULT_PAGE_SIZE = 1000  # the Table service's own maximum per page
BATCH_LIMIT = 100  # the Table service's most operations in one transaction

# Characters Table keys may not contain (`/ \ # ?` and control characters), plus the
# escape character itself and the index prefix, so escaping is reversible and an
# escaped instance id never starts like an index partition.
_ESCAPED = frozenset("/\\#?%~")


def _needs_escape(char: str) -> bool:
    code = ord(char)
    return char in _ESCAPED or code < 0x20 or 0x7F <= code <= 0x9F


def table_key(value: str) -> str:
    """`value` made safe for a PartitionKey or RowKey: forbidden characters as %XX."""
    return "".join(f"%{ord(c):02X}" if _needs_escape(c) else c for c in value)


def object_row_key(kind: ObjectKind, object_id: str) -> str:
    """The RowKey of an object row (and, behind `~`, the partition of its index row)."""
    return f"{kind.value}:{table_key(object_id)}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    """A plain, aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    # The SDK returns a datetime subclass; rebuild a plain one for clean models.
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def _to_object(entity: Mapping[str, Any]) -> CreatedObject:
    return CreatedObject(
        kind=ObjectKind(entity["kind"]),
        object_id=str(entity["object_id"]),
        instance_id=str(entity["instance_id"]),
        backend=Backend(entity["backend"]),
        created_at=_as_utc(entity["created_at"]),
        deleted=bool(entity.get("deleted", False)),
    )


def _is_intent(entity: Mapping[str, Any]) -> bool:
    return str(entity.get("RowKey", "")).startswith(INTENT_PREFIX)


def _to_intent(entity: Mapping[str, Any]) -> CreateIntent:
    object_id = entity.get("object_id")
    return CreateIntent(
        instance_id=str(entity["instance_id"]),
        attempt=str(entity["attempt"]),
        purpose=str(entity["purpose"]),
        kind=ObjectKind(entity["kind"]),
        backend=Backend(entity["backend"]),
        started_at=_as_utc(entity["started_at"]),
        object_id=str(object_id) if object_id is not None else None,
        settled=bool(entity.get("settled", False)),
        **({"writer": str(entity["writer"])} if "writer" in entity else {}),
    )


class TableLedger:
    """`ObjectRecorder` on Azure Table storage, plus the queries the purge needs.

    Every write is idempotent or refused as a whole: `record` keeps the first write
    of an object (so a retried record never revives a deleted one), intents and
    teardown's marks are refused when their keys say an earlier attempt was there.
    Thread-safe; one instance per process.
    """

    def __init__(self, table: TableClient, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._table = table
        self._clock = clock
        self._lock = threading.Lock()
        self._table_ready = False

    @classmethod
    def from_connection_string(
        cls, connection_string: str, table_name: str, **client_options: Any
    ) -> TableLedger:
        """A ledger on a storage account addressed by a connection string (local/dev)."""
        table = TableClient.from_connection_string(
            connection_string, table_name=table_name, **client_options
        )
        return cls(table)

    @classmethod
    def from_settings(
        cls, settings: Settings, credential: TokenCredential | None = None
    ) -> TableLedger:
        """A ledger from app settings: a connection string if set, else managed identity.

        Raises ValueError when no storage setting is present (see `ledger_configured`).
        """
        return cls(table_client(settings, settings.ledger_table_name, credential))

    @property
    def table_name(self) -> str:
        return self._table.table_name

    @property
    def table_url(self) -> str:
        """Where the ledger lives (no secrets): for logs and diagnostics."""
        return str(self._table.url)

    def ensure_table(self) -> None:
        """Create the table if it is missing (once per process)."""
        if self._table_ready:
            return
        with self._lock:
            if self._table_ready:
                return
            try:
                self._table.create_table()
                logger.info("created ledger table %s", self._table.table_name)
            except ResourceExistsError:
                pass
            self._table_ready = True

    # --- ObjectRecorder -------------------------------------------------------------

    def record(self, obj: CreatedObject) -> None:
        """Write an object down; a second record of the same kind + id changes nothing."""
        self.record_all([obj])

    def record_all(
        self, objects: Sequence[CreatedObject], settled: Sequence[CreateIntent] = ()
    ) -> None:
        """Write objects of one instance down and settle the intents that made them, in
        one batch; an object already on record keeps its row (then one write each)."""
        self.ensure_table()
        inserts: list[Any] = [("create", self._object_entity(obj)) for obj in objects]
        merges: list[Any] = [
            ("upsert", _settled_entity(i), {"mode": UpdateMode.MERGE}) for i in settled
        ]
        if self._transact([*inserts, *merges]):
            return
        for _, entity in inserts:  # one was on record already
            self._create_once(entity)
        for _, entity, options in merges:
            self._table.upsert_entity(entity, **options)

    def mark_deleted_of(
        self,
        instance_id: str,
        objects: Sequence[tuple[ObjectKind, str]],
        closing: CreateIntent | None = None,
        unrecorded: Sequence[tuple[CreatedObject, CreateIntent]] = (),
    ) -> bool:
        """Mark recorded objects of one instance deleted, close the next create, and
        write down the `unrecorded` objects with their intents settled, in one batch
        with no reads (the keys are known); False, with nothing written, when an
        object is not on record, an unrecorded one is, or the closing intent's key
        is taken."""
        self.ensure_table()
        partition = table_key(instance_id)
        now = self._clock()
        operations: list[Any] = []
        if closing is not None:  # first, so a refusal comes before any mark
            operations.append(("create", _intent_entity(closing.settled_with(None))))
        for obj, intent in unrecorded:
            operations.append(("create", self._object_entity(obj)))
            operations.append(("upsert", _settled_entity(intent), {"mode": UpdateMode.MERGE}))
        operations += [
            (
                "update",
                {
                    "PartitionKey": partition,
                    "RowKey": object_row_key(kind, object_id),
                    "deleted": True,
                    "deleted_at": now,
                },
                {"mode": UpdateMode.MERGE},
            )
            for kind, object_id in objects
        ]
        # More than 100 operations take several batches, each all or nothing.
        for start in range(0, len(operations), BATCH_LIMIT):
            if not self._transact(operations[start : start + BATCH_LIMIT]):
                return False
        return True

    def objects_of(self, instance_id: str) -> list[CreatedObject]:
        """Every object an instance created, deleted ones included."""
        return [_to_object(e) for e in self._partition(instance_id) if not _is_intent(e)]

    def record_intents(self, intents: Sequence[CreateIntent]) -> bool:
        """Write creates' intents down (in the instance's partition, one batch) before
        they are sent; False, with nothing written, when one's key is taken."""
        self.ensure_table()
        if self._transact([("create", _intent_entity(i)) for i in intents]):
            return True
        # The client resends a write whose reply was lost: its own rows refuse it.
        return all(self._written_by_me(i) for i in intents)

    def settle_intent(self, intent: CreateIntent, object_id: str | None) -> None:
        """Note a create's outcome: the object it made, or None when it made nothing."""
        self.ensure_table()
        entity = _settled_entity(intent.settled_with(object_id))
        self._table.upsert_entity(entity, mode=UpdateMode.MERGE)

    def intents_of(self, instance_id: str) -> list[CreateIntent]:
        """Every create intent of an instance."""
        return [_to_intent(e) for e in self._partition(instance_id) if _is_intent(e)]

    def open_intents(self) -> Iterator[CreateIntent]:
        """Every create whose outcome is unknown, all instances (for the purge's count)."""
        self.ensure_table()
        for entity in self._table.query_entities("settled eq false"):
            yield _to_intent(entity)

    def _partition(self, instance_id: str) -> list[dict[str, Any]]:
        self.ensure_table()
        entities = self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": table_key(instance_id)}
        )
        return [dict(e) for e in entities]

    def _object_entity(self, obj: CreatedObject) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": table_key(obj.instance_id),
            "RowKey": object_row_key(obj.kind, obj.object_id),
            "kind": obj.kind.value,
            "object_id": obj.object_id,
            "instance_id": obj.instance_id,
            "backend": obj.backend.value,
            "created_at": _as_utc(obj.created_at),
            "deleted": obj.deleted,
        }
        if obj.deleted:
            entity["deleted_at"] = self._clock()
        return entity

    # --- queries for the purge -------------------------------------------------------

    def undeleted_pages(self, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[list[CreatedObject]]:
        """Every object not marked deleted, one service page at a time.

        Marking objects deleted while iterating is safe: the service continues from
        the last key it returned, not from an offset.
        """
        self.ensure_table()
        pages = self._table.query_entities("deleted eq false", results_per_page=page_size).by_page()
        for page in pages:
            yield [_to_object(e) for e in page]

    def undeleted(self, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[CreatedObject]:
        """Every object not marked deleted, paging through the whole table."""
        for page in self.undeleted_pages(page_size):
            yield from page

    def prune(self, deleted_before: datetime, page_size: int = DEFAULT_PAGE_SIZE) -> int:
        """Remove rows of objects deleted before `deleted_before`; returns how many.

        Keeps the table (and the purge's scans) small; rows are only dropped once the
        object is gone, so nothing live is ever forgotten.
        """
        self.ensure_table()
        doomed = self._table.query_entities(
            "deleted eq true and deleted_at lt @before",
            parameters={"before": _as_utc(deleted_before)},
            results_per_page=page_size,
            select=["PartitionKey", "RowKey"],
        )
        # Collect first: deleting under a live continuation token is not guaranteed.
        keys = [(str(e["PartitionKey"]), str(e["RowKey"])) for e in doomed]
        old_intents = self._table.query_entities(
            "started_at lt @before",
            parameters={"before": _as_utc(deleted_before)},
            results_per_page=page_size,
            select=["PartitionKey", "RowKey"],
        )
        intent_keys = [
            (str(e["PartitionKey"]), str(e["RowKey"])) for e in old_intents if _is_intent(e)
        ]
        self._delete_rows([*keys, *intent_keys])
        self._delete_index_rows({row_key for _, row_key in keys}, page_size)
        return len(keys)

    def _delete_rows(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete rows, one batch per partition (a run's rows share one)."""
        by_partition: dict[str, list[str]] = {}
        for partition_key, row_key in keys:
            by_partition.setdefault(partition_key, []).append(row_key)
        for partition_key, row_keys in by_partition.items():
            for start in range(0, len(row_keys), BATCH_LIMIT):
                chunk = row_keys[start : start + BATCH_LIMIT]
                operations: list[Any] = [
                    ("delete", {"PartitionKey": partition_key, "RowKey": row_key})
                    for row_key in chunk
                ]
                if not self._transact(operations):  # one went meanwhile
                    for row_key in chunk:
                        self._table.delete_entity(partition_key, row_key)  # missing: no error

    def _delete_index_rows(self, pruned: set[str], page_size: int) -> None:
        """Delete the index rows that tables written by earlier versions hold beside
        the pruned objects (one per object, in a partition of its own)."""
        if not pruned:
            return
        index_rows = self._table.query_entities(
            "RowKey eq @owner",
            parameters={"owner": INDEX_ROW_KEY},
            results_per_page=page_size,
            select=["PartitionKey"],
        )
        partitions = [str(e["PartitionKey"]) for e in index_rows]
        for partition_key in partitions:
            if partition_key.startswith(INDEX_PREFIX) and partition_key[1:] in pruned:
                self._table.delete_entity(partition_key, INDEX_ROW_KEY)

    # --- internals -------------------------------------------------------------------

    def _create_once(self, entity: dict[str, Any]) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._table.create_entity(entity)

    def _written_by_me(self, intent: CreateIntent) -> bool:
        key = INTENT_PREFIX + table_key(intent.attempt)
        try:
            row = self._table.get_entity(table_key(intent.instance_id), key)
        except ResourceNotFoundError:
            return False
        return row.get("writer") == intent.writer

    def _transact(self, operations: list[Any]) -> bool:
        """One batch of one partition's operations; False when the service refused it
        because a row to create exists or a row to update does not (nothing written)."""
        if not operations:
            return True
        if len(operations) == 1:  # the same outcome, as a plain request
            return self._single(operations[0])
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code in _REFUSED:
                return False
            raise
        return True

    def _single(self, operation: Any) -> bool:
        verb, entity, *options = operation
        try:
            if verb == "create":
                self._table.create_entity(entity)
            elif verb == "delete":
                self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            elif verb == "update":
                self._table.update_entity(entity, **(options[0] if options else {}))
            else:
                self._table.upsert_entity(entity, **(options[0] if options else {}))
        except (ResourceExistsError, ResourceNotFoundError):
            return False
        return True


_REFUSED = frozenset({404, 409})
"""A batch the service refused as a whole: a row to create exists (409) or a row to
update is missing (404)."""


def _intent_entity(intent: CreateIntent) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": table_key(intent.instance_id),
        "RowKey": INTENT_PREFIX + table_key(intent.attempt),
        "purpose": intent.purpose,
        "kind": intent.kind.value,
        "backend": intent.backend.value,
        "instance_id": intent.instance_id,
        "attempt": intent.attempt,
        "started_at": _as_utc(intent.started_at),
        "settled": intent.settled,
        "writer": intent.writer,
    }
    if intent.object_id is not None:
        entity["object_id"] = intent.object_id
    return entity


def _settled_entity(intent: CreateIntent) -> dict[str, Any]:
    """The merge that settles an intent (with its object id when it made one)."""
    entity: dict[str, Any] = {
        "PartitionKey": table_key(intent.instance_id),
        "RowKey": INTENT_PREFIX + table_key(intent.attempt),
        "settled": True,
    }
    if intent.object_id is not None:
        entity["object_id"] = intent.object_id
    return entity


def table_service_endpoint(settings: Settings) -> str | None:
    """The table service URI for identity-based access, from the settings."""
    if settings.storage_table_service_uri is not None:
        return str(settings.storage_table_service_uri).rstrip("/")
    if settings.storage_account_name:
        return f"https://{settings.storage_account_name}.table.core.windows.net"
    return None


def table_client(
    settings: Settings, table_name: str, credential: TokenCredential | None = None
) -> TableClient:
    """A client of `table_name` in the app's storage account: by connection string if
    one is set, else by managed identity (`credential`, or one built from the settings).

    Raises ValueError when no storage setting is present (see `ledger_configured`).
    Its connections are pooled for many requests at once (`table_transport`).
    """
    if settings.storage_connection_string is not None:
        return TableClient.from_connection_string(
            settings.storage_connection_string.get_secret_value(),
            table_name=table_name,
            transport=table_transport(),
        )
    endpoint = table_service_endpoint(settings)
    if endpoint is None:
        raise ValueError(
            "no ledger storage configured: set AzureWebJobsStorage__accountName "
            "(or LEDGER_STORAGE_ACCOUNT / LEDGER_TABLE_SERVICE_URI), or a connection "
            "string in AzureWebJobsStorage for local use"
        )
    return TableClient(
        endpoint=endpoint,
        table_name=table_name,
        credential=credential or build_credential(settings),
        transport=table_transport(),
    )


def ledger_configured(settings: Settings) -> bool:
    """True when the settings name a storage account the ledger can use."""
    return (
        settings.storage_connection_string is not None
        or table_service_endpoint(settings) is not None
    )
