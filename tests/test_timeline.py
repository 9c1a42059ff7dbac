"""Crawling every corpus page from the local portals yields exactly the issue's timeline.

The labelled corpus (tests/corpus/*.json) is served by the five test portals on
127.0.0.1, each article on its outlet's site and through its template (related lists,
most-read boxes, date lines with weekdays, Windows-1258 on hagiang-tv). Articles the
corpus marks ``"unicode": "nfd"`` are served decomposed. A real ``scrapy crawl news``
archives them and, as after any manual crawl, detects and groups; ``dxmon sessions
--json`` must then list the sessions of the issue's timeline and nothing else, each with
the outlets whose reports the labels attach to it.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict

from evaluation.detection import CORPUS_DIR
from testsupport.content import PortalArticle, article_from_json
from testsupport.crawl import Crawl
from testsupport.portals import PortalWeb

U, B = "ubqg-cds", "bcd-khcn-cds-da06"

# (body, number, period, date) as `dxmon sessions --json` lists them
TIMELINE = [
    (U, 1, None, "2021-11-30"),
    (U, 2, None, "2022-04-27"),
    (U, 3, None, "2022-08-08"),  # reported as "Phiên họp thứ Ba"
    (U, None, None, "2022-12-25"),  # the 2022 year-end review, never numbered
    (U, 5, None, "2023-02-25"),
    (U, 6, None, "2023-07-12"),
    (U, 7, None, "2023-12-28"),  # mostly reported unnumbered, as the 2023 year-end review
    (U, 8, None, "2024-04-24"),
    (U, 9, None, "2024-07-10"),
    (U, 10, None, "2025-02-06"),
    (B, 1, "2025", "2025-03-18"),
    (B, 2, "2025", "2025-05-20"),  # dates of 2-4 chosen for the corpus (the issue gives none)
    (B, 3, "2025", "2025-07-22"),
    (B, 4, "2025", "2025-09-23"),
    (B, 5, "2025", "2025-11-15"),
    (B, 1, "2026", "2026-02-25"),
]


def corpus() -> list[dict]:
    return [raw for path in sorted(CORPUS_DIR.glob("*.json"))
            for raw in json.loads(path.read_text(encoding="utf-8"))["articles"]]


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def corpus_articles() -> list[PortalArticle]:
    out = []
    for raw in corpus():
        article = article_from_json(raw)
        if raw.get("unicode") == "nfd":
            article = article.edited(title=nfd(article.title), sapo=nfd(article.sapo),
                                     paragraphs=tuple(map(nfd, article.paragraphs)),
                                     captions=tuple(map(nfd, article.captions)))
        out.append(article)
    return out


def expected_outlets() -> dict[tuple, int]:
    """How many outlets the labels attach to each session of the timeline."""
    by_day = {(b, d): (b, n, p, d) for b, n, p, d in TIMELINE}
    outlets = defaultdict(set)
    for raw in corpus():
        for label in raw["labels"]:
            if label["role"] == "report":
                outlets[by_day[(label["body"], label["date"])]].add(raw["outlet"])
    return {k: len(v) for k, v in outlets.items()}


def test_crawling_all_corpus_pages_yields_exactly_the_timeline(tmp_path):
    articles = corpus_articles()
    assert len({(a.site, a.slug) for a in articles}) == len(articles)
    with PortalWeb(articles, traps=False, page_size=10) as web:  # 30 articles on one site: 3 pages
        crawl = Crawl(web, tmp_path)
        crawl.scrapy(process=True)  # a manual crawl: detection and grouping run after it
        stored = crawl.query("SELECT COUNT(*) AS n FROM articles")[0]["n"]
        listed = json.loads(crawl.dxmon("sessions", "--json").stdout)
    assert stored == len(articles)
    got = sorted(((s["body"], s["number"], s["period"], s["date"]) for s in listed),
                 key=lambda k: (k[0], k[3]))
    assert got == sorted(TIMELINE, key=lambda k: (k[0], k[3]))
    outlets = {(s["body"], s["number"], s["period"], s["date"]): s["outlets"] for s in listed}
    assert outlets == expected_outlets()
    # every report of the corpus is attached to its session, and nothing else reports
    reports = sum(1 for s in listed for a in s["articles"] if a["role"] == "report")
    assert reports == sum(1 for raw in corpus() for x in raw["labels"] if x["role"] == "report")
