"""The store pipeline: articles written in small batches, each with its validators.

The CPU work of a page (extraction, normalising, hashing, folding for search, the
MinHash signature) was done in a worker process (:mod:`crawler.reader`); items carry
the :class:`storage.articles.Prepared` article, so the crawl process, SQLite's one
writer, only writes.

A commit costs more than the article's own statements (WAL frames for every index
page touched, the FTS segments), so articles arriving together are written in one
transaction: up to ``DXMON_STORE_BATCH`` of them, or whatever arrived within
``DXMON_STORE_WAIT`` seconds of the first. Each article is stored atomically with its
validators (:func:`storage.articles.store_batch`: the batch is the unit, without a
savepoint per article); if a batch fails, its articles are written again one by one,
each in a batch of its own, so one bad article costs only itself. A crash loses at most the batch in hand: those pages were
not marked as fetched, and the next crawl fetches them again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from crawler.addon import CrawlContext, crawl_context
from storage.articles import Prepared, record_url_variants, store_article, store_batch
from storage.crawl_state import record_validators, schedule_revisit
from storage.maintenance import MERGE_EVERY, MergeAsYouGo
from storage.schema import utcnow_iso

logger = logging.getLogger(__name__)

__all__ = ["StorePipeline"]


class StorePipeline:
    def __init__(self, crawler, context: CrawlContext, *, size: int, wait: float,
                 merge_every: int = MERGE_EVERY):
        self.crawler = crawler
        self.context = context
        self.db = context.db  # the crawl's handle: the add-on closes it
        self.batch: list[tuple[dict, asyncio.Future]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.size = size
        self.wait = wait
        self.window = timedelta(days=context.config.revisit_days)  # young: revisited
        self.merges = MergeAsYouGo(self.db, merge_every)  # a long crawl's, between batches

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(crawler, crawl_context(crawler), size=settings.getint("DXMON_STORE_BATCH"),
                   wait=settings.getfloat("DXMON_STORE_WAIT"),
                   merge_every=settings.getint("DXMON_MERGE_EVERY", MERGE_EVERY))

    def close_spider(self, spider=None):
        self._flush()
        self._record_variants()

    def _record_variants(self) -> None:
        """Every spelling linked for a known article (an AMP or mobile copy of one
        stored before, a variant met after it was stored) becomes one of its URLs."""
        variants = self.context.variants
        if not variants:
            return
        try:
            added = record_url_variants(self.db, variants)
        except Exception as exc:  # noqa: BLE001 - the articles are stored; only aliases lost
            logger.warning("could not record URL variants (%s: %s)", type(exc).__name__, exc)
            return
        self.crawler.stats.set_value("dxmon/url_variants_recorded", added)

    async def process_item(self, item, spider=None):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.batch.append((item, future))
        if len(self.batch) >= self.size:
            self._flush()
            if self.merges.stored(self.size):
                self.crawler.stats.inc_value("dxmon/search_index_merges")
        elif self.timer is None:
            self.timer = loop.call_later(self.wait, self._flush)
        return await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.batch = self.batch, []
        if not batch:
            return
        now = datetime.now(UTC)  # one clock reading for the batch
        try:
            with store_batch(self.db):  # no savepoint per article: the batch is atomic
                results = [self._store(item, now) for item, _ in batch]
        except Exception as exc:  # noqa: BLE001 - retried one by one below
            logger.warning("a batch of %d articles failed (%s: %s); storing them one by one",
                           len(batch), type(exc).__name__, exc)
            for item, future in batch:
                try:
                    with store_batch(self.db):
                        result = self._store(item, now)
                except Exception as one:  # noqa: BLE001 - this item fails, the rest go on
                    future.set_exception(one)
                else:  # only once committed: a failed COMMIT (disk full) fails the item
                    future.set_result(result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _store(self, item: dict, now: datetime) -> dict:
        """One article and its validators; the caller's transaction makes them one."""
        prepared: Prepared = item["prepared"]
        stored = store_article(self.db, item["source"], prepared, now=now,
                               urls=item.get("variants", ()),
                               hint=item.get("canonical_hint"))
        if stored.conflict:
            self.crawler.stats.inc_value("dxmon/source_conflicts")
        else:  # checked now (the claimed article of a conflict was not: another URL's)
            schedule_revisit(self.db, stored.article_id, now, self.window)
        seen = utcnow_iso(now)
        for url in {item["url"], item.get("requested_url") or item["url"]}:
            record_validators(self.db, url, item.get("etag"), item.get("last_modified"), seen)
        stats = self.crawler.stats
        stats.inc_value(f"dxmon/articles_{stored.outcome}")
        stats.inc_value(f"dxmon/source/{item['source']}/articles_{stored.outcome}")
        return {"source": item["source"], "url": prepared.article.canonical_url,
                "title": prepared.title, "outcome": stored.outcome,
                "article_id": stored.article_id}
