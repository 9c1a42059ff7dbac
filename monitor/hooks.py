"""The Scrapy extension that makes a manual ``scrapy crawl news`` a full citizen.

Enabled in ``crawler/settings.py`` (``EXTENSIONS``): when the crawl engine stops —
after every spider_closed handler, so the crawl-run row is closed and a first
crawl has set its source's baseline — it runs :func:`monitor.cycle.after_crawl` in
the crawl process: detection, grouping, alert rows and delivery of due alerts,
exactly as a scheduled crawl would. Switch it off with ``DXMON_PROCESS_AFTER_CRAWL =
False`` (the benchmarks do, to time the crawl alone).
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.exceptions import NotConfigured

from core.config import load_config
from monitor.cycle import after_crawl
from storage.schema import open_db

logger = logging.getLogger(__name__)


class ProcessAfterCrawl:
    """Detect, group and alert on what the crawl stored, once the engine has stopped."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.config = None

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("DXMON_PROCESS_AFTER_CRAWL", True):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def spider_opened(self, spider):
        # the spider validated the config at start; reuse it rather than re-read the file
        self.config = getattr(spider, "dxmon_config", None)

    def engine_stopped(self):
        config = self.config or load_config()
        db = open_db(config.storage_path)
        try:
            report = after_crawl(db, config)
        except Exception:
            logger.exception("dxmon: processing after the crawl failed; the next cycle retries")
            return
        finally:
            db.close()
        p = report.processed
        logger.info("dxmon: processed %d articles, %d mentions, %d new sessions (%d alerting)",
                    p.articles, p.mentions, len(p.new_sessions), len(p.alerted_sessions))
        if report.dispatched is not None:
            logger.info("dxmon: delivery %s", report.dispatched)
