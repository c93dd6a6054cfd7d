"""`python -m emulator` as the local-run launcher uses it: ready line, options, exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from openai import AzureOpenAI

from emulator.testing import emulator_process
from tests.support.emulator_sdk import API_VERSION, QUESTION

ROOT = Path(__file__).resolve().parents[2]


def test_ready_line_options_and_seed_script(tmp_path: Path) -> None:
    with emulator_process(
        "--api-key", "local-emulator-key", "--poll-after-ms", "7", "--latency-ms", "1-3"
    ) as emu:
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


def test_the_ready_line_is_the_only_stdout_line() -> None:
    with emulator_process() as emu:
        emu.process.terminate()
        assert emu.process.wait(timeout=5) == 0
        assert emu.process.stdout is not None
        assert emu.process.stdout.read() == ""


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
