"""Shared fixtures for the core's tests (the copass_router pytest plugin provides the rest)."""
