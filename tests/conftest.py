"""Shared fixtures live in tests/fixtures/ modules, loaded here as pytest plugins (and pytester,
for the tests of those plugins)."""

pytest_plugins = ["tests.fixtures.services", "pytester"]
