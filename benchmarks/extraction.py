"""Extraction quality and speed on the public benchmark in ../shared/benchmarks.

Scores dxmon's extractor (crawler.extract.extract_article) against plain trafilatura
measured in the same run (the baseline), on Zyte's scrapinghub article set (F1 over
4-token shingles, as published) and, with --all, on trafilatura's own eval set.

    python benchmarks/extraction.py [--workers 2] [--limit N] [--all]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trafilatura  # noqa: E402

from crawler.extract import extract_article  # noqa: E402
from crawler.scoring import (  # noqa: E402
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
