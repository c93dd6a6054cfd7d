"""The launcher's processes: a child's lines never land inside what the terminal is
showing; the ports a stack picks are free and different."""

from __future__ import annotations

import sys
import time

import pytest

from localrun.azurite import AzuritePorts
from localrun.processes import ReadyProcess, port_is_free
from tests.support.waiting import wait_until

CHILD = "import time; print('ready', flush=True); time.sleep(0.2); print('later', flush=True)"


def test_echoed_lines_wait_while_held_and_follow_after(capsys: pytest.CaptureFixture[str]) -> None:
    child = ReadyProcess("child", [sys.executable, "-c", CHILD], ready="ready", echo=True)
    child.wait_ready(10)
    with child.echo_held():
        wait_until(lambda: "later" in child.output(), what="the child's second line")
        time.sleep(0.1)  # time for an unheld echo to reach the terminal
        during = capsys.readouterr().out
        print("answer: 42", flush=True)
    child.stop()
    after = capsys.readouterr().out.splitlines()

    assert "[child] later" not in during
    assert after.index("answer: 42") < after.index("[child] later")


def test_azurite_gets_three_different_free_ports() -> None:
    for _ in range(100):  # a port given back is often the next one handed out
        ports = AzuritePorts.free()
        picked = [ports.blob, ports.queue, ports.table]
        assert len(set(picked)) == 3
        assert all(port_is_free(port) for port in picked)
