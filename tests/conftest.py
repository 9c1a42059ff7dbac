"""Shared fixtures live in tests/fixtures/, one module per kind of real server."""

pytest_plugins = [
    "tests.fixtures.portals",
    "tests.fixtures.receivers",
    "tests.fixtures.crawl",
]
