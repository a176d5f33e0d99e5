"""Shared fixtures live in tests/fixtures/ modules, loaded here as pytest plugins."""

pytest_plugins = ["tests.fixtures.services"]
