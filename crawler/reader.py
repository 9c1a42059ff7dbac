"""Reading fetched pages in worker processes: the article, ready to store, and the links.

Everything CPU-bound a page costs happens here, off the crawl's event loop: decoding,
parsing, extraction (lxml + trafilatura), preparing the article for storage
(normalising, hashing, folding, the MinHash signature: :func:`storage.queries.prepare`)
and mining the page's links (a real portal page carries 200 or more: menus, side
columns, footers), which are canonicalised and sorted into articles and other pages
of the source's own hosts. The crawl process is left with what only it can do:
scheduling requests and writing to SQLite.

:class:`PageReader` runs :func:`read_page` in a process pool (``DXMON_EXTRACT_WORKERS``,
default one per CPU), or in the crawl process itself when one worker is asked for.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from crawler.extract import article_from_tree, page_links, parse_html
from crawler.urls import canonical_url, host_of, is_article_url, is_listing_url, is_skippable
from storage.queries import Prepared, prepare

logger = logging.getLogger(__name__)

__all__ = ["Page", "PageReader", "read_page"]


@dataclass(frozen=True)
class Page:
    """What a page holds: its article (None if it is not one) and its links, canonical,
    on the source's hosts, each once, in page order."""

    prepared: Prepared | None
    articles: tuple[str, ...] = ()
    listings: tuple[str, ...] = ()  # other pages, for listings' pagination
    error: str | None = None  # the extractor failed: "ExceptionName: message"


def read_page(body: bytes, url: str, encoding: str | None, *, hosts: frozenset[str],
              pattern: re.Pattern | None, extract: bool, listings: bool) -> Page:
    """Read one page: its article if ``extract``, its article links, and its links to
    other pages if ``listings`` (any page when the source has no article ``pattern``,
    else only URLs that look like listings)."""
    tree = parse_html(body, headers_charset=encoding)
    if tree is None:
        return Page(None)
    articles, others = [], []
    for link in page_links(tree, url, encoding or "utf-8", hosts):
        if is_article_url(link, pattern):
            bucket = articles
        elif listings and (pattern is None or is_listing_url(link)):
            bucket = others
        else:
            continue
        link = canonical_url(link)
        if host_of(link) in hosts and not is_skippable(link) and link not in bucket:
            bucket.append(link)
    prepared, error = None, None
    if extract:
        try:
            article = article_from_tree(tree, url)
        except Exception as exc:  # a page that breaks the extractor is reported, not fatal
            article, error = None, f"{type(exc).__name__}: {exc}"
        if article is not None:
            prepared = prepare(replace(article, canonical_url=canonical_url(article.canonical_url)))
    return Page(prepared, tuple(articles), tuple(others), error)


class PageReader:
    """:func:`read_page` in a pool of ``workers`` processes (in-process for one)."""

    def __init__(self, workers: int = 0):
        workers = workers or os.cpu_count() or 1
        self.pool = None
        if workers > 1:
            self.pool = ProcessPoolExecutor(workers,
                                            mp_context=multiprocessing.get_context("forkserver"))

    async def read(self, body: bytes, url: str, encoding: str | None, **options) -> Page:
        if self.pool is None:
            return read_page(body, url, encoding, **options)
        future = self.pool.submit(read_page, body, url, encoding, **options)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
