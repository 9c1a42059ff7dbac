"""The names callers used before storage/ was split by table family (issue 13).

Kept importable for this round while other parts of the refactor still write
``queries.store_article(...)``; new code imports from the family module itself:

- :mod:`storage.articles` — articles, URL aliases, versions, hints, conflicts, search;
- :mod:`storage.crawl_state` — sources, crawl runs, fetch validators, host health;
- :mod:`storage.sessions` — sessions, mentions, session articles;
- :mod:`storage.outbox` — alert rows.
"""

from __future__ import annotations

from storage.articles import (
    Prepared,
    Stored,
    article_aliases,
    article_by_url,
    article_versions,
    content_hash,
    count_articles,
    count_source_conflicts,
    known_url,
    known_urls,
    prepare,
    recent_articles,
    record_url_variants,
    search_articles,
    store_article,
    unprocessed_articles,
)
from storage.crawl_state import (
    close_abandoned_runs,
    crawl_runs_of,
    ensure_source,
    finish_crawl_run,
    host_problems,
    last_crawl_runs,
    last_finished_crawl,
    record_host,
    source_baseline,
    start_crawl_run,
)

__all__ = ["Prepared", "Stored", "article_aliases", "article_by_url", "article_versions",
           "content_hash", "count_articles", "count_source_conflicts", "known_url", "known_urls",
           "prepare", "recent_articles", "record_url_variants", "search_articles",
           "store_article", "unprocessed_articles", "close_abandoned_runs", "crawl_runs_of",
           "ensure_source", "finish_crawl_run", "host_problems", "last_crawl_runs",
           "last_finished_crawl", "record_host", "source_baseline", "start_crawl_run"]
