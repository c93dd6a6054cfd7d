"""devhost: run a Python v2-model Durable Functions app locally without the Functions host.

It loads an app's `function_app.py`, indexes its functions the way the Python worker
does and plays the host's part: HTTP triggers, timer triggers, the Durable extension's
management API, and orchestrations driven through the SDK's own replay executor with
their history kept in SQLite, so a killed devhost resumes where it stopped.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
