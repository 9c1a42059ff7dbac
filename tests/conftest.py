"""Shared fixtures live in the testsupport package (beside tests/, shared with benchmarks/):
one module per kind of real server.

This file also orders the suite for its four xdist workers: the costliest tests are
handed out first, one at a time, and the quick modules after them, whole, fill the
workers' tails instead of a 70 s test starting last. A module-scoped fixture (a real
crawl, the wheel build) is built once: its module runs on one worker."""

import pytest

pytest_plugins = [
    "testsupport.receivers",
    "testsupport.crawl",
    "testsupport.browser",
]

# Modules in the order their tests are handed out, costliest single tests first (seconds
# per test measured with --durations on the 2-core machine); the other modules follow,
# each whole, in collection order. A new slow file without a module-scoped fixture
# belongs here; a missing one only costs some seconds of tail.
SLOW_FIRST = [
    "tests/test_maintenance.py",       # a 20k-article archive (whole), a writer process, ~15 s
    "tests/test_serve_e2e.py",         # `dxmon serve` stories, 35-70 s each
    "tests/test_cluster.py",           # redis-server + 3 workers per test, 20-60 s each
    "tests/test_web_browser.py",       # a crawled archive, dxmon web and Chromium (whole)
    "tests/test_timeline.py",          # every corpus page crawled, ~30 s
    "tests/test_packaging.py",         # builds the wheel once (whole), ~30 s
    "tests/test_alerting_e2e.py",      # several crawls each, 20-30 s
    "tests/test_health.py",            # crawl cycles of a portal going wrong, 8-25 s each
    "tests/test_digest.py",            # two crawls, then `dxmon serve` restarted, ~15 s
    "tests/test_topics.py",            # three crawls of the five portals, ~12 s
    "tests/test_recrawl.py",
    "tests/test_revisits.py",          # five crawls of two portals, ~20 s; 2x4 crawls, ~25 s
    "tests/test_scale_bench.py",       # benchmarks/scale.py at 300/600: 8 crawls, the CLI, ~60 s
    "tests/test_crawler.py",
    "tests/test_extraction.py",        # the F1 gate over the public benchmark, ~25 s
    "tests/hostile/test_cli_ops.py",   # 20-26 s crawls among quick CLI checks
    "tests/test_reading_e2e.py",       # one crawl shared by the module (whole)
    "tests/test_bad_input.py",         # one crawl shared by the module (whole)
    "tests/hostile/test_page_hygiene.py",  # one crawl shared by the module (whole)
    "tests/test_config_path.py",
    "tests/test_gates.py",             # pytest run in a subprocess, ~15 s each
    "tests/hostile/test_source_boundary.py",
    "tests/test_urls.py",
    "tests/hostile/test_delivery.py",  # real deadlines of 2 s, ~25 s in all
    "tests/test_detection.py",         # the corpus gates, ~8 s each
    "tests/test_text_properties.py",
    "tests/test_notifier.py",
    "tests/test_apprise.py",           # each send a child process loading apprise, ~1 s
]

# Modules of SLOW_FIRST whose module-scoped fixture is a real crawl or a wheel build:
# they stay whole on one worker (spread over several, each would build its own copy).
ONE_WORKER = {
    "tests/test_scale_bench.py",
    "tests/test_maintenance.py",
    "tests/test_web_browser.py",
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
    """xdist's scope scheduling in collection order: the tests of SLOW_FIRST's modules
    are handed out one at a time (except ONE_WORKER's), every other module whole, so a
    module-scoped fixture of a file not listed here (a browser, a server) is still built
    once, as under xdist's ``loadfile``.

    (xdist's ``loadgroup`` would group with marks, but it renames ``item._nodeid``,
    which pytest 9 no longer reads: the groups silently fell apart and each worker built
    its own crawl.) An explicit ``--dist`` other than ``load`` is left to xdist."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    split = set(SLOW_FIRST) - ONE_WORKER

    class CostliestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = _module_of(nodeid)
            return nodeid if module in split else module

    return CostliestFirst(config, log)
