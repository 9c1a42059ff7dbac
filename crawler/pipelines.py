"""The store pipeline: extraction in worker processes, then one write per page.

Extraction (lxml + trafilatura) is CPU-bound and would stall the crawl's event loop,
so pages go to a process pool (``DXMON_EXTRACT_WORKERS``, default one per CPU) while
the downloader keeps fetching; storing stays in the crawl process, one short
transaction per article (SQLite has one writer).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from scrapy.exceptions import DropItem

from crawler.extract import extract_article
from crawler.middlewares import record_validators
from crawler.urls import canonical_url
from storage import queries
from storage.schema import open_db, utcnow_iso

logger = logging.getLogger(__name__)

__all__ = ["StorePipeline", "extract_page"]


def extract_page(body: bytes, url: str, encoding: str | None):
    """Run in a worker: the page's article (canonical URL cleaned), or None."""
    article = extract_article(body, url, headers_charset=encoding)
    if article is None:
        return None
    return replace(article, canonical_url=canonical_url(article.canonical_url))


class StorePipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.db = None
        self.pool = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self, spider=None):
        spider = spider or self.crawler.spider
        self.db = open_db(spider.dxmon_config.storage_path)
        workers = self.crawler.settings.getint("DXMON_EXTRACT_WORKERS", 0) or os.cpu_count() or 1
        if workers > 1:
            self.pool = ProcessPoolExecutor(workers,
                                            mp_context=multiprocessing.get_context("forkserver"))

    def close_spider(self, spider=None):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.db is not None:
            self.db.close()

    async def process_item(self, item, spider=None):
        stats = self.crawler.stats
        args = (item["body"], item["url"], item.get("encoding"))
        try:
            if self.pool is not None:
                article = await asyncio.wrap_future(self.pool.submit(extract_page, *args))
            else:
                article = extract_page(*args)
        except Exception as exc:  # a page that breaks the extractor is logged, not fatal
            stats.inc_value("dxmon/extract_errors")
            logger.warning("could not extract %s: %s: %s", item["url"], type(exc).__name__, exc)
            raise DropItem(f"extraction failed: {exc}") from None
        if article is None:
            stats.inc_value("dxmon/not_articles")
            raise DropItem(f"no article text on {item['url']}")
        stored = queries.store_article(self.db, item["source"], article)
        stats.inc_value(f"dxmon/articles_{stored.outcome}")
        stats.inc_value(f"dxmon/source/{item['source']}/articles_{stored.outcome}")
        now = utcnow_iso()
        for url in {item["url"], item.get("requested_url") or item["url"]}:
            record_validators(self.db, url, item.get("etag"), item.get("last_modified"), now)
        return {"source": item["source"], "url": article.canonical_url, "title": article.title,
                "outcome": stored.outcome, "article_id": stored.article_id}
