"""Crawl throughput: real `scrapy crawl news` runs over 2,000+ article pages, against
extraction alone on the same pages in one process.

The five local test portals serve N synthetic articles between them (page weight
"real" by default: each page in a portal's chrome, about 65 KB and 230 links, see
monitor/demo/chrome.py; "light" serves the bare test templates, 4-8 KB). Each source's
delay is 0 and robots.txt asks for no Crawl-delay; per-host concurrency is dxmon's
default (2 requests at a time per host, 5 hosts). Post-crawl processing (detection,
alerts) is off. The portals run in this process, on the same two cores; each page is
rendered once and then served from memory, as a static server or a CDN would. In the
same run:

1. the pipeline as shipped: pages read in DXMON_EXTRACT_WORKERS = one process per CPU;
2. the same with every page read in the crawl process (workers = 1): what a crawl
   whose extraction is serialised on one core does;
3. trafilatura.extract alone, one process, on the same article pages (the issue's
   baseline), and dxmon's own page reading alone (crawler.reader.read_page: extraction,
   preparing for storage, link mining), one process;
4. trafilatura.extract alone in one process per CPU: what perfectly parallel work
   gains on this machine, the ceiling of any pipeline's ratio to step 3.

Rates are stored articles per second of the whole `scrapy crawl` process (start-up and
shutdown included). Peak memory is the largest resident set of any process the crawl
started (the crawl process or one of its workers).

    python benchmarks/crawl_throughput.py [--articles 2000] [--weight real|light]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.reader import read_page  # noqa: E402
from crawler.urls import host_of  # noqa: E402
from monitor.demo.portals import SITES, PortalWeb  # noqa: E402
from storage.schema import open_db  # noqa: E402


def cpu_times() -> tuple[float, float] | None:
    """(busy, idle) clock ticks of the whole machine so far (Linux), or None."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, idle


def crawl(web: PortalWeb, workers: int, folder: Path) -> tuple[float, int, int, float | None]:
    """One first crawl into a new database: (seconds, requests, articles stored, share of
    the machine's CPU time that was busy meanwhile)."""
    db, config = folder / f"w{workers}.db", folder / f"w{workers}.toml"
    limits = 'interval = "30m"\nmax_pages = 100000\nmax_depth = 1000'
    config.write_text(web.config_toml(db, delay=0).replace('interval = "30m"', limits),
                      encoding="utf-8")
    before, ticks = len(web.requests), cpu_times()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scrapy", "crawl", "news",
                    "-s", "DXMON_PROCESS_AFTER_CRAWL=False", "-s", f"DXMON_EXTRACT_WORKERS={workers}",
                    "-s", "LOG_LEVEL=WARNING", "-s", "DXMON_SHAPE_LIMIT=100000"],
                   cwd=ROOT, env={**os.environ, "DXMON_CONFIG": str(config)}, check=True)
    seconds = time.perf_counter() - start
    busy = None
    if ticks and (after := cpu_times()):
        busy = (after[0] - ticks[0]) / max(after[0] - ticks[0] + after[1] - ticks[1], 1)
    conn = open_db(db)
    stored = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    conn.close()
    return seconds, len(web.requests) - before, stored, busy


def alone(pages: list[tuple[str, bytes, str | None]], read) -> float:
    """Pages per second of ``read`` over ``pages`` in this process (best of two passes)."""
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for url, body, charset in pages:
            read(url, body, charset)
        best = min(best, time.perf_counter() - start)
    return len(pages) / best


def _plain(page: tuple[str, bytes, str | None]) -> None:
    import trafilatura

    url, body, charset = page
    trafilatura.extract(body.decode(charset or "cp1258"), url=url, include_comments=False)


def alone_in(processes: int, pages: list[tuple[str, bytes, str | None]]) -> float:
    """Pages per second of trafilatura alone in ``processes`` processes: the machine's
    ceiling for work that parallelises perfectly (two vCPUs are not twice one)."""
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_plain, pages[:processes * 20]))  # start-up and imports, not timed
        start = time.perf_counter()
        list(pool.map(_plain, pages, chunksize=50))
        return len(pages) / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--weight", choices=("real", "light"), default="real")
    args = parser.parse_args(argv)
    web = PortalWeb(articles=[], sites=SITES, traps=False, page_size=50, weight=args.weight,
                    cache=True)
    web.crawl_delays = {}  # mst-portal's robots.txt Crawl-delay would pace one host
    for site in SITES:
        web.add_synthetic(site, -(-args.articles // len(SITES)))
    cpus = os.cpu_count() or 1
    with web, tempfile.TemporaryDirectory() as tmp:
        pages = []  # the article pages, rendered once: the portal then serves them as files
        for site in SITES:
            for article in web.articles(site):
                path = web.article_path(site, article.slug)
                _, headers, body = web.respond(site, "GET", path, {})
                charset = headers["Content-Type"].partition("charset=")[2] or None
                pages.append((web.base_url(site) + path, body, charset))
        runs = {workers: crawl(web, workers, Path(tmp)) for workers in (cpus, 1)}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    def plain(url, body, charset):
        _plain((url, body, charset))

    def ours(url, body, charset):
        read_page(body, url, charset, hosts=frozenset([host_of(url)]), pattern=None,
                  extract=True, listings=False)

    base, reader = alone(pages, plain), alone(pages, ours)
    ceiling = alone_in(cpus, pages)
    size = sum(len(body) for _, body, _ in pages) / len(pages) / 1024
    print(f"{len(pages)} article pages on {len(SITES)} portals, weight {args.weight} "
          f"(mean {size:.0f} KB); {cpus} CPUs")
    for workers, (seconds, requests, stored, busy) in runs.items():
        label = f"pipeline, {workers} page-reading processes" if workers > 1 else \
            "pipeline, pages read in the crawl process"
        load = f"; CPU busy {busy:.0%} of the machine" if busy is not None else ""
        print(f"{label}: {requests} requests, {stored} articles in {seconds:.1f} s = "
              f"{stored / seconds:.1f} articles/s{load}")
    print(f"trafilatura.extract alone, one process: {base:.1f} pages/s")
    print(f"dxmon read_page alone (extract + prepare + links), one process: {reader:.1f} pages/s")
    print(f"trafilatura.extract alone in {cpus} processes: {ceiling:.1f} pages/s = "
          f"{ceiling / base:.2f}x one process (the most any pipeline could gain here)")
    pipeline = runs[cpus][2] / runs[cpus][0]
    print(f"peak RSS of any crawl process: {peak:.0f} MiB")
    print(f"pipeline / trafilatura alone: {pipeline / base:.2f}x   "
          f"pipeline / read_page alone: {pipeline / reader:.2f}x   "
          f"pool / in-process pipeline: {pipeline / (runs[1][2] / runs[1][0]):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
