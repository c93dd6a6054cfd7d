"""What devhost says and does while loading an app: warnings for what it cannot run,
and `python -m devhost` from any working directory."""

from __future__ import annotations

import sys
from pathlib import Path

from localrun.devhost_process import running_devhost
from localrun.processes import ReadyProcess
from tests.support.devhost_apps import APPS

UNSUPPORTED = """
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="enqueue")
@app.queue_output(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, msg: func.Out[str]) -> str:
    msg.set("hello")
    return "queued"


@app.queue_trigger(arg_name="item", queue_name="work", connection="AzureWebJobsStorage")
def work(item: func.QueueMessage) -> None:
    pass


@app.entity_trigger(context_name="context")
def tally(context):
    pass


@app.route(route="plain")
def plain(req: func.HttpRequest) -> str:
    return "fine"
"""


def test_unsupported_bindings_are_named_at_load(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(UNSUPPORTED)
    (app_dir / "host.json").write_text('{"version": "2.0"}')
    with running_devhost(app_dir, data_dir=tmp_path / "data") as host:
        warnings = [line for line in host.output() if "WARNING" in line]
    expected = [
        "function enqueue: devhost does not support queue bindings (out); parameter 'msg' "
        "receives None, not a func.Out (.set() fails)",
        "function work: devhost does not run queueTrigger triggers; only POST "
        "/admin/functions/work calls it",
        "function tally: devhost does not run durable entities (entityTrigger); "
        "orchestrations that call or signal it fail",
    ]
    for sentence in expected:
        assert any(sentence in line for line in warnings), (sentence, warnings)
    assert not any("plain" in line for line in warnings)


def ready_line(command: list[str], cwd: Path, marker: Path) -> str:
    """Start devhost without PYTHONPATH in `cwd`; returns its ready line."""
    process = ReadyProcess(
        "devhost",
        command,
        ready=r"^devhost listening on .*",
        cwd=cwd,
        env={"PYTHONPATH": None, "MINIMAL_MARKER": str(marker)},
    )
    try:
        return process.wait_ready(15).group(0)
    finally:
        process.stop(15)


def test_python_m_devhost_from_any_directory(tmp_path: Path) -> None:
    app_dir = tmp_path / "minimal"
    app_dir.mkdir()
    for name in ("function_app.py", "host.json"):
        (app_dir / name).write_text((APPS / "minimal" / name).read_text())
    marker = tmp_path / "marker"
    base = [sys.executable, "-m", "devhost", "--port", "0", "--data-dir", str(tmp_path / "d")]
    # In the app's folder, no argument: the app is the working directory.
    assert ready_line(base, cwd=app_dir, marker=marker).startswith(
        "devhost listening on http://127.0.0.1:"
    )
    # Anywhere else, with the app's folder as the argument.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    line = ready_line([*base, str(app_dir)], cwd=elsewhere, marker=marker)
    assert line.startswith("devhost listening on http://127.0.0.1:")
