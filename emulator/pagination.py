"""Cursor pagination as the list endpoints serve it: limit, order, after, before, has_more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emulator.errors import bad_request
from emulator.routing import Ctx

Json = dict[str, Any]


def paginate(ctx: Ctx, items: Sequence[Json], *, default_order: str = "desc") -> Json:
    """One page of `items` (oldest first) as a `{"object": "list", ...}` body.

    `after` gives the items following that id in the chosen order, `before`
    the ones preceding it (the nearest `limit` of them). An unknown cursor
    yields an empty page, as for an object deleted while paging.
    """
    limit = ctx.query_int("limit", 20, 1, 100)
    order = ctx.query.get("order", default_order)
    if order not in ("asc", "desc"):
        raise bad_request(
            f"Invalid value for 'order': expected one of 'asc' or 'desc', got '{order}'.",
            param="order",
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    after, before = ctx.query.get("after"), ctx.query.get("before")
    if after is not None:
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        ids = [item["id"] for item in ordered]
    if before is not None:
        ordered = ordered[: ids.index(before)] if before in ids else []
        page = ordered[-limit:]
        has_more = len(ordered) > len(page)
    else:
        page = ordered[:limit]
        has_more = len(ordered) > limit
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": has_more,
    }
