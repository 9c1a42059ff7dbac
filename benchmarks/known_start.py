"""Crawl start against the archive's size: an unchanged re-crawl of a one-page portal
with N articles already archived.

The archive is built fast (testsupport/archive.py: N articles of eight sources on other
hosts than the portal's, their
URL aliases, sessions, crawl runs); a one-source portal (one listing page of five
articles, ETag/Last-Modified) is crawled once into it, then re-crawled unchanged:
the listing answers 304, nothing is fetched. What is timed is that second `scrapy
crawl news` process, whole (start-up and shutdown included, post-crawl processing
off), median of ``--rounds`` (the sizes take turns in each round); peak RSS is the
re-crawl process's largest resident set. Before issue 16 every crawl start read every
article URL of every source, so this grew with N; now it should not.

    python benchmarks/known_start.py [--sizes 1000,100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.archive import build_archive  # noqa: E402
from testsupport.crawl import Crawl  # noqa: E402
from testsupport.portals import PortalWeb  # noqa: E402

SITE = "thanhhoa-tv"


# runs a command and prints the largest resident set of its process tree's biggest
# process (getrusage of the children: only that command's here)
_PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
         "sys.exit(r.returncode)")


def timed_crawl(crawl: Crawl) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one `scrapy crawl news` of the portal's source."""
    cmd = [sys.executable, "-c", _PEAK, sys.executable, "-m", "scrapy", "crawl", "news",
           "-a", f"source={SITE}", "-s", "DXMON_PROCESS_AFTER_CRAWL=False"]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=crawl.env(), capture_output=True, text=True,
                            timeout=600)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"crawl failed:\n{result.stderr[-3000:]}")
    return seconds, int(result.stderr.strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, \
            PortalWeb(articles=[], sites=[SITE], traps=False, page_size=5) as web:
        web.add_synthetic(SITE, 5, words=120)  # one listing page
        crawls = {}
        for size in sizes:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            facts = build_archive(folder / "dxmon.db", size, sessions=20)
            crawls[size] = Crawl(web, folder)
            crawls[size].scrapy("-a", f"source={SITE}")  # the first crawl: five articles
            print(f"{size:>9,} articles archived in {facts.seconds:.0f} s", flush=True)
        # the sizes take turns in each round: the machine's drift hits them alike
        runs: dict[int, list[tuple[float, float]]] = {size: [] for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                runs[size].append(timed_crawl(crawls[size]))
    for size in sizes:
        seconds = statistics.median(s for s, _ in runs[size])
        rss = max(r for _, r in runs[size])
        print(f"{size:>9,} known articles: unchanged re-crawl {seconds:.2f} s (median of "
              f"{args.rounds}), peak crawl RSS {rss:.0f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
