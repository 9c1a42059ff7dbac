"""Extraction quality and speed on the public benchmark in ../shared/benchmarks.

Scores dxmon's extractor (crawler.extract.extract_article) against plain trafilatura
measured in the same run (the baseline), on Zyte's scrapinghub article set (F1 over
4-token shingles, as published) and, with --all, on trafilatura's own eval set; and how
many of these article pages ``classify_page`` takes for a listing (must be 0).

    python benchmarks/extraction.py [--workers 2] [--limit N] [--all]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trafilatura  # noqa: E402

from crawler.extract import classify_page, extract_article  # noqa: E402
from evaluation.extraction import (  # noqa: E402
    SCRAPINGHUB,
    TRAFILATURA_EVAL,
    benchmarks_root,
    score_scrapinghub,
    score_trafilatura_eval,
)


def dxmon(html: str, url: str) -> str | None:
    article = extract_article(html, url)
    return article.text if article else None


def baseline(html: str, url: str) -> str | None:
    return trafilatura.extract(html, url=url, include_comments=False)


def listing_verdicts(root: Path, sets: list[str]) -> tuple[int, int, float]:
    """(article pages of ``sets`` that ``classify_page`` takes for a listing, pages read,
    ms a page): every page of these benchmarks is an article, so any listing verdict is
    an article dxmon would never store."""
    import gzip
    import json
    import time

    paths = []
    if SCRAPINGHUB in sets:
        truth = json.loads((root / SCRAPINGHUB / "ground-truth.json").read_text(encoding="utf-8"))
        paths += [root / SCRAPINGHUB / "html" / f"{k}.html.gz" for k in sorted(truth)]
    if TRAFILATURA_EVAL in sets:
        data = json.loads((root / TRAFILATURA_EVAL / "evaldata.json").read_text(encoding="utf-8"))
        for url in sorted(data):
            cached = root / TRAFILATURA_EVAL / "cache" / (data[url]["file"] + ".gz")
            paths.append(cached if cached.exists()
                         else root / TRAFILATURA_EVAL / "eval" / (data[url]["file"] + ".gz"))
    listings, seconds = 0, 0.0
    for path in paths:
        html = gzip.decompress(path.read_bytes())
        start = time.perf_counter()
        listings += classify_page(html, "") == "listing"
        seconds += time.perf_counter() - start
    return listings, len(paths), 1000 * seconds / max(len(paths), 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--all", action="store_true", help="also score trafilatura-eval")
    args = parser.parse_args(argv)
    root = benchmarks_root()
    print(f"scrapinghub ({root / SCRAPINGHUB})")
    ours = score_scrapinghub(dxmon, root / SCRAPINGHUB, workers=args.workers, limit=args.limit)
    base = score_scrapinghub(baseline, root / SCRAPINGHUB, workers=args.workers, limit=args.limit)
    print(ours.line("dxmon extract_article"))
    print(base.line("trafilatura.extract (baseline)"))
    print(f"F1 ratio dxmon/baseline: {ours.f1 / base.f1:.3f}; "
          f"time ratio: {ours.seconds_per_page / base.seconds_per_page:.2f}x")
    sets = [SCRAPINGHUB, TRAFILATURA_EVAL] if args.all else [SCRAPINGHUB]
    listings, pages, ms = listing_verdicts(root, sets)
    print(f"classify_page: {listings} of {pages} article pages taken for a listing "
          f"(parse + verdict {ms:.1f} ms/page)")
    if args.all:
        print(f"\ntrafilatura-eval ({root / TRAFILATURA_EVAL})")
        ours = score_trafilatura_eval(dxmon, root / TRAFILATURA_EVAL, workers=args.workers,
                                      limit=args.limit)
        base = score_trafilatura_eval(baseline, root / TRAFILATURA_EVAL, workers=args.workers,
                                      limit=args.limit)
        print(ours.line("dxmon extract_article"))
        print(base.line("trafilatura.extract (baseline)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
