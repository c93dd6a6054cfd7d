"""Orchestrator functions: deterministic and thin; logic lives in the core."""
