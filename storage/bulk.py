"""Bulk loading: many rows in one transaction, for building large archives quickly
(testsupport/archive.py, the web benchmark's 100k-article archive).

:func:`storage.articles.store_article` stores one page the way a crawl must (dedup,
versions, near-duplicate search, one transaction); that costs milliseconds an article.
These functions write rows their caller has already prepared, with ``executemany``,
and check nothing: the caller answers for ids, hashes and folded search text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlite_utils

from storage.schema import transaction

__all__ = ["bulk_add_articles", "bulk_add_crawl_runs", "bulk_add_sources"]

_ARTICLE_COLUMNS = ("id", "url", "source", "title", "author", "published_at", "text",
                    "content_hash", "site_name", "related", "first_seen", "last_seen",
                    "processed_hash", "cluster_id")


def bulk_add_sources(db: sqlite_utils.Database, rows: Iterable[dict]) -> None:
    """Sources with their first crawl and baseline times (name, first_crawl_at, baseline_at)."""
    with transaction(db):
        db.conn.executemany(
            "INSERT OR IGNORE INTO sources (name, first_crawl_at, baseline_at) VALUES (?, ?, ?)",
            [(r["name"], r.get("first_crawl_at"), r.get("baseline_at")) for r in rows])


def bulk_add_articles(db: sqlite_utils.Database, articles: Sequence[dict],
                      urls: Iterable[tuple[str, int, str]],
                      versions: Iterable[tuple[int, str, str, str, str]],
                      search: Iterable[tuple[int, str, str]]) -> None:
    """Articles (dicts with the :data:`_ARTICLE_COLUMNS`), their URL rows ``(url,
    article_id, first_seen)``, version rows ``(article_id, content_hash, title, text,
    seen_at)``, oldest first, and folded search rows ``(article_id, title, text)``, in
    one transaction.

    The search rows must be :func:`storage.articles.search_forms` of the title and text
    (the index is contentless: a later update deletes the entry by recomputing them).
    Each article's last version, when it is the article's current title and text, is
    stored as the store path stores it: without a copy of them (see
    :func:`storage.articles.article_versions`)."""
    marks = ", ".join("?" * len(_ARTICLE_COLUMNS))
    current = {a["id"]: (a["content_hash"], a["title"], a["text"]) for a in articles}
    versions = list(versions)
    last = {row[0]: i for i, row in enumerate(versions)}
    rows = [(aid, digest, None, None, seen)
            if last[aid] == i and current.get(aid) == (digest, title, text)
            else (aid, digest, title, text, seen)
            for i, (aid, digest, title, text, seen) in enumerate(versions)]
    with transaction(db):
        db.conn.executemany(
            f"INSERT INTO articles ({', '.join(_ARTICLE_COLUMNS)}) VALUES ({marks})",
            [tuple(a.get(c) for c in _ARTICLE_COLUMNS) for a in articles])
        db.conn.executemany("INSERT OR IGNORE INTO article_urls (url, article_id, first_seen) "
                            "VALUES (?, ?, ?)", urls)
        db.conn.executemany("INSERT INTO article_versions (article_id, content_hash, title, "
                            "text, seen_at) VALUES (?, ?, ?, ?, ?)", rows)
        db.conn.executemany("INSERT INTO articles_search (rowid, title, text) VALUES (?, ?, ?)",
                            search)


def bulk_add_crawl_runs(db: sqlite_utils.Database,
                        rows: Iterable[tuple[str, str, str, str, str]]) -> None:
    """Finished crawl runs ``(source, started_at, finished_at, status, stats JSON)``."""
    with transaction(db):
        db.conn.executemany("INSERT INTO crawl_runs (source, started_at, finished_at, status, "
                            "stats) VALUES (?, ?, ?, ?, ?)", rows)
