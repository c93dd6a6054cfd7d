"""HTTP triggers: routes, parameters, methods, settings, sync and async functions."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from devhost.http_triggers import route_pattern
from devhost.testing import DevhostProcess, running_devhost


def test_route_params_query_headers_and_body(host: DevhostProcess) -> None:
    response = requests.post(
        f"{host.url}/api/echo/42/tail?x=1&y=two",
        data=b"payload",
        headers={"x-probe": "probe"},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "method": "POST",
        "route": {"id": "42", "rest": "tail"},
        "params": {"x": "1", "y": "two"},
        "header": "probe",
        "body": "payload",
        "setting": "local",
        "overridden": "from-env",
    }


def test_optional_route_param_and_no_key_needed(host: DevhostProcess) -> None:
    response = requests.get(f"{host.url}/api/echo/7", timeout=10)
    assert response.status_code == 201
    assert response.json()["route"] == {"id": "7"}


def test_method_and_route_mismatches(host: DevhostProcess) -> None:
    assert requests.delete(f"{host.url}/api/echo/7", timeout=10).status_code == 405
    assert requests.get(f"{host.url}/api/nowhere", timeout=10).status_code == 404
    assert requests.get(f"{host.url}/echo/7", timeout=10).status_code == 404


def test_async_functions_overlap(host: DevhostProcess) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: requests.get(f"{host.url}/api/slow-async?s=0.5", timeout=10), range(4)
            )
        )
    assert [a.text for a in answers] == ["slept"] * 4
    assert time.monotonic() - started < 1.8  # one after the other: 2 s


def test_route_templates() -> None:
    assert route_pattern("items/{id:int}").match("items/3")
    assert route_pattern("files/{*path}").match("files/a/b/c")
    assert not route_pattern("items/{id}").match("items/3/extra")
    optional = route_pattern("items/{id?}")
    assert optional.match("items") and optional.match("items/9")


def test_keys_only_when_asked(tmp_path: Path, patterns_app: Path) -> None:
    with running_devhost(
        patterns_app,
        data_dir=tmp_path / "data",
        env={"PATTERNS_SCRATCH": str(tmp_path), "DEVHOST_FUNCTION_KEY": "sesame"},
        extra_args=["--require-keys"],
    ) as locked:
        url = f"{locked.url}/api/echo/1"
        assert requests.get(url, timeout=10).status_code == 401
        assert requests.get(url, params={"code": "wrong"}, timeout=10).status_code == 401
        assert requests.get(url, params={"code": "sesame"}, timeout=10).status_code == 201
        headers = {"x-functions-key": "sesame"}
        assert requests.get(url, headers=headers, timeout=10).status_code == 201
