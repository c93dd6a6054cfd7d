"""Conversations (Responses API): create, retrieve, update, delete, and their items."""

from __future__ import annotations

from typing import Any

from emulator.errors import ApiError, invalid_type
from emulator.items import input_items
from emulator.pagination import paginate
from emulator.routing import Ctx, Reply, Route
from emulator.state import ConversationRecord, EmulatorState, new_id
from emulator.wire import metadata

Json = dict[str, Any]


def conversation_of(state: EmulatorState, conversation_id: str) -> ConversationRecord:
    """A live conversation, or the 404."""
    record = state.conversations.get(conversation_id)
    if record is None:
        raise ApiError(404, f"Conversation with id '{conversation_id}' not found.")
    return record


def _items(value: Any) -> list[Json]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type("items", "an array")
    return input_items(value, "items")


async def create_conversation(ctx: Ctx) -> Reply:
    """POST /conversations"""
    record = ConversationRecord(
        wire={
            "id": new_id("conv"),
            "object": "conversation",
            "created_at": int(ctx.state.clock()),
            "metadata": metadata(ctx.body),
        },
        items=_items(ctx.body.get("items")),
    )
    ctx.state.conversations[record.wire["id"]] = record
    return Reply(record.wire)


async def retrieve_conversation(ctx: Ctx) -> Reply:
    """GET /conversations/{conversation_id}"""
    return Reply(conversation_of(ctx.state, ctx.params["conversation_id"]).wire)


async def update_conversation(ctx: Ctx) -> Reply:
    """POST /conversations/{conversation_id}: metadata."""
    record = conversation_of(ctx.state, ctx.params["conversation_id"])
    record.wire["metadata"] = metadata(ctx.body, record.wire["metadata"])
    return Reply(record.wire)


async def delete_conversation(ctx: Ctx) -> Reply:
    """DELETE /conversations/{conversation_id}"""
    record = conversation_of(ctx.state, ctx.params["conversation_id"])
    del ctx.state.conversations[record.wire["id"]]
    return Reply({"id": record.wire["id"], "object": "conversation.deleted", "deleted": True})


async def create_items(ctx: Ctx) -> Reply:
    """POST /conversations/{conversation_id}/items"""
    record = conversation_of(ctx.state, ctx.params["conversation_id"])
    added = _items(ctx.body.get("items"))
    record.items.extend(added)
    return Reply(
        {
            "object": "list",
            "data": added,
            "first_id": added[0]["id"] if added else None,
            "last_id": added[-1]["id"] if added else None,
            "has_more": False,
        }
    )


async def list_items(ctx: Ctx) -> Reply:
    """GET /conversations/{conversation_id}/items"""
    record = conversation_of(ctx.state, ctx.params["conversation_id"])
    return Reply(paginate(ctx, record.items))


def _item_of(ctx: Ctx) -> tuple[ConversationRecord, Json]:
    record = conversation_of(ctx.state, ctx.params["conversation_id"])
    for item in record.items:
        if item["id"] == ctx.params["item_id"]:
            return record, item
    raise ApiError(404, f"Item with id '{ctx.params['item_id']}' not found.")


async def retrieve_item(ctx: Ctx) -> Reply:
    """GET /conversations/{conversation_id}/items/{item_id}"""
    return Reply(_item_of(ctx)[1])


async def delete_item(ctx: Ctx) -> Reply:
    """DELETE /conversations/{conversation_id}/items/{item_id}: answers the conversation."""
    record, item = _item_of(ctx)
    record.items.remove(item)
    return Reply(record.wire)


ROUTES = [
    Route("POST", "/conversations", create_conversation),
    Route("GET", "/conversations/{conversation_id}", retrieve_conversation),
    Route("POST", "/conversations/{conversation_id}", update_conversation),
    Route("DELETE", "/conversations/{conversation_id}", delete_conversation),
    Route("POST", "/conversations/{conversation_id}/items", create_items),
    Route("GET", "/conversations/{conversation_id}/items", list_items),
    Route("GET", "/conversations/{conversation_id}/items/{item_id}", retrieve_item),
    Route("DELETE", "/conversations/{conversation_id}/items/{item_id}", delete_item),
]
