"""`python -m emulator` as the local-run launcher uses it: ready line, options, exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from openai import AzureOpenAI

from emulator.testing import AdminClient
from localrun.processes import ReadyProcess
from tests.support.emulator_sdk import API_VERSION, QUESTION

ROOT = Path(__file__).resolve().parents[2]
READY = r"emulator listening on (\S+)"


def started(*args: str) -> tuple[ReadyProcess, str]:
    """`python -m emulator --port 0 ARGS...` and the URL its ready line names."""
    argv = [sys.executable, "-m", "emulator", "--port", "0", *args]
    process = ReadyProcess("emulator", argv, ready=READY, cwd=ROOT)
    return process, process.wait_ready(30).group(1)


def test_ready_line_options_and_seed_script(tmp_path: Path) -> None:
    process, url = started(
        "--api-key", "local-emulator-key", "--poll-after-ms", "7", "--latency-ms", "1-3"
    )
    try:
        emu = AdminClient(url)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)
        assert emu.config()["poll_after_ms"] == 7
        assert emu.config()["latency_ms"] == "1-3"
        client = AzureOpenAI(
            azure_endpoint=emu.url, api_key="local-emulator-key", api_version=API_VERSION
        )
        assistant = client.beta.assistants.create(model="m")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed"  # no tools offered: answered in words
        assert emu.counts()["live"]["runs"] == 1
    finally:
        process.stop()


def test_the_ready_line_is_all_it_prints_and_it_stops_cleanly() -> None:
    process, url = started()
    process.stop()
    assert process.process.returncode == 0
    assert process.output() == f"emulator listening on {url}"


def test_unusable_options_exit_with_status_2(tmp_path: Path) -> None:
    bad_script = tmp_path / "bad.json"
    bad_script.write_text('{"scripts": [{"turns": [{"say": "hi"}]}]}')
    for args in (["--script", str(bad_script)], ["--rate-429", "7"]):
        finished = subprocess.run(
            [sys.executable, "-m", "emulator", "--port", "0", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert finished.returncode == 2
        assert finished.stdout == ""
        assert finished.stderr.startswith("emulator: ")
