"""Shared fixtures live in the testsupport package (beside tests/, shared with benchmarks/):
one module per kind of real server.

This file also orders the suite for its four xdist workers: tests are handed out one
at a time, the costliest first, so the quick ones fill the workers' tails instead of a
70 s test starting last. A module whose module-scoped fixture is an expensive real crawl
or build runs on one worker, so that fixture is built once."""

import pytest

pytest_plugins = [
    "testsupport.receivers",
    "testsupport.crawl",
]

# Modules in the order their tests are handed out, costliest single tests first (seconds
# per test measured with --durations on the 2-core machine); the rest follow in
# collection order. A new slow file belongs here; a missing one only costs some minutes.
SLOW_FIRST = [
    "tests/test_serve_e2e.py",         # `dxmon serve` stories, 35-70 s each
    "tests/test_timeline.py",          # every corpus page crawled, ~30 s
    "tests/test_packaging.py",         # builds the wheel once (grouped), ~30 s
    "tests/test_alerting_e2e.py",      # several crawls each, 20-30 s
    "tests/test_recrawl.py",
    "tests/test_crawler.py",
    "tests/test_extraction.py",        # the F1 gate over the public benchmark, ~25 s
    "tests/hostile/test_cli_ops.py",   # 20-26 s crawls among quick CLI checks
    "tests/test_reading_e2e.py",       # one crawl shared by the module (grouped)
    "tests/test_bad_input.py",         # one crawl shared by the module (grouped)
    "tests/hostile/test_page_hygiene.py",  # one crawl shared by the module (grouped)
    "tests/test_config_path.py",
    "tests/test_gates.py",             # pytest run in a subprocess, ~15 s each
    "tests/hostile/test_source_boundary.py",
    "tests/test_urls.py",
]

# Modules whose module-scoped fixture is a real crawl or a wheel build: spread over
# several workers, each would build its own copy.
ONE_WORKER = {
    "tests/test_packaging.py",
    "tests/test_reading_e2e.py",
    "tests/test_bad_input.py",
    "tests/hostile/test_page_hygiene.py",
}


def _module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Costliest modules first; every worker sorts the same collection the same way,
    as xdist requires."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(_module_of(item.nodeid), len(rank)))  # stable


def pytest_xdist_make_scheduler(config, log):
    """xdist's default ``load`` scheduling, one test at a time in collection order, except
    that a module of ONE_WORKER goes to one worker whole (its fixture is built once).

    (xdist's ``loadgroup`` would do this with marks, but it renames ``item._nodeid``,
    which pytest 9 no longer reads: the groups silently fell apart and each worker built
    its own crawl.) An explicit ``--dist`` other than ``load`` is left to xdist."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CostliestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module_of(nodeid)
            return module if module in ONE_WORKER else nodeid

    return CostliestFirst(config, log)
