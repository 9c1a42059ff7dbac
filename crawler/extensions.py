"""The crawl-runs extension: one ``crawl_runs`` row per source crawled, with its stats.

A run is ``ok`` when the crawl finished and the source answered at least one page;
``failed`` when nothing of it could be fetched; ``interrupted`` when the crawl was
stopped (SIGTERM, timeout). The first ``ok`` run of a source sets its baseline.
"""

from __future__ import annotations

import os

from scrapy import signals

from storage import queries
from storage.schema import open_db

__all__ = ["CrawlRuns"]


class CrawlRuns:
    def __init__(self, crawler):
        self.crawler = crawler
        self.runs: dict[str, int] = {}
        self.responses: dict[str, int] = {}
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.response_received, signal=signals.response_received)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def spider_opened(self, spider):
        self.config = spider.dxmon_config
        db = open_db(self.config.storage_path)
        try:
            for source in spider.sources:
                self.runs[source.name] = queries.start_crawl_run(db, source.name, pid=os.getpid())
        finally:
            db.close()

    def response_received(self, response, request, spider):
        name = request.meta.get("source")
        if name and response.status < 400:
            self.responses[name] = self.responses.get(name, 0) + 1

    def spider_closed(self, spider, reason):
        stats = self.crawler.stats.get_stats()
        db = open_db(self.config.storage_path)
        try:
            for name, run_id in self.runs.items():
                ok_pages = self.responses.get(name, 0)
                if reason != "finished":
                    status = "interrupted"
                elif ok_pages == 0:
                    status = "failed"
                else:
                    status = "ok"
                prefix = f"dxmon/source/{name}/"
                mine = {k[len(prefix):]: v for k, v in stats.items() if k.startswith(prefix)}
                summary = {"reason": reason, "pages_ok": ok_pages, **mine,
                           **{k: v for k, v in stats.items() if not k.startswith("dxmon/source/")
                              and isinstance(v, int | float | str)}}
                queries.finish_crawl_run(db, run_id, status, summary)
        finally:
            db.close()
