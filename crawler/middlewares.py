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

    - a robots.txt ``Crawl-delay`` (for our user agent, as Scrapy's robots.txt parser
      reads it) larger than the source's delay becomes the host's download-slot delay,
      for the whole crawl;
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
import time
from datetime import UTC, datetime, timedelta

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.misc import load_object

from core.retry_after import parse_retry_after
from crawler import meta
from crawler.addon import CrawlContext, crawl_context
from crawler.urls import host_of
from storage.crawl_state import mark_unchanged, record_host, record_validators, validators_for
from storage.schema import transaction, utcnow_iso

logger = logging.getLogger(__name__)

__all__ = ["ConditionalGetMiddleware", "PolitenessMiddleware", "SourceBoundaryMiddleware"]


class ConditionalGetMiddleware:
    """Conditional requests and content hashes (see the module docstring).

    Off with ``DXMON_CONDITIONAL_GET = False`` (every page fetched whole).
    """

    def __init__(self, crawler, context: CrawlContext, trust_304: int):
        self.crawler = crawler
        self.context = context
        self.db = context.db
        self.trust_304 = trust_304
        self.window = timedelta(days=context.config.revisit_days)  # an article's revisits
        # listing/feed/sitemap URL -> (etag, last_modified, content hash, fetched at),
        # written when the crawl finishes: never before what the page led to is stored
        self.pending: dict[str, tuple] = {}
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("DXMON_CONDITIONAL_GET"):
            raise NotConfigured
        return cls(crawler, crawl_context(crawler), crawler.settings.getint("DXMON_TRUST_304"))

    def process_request(self, request, spider=None):
        if meta.KIND not in request.meta or request.meta.get(meta.SWEEP):
            return None
        row = validators_for(self.db, request.url)
        if row and row.content_hash:
            request.meta[meta.CONTENT_HASH] = row.content_hash  # compared with a 200's bytes
        if not row or not (row.etag or row.last_modified):
            return None
        if row.unchanged and row.unchanged % self.trust_304 == 0:
            self.crawler.stats.inc_value("dxmon/unconditional_recheck")
            return None
        if row.etag:
            request.headers[b"If-None-Match"] = row.etag
        if row.last_modified:
            request.headers[b"If-Modified-Since"] = row.last_modified
        return None

    def process_response(self, request, response, spider=None):
        kind = request.meta.get(meta.KIND)
        if kind is None:
            return response
        now = utcnow_iso()
        if response.status == 304:
            self.crawler.stats.inc_value("dxmon/not_modified")
            self._unchanged(request.url, kind, now)
        elif response.status == 200 and kind != "article":
            digest = hashlib.sha1(response.body).hexdigest()
            if request.meta.get(meta.CONTENT_HASH) == digest:  # never set on a sweep
                # no validators, or a 304 withheld: the bytes say it has not changed
                self.crawler.stats.inc_value("dxmon/unchanged_by_hash")
                request.meta[meta.UNCHANGED] = True
                self._unchanged(request.url, kind, now)
            else:
                self.pending[request.url] = (response.headers.get(b"ETag"),
                                             response.headers.get(b"Last-Modified"), digest, now)
        return response

    def _unchanged(self, url: str, kind: str, now: str) -> None:
        mark_unchanged(self.db, url, now, article=kind == "article", window=self.window)

    def spider_closed(self, spider, reason="finished"):
        """Save the listings' validators, unless the crawl was cut short or lost an article.

        A listing whose article could not be fetched keeps its old validators, so the
        next crawl reads it again instead of being told "304: nothing new".
        """
        dirty = self.context.dirty_listings
        if reason == "finished":
            kept = {url: v for url, v in self.pending.items() if url not in dirty}
            with transaction(self.db):
                for url, (etag, last_modified, digest, now) in kept.items():
                    record_validators(self.db, url, etag, last_modified, now, digest)
            logger.info("validators saved for %d listings, withheld for %d", len(kept),
                        len(self.pending) - len(kept))
        self.pending.clear()


