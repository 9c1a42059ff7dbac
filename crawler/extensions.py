"""Extensions around the whole crawl: its run rows, and what stops it early.

:class:`CrawlRuns` writes one ``crawl_runs`` row per source crawled, with its stats.
A run is ``ok`` when the crawl finished and the source answered at least one page;
``failed`` when nothing of it could be fetched; ``interrupted`` when the crawl was
stopped (SIGTERM, timeout, a storage failure). The first ``ok`` run of a source sets
its baseline. Runs a killed crawl left ``running`` are closed as ``abandoned`` when
the next crawl opens.

:class:`CrawlGuard` stops the crawl when going on is pointless or harmful: the
database cannot be written (full disk, I/O error: every further page would be
fetched and read for nothing), or the ``dxmon`` process that started it is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro

from crawler import meta
from crawler.addon import CrawlContext, crawl_context
from storage.crawl_state import finish_crawl_run, start_crawl_run
from storage.schema import abandon_dead_runs, storage_failure

__all__ = ["CrawlRuns", "CrawlGuard"]

logger = logging.getLogger(__name__)

# How often the crawl checks that its parent is alive: a crawl orphaned by a SIGKILL of
# its parent stops within this, which is short beside Scrapy's own shutdown (~1 s).
PARENT_POLL_S = 0.5


class CrawlRuns:
    def __init__(self, crawler, context: CrawlContext):
        self.crawler = crawler
        self.context = context
        self.config = context.config
        self.runs: dict[str, int] = {}
        self.responses: dict[str, int] = {}
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.response_received, signal=signals.response_received)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawl_context(crawler))

    def spider_opened(self, spider):
        db = self.context.db
        abandon_dead_runs(db)
        for source in self.context.sources:
            self.runs[source.name] = start_crawl_run(db, source.name, pid=os.getpid())

    def response_received(self, response, request, spider):
        name = request.meta.get(meta.SOURCE)
        if name and response.status < 400:
            self.responses[name] = self.responses.get(name, 0) + 1

    def spider_closed(self, spider, reason):
        stats = self.crawler.stats.get_stats()
        try:
            self._finish(stats, reason)
        except Exception as exc:
            if (message := storage_failure(exc, self.config.storage_path)) is None:
                raise
            # the parent closes the rows as interrupted once the disk lets it
            logger.error("dxmon: the crawl's runs could not be closed: %s", message)

    def _finish(self, stats: dict, reason: str) -> None:
        db = self.context.db
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
            summary = {"reason": reason, "pages_ok": ok_pages, "fetch_errors": 0, **mine,
                       **{k: v for k, v in stats.items() if not k.startswith("dxmon/source/")
                          and isinstance(v, int | float | str)}}
            finish_crawl_run(db, run_id, status, summary)


class CrawlGuard:
    """Stop the crawl early when the database fails or the parent ``dxmon`` is gone.

    Storage: the first item whose storing fails because the database cannot be
    written (:func:`storage.schema.storage_failure`: disk full, I/O error, damaged,
    read-only) closes the spider with reason ``storage_error`` and one log line
    saying what to do; what was committed before stays. Without this, every later
    page was fetched, read and failed in turn until ``crawl_timeout``.

    The message also goes to the ``dxmon`` parent on its status pipe (the
    ``DXMON_STATUS_FD`` setting), which does not depend on the full disk.

    Parent: when started by ``dxmon`` (the ``DXMON_PARENT_PID`` setting), a thread checks every
    ``PARENT_POLL_S`` that the parent is still this process's parent; once it is not
    (the parent was killed, even by SIGKILL), the crawl sends itself SIGTERM: Scrapy's
    graceful stop, which closes the run rows as ``interrupted`` and the worker pool.
    """

    def __init__(self, crawler, context: CrawlContext, parent: int | None,
                 status_fd: int | None):
        self.crawler = crawler
        self.storage_path = context.config.storage_path
        self.status_fd = status_fd
        self.stopping = False
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        if parent:
            self._watch_parent(parent)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("DXMON_CRAWL_GUARD"):
            raise NotConfigured
        settings = crawler.settings  # both set by monitor.cycle.run_crawl, else unset
        status_fd = settings.getint("DXMON_STATUS_FD")
        return cls(crawler, crawl_context(crawler), settings.getint("DXMON_PARENT_PID") or None,
                   status_fd if status_fd >= 0 else None)

    def item_error(self, item, response, spider, failure):
        message = storage_failure(failure.value, self.storage_path)
        if message is None or self.stopping:
            return
        self.stopping = True
        logger.error("dxmon: stopping the crawl: %s", message)
        self.crawler.stats.set_value("dxmon/storage_error", message)
        self._report(message)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="storage_error"))

    def _report(self, message: str) -> None:
        """Tell the ``dxmon`` parent, if any, on its status pipe."""
        if self.status_fd is not None:
            try:
                os.write(self.status_fd, message.encode("utf-8") + b"\n")
            except OSError:
                pass  # the parent is gone, or this is not its pipe: the log says it

    def _watch_parent(self, parent: int) -> None:
        def watch() -> None:
            while os.getppid() == parent:
                threading.Event().wait(PARENT_POLL_S)
            logger.warning("dxmon: the dxmon process that started this crawl (pid %d) is "
                           "gone; stopping", parent)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="dxmon-parent-watch", daemon=True).start()
