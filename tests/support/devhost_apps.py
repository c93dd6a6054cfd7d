"""Where devhost's sample apps live."""

from __future__ import annotations

from pathlib import Path

APPS = Path(__file__).resolve().parents[1] / "devhost" / "apps"


# Written at test time: local.settings.json files are git-ignored, like in any Functions app.
LOCAL_SETTINGS = {
    "IsEncrypted": False,
    "Values": {
        "PATTERNS_HUB": "PatternsHub",
        "TICK_SCHEDULE": "*/1 * * * * *",
        "FROM_LOCAL_SETTINGS": "local",
        "OVERRIDDEN_SETTING": "local",
    },
}
