"""Shared fixtures live in the testsupport package (beside tests/, shared with benchmarks/):
one module per kind of real server."""

pytest_plugins = [
    "testsupport.receivers",
    "testsupport.crawl",
    "testsupport.browser",
]
