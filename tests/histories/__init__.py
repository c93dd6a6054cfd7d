"""Orchestration histories recorded from real runs, replayed by every `make test`."""
