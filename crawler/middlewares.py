"""Downloader middlewares: conditional requests, and politeness per host.

ConditionalGetMiddleware
    Sends ``If-None-Match`` / ``If-Modified-Since`` from ``fetch_state`` for every page it
    has validators for, and records the validators of listings, feeds and sitemaps
    (articles are recorded by the pipeline once stored). A 304 updates ``checked_at``
    (and an article's ``last_seen``). Because some servers answer 304 even after a
    change, every ``DXMON_TRUST_304`` consecutive 304s the next request goes out
    unconditionally.

PolitenessMiddleware
    Slows a host down when it asks, which Scrapy does not do by itself:

    - a robots.txt ``Crawl-delay`` larger than the source's delay becomes the host's
      download-slot delay, for the whole crawl;
    - a 429 or 503 with ``Retry-After`` (seconds or an HTTP date): no request goes to
      that host until that long after the answer; without ``Retry-After``, the delay
      doubles; so do consecutive failures (5xx, timeouts, refused connections), up to
      ``DXMON_MAX_HOST_DELAY``. Each good answer halves a raised delay again, down to
      the host's own (the source's ``delay`` or the Crawl-delay);
    - after ``DXMON_HOST_FAILURE_LIMIT`` consecutive failures, or a ``Retry-After``
      longer than ``DXMON_MAX_HOST_DELAY``, the host is left for the rest of the crawl
      and recorded in ``host_state`` (with the reason) so ``dxmon status`` shows it.

    Raised delays are exact (no jitter): a Crawl-delay or Retry-After is a minimum.

SourceBoundaryMiddleware
    A redirect that leaves the hosts of the request's source is not followed (not even
    to the other host's robots.txt, so it runs before RobotsTxtMiddleware): a listing
    link that redirects elsewhere leads to nothing of this source's (issue 12).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import UTC, datetime, timedelta

from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from core.http import parse_retry_after
from crawler.urls import host_of
from storage import queries
from storage.crawl_state import mark_unchanged, record_validators, validators_for
from storage.schema import open_db, transaction, utcnow_iso

logger = logging.getLogger(__name__)

__all__ = ["ConditionalGetMiddleware", "PolitenessMiddleware", "SourceBoundaryMiddleware"]


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
    def __init__(self, crawler):
        super().__init__(crawler)
        # listing/feed/sitemap URL -> (etag, last_modified, content hash, fetched at),
        # written when the crawl finishes: never before what the page led to is stored
        self.pending: dict[str, tuple] = {}

    def process_request(self, request, spider=None):
        if self.db is None or "kind" not in request.meta or request.meta.get("sweep"):
            return None
        row = validators_for(self.db, request.url)
        if row and row.content_hash:
            request.meta["content_hash"] = row.content_hash  # compared with a 200's bytes
        if not row or not (row.etag or row.last_modified):
            return None
        trust = self.crawler.settings.getint("DXMON_TRUST_304", 5)
        if row.unchanged and row.unchanged % trust == 0:
            self.crawler.stats.inc_value("dxmon/unconditional_recheck")
            return None
        if row.etag:
            request.headers[b"If-None-Match"] = row.etag
        if row.last_modified:
            request.headers[b"If-Modified-Since"] = row.last_modified
        return None

    def process_response(self, request, response, spider=None):
        kind = request.meta.get("kind")
        if self.db is None or kind is None:
            return response
        now = utcnow_iso()
        if response.status == 304:
            self.crawler.stats.inc_value("dxmon/not_modified")
            self._unchanged(request.url, kind, now)
        elif response.status == 200 and kind != "article":
            digest = hashlib.sha1(response.body).hexdigest()
            if request.meta.get("content_hash") == digest:  # never set on a sweep
                # no validators, or a 304 withheld: the bytes say it has not changed
                self.crawler.stats.inc_value("dxmon/unchanged_by_hash")
                request.meta["unchanged"] = True
                self._unchanged(request.url, kind, now)
            else:
                self.pending[request.url] = (response.headers.get(b"ETag"),
                                             response.headers.get(b"Last-Modified"), digest, now)
        return response

    def _unchanged(self, url: str, kind: str, now: str) -> None:
        mark_unchanged(self.db, url, now, article=kind == "article")

    def spider_closed(self, spider, reason="finished"):
        """Save the listings' validators, unless the crawl was cut short or lost an article.

        A listing whose article could not be fetched keeps its old validators, so the
        next crawl reads it again instead of being told "304: nothing new".
        """
        dirty = getattr(spider, "dirty_listings", set())
        if self.db is not None and reason == "finished":
            kept = {url: v for url, v in self.pending.items() if url not in dirty}
            with transaction(self.db):
                for url, (etag, last_modified, digest, now) in kept.items():
                    record_validators(self.db, url, etag, last_modified, now, digest)
            logger.info("validators saved for %d listings, withheld for %d", len(kept),
                        len(self.pending) - len(kept))
        self.pending.clear()
        super().spider_closed(spider)


_CRAWL_DELAY = re.compile(rb"^\s*crawl-delay\s*:\s*([\d.]+)", re.IGNORECASE | re.MULTILINE)


class PolitenessMiddleware(_WithDb):
    def __init__(self, crawler):
        super().__init__(crawler)
        self.failures: dict[str, int] = {}
        self.given_up: set[str] = set()
        self.limit = crawler.settings.getint("DXMON_HOST_FAILURE_LIMIT", 8)
        self.max_delay = crawler.settings.getfloat("DXMON_MAX_HOST_DELAY", 60.0)
        self.default_delay = crawler.settings.getfloat("DOWNLOAD_DELAY", 0)
        self.configured = {k: dict(v) for k, v in crawler.settings.getdict("DOWNLOAD_SLOTS").items()}
        self.floor: dict[str, float] = {}  # host -> robots.txt Crawl-delay

    def process_request(self, request, spider=None):
        host = host_of(request.url)
        if host in self.given_up:
            self.crawler.stats.inc_value("dxmon/host_backoff_skipped")
            raise IgnoreRequest(f"{host} is left for the rest of this crawl")
        return None

    def process_response(self, request, response, spider=None):
        host = host_of(request.url)
        if request.url.endswith("/robots.txt") and response.status == 200:
            m = _CRAWL_DELAY.search(response.body or b"")
            if m:
                delay = float(m.group(1))
                logger.info("robots.txt of %s asks for Crawl-delay %.2fs", host, delay)
                self.floor[host] = delay
                self._slow_down(request, delay)
                if self.db is not None:
                    queries.record_host(self.db, host, ok=True, crawl_delay=delay)
        if response.status in (429, 503):
            wait = parse_retry_after(response.headers.get(b"Retry-After"))
            if wait is not None and wait > self.max_delay:
                self._give_up(host, f"HTTP {response.status} with Retry-After {wait:.0f}s",
                              timedelta(seconds=wait))
                return response
            self.crawler.stats.inc_value("dxmon/slowed_down")
            self._failure(request, host, f"HTTP {response.status}", wait)
        elif response.status >= 500:
            self._failure(request, host, f"HTTP {response.status}")
        else:
            self._success(host)
        return response

    def process_exception(self, request, exception, spider=None):
        self._failure(request, host_of(request.url), type(exception).__name__)
        return None

    def _slow_down(self, request, delay: float, *, from_now: bool = False) -> None:
        """At least ``delay`` between requests to the request's host (and from now).

        The spider gives each host (with its port) its own download slot; robots.txt
        is fetched through another slot, so the host's slot is named, not looked up
        from the request. A slot not created yet gets the delay when it is.
        """
        downloader = self.crawler.engine.downloader
        key = host_of(request.url)
        preset = downloader.per_slot_settings.setdefault(key, {})
        if delay > preset.get("delay", 0):
            preset.update(delay=delay, jitter=0)
        slot = downloader.slots.get(key)
        if slot is None:
            return
        if delay > slot.delay:
            slot.delay = delay
            slot.jitter = 0
        if from_now:  # the next request waits ``delay`` counted from this answer
            slot.lastseen = time.monotonic()

    def _success(self, host: str) -> None:
        """A good answer: the delay eases back (halving) toward the host's own."""
        slot = self.crawler.engine.downloader.slots.get(host)
        own = max(self.floor.get(host, 0),
                  self.configured.get(host, {}).get("delay", self.default_delay))
        if slot is not None and slot.delay > own:
            slot.delay = max(own, slot.delay / 2)
        if self.failures.pop(host, 0) and self.db is not None:
            queries.record_host(self.db, host, ok=True)

    def _failure(self, request, host: str, reason: str, wait: float | None = None) -> None:
        self.failures[host] = n = self.failures.get(host, 0) + 1
        if n >= self.limit and host not in self.given_up:
            self._give_up(host, f"{n} failures in a row ({reason})", timedelta(minutes=30))
            return
        slot = self.crawler.engine.downloader.slots.get(host_of(request.url))
        current = slot.delay if slot is not None else 0
        delay = wait if wait is not None else min(self.max_delay, max(0.5, current * 2))
        self._slow_down(request, delay, from_now=True)
        logger.info("%s answered %s: next request to it in %.1fs", host, reason, delay)

    def _give_up(self, host: str, reason: str, backoff: timedelta) -> None:
        if host in self.given_up:
            return
        self.given_up.add(host)
        logger.warning("leaving %s for this crawl: %s", host, reason)
        if self.db is not None:
            queries.record_host(self.db, host, ok=False, reason=reason,
                                now=datetime.now(UTC), backoff=backoff)



class SourceBoundaryMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request, spider=None):
        if not request.meta.get("redirect_urls") or "source" not in request.meta:
            return None
        owns = getattr(self.crawler.spider, "owns", None)
        if owns is None or owns(request.meta["source"], request.url):
            return None
        self.crawler.stats.inc_value("dxmon/offsite_redirects")
        logger.warning("not following %s off the hosts of %s to %s",
                       request.meta["redirect_urls"][0], request.meta["source"], request.url)
        raise IgnoreRequest(f"redirect off the source's hosts: {request.url}")
