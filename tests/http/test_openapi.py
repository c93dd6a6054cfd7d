"""The OpenAPI document: valid OpenAPI 3.1, served by the app, and naming exactly
the app's HTTP routes. (That every answer matches it is checked on each answer the
HTTP and end-to-end tests receive: `tests/support/api_contract.py`.)"""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts as versions
from openapi_spec_validator.versions.shortcuts import get_spec_version

from durable_assistant.api import RunView
from durable_assistant.model import RunRequest
from durable_assistant.openapi import openapi_document
from tests.support.asgi_requests import body_bytes, make_request
from tests.support.function_index import index_app, raw_bindings


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert get_spec_version(document) == versions.OPENAPIV31
    validate(document)


def test_the_app_serves_the_document() -> None:
    user = index_app()["openapi_http"].get_user_function()
    response = user(make_request("GET", "http://localhost/api/openapi.json"))
    assert response.status_code == 200
    assert json.loads(body_bytes(response)) == openapi_document()


def http_routes() -> set[tuple[str, str]]:
    """(method, path) of every HTTP trigger of the app, with the host's route prefix."""
    routes = set()
    for function in index_app().values():
        for binding in raw_bindings(function):
            if binding["type"] == "httpTrigger":
                routes |= {(m.lower(), f"/api/{binding['route']}") for m in binding["methods"]}
    return routes


def test_the_document_has_every_route_of_the_app_and_no_other() -> None:
    paths: dict[str, dict[str, Any]] = openapi_document()["paths"]
    documented = {(method, path) for path, ops in paths.items() for method in ops}
    assert documented == http_routes()


def test_bodies_are_described_by_the_models_the_api_uses() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert set(schemas["RunView"]["properties"]) == set(RunView.model_fields)
    assert set(schemas["RunRequest"]["properties"]) == set(RunRequest.model_fields)
    assert schemas["RunRequest"]["additionalProperties"] is False  # unknown fields refused
    assert schemas["RunRequest"]["required"] == ["question"]


def test_every_route_says_how_to_authenticate() -> None:
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {
        ("header", "x-functions-key"),
        ("query", "code"),
    }
    assert document["security"] == [{name: []} for name in schemes]
