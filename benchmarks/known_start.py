"""Crawl start against the archive's size: an unchanged re-crawl of a one-page portal
with N articles of other sources already archived.

The archive is built fast (testsupport/archive.py: N articles of eight sources, their
URL aliases, sessions, crawl runs); a one-source portal (one listing page of five
articles, ETag/Last-Modified) is crawled once into it, then re-crawled unchanged:
the listing answers 304, nothing is fetched. What is timed is that second `scrapy
crawl news` process, whole (start-up and shutdown included, post-crawl processing
off), median of ``--rounds``; peak RSS is the crawl process's largest resident set
(``getrusage`` of the children). Before issue 16 every crawl start read every
article URL of every source, so this grew with N; now it should not.

    python benchmarks/known_start.py [--sizes 1000,100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import resource
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


def recrawl_seconds(size: int, rounds: int) -> tuple[float, float, float]:
    """(archive build s, median unchanged re-crawl s, peak crawl RSS MiB) at ``size``."""
    with tempfile.TemporaryDirectory() as tmp, \
            PortalWeb(articles=[], sites=[SITE], traps=False, page_size=5) as web:
        web.add_synthetic(SITE, 5, words=120)  # one listing page
        facts = build_archive(Path(tmp) / "dxmon.db", size, sessions=20)
        crawl = Crawl(web, Path(tmp))
        crawl.scrapy("-a", f"source={SITE}")  # the first crawl: five articles stored
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            crawl.scrapy("-a", f"source={SITE}")
            times.append(time.perf_counter() - started)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return facts.seconds, statistics.median(times), rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for size in (int(s) for s in args.sizes.split(",")):
        # each size in its own interpreter: peak RSS of the children is per process tree
        if len(args.sizes.split(",")) > 1:
            subprocess.run([sys.executable, __file__, "--sizes", str(size), "--rounds",
                            str(args.rounds)], check=True)
            continue
        built, seconds, rss = recrawl_seconds(size, args.rounds)
        print(f"{size:>9,} known articles: unchanged re-crawl {seconds:.2f} s "
              f"(median of {args.rounds}), peak crawl RSS {rss:.0f} MiB "
              f"(archive built in {built:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
