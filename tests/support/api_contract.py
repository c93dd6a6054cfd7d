"""The public contract every HTTP answer of the app is held to, shared by the HTTP
and end-to-end tests.

`check_answer` is called on each response those tests receive. It fails when a body
or a header hands out a Durable extension URL or a key (`code=`), when the route and
status are not in the app's OpenAPI document, when a header the document promises is
missing, and when the body does not match the document's schema for that answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from durable_assistant.openapi import openapi_document

FORBIDDEN = ("runtime/webhooks/durabletask", "code=")
"""The Durable extension's management URLs carry its system key as `code=`; neither
belongs in an answer of the app."""


def leaks(headers: Mapping[str, str], body: bytes) -> list[str]:
    """What, of `FORBIDDEN`, the headers or body of an answer contain."""
    texts = [body.decode("utf-8", "replace"), *(f"{k}: {v}" for k, v in headers.items())]
    return sorted({word for word in FORBIDDEN for text in texts if word in text})


def route_of(method: str, url: str) -> str:
    """The document's path template that a request URL (or path) is an instance of."""
    path = urlsplit(url).path
    for template, operations in openapi_document()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if method.lower() in operations and re.match(pattern, path):
            return str(template)
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def check_answer(
    method: str, url: str, status: int, headers: Mapping[str, str], body: bytes
) -> Any:
    """Check one answer to `method url` against the contract; its decoded JSON body."""
    found = leaks(headers, body)
    assert not found, f"{method} {url} ({status}) answered with {found}: {body[:500]!r}"
    route = route_of(method, url)
    document = openapi_document()
    answers = document["paths"][route][method.lower()]["responses"]
    assert str(status) in answers, f"{method} {route} answered {status}, not in the document"
    answer = answers[str(status)]
    lowered = {k.lower() for k in headers}
    for name in answer.get("headers", {}):
        assert name.lower() in lowered, f"{method} {route} ({status}) without header {name}"
    ((media_type, content),) = answer["content"].items()
    if media_type != "application/json":
        return body
    decoded = json.loads(body)
    schema = {"components": document["components"], "allOf": [content["schema"]]}
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path) or 'body'}: {error.message}"
        for error in Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        ).iter_errors(decoded)
    ]
    assert not errors, f"{method} {route} ({status}) does not match the document: {errors}"
    return decoded
