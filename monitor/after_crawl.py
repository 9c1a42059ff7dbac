"""The Scrapy extension that makes a manual ``scrapy crawl news`` a full citizen.

Enabled by the dxmon add-on (:mod:`crawler.addon`): when the crawl engine stops —
after every spider_closed handler, so the crawl-run row is closed and a first
crawl has set its source's baseline — it runs :func:`monitor.cycle.after_crawl` in
the crawl process: detection, grouping, alert rows and delivery of due alerts,
exactly as a scheduled crawl would. Switch it off with ``DXMON_PROCESS_AFTER_CRAWL =
False`` (``dxmon crawl`` does: it processes in its own process; the benchmarks do, to
time the crawl alone).

If processing fails, the error is logged with its traceback and the ``scrapy crawl``
process exits with code 1 (:mod:`crawler.commands.crawl`): what was stored stays,
and the next cycle processes it again.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.addon import CrawlContext, crawl_context
from monitor.cycle import after_crawl

logger = logging.getLogger(__name__)

__all__ = ["ProcessAfterCrawl"]


class ProcessAfterCrawl:
    """Detect, group and alert on what the crawl stored, once the engine has stopped."""

    def __init__(self, crawler, context: CrawlContext):
        self.crawler = crawler
        self.context = context

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("DXMON_PROCESS_AFTER_CRAWL"):
            raise NotConfigured
        ext = cls(crawler, crawl_context(crawler))
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def engine_stopped(self):
        try:
            report = after_crawl(self.context.db, self.context.config)
        except Exception as exc:
            logger.exception("dxmon: processing after the crawl failed; the next cycle retries")
            self.context.failures.append(f"processing after the crawl failed: "
                                         f"{type(exc).__name__}: {exc}")
            return
        p = report.processed
        logger.info("dxmon: processed %d articles, %d mentions, %d new sessions (%d alerting)",
                    p.articles, p.mentions, len(p.new_sessions), len(p.alerted_sessions))
        if report.dispatched is not None:
            logger.info("dxmon: delivery %s", report.dispatched)
