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

This machine's speed drifts by a fifth from minute to minute (shared vCPUs), so 1 and
3 are measured in ``--rounds`` rounds, each a crawl followed at once by the baselines,
and the ratio is taken within each round; the median round is the figure.

Rates are stored articles per second of the whole `scrapy crawl` process (start-up and
shutdown included). Peak memory is the largest resident set of any process the crawl
started (the crawl process or one of its workers). The crawl process's own CPU time
per article (the workers' excluded) shows what scheduling, downloading and writing
cost.

    python benchmarks/crawl_throughput.py [--articles 2000] [--weight real|light] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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


def crawl(web: PortalWeb, workers: int, db: Path) -> dict:
    """One first crawl into a new database ``db``: seconds, requests, articles stored,
    the share of the machine's CPU time that was busy meanwhile, and the crawl
    process's own CPU seconds."""
    config = db.with_suffix(".toml")
    limits = 'interval = "30m"\nmax_pages = 100000\nmax_depth = 1000'
    config.write_text(web.config_toml(db, delay=0).replace('interval = "30m"', limits),
                      encoding="utf-8")
    before, ticks = len(web.requests), cpu_times()
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scrapy", "crawl", "news",
                    "-s", "DXMON_PROCESS_AFTER_CRAWL=False", "-s", f"DXMON_EXTRACT_WORKERS={workers}",
                    "-s", "LOG_LEVEL=WARNING", "-s", "DXMON_SHAPE_LIMIT=100000"],
                   cwd=ROOT, env={**os.environ, "DXMON_CONFIG": str(config)}, check=True)
    seconds = time.perf_counter() - start
    after_own = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = None
    if ticks and (after := cpu_times()):
        busy = (after[0] - ticks[0]) / max(after[0] - ticks[0] + after[1] - ticks[1], 1)
    conn = open_db(db)
    stored = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    conn.close()
    # the crawl process (and its fork server); its workers are not waited for by it
    cpu = (after_own.ru_utime - own.ru_utime) + (after_own.ru_stime - own.ru_stime)
    return {"seconds": seconds, "requests": len(web.requests) - before, "stored": stored,
            "busy": busy, "cpu": cpu, "rate": stored / seconds}


def alone(pages: list[tuple[str, bytes, str | None]], read) -> float:
    """Pages per second of ``read`` over ``pages`` in this process."""
    start = time.perf_counter()
    for url, body, charset in pages:
        read(url, body, charset)
    return len(pages) / (time.perf_counter() - start)


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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    web = PortalWeb(articles=[], sites=SITES, traps=False, page_size=50, weight=args.weight,
                    cache=True)
    web.crawl_delays = {}  # mst-portal's robots.txt Crawl-delay would pace one host
    for site in SITES:
        web.add_synthetic(site, -(-args.articles // len(SITES)))
    cpus = os.cpu_count() or 1

    def plain(url, body, charset):
        _plain((url, body, charset))

    def ours(url, body, charset):
        read_page(body, url, charset, hosts=frozenset([host_of(url)]), pattern=None,
                  extract=True, listings=False)

    rounds = []
    with web, tempfile.TemporaryDirectory() as tmp:
        pages = []  # the article pages, rendered once: the portal then serves them as files
        for site in SITES:
            for article in web.articles(site):
                path = web.article_path(site, article.slug)
                _, headers, body = web.respond(site, "GET", path, {})
                charset = headers["Content-Type"].partition("charset=")[2] or None
                pages.append((web.base_url(site) + path, body, charset))
        serial = crawl(web, 1, Path(tmp) / "serial.db")
        alone(pages[:100], plain), alone(pages[:100], ours)  # imports and caches, not timed
        for n in range(args.rounds):
            run = crawl(web, cpus, Path(tmp) / f"round{n}.db")
            run["base"], run["reader"] = alone(pages, plain), alone(pages, ours)
            rounds.append(run)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ceiling = alone_in(cpus, pages)
    base_now = alone(pages, plain)
    size = sum(len(body) for _, body, _ in pages) / len(pages) / 1024
    print(f"{len(pages)} article pages on {len(SITES)} portals, weight {args.weight} "
          f"(mean {size:.0f} KB); {cpus} CPUs")

    def line(label, run):
        load = f"; CPU busy {run['busy']:.0%}" if run["busy"] is not None else ""
        return (f"{label}: {run['requests']} requests, {run['stored']} articles in "
                f"{run['seconds']:.1f} s = {run['rate']:.1f} articles/s{load}; crawl process "
                f"{1000 * run['cpu'] / max(run['stored'], 1):.1f} ms CPU per article")

    for n, run in enumerate(rounds, 1):
        print(line(f"round {n}: pipeline, {cpus} page-reading processes", run))
        print(f"         then trafilatura.extract alone, one process: {run['base']:.1f} pages/s; "
              f"read_page alone: {run['reader']:.1f} pages/s; pipeline / trafilatura alone "
              f"{run['rate'] / run['base']:.2f}x, / read_page alone "
              f"{run['rate'] / run['reader']:.2f}x")
    print(line("pipeline, pages read in the crawl process", serial))
    print(f"trafilatura.extract alone in {cpus} processes: {ceiling:.1f} pages/s = "
          f"{ceiling / base_now:.2f}x one process measured next to it ({base_now:.1f} pages/s): "
          f"the most any pipeline could gain here")
    print(f"peak RSS of any crawl process: {peak:.0f} MiB")
    ratios = sorted(run["rate"] / run["base"] for run in rounds)
    middle = statistics.median(ratios)
    pool = statistics.median(run["rate"] for run in rounds) / serial["rate"]
    print(f"pipeline / trafilatura alone: median {middle:.2f}x over {len(rounds)} rounds "
          f"({ratios[0]:.2f}-{ratios[-1]:.2f})   pool / in-process pipeline: {pool:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
