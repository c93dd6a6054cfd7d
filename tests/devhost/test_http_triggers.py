"""HTTP triggers: routes, parameters, methods, settings, sync and async functions."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from devhost.http_triggers import RouteTemplateError, route_constraints, route_pattern
from localrun.devhost_process import DevhostProcess, running_devhost


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


def test_only_str_and_http_response_are_encoded(host: DevhostProcess) -> None:
    plain = requests.get(f"{host.url}/api/returns/str", timeout=10)
    assert (plain.status_code, plain.text) == (200, "plain")
    for kind in ("dict", "bytes", "int", "none"):
        assert requests.get(f"{host.url}/api/returns/{kind}", timeout=10).status_code == 500


def test_route_constraints_pick_the_route_or_404(host: DevhostProcess) -> None:
    assert requests.get(f"{host.url}/api/typed/42", timeout=10).text == "int 42"
    assert requests.get(f"{host.url}/api/typed/abc", timeout=10).text == "alpha abc"
    assert requests.get(f"{host.url}/api/typed/4a", timeout=10).status_code == 404
    guid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert requests.get(f"{host.url}/api/things/{guid}", timeout=10).json() == {"id": guid}
    flagged = requests.get(f"{host.url}/api/things/{guid}/TRUE", timeout=10)
    assert flagged.json() == {"id": guid, "flag": "TRUE"}
    assert requests.get(f"{host.url}/api/things/{guid}/maybe", timeout=10).status_code == 404
    assert requests.get(f"{host.url}/api/things/not-a-guid", timeout=10).status_code == 404


def test_constraint_checks_and_unsupported_ones() -> None:
    def ok(template: str, value: str) -> bool:
        (checks,) = route_constraints(template).values()
        return all(check(value) for check in checks)

    assert ok("{n:long}", "9223372036854775807") and not ok("{n:long}", "9223372036854775808")
    assert ok("{n:int}", "-7") and not ok("{n:int}", "2147483648")
    assert ok("{d:double}", "1.5e3") and ok("{d:decimal}", "-2.25") and not ok("{d:float}", "x1")
    assert ok("{b:bool}", "False") and not ok("{b:bool}", "1")
    assert ok("{g:guid}", "1b4e28ba2fa111d2883f0016d3cca427") and not ok("{g:guid}", "1b4e")
    assert ok("{v:minlength(3)}", "abc") and not ok("{v:minlength(3)}", "ab")
    assert ok("{v:alpha:maxlength(2)}", "ab") and not ok("{v:alpha:maxlength(2)}", "abc")
    assert ok("{v:range(1,5)}", "5") and not ok("{v:range(1,5)}", "6")
    for unsupported in ("{d:datetime}", "{v:nonsense}", "{v:minlength(x)}"):
        with pytest.raises(RouteTemplateError, match="does not support the route constraint"):
            route_constraints(unsupported)
