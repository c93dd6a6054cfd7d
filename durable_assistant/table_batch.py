"""Upserts of one partition in one entity group transaction, with the body built here.

azure-data-tables' `submit_transaction` builds the batch's multipart body with the
standard library's email package, reads the answer back with its parser, and runs a
thread pool for each list of parts. Measured on Azurite, a batch of three upserts
costs 7.1 ms of CPU that way and 2.3 ms with the same request written out as text
here (a single upsert: 1.8 ms). The run event log sends such a batch for most of its
writes, so that difference is a large share of a host's CPU per run.

Only the body is built here, in the service's documented format for entity group
transactions (a `multipart/mixed` batch holding one changeset of `PUT` requests); the
request goes through the client's own pipeline (signing, retries, transport), and
entities are serialised by the SDK's own function, so typed values (dates) are stored
as the SDK stores them. Both are the pinned SDK's internals: a test writes through
this module against Azurite. A batch the service does not take (any answer but 202)
is sent again the SDK's way, which is safe for upserts and raises the SDK's error.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, UpdateMode
from azure.data.tables._serialize import _add_entity_properties

logger = logging.getLogger(__name__)

_PART_STATUS = re.compile(r"^HTTP/1\.1 (\d{3})", re.MULTILINE)
"""The status line of each answer in a batch response."""


def upsert_all(table: TableClient, entities: Sequence[Mapping[str, Any]]) -> None:
    """Replace or insert `entities` (one partition, at most 100) in one transaction;
    raises `HttpResponseError` when the service refuses it or any of them."""
    response = table._client.send_request(_batch_request(table, entities), stream=True)
    response.read()
    if response.status_code != 202:  # not taken as a batch: the SDK's request, its error
        logger.warning(
            "the table service answered a batch with %d; sending it the SDK's way",
            response.status_code,
        )
        operations = [("upsert", dict(e), {"mode": UpdateMode.REPLACE}) for e in entities]
        table.submit_transaction(operations)
        return
    statuses = _PART_STATUS.findall(response.text())
    failed = [status for status in statuses if not status.startswith("2")]
    if failed or len(statuses) != len(entities):
        raise HttpResponseError(
            message=f"the batch was not stored (statuses: {', '.join(statuses) or 'none'})",
            response=response,
        )


def _batch_request(table: TableClient, entities: Sequence[Mapping[str, Any]]) -> HttpRequest:
    account = table.url.rstrip("/")
    batch = f"batch_{uuid.uuid4()}"
    changeset = f"changeset_{uuid.uuid4()}"
    parts = [
        _upsert_part(f"{account}/{table.table_name}", changeset, index, entity)
        for index, entity in enumerate(entities)
    ]
    body = (
        f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        + "".join(parts)
        + f"--{changeset}--\r\n--{batch}--\r\n"
    )
    headers = {
        "x-ms-version": table.api_version,
        "DataServiceVersion": "3.0",
        "MaxDataServiceVersion": "3.0;NetFx",
        "Content-Type": f"multipart/mixed; boundary={batch}",
        "Accept": "application/json",
    }
    return HttpRequest("POST", f"{account}/$batch", headers=headers, content=body.encode())


def _upsert_part(table_url: str, changeset: str, index: int, entity: Mapping[str, Any]) -> str:
    """One `PUT` of the changeset: a replace, or an insert when the row is missing."""
    keys = f"PartitionKey='{_key(entity['PartitionKey'])}',RowKey='{_key(entity['RowKey'])}'"
    content = json.dumps(_add_entity_properties(entity))  # ASCII: characters escaped
    return (
        f"--{changeset}\r\n"
        "Content-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: {index}\r\n\r\n"
        f"PUT {table_url}({keys}) HTTP/1.1\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(content)}\r\n"
        "DataServiceVersion: 3.0\r\n"
        "Accept: application/json\r\n\r\n"
        f"{content}\r\n"
    )


def _key(value: Any) -> str:
    """A key inside the request's path: quotes doubled, then URL-encoded (as the SDK)."""
    return quote(str(value).replace("'", "''"), safe="")
