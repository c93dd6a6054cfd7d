"""The app in this suite runs as in Azure: managed identity, no API key."""

from __future__ import annotations

from emulator.identity import IDENTITY_PATH
from emulator.testing import AdminClient
from localrun.devhost_process import DevhostProcess
from tests.support.app_http import SEED_QUESTION, run_to_end


def test_the_app_authenticates_with_its_managed_identity(
    app: DevhostProcess, model: AdminClient, settings: dict[str, str]
) -> None:
    assert "AZURE_OPENAI_API_KEY" not in settings
    assert settings["IDENTITY_ENDPOINT"].endswith(IDENTITY_PATH)

    assert run_to_end(app.url, SEED_QUESTION, "assistants")["outcome"] == "completed"
    assert model.counts()["requests"][f"GET {IDENTITY_PATH}"] >= 1
