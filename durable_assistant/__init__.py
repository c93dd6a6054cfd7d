"""The core of durable-assistant: pure Python, no Azure Functions imports.

Domain model, settings, tool registry and tools, model backends, the ledger and
the client factory live here; the Functions adapters (triggers, orchestrators,
activities) only decode input, call into this package and encode output.
"""
