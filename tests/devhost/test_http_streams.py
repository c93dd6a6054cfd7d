"""HTTP streams: an app whose HTTP triggers use the FastAPI types of
azurefunctions-extensions-http-fastapi, served chunk by chunk as the worker serves it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from localrun.devhost_process import PACKAGE_ROOT, DevhostProcess, running_devhost
from tests.support.devhost_apps import APPS
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    data_dir = tmp_path_factory.mktemp("streaming-data")
    with running_devhost(APPS / "streaming", data_dir=data_dir) as running:
        yield running


def state(host: DevhostProcess, name: str) -> str | None:
    answer = requests.get(f"{host.url}/api/state/{name}", timeout=10)
    assert answer.status_code == 200
    found: str | None = answer.json()["state"]
    return found


def wait_for_state(host: DevhostProcess, name: str, wanted: str, timeout: float = 15) -> None:
    wait_until(lambda: state(host, name) == wanted, timeout, what=f"{name}: {wanted!r}")


def test_first_event_reaches_the_client_while_the_generator_waits(
    streams: DevhostProcess,
) -> None:
    with requests.get(f"{streams.url}/api/events/held?count=3", stream=True, timeout=20) as got:
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/event-stream")
        assert got.headers["cache-control"] == "no-cache"
        chunks = got.iter_content(chunk_size=None, decode_unicode=True)
        assert next(chunks) == "id: 0\nevent: first\ndata: held\n\n"
        # The generator is parked until released: the first event was not buffered.
        assert state(streams, "held") == "open"
        assert requests.post(f"{streams.url}/api/release/held", timeout=10).status_code == 204
        rest = "".join(chunks)
    assert rest == "id: 1\nevent: more\ndata: held\n\nid: 2\nevent: more\ndata: held\n\n"
    assert state(streams, "held") == "finished"


def test_sync_generator_streams_too(streams: DevhostProcess) -> None:
    with requests.get(f"{streams.url}/api/lines/sync", stream=True, timeout=20) as got:
        chunks = got.iter_content(chunk_size=None)
        assert next(chunks) == b"first\n"
        assert state(streams, "sync") == "open"
        requests.post(f"{streams.url}/api/release/sync", timeout=10)
        assert b"".join(chunks) == b"second\n"
    assert state(streams, "sync") == "finished"


def test_client_going_away_cancels_the_generator(streams: DevhostProcess) -> None:
    got = requests.get(f"{streams.url}/api/endless/gone", stream=True, timeout=20)
    chunks = got.iter_content(chunk_size=None)
    assert next(chunks) == b"data: 0\n\n"
    assert state(streams, "gone") == "open"
    got.close()
    wait_for_state(streams, "gone", "cancelled")
    assert streams.printed("Executed 'endless_events' (Succeeded")


def test_route_params_body_status_and_headers(streams: DevhostProcess) -> None:
    got = requests.post(f"{streams.url}/api/items/42/tail?q=1&r=two", data=b"payload", timeout=10)
    assert got.status_code == 201
    assert got.headers["x-item"] == "42"
    seen = got.json()
    assert seen.pop("forwarded_host") == f"127.0.0.1:{streams.port}"
    # As on Azure: the request reaches the worker's own server, so req.url names it.
    internal = urlsplit(seen.pop("url"))
    assert (internal.hostname, internal.path) == ("127.0.0.1", "/api/items/42/tail")
    assert internal.port != streams.port
    assert seen == {
        "path_params": {"id": "42", "rest": "tail"},
        "query": {"q": "1", "r": "two"},
        "body": "payload",
        "invocation_header": True,
    }
    assert requests.post(f"{streams.url}/api/items/7", timeout=10).json()["path_params"] == {
        "id": "7"
    }
    assert requests.post(f"{streams.url}/api/items/seven", timeout=10).status_code == 404
    assert requests.get(f"{streams.url}/api/items/7", timeout=10).status_code == 405


def test_what_fastapi_makes_of_other_return_values(streams: DevhostProcess) -> None:
    as_dict = requests.get(f"{streams.url}/api/as-dict", timeout=10)
    assert as_dict.headers["content-type"] == "application/json"
    assert as_dict.json() == {"served": "by FastAPI's encoder"}
    as_str = requests.get(f"{streams.url}/api/as-str", timeout=10)
    assert (as_str.headers["content-type"], as_str.text) == ("application/json", '"a string"')
    plain = requests.get(f"{streams.url}/api/plain", timeout=10)
    assert (plain.status_code, plain.text) == (203, "sync and plain")
    boom = requests.get(f"{streams.url}/api/boom", timeout=10)
    assert (boom.status_code, boom.text) == (500, "Internal Server Error")
    assert streams.printed("Executed 'boom' (Failed")


def test_durable_client_binding_works_with_fastapi_requests(streams: DevhostProcess) -> None:
    got = requests.post(f"{streams.url}/api/start/greet", json="ada", timeout=10)
    assert got.status_code == 202
    status = streams.wait(got.json()["id"], timeout=30)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "hello ada")


MIXED_INPUT = """
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="new")
async def new(req: Request) -> Response:
    return Response("new")

@app.route(route="old")
def old(req: func.HttpRequest) -> str:
    return "old"
"""

MIXED_OUTPUT = """
import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="old")
def old(req: Request) -> func.HttpResponse:
    return func.HttpResponse("old")
"""


def load_failure(tmp_path: Path, source: str, env: dict[str, str] | None = None) -> str:
    """Start devhost on a one-file app that must not load; returns its output."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "function_app.py").write_text(source)
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    done = subprocess.run(
        [sys.executable, "-m", "devhost", str(tmp_path), "--port", "0"],
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "devhost listening" not in done.stdout
    return done.stderr


def test_mixing_classic_and_fastapi_types_is_refused_at_load(tmp_path: Path) -> None:
    said = load_failure(tmp_path / "input", MIXED_INPUT)
    assert (
        'cannot load the old function: type of req binding in function.json "httpTrigger" '
        'does not match its Python annotation "HttpRequest"'
    ) in said
    said = load_failure(tmp_path / "output", MIXED_OUTPUT)
    assert (
        'cannot load the old function: Python return annotation "HttpResponse" does not '
        'match binding type "http"'
    ) in said


def test_generic_return_annotations_are_refused_like_the_worker(tmp_path: Path) -> None:
    source = MIXED_OUTPUT.replace("-> func.HttpResponse", "-> dict[str, str]")
    said = load_failure(tmp_path, source)
    assert "cannot load the old function: has invalid non-type return annotation" in said


def test_init_indexing_switched_off_is_refused(tmp_path: Path) -> None:
    said = load_failure(
        tmp_path,
        MIXED_OUTPUT.replace("func.HttpResponse", "str"),
        {"PYTHON_ENABLE_INIT_INDEXING": "0"},
    )
    assert "PYTHON_ENABLE_INIT_INDEXING is false" in said
