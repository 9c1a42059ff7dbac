"""Crawl throughput: a real `scrapy crawl news` of 2,000+ pages on a local portal.

Runs the spider against one test portal holding N synthetic articles (delay 0), twice
in the same run: with extraction in the process pool (DXMON_EXTRACT_WORKERS = CPUs)
and in the crawl process itself (workers = 1, the baseline). Prints pages/s, wall
time, peak RSS of the crawl process, and the ratio.

    python benchmarks/crawl_throughput.py [--articles 2000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.demo.portals import PortalWeb  # noqa: E402
from storage.schema import open_db  # noqa: E402


def crawl_once(web: PortalWeb, workers: int, folder: Path) -> tuple[float, int, int, float]:
    db = folder / f"w{workers}.db"
    config = folder / f"w{workers}.toml"
    text = web.config_toml(db, delay=0).replace(
        'interval = "30m"', 'interval = "30m"\nmax_pages = 100000\nmax_depth = 1000')
    config.write_text(text, encoding="utf-8")
    before = len(web.requests)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scrapy", "crawl", "news", "-s",
                    "DXMON_PROCESS_AFTER_CRAWL=False", "-s", f"DXMON_EXTRACT_WORKERS={workers}",
                    "-s", "LOG_LEVEL=WARNING", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
                    "-s", "DXMON_SHAPE_LIMIT=100000"],
                   cwd=ROOT, env={**os.environ, "DXMON_CONFIG": str(config)}, check=True)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    conn = open_db(db)
    stored = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    conn.close()
    return seconds, len(web.requests) - before, stored, rss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=2000)
    args = parser.parse_args(argv)
    web = PortalWeb(articles=[], sites=["thanhhoa-tv"], traps=False, page_size=50)
    web.add_synthetic("thanhhoa-tv", args.articles)
    cpus = os.cpu_count() or 1
    with web, tempfile.TemporaryDirectory() as tmp:
        results = {}
        for workers in (1, cpus):
            results[workers] = crawl_once(web, workers, Path(tmp))
            s, pages, stored, rss = results[workers]
            print(f"extraction workers={workers}: {pages} pages, {stored} articles stored in "
                  f"{s:.1f}s = {pages / s:.0f} pages/s; peak RSS of crawl children {rss:.0f} MiB")
        # the baseline the issue asks for: trafilatura alone, one process, the same pages
        import trafilatura

        pages = []
        for a in web.articles("thanhhoa-tv"):
            status, _, body = web.respond("thanhhoa-tv", "GET", web.article_path(
                "thanhhoa-tv", a.slug), {})
            pages.append(body)
        start = time.perf_counter()
        for body in pages:
            trafilatura.extract(body.decode("utf-8"), include_comments=False)
        alone = len(pages) / (time.perf_counter() - start)
    base, pool = results[1][0], results[cpus][0]
    pipeline = results[cpus][1] / pool
    print(f"trafilatura alone, one process, same {len(pages)} pages: {alone:.0f} pages/s")
    print(f"whole pipeline ({cpus} extraction workers) / trafilatura alone: "
          f"{pipeline / alone:.2f}x; pool / in-process extraction crawl: {base / pool:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
