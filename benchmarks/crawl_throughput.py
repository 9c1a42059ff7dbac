"""Crawl throughput: real `scrapy crawl news` runs over 2,000+ article pages, against
extraction alone on the same pages in one process.

The five local test portals serve N synthetic articles between them (page weight
"real" by default: each page in a portal's chrome, about 65 KB and 230 links, see
testsupport/chrome.py; "light" serves the bare test templates, 4-8 KB). Each source's
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
   preparing for storage, link mining), one process; each in a new interpreter holding
   only the pages, so that it does not pay for this process's heap (the portals and
   their page cache, which the garbage collector would walk through on its time);
4. trafilatura.extract alone in one process per CPU: what perfectly parallel work
   gains on this machine, the ceiling of any pipeline's ratio to step 3.

This machine's speed drifts by a fifth from minute to minute (shared vCPUs), so 1 and
3 are measured in ``--rounds`` rounds, each a crawl followed at once by the baselines,
and the ratio is taken within each round; the median round is the figure.

Rates are stored articles per second of the whole `scrapy crawl` process (start-up and
shutdown included). Peak memory is the largest resident set of the crawl process or
one of its workers, sampled every 0.1 s. The crawl process's own CPU time
per article (the workers' excluded) shows what scheduling, downloading and writing
cost.

    python benchmarks/crawl_throughput.py [--articles 2000] [--weight real|light] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
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
from storage.schema import open_db  # noqa: E402
from testsupport.portals import SITES, PortalWeb  # noqa: E402


def cpu_times() -> tuple[float, float] | None:
    """(busy, idle) clock ticks of the whole machine so far (Linux), or None."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, idle


def tree_rss(root: int) -> dict[int, int]:
    """Resident bytes of ``root`` and each of its descendants (Linux), by pid. (Sampled:
    a child's ru_maxrss would count the pages it shared with this big process when it
    was forked.)"""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    sizes, page = {}, os.sysconf("SC_PAGE_SIZE")
    for pid in tree:
        try:
            sizes[pid] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return sizes


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
    proc = subprocess.Popen([sys.executable, "-m", "scrapy", "crawl", "news",
                             "-s", "DXMON_PROCESS_AFTER_CRAWL=False",
                             "-s", f"DXMON_EXTRACT_WORKERS={workers}",
                             "-s", "LOG_LEVEL=WARNING", "-s", "DXMON_SHAPE_LIMIT=100000"],
                            cwd=ROOT, env={**os.environ, "DXMON_CONFIG": str(config)})
    peak = 0
    while proc.poll() is None:
        peak = max(peak, max(tree_rss(proc.pid).values(), default=0))
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"scrapy crawl failed with exit status {proc.returncode}")
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
            "busy": busy, "cpu": cpu, "rate": stored / seconds, "peak": peak / 2**20}


def _plain(url: str, body: bytes, charset: str | None) -> None:
    import trafilatura

    trafilatura.extract(body.decode(charset or "cp1258"), url=url, include_comments=False)


def _ours(url: str, body: bytes, charset: str | None) -> None:
    read_page(body, url, charset, hosts=frozenset([host_of(url)]), pattern=None,
              extract=True, listings=False)


def _read_all(which: str, pages: list[tuple[str, bytes, str | None]]) -> None:
    read = {"plain": _plain, "ours": _ours}[which]
    for url, body, charset in pages:
        read(url, body, charset)


def _time_alone(which: str, path: str, processes: int) -> float:
    """Pages per second of ``which`` over the pages pickled at ``path``, in this fresh
    process (or split over ``processes`` fresh processes); imports and first-use caches
    are warmed on the first 100 pages first, untimed."""
    pages = pickle.loads(Path(path).read_bytes())
    if processes == 1:
        _read_all(which, pages[:100])
        start = time.perf_counter()
        _read_all(which, pages)
        return len(pages) / (time.perf_counter() - start)
    shares = [pages[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(_read_all, [which] * processes, [pages[:100]] * processes))
        start = time.perf_counter()
        list(pool.map(_read_all, [which] * processes, shares))
        return len(pages) / (time.perf_counter() - start)


def alone(which: str, path: Path, processes: int = 1) -> float:
    """:func:`_time_alone` in a new interpreter: the baselines must not pay for this
    process's heap (the portals and their page cache), which the garbage collector
    would walk through on their time."""
    out = subprocess.run([sys.executable, __file__, "--alone", which, str(path), str(processes)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--weight", choices=("real", "light"), default="real")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alone", nargs=3, metavar=("WHICH", "PAGES", "PROCESSES"),
                        help=argparse.SUPPRESS)  # a baseline, in a fresh process
    args = parser.parse_args(argv)
    if args.alone:
        which, path, processes = args.alone
        print(_time_alone(which, path, int(processes)))
        return 0
    web = PortalWeb(articles=[], sites=SITES, traps=False, page_size=50, weight=args.weight,
                    cache=True)
    web.crawl_delays = {}  # mst-portal's robots.txt Crawl-delay would pace one host
    for site in SITES:
        web.add_synthetic(site, -(-args.articles // len(SITES)))
    cpus = os.cpu_count() or 1

    rounds = []
    with web, tempfile.TemporaryDirectory() as tmp:
        pages = []  # the article pages, rendered once: the portal then serves them as files
        for site in SITES:
            for article in web.articles(site):
                path = web.article_path(site, article.slug)
                _, headers, body = web.respond(site, "GET", path, {})
                charset = headers["Content-Type"].partition("charset=")[2] or None
                pages.append((web.base_url(site) + path, body, charset))
        saved = Path(tmp) / "pages.pickle"
        saved.write_bytes(pickle.dumps(pages))
        serial = crawl(web, 1, Path(tmp) / "serial.db")
        for n in range(args.rounds):
            run = crawl(web, cpus, Path(tmp) / f"round{n}.db")
            run["base"], run["reader"] = alone("plain", saved), alone("ours", saved)
            rounds.append(run)
        ceiling, base_now = alone("plain", saved, cpus), alone("plain", saved)
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
    print(f"peak RSS of one process: {max(run['peak'] for run in rounds):.0f} MiB with the pool "
          f"(the crawl process or a worker), {serial['peak']:.0f} MiB reading in the crawl "
          f"process")
    ratios = sorted(run["rate"] / run["base"] for run in rounds)
    middle = statistics.median(ratios)
    pool = statistics.median(run["rate"] for run in rounds) / serial["rate"]
    print(f"pipeline / trafilatura alone: median {middle:.2f}x over {len(rounds)} rounds "
          f"({ratios[0]:.2f}-{ratios[-1]:.2f})   pool / in-process pipeline: {pool:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
