"""The admin endpoint under `/_emulator/`: counts, reset, and the controls."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.config import ConfigError
from emulator.state import EmulatorState

PREFIX = "/_emulator/"


async def handle_admin(state: EmulatorState, request: Request) -> Response:
    """Serve one admin request (no auth, no faults, not counted)."""
    name = request.url.path[len(PREFIX) :].strip("/")
    method = request.method
    if name == "counts" and method == "GET":
        return JSONResponse(state.counts())
    if name == "reset" and method == "POST":
        state.reset()
        return JSONResponse({"reset": True})
    if name == "config" and method == "GET":
        return JSONResponse(state.controls.to_json())
    if name == "config" and method in ("PUT", "POST", "PATCH"):
        try:
            changes = json.loads(await request.body() or b"{}")
            if not isinstance(changes, dict):
                raise ConfigError("the body must be a JSON object of controls")
            if state.controls.update(changes):
                state.reseed()
        except (ConfigError, json.JSONDecodeError) as error:
            return JSONResponse({"error": {"message": str(error)}}, status_code=400)
        return JSONResponse(state.controls.to_json())
    return JSONResponse({"error": {"message": f"no admin route {method} {name}"}}, 404)
