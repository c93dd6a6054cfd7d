"""An Azure OpenAI emulator: Assistants v2 and Responses over HTTP, with a scripted model.

Start it with `python -m emulator`, or in tests with `emulator.testing.running_emulator`.
It never imports the app it stands in for.
"""

from emulator.app import EmulatorApp
from emulator.state import EmulatorState

__all__ = ["EmulatorApp", "EmulatorState"]
