"""Downloader middlewares: conditional requests, and politeness per host.

ConditionalGetMiddleware
    Sends ``If-None-Match`` / ``If-Modified-Since`` from ``fetch_state`` for every page it
    has validators for, and records the validators of listings, feeds and sitemaps
    (articles are recorded by the pipeline once stored). A 304 updates ``checked_at``
    (and an article's ``last_seen``). Because some servers answer 304 even after a
    change, every ``DXMON_TRUST_304`` consecutive 304s the next request goes out
    unconditionally.

PolitenessMiddleware
    Applies a robots.txt ``Crawl-delay`` larger than the source's delay to the host's
    download slot, and stops requesting a host for the rest of the crawl after
    ``DXMON_HOST_FAILURE_LIMIT`` consecutive failures (5xx, timeouts, refused
    connections), recording it in ``host_state`` so ``dxmon status`` shows it.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from crawler.urls import host_of
from storage import queries
from storage.schema import open_db, transaction, utcnow_iso

logger = logging.getLogger(__name__)

__all__ = ["ConditionalGetMiddleware", "PolitenessMiddleware"]


class _WithDb:
    def __init__(self, crawler):
        self.crawler = crawler
        self.db = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def spider_opened(self, spider):
        self.db = open_db(spider.dxmon_config.storage_path)

    def spider_closed(self, spider):
        if self.db is not None:
            self.db.close()
            self.db = None


class ConditionalGetMiddleware(_WithDb):
    def process_request(self, request, spider=None):
        if self.db is None or "kind" not in request.meta:
            return None
        row = self.db.execute("SELECT etag, last_modified, unchanged FROM fetch_state WHERE url = ?",
                              [request.url]).fetchone()
        if not row or not (row[0] or row[1]):
            return None
        trust = self.crawler.settings.getint("DXMON_TRUST_304", 5)
        if row[2] and row[2] % trust == 0:
            self.crawler.stats.inc_value("dxmon/unconditional_recheck")
            return None
        if row[0]:
            request.headers[b"If-None-Match"] = row[0]
        if row[1]:
            request.headers[b"If-Modified-Since"] = row[1]
        return None

    def process_response(self, request, response, spider=None):
        kind = request.meta.get("kind")
        if self.db is None or kind is None:
            return response
        now = utcnow_iso()
        if response.status == 304:
            self.crawler.stats.inc_value("dxmon/not_modified")
            with transaction(self.db):
                self.db.execute("UPDATE fetch_state SET checked_at = ?, unchanged = unchanged + 1 "
                                "WHERE url = ?", [now, request.url])
                if kind == "article":
                    self.db.execute("UPDATE articles SET last_seen = ? WHERE id = "
                                    "(SELECT article_id FROM article_urls WHERE url = ?)",
                                    [now, request.url])
        elif response.status == 200 and kind != "article":
            record_validators(self.db, request.url, response.headers.get(b"ETag"),
                              response.headers.get(b"Last-Modified"), now)
        return response


def record_validators(db, url: str, etag, last_modified, now: str) -> None:
    """A full fetch of ``url``: its validators, and the 304 streak reset."""
    etag = etag.decode("latin-1") if isinstance(etag, bytes) else etag
    last_modified = (last_modified.decode("latin-1") if isinstance(last_modified, bytes)
                     else last_modified)
    with transaction(db):
        db.execute(
            "INSERT INTO fetch_state (url, etag, last_modified, fetched_at, checked_at, unchanged) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, "
            "last_modified = excluded.last_modified, fetched_at = excluded.fetched_at, "
            "checked_at = excluded.checked_at, unchanged = 0",
            [url, etag, last_modified, now, now])


_CRAWL_DELAY = re.compile(rb"^\s*crawl-delay\s*:\s*([\d.]+)", re.IGNORECASE | re.MULTILINE)


class PolitenessMiddleware(_WithDb):
    def __init__(self, crawler):
        super().__init__(crawler)
        self.failures: dict[str, int] = {}
        self.given_up: set[str] = set()
        self.limit = crawler.settings.getint("DXMON_HOST_FAILURE_LIMIT", 8)

    def process_request(self, request, spider=None):
        host = host_of(request.url)
        if host in self.given_up:
            self.crawler.stats.inc_value("dxmon/host_backoff_skipped")
            raise IgnoreRequest(f"{host} failed {self.limit} times in a row in this crawl")
        return None

    def process_response(self, request, response, spider=None):
        host = host_of(request.url)
        if request.url.endswith("/robots.txt") and response.status == 200:
            m = _CRAWL_DELAY.search(response.body or b"")
            if m:
                self._slow_down(request, host, float(m.group(1)))
        if response.status >= 500 or response.status == 429:
            self._failure(host, f"HTTP {response.status}")
        else:
            self._success(host)
        return response

    def process_exception(self, request, exception, spider=None):
        self._failure(host_of(request.url), type(exception).__name__)
        return None

    def _slow_down(self, request, host: str, delay: float) -> None:
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        if slot is not None and delay > slot.delay:
            logger.info("robots.txt of %s asks for Crawl-delay %.2fs", host, delay)
            slot.delay = delay
        if self.db is not None:
            queries.record_host(self.db, host, ok=True, crawl_delay=delay)

    def _success(self, host: str) -> None:
        if self.failures.pop(host, 0) and self.db is not None:
            queries.record_host(self.db, host, ok=True)

    def _failure(self, host: str, reason: str) -> None:
        self.failures[host] = self.failures.get(host, 0) + 1
        if self.failures[host] >= self.limit and host not in self.given_up:
            self.given_up.add(host)
            logger.warning("leaving %s for this crawl after %d failures in a row (%s)",
                           host, self.failures[host], reason)
            if self.db is not None:
                queries.record_host(self.db, host, ok=False, reason=reason,
                                    now=datetime.now(UTC), backoff=timedelta(minutes=30))
