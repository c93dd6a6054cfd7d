"""Nothing left behind even when teardown never runs: the ledger and the purge.

A run is killed (SIGKILL of the host) after creating its assistant and thread, the
instance is then terminated (a terminated orchestration runs no teardown), and the
purge, run through the host's admin endpoint, deletes what the ledger recorded.
"""

from __future__ import annotations

from pathlib import Path

import requests

from emulator.testing import AdminClient
from localrun.devhost_process import running_devhost
from tests.support.app_http import (
    REPO_ROOT,
    SEED_QUESTION,
    start_run,
    wait_for_phase,
)
from tests.support.waiting import holds_within


def test_a_killed_then_terminated_run_is_cleaned_up_by_the_purge(
    settings: dict[str, str], model: AdminClient, tmp_path: Path
) -> None:
    model.configure(latency_ms=60_000)  # the run waits on the model until we kill the host
    with running_devhost(REPO_ROOT, data_dir=tmp_path / "devhost", env=settings) as host:
        reply = start_run(host.url, {"question": SEED_QUESTION, "backend": "assistants"})
        assert reply.status_code == 202, reply.text
        instance_id = reply.json()["id"]
        wait_for_phase(host.url, instance_id, "waiting_for_model")
        created = model.live()
        assert created["assistants"] == 1
        assert created["threads"] == 1

        host.kill()
        host.restart()
        terminate = requests.post(
            f"{host.webhook}/instances/{instance_id}/terminate",
            params={"reason": "abandoned"},
            timeout=10,
        )
        assert terminate.status_code == 202, terminate.text
        assert host.wait(instance_id)["runtimeStatus"] == "Terminated"
        assert model.live() == created  # no teardown ran

        purge = requests.post(
            f"{host.url}/admin/functions/purge_leftovers", json={"input": ""}, timeout=10
        )
        assert purge.status_code == 202, purge.text
        holds_within(lambda: not any(model.live().values()), timeout=30)
        assert set(model.live().values()) == {0}, "\n".join(host.output()[-40:])
        assert any("purge_leftovers" in line for line in host.output())