class PolitenessMiddleware:
    """Slows a host down when it asks (see the module docstring).

    Only Scrapy's public slot API is used: ``downloader.slots`` and a slot's ``delay``
    and ``jitter`` (what Scrapy's AutoThrottle writes). A delay for a host whose slot
    does not exist yet (robots.txt is fetched through the bare hostname's slot) is
    applied when its first request reaches the downloader (``request_reached_downloader``,
    sent once the slot is made and before anything is downloaded through it).
    """

    def __init__(self, crawler, context: CrawlContext, *, limit: int, max_delay: float,
                 default_delay: float, own_delays: dict[str, float]):
        self.crawler = crawler
        self.db = context.db
        self.limit = limit
        self.max_delay = max_delay
        self.default_delay = default_delay
        self.own_delays = own_delays  # host -> its source's delay (DOWNLOAD_SLOTS)
        self.failures: dict[str, int] = {}
        self.given_up: set[str] = set()
        self.crawl_delays: dict[str, float] = {}  # host -> robots.txt Crawl-delay
        self.for_new_slot: dict[str, float] = {}  # host -> raised delay, slot not made yet
        settings = crawler.settings
        self.robots_parser = load_object(settings["ROBOTSTXT_PARSER"])
        # as RobotsTxtMiddleware asks robots.txt: its own user agent, else ours
        self.user_agent = settings.get("ROBOTSTXT_USER_AGENT") or settings.get("USER_AGENT")
        crawler.signals.connect(self.request_reached_downloader,
                                signal=signals.request_reached_downloader)

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        own = {host: slot["delay"] for host, slot in settings.getdict("DOWNLOAD_SLOTS").items()
               if "delay" in slot}
        return cls(crawler, crawl_context(crawler),
                   limit=settings.getint("DXMON_HOST_FAILURE_LIMIT"),
                   max_delay=settings.getfloat("DXMON_MAX_HOST_DELAY"),
                   default_delay=settings.getfloat("DOWNLOAD_DELAY"), own_delays=own)

    def process_request(self, request, spider=None):
        host = host_of(request.url)
        if host in self.given_up:
            self.crawler.stats.inc_value("dxmon/host_backoff_skipped")
            raise IgnoreRequest(f"{host} is left for the rest of this crawl")
        return None

    def process_response(self, request, response, spider=None):
        host = host_of(request.url)
        if request.url.endswith("/robots.txt") and response.status == 200:
            delay = self._crawl_delay(response.body or b"")
            if delay:
                logger.info("robots.txt of %s asks for Crawl-delay %.2fs", host, delay)
                self.crawl_delays[host] = delay
                self._slow_down(host, delay)
                record_host(self.db, host, ok=True, crawl_delay=delay)
        if response.status in (429, 503):
            wait = parse_retry_after(response.headers.get(b"Retry-After"))
            if wait is not None and wait > self.max_delay:
                self._give_up(host, f"HTTP {response.status} with Retry-After {wait:.0f}s",
                              timedelta(seconds=wait))
                return response
            self.crawler.stats.inc_value("dxmon/slowed_down")
            self._failure(host, f"HTTP {response.status}", wait)
        elif response.status >= 500:
            self._failure(host, f"HTTP {response.status}")
        else:
            self._success(host)
        return response

    def process_exception(self, request, exception, spider=None):
        self._failure(host_of(request.url), type(exception).__name__)
        return None

    def _crawl_delay(self, body: bytes) -> float | None:
        """The robots.txt ``Crawl-delay`` for our user agent, read by Scrapy's own
        robots.txt parser (``ROBOTSTXT_PARSER``, the one that decides what is allowed)."""
        try:
            parser = self.robots_parser.from_crawler(self.crawler, body)
            return parser.crawl_delay(self.user_agent)
        except Exception as exc:  # noqa: BLE001 - a robots.txt nobody can parse: no delay
            logger.warning("could not read Crawl-delay (%s: %s)", type(exc).__name__, exc)
            return None

    def request_reached_downloader(self, request, spider=None):
        """A slot just made gets its host's raised delay or Crawl-delay, if any."""
        key = request.meta.get("download_slot")
        slot = self._slot(key)
        if slot is None:
            return
        delay = max(self.for_new_slot.pop(key, 0), self.crawl_delays.get(key, 0))
        if delay > slot.delay:
            slot.delay, slot.jitter = delay, 0

    def _slot(self, host: str | None):
        return self.crawler.engine.downloader.slots.get(host) if host else None

    def _slow_down(self, host: str, delay: float, *, from_now: bool = False) -> None:
        """At least ``delay`` between requests to ``host`` (and, ``from_now``, from now).

        The spider gives each host (with its port) its own download slot, named by the
        host. Scrapy spaces a slot's requests from when the last one was sent, so
        "from now" adds the time since then (read, not written, from the slot).
        Raised delays are exact: a Crawl-delay or Retry-After is a minimum.
        """
        slot = self._slot(host)
        if slot is None:
            self.for_new_slot[host] = max(delay, self.for_new_slot.get(host, 0))
            return
        if from_now:
            delay += max(0.0, time.monotonic() - slot.lastseen)
        if delay > slot.delay:
            slot.delay, slot.jitter = delay, 0

    def _success(self, host: str) -> None:
        """A good answer: the delay eases back (halving) toward the host's own."""
        slot = self._slot(host)
        own = max(self.crawl_delays.get(host, 0), self.own_delays.get(host, self.default_delay))
        if slot is not None and slot.delay > own:
            slot.delay = max(own, slot.delay / 2)
        if self.failures.pop(host, 0):
            record_host(self.db, host, ok=True)

    def _failure(self, host: str, reason: str, wait: float | None = None) -> None:
        self.failures[host] = n = self.failures.get(host, 0) + 1
        if n >= self.limit and host not in self.given_up:
            self._give_up(host, f"{n} failures in a row ({reason})", timedelta(minutes=30))
            return
        slot = self._slot(host)
        current = slot.delay if slot is not None else 0
        delay = wait if wait is not None else min(self.max_delay, max(0.5, current * 2))
        self._slow_down(host, delay, from_now=True)
        logger.info("%s answered %s: next request to it in %.1fs", host, reason, delay)

    def _give_up(self, host: str, reason: str, backoff: timedelta) -> None:
        if host in self.given_up:
            return
        self.given_up.add(host)
        logger.warning("leaving %s for this crawl: %s", host, reason)
        record_host(self.db, host, ok=False, reason=reason, now=datetime.now(UTC),
                    backoff=backoff)


class SourceBoundaryMiddleware:
    def __init__(self, crawler, context: CrawlContext):
        self.crawler = crawler
        self.context = context

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawl_context(crawler))

    def process_request(self, request, spider=None):
        source = request.meta.get(meta.SOURCE)
        if not request.meta.get("redirect_urls") or source is None:
            return None
        if self.context.owns(source, request.url):
            return None
        self.crawler.stats.inc_value("dxmon/offsite_redirects")
        logger.warning("not following %s off the hosts of %s to %s",
                       request.meta["redirect_urls"][0], source, request.url)
        raise IgnoreRequest(f"redirect off the source's hosts: {request.url}")
