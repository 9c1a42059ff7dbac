"""The one spider: ``scrapy crawl news [-a source=NAME] [-a config=PATH]``.

For each configured source it starts from the listing pages, feeds and sitemaps, and
follows links on the source's hosts: article-looking links are fetched as articles,
listing-looking ones (sections, pagination) as listings, up to the source's
``max_depth`` and ``max_pages``. Traps (calendars, endless pagination) are cut by the
depth limit and a cap on links of one URL shape.

A link is requested exactly as linked (fragment dropped); its canonical form
(:func:`crawler.urls.canonical_url`) decides whether it is new, and every spelling
seen of an article is recorded as one of its URLs. A source owns its hosts (start URLs,
feeds, sitemaps, ``allowed_domains``): a page reached by a redirect off them is not its
article. Sitemap discovery is bounded: each sitemap once, ``DXMON_SITEMAP_DEPTH``
levels of indexes, ``DXMON_SITEMAP_LIMIT`` sitemaps per source and crawl.

What a re-crawl fetches, so that an unchanged portal costs almost nothing:

- listings, feeds and sitemaps are always rechecked, with conditional requests
  (:mod:`crawler.middlewares`); a 304 ends that branch without parsing;
- a listing page that links no new article ends pagination there: deeper pages hold
  older stories. Start pages always follow their links, and once per ``[monitor]
  full_sweep`` (and on a source's first crawl) every listing is followed to the end;
- known articles are not fetched again, except those published within ``[monitor]
  revisit_days``: they are requested directly (conditionally) on a decaying schedule
  (:func:`revisit_interval`), whether or not a changed listing links them, so an
  edit is caught even when every listing answers 304. An older one is never
  requested again, however often a listing links it.

What a crawl start costs does not grow with the archive: the due revisits of the
crawled sources are one index range (``articles.next_check_at``,
:func:`storage.crawl_state.due_revisits`), and whether a linked article is known is
asked of the database for the links of each page, in one query per page
(:func:`storage.crawl_state.known_links`), never by holding every known URL.

Pages are read in worker processes (:mod:`crawler.reader`: extraction, preparing the
article for storage, mining links); the spider decides what to follow and yields the
prepared articles, which :class:`crawler.pipelines.StorePipeline` writes.
"""

from __future__ import annotations

import re
import ssl
from collections import Counter
from datetime import UTC, datetime, timedelta

import scrapy
from OpenSSL.SSL import Error as SSLError
from scrapy.exceptions import CannotResolveHostError, DownloadCancelledError, IgnoreRequest
from scrapy.http import TextResponse
from scrapy.utils.sitemap import Sitemap
from twisted.internet.error import DNSLookupError

from core.config import Config
from core.models import Source
from crawler import meta as meta_keys
from crawler.addon import CrawlContext, crawl_context
from crawler.reader import Page, PageReader
from crawler.urls import (
    canonical_url,
    fetch_url,
    host_of,
    is_article_url,
    is_skippable,
    owned_by,
    url_shape,
)
from storage.crawl_state import due_revisits, known_links, last_full_sweep, revisit_interval

__all__ = ["NewsSpider", "revisit_interval"]

FEED_TYPES = ("xml", "rss", "atom")
# An article page whose extracted text is shorter than this counts as "short" in the
# source's health counts (monitor.health): a lead alone is 150-300 characters, a
# news article's body is well over a thousand.
SHORT_TEXT_CHARS = 300


class NewsSpider(scrapy.Spider):
    name = "news"

    def __init__(self, source: str | None = None, config: str | None = None, **kwargs):
        super().__init__(**kwargs)
        # read by the dxmon add-on (crawler.addon), which loads the config once
        self.source_name = source
        self.config_path = config
        self.pages: Counter = Counter()  # requests scheduled per source
        self.discovered: set[str] = set()  # feeds and sitemaps requested, each once
        self.sitemaps: Counter = Counter()  # sitemaps requested per source
        self.shapes: Counter = Counter()
        self.seen: set[str] = set()
        self.now = datetime.now(UTC)
        self.revisits: dict[str, list[str]] = {}  # source -> young article URLs due now
        self.sweep: dict[str, bool] = {}  # source -> follow every listing to the end
        self.reader: PageReader | None = None  # made by start(), closed with the spider

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings  # each read once (crawler/settings.py says what)
        spider.extract_workers = settings.getint("DXMON_EXTRACT_WORKERS")
        spider.shape_limit = settings.getint("DXMON_SHAPE_LIMIT")
        spider.sitemap_depth = settings.getint("DXMON_SITEMAP_DEPTH")
        spider.sitemap_limit = settings.getint("DXMON_SITEMAP_LIMIT")
        return spider

    def _use(self, context: CrawlContext) -> None:
        """Take the crawl's config, sources and shared state from the dxmon add-on."""
        self.context = context
        self.dxmon_config: Config = context.config
        self.sources = context.sources
        self.named = {s.name: s for s in self.sources}
        self.hosts = context.hosts
        self.patterns = {s.name: re.compile(s.article_pattern) if s.article_pattern else None
                         for s in self.sources}
        self.variants = context.variants

    async def start(self):
        self._use(crawl_context(self.crawler))
        self.reader = PageReader(self.extract_workers)
        if self._cluster_worker():  # a cluster worker's requests come from Redis
            return
        db = self.context.db
        self.window = timedelta(days=self.dxmon_config.revisit_days)
        self._due_revisits(db)
        for source in self.sources:
            self.sweep[source.name] = self._sweep_due(db, source.name)
        for name, sweep in self.sweep.items():
            if sweep:  # recorded in this source's crawl_runs stats as "full_sweep"
                self.crawler.stats.set_value(f"dxmon/source/{name}/full_sweep", 1)
        for source in self.sources:
            sweep = self.sweep[source.name]
            for url in source.feeds:
                if url not in self.discovered:
                    self.discovered.add(url)
                    yield self._request(url, source, "feed", self.parse_feed, sweep=sweep)
            for url in source.sitemaps:
                if (request := self._sitemap(url, source, 0)) is not None:
                    yield request
            for url in source.start_urls:
                yield self._request(url, source, "listing", self.parse, start=True, sweep=sweep)
            for request in self._follow_all(self.revisits[source.name], source, "article", 0,
                                            lookup=False):
                self.crawler.stats.inc_value("dxmon/revisits")
                yield request

    def owns(self, source: str, url: str) -> bool:
        """Whether ``url`` is http(s) on one of the hosts of the source named ``source``."""
        return self.context.owns(source, url)

    # --- cluster mode (crawler.cluster): a worker crawls what the seeder pushed ---------

    def _cluster_worker(self) -> bool:
        cluster = self.context.cluster
        return cluster is not None and cluster.role == "worker"

    def _cluster_cycle(self, response) -> None:
        """A worker lives through many cycles: per-crawl limits and sets start again
        with each new one, and a page's sweep flag is its seeder's."""
        from crawler.cluster import CYCLE

        cycle = response.meta.get(CYCLE, 0)
        if cycle > getattr(self, "cycle", 0):
            self.cycle = cycle
            for state in (self.pages, self.discovered, self.sitemaps, self.shapes, self.seen):
                state.clear()
        name = response.meta[meta_keys.SOURCE]
        self.sweep[name] = bool(response.meta.get(meta_keys.SWEEP))

    def _cluster_unknown(self, links) -> list:
        """A worker skips stored articles by asking Redis (one round trip per page):
        the links whose article is not stored yet."""
        from crawler.cluster import unknown_links

        links = list(links)
        unknown = unknown_links(self.context.cluster, links)
        if skipped := len(links) - len(unknown):
            self.crawler.stats.inc_value("dxmon/known_skipped", skipped)
        return unknown

    def _due_revisits(self, db) -> None:
        """The young articles of the crawled sources due now (``self.revisits``), by
        the source whose hosts the URL to request is on: one indexed query.

        One URL per article and source is revisited: one that was fetched before (the
        canonical form may be a spelling the server does not answer).
        """
        for source in self.sources:
            self.revisits[source.name] = []
        for revisit in due_revisits(db, [s.name for s in self.sources], self.now, self.window,
                                    lambda url: getattr(self.context.owner(url), "name", None)):
            if revisit.source in self.revisits:
                self.revisits[revisit.source].append(revisit.url)

    def _known(self, pairs: list[tuple[str, str]]) -> set[str]:
        """The canonical URLs among ``pairs`` (URL as linked, canonical) that lead to a
        stored article not due for a revisit: one query for a page's links, asking for
        each link as linked and in its canonical form.

        A URL counts wherever its article was first stored: a syndicated copy on this
        site is an alias of another site's article, and is not fetched again either.
        """
        fresh = [(u, c) for u, c in pairs if c not in self.seen]
        if not fresh:
            return set()
        found = known_links(self.context.db, [x for pair in fresh for x in pair], self.now,
                            self.window)
        return {c for u, c in fresh
                if (u in found or c in found) and not (found.get(u) or found.get(c))}

    def _sweep_due(self, db, source: str) -> bool:
        """Whether this crawl follows every listing of ``source`` to its end."""
        last = _when(last_full_sweep(db, source))
        return last is None or self.now - last >= self.dxmon_config.full_sweep

    def _request(self, url: str, source: Source, kind: str, callback, *,
                 via: str | None = None, canonical: str | None = None, start: bool = False,
                 sweep: bool = False, sitemap_depth: int | None = None) -> scrapy.Request:
        priority = {"article": 20, "feed": 30, "sitemap": 25}.get(kind, 0)
        meta = {meta_keys.SOURCE: source.name, meta_keys.KIND: kind,
                "handle_httpstatus_list": [304], "download_slot": host_of(url)}
        for key, value in ((meta_keys.VIA, via), (meta_keys.CANONICAL, canonical),
                           (meta_keys.START, start), (meta_keys.SWEEP, sweep),
                           (meta_keys.SITEMAP_DEPTH, sitemap_depth)):
            if value:
                meta[key] = value
        return scrapy.Request(url, callback=callback, errback=self.failed, priority=priority,
                              dont_filter=kind in ("feed", "sitemap"), meta=meta)

    def _follow(self, url: str, source: Source, kind: str, depth: int, via: str | None,
                canonical: str, *, known: bool = False):
        """A request for ``url`` as linked (fragment dropped, on the source's hosts:
        vetted by :meth:`_follow_all` or by :func:`crawler.reader.read_page`), unless its
        ``canonical`` form is a duplicate or ``known`` (it leads to a stored article not
        due: :meth:`_known`), or it is over a limit. ``via`` is the listing, feed or
        sitemap that linked it. Every spelling of an article link is noted in
        :attr:`variants`, followed or not.
        """
        if kind == "article" and url != canonical:  # the canonical one is stored anyway
            self.variants.setdefault(canonical, set()).add(url)
        if canonical in self.seen:
            return None
        if kind == "article" and known:
            self.crawler.stats.inc_value("dxmon/known_skipped")
            return None
        if kind != "article":
            if depth >= source.max_depth:
                return None
            shape = url_shape(url)
            self.shapes[shape] += 1
            if self.shapes[shape] > self.shape_limit:
                self.crawler.stats.inc_value("dxmon/trap_links_dropped")
                return None
        if self.pages[source.name] >= source.max_pages:
            self.crawler.stats.inc_value("dxmon/max_pages_reached")
            return None
        self.seen.add(canonical)
        self.pages[source.name] += 1
        if kind == "article":
            return self._request(url, source, kind, self.parse_article, via=via,
                                 canonical=canonical)
        return self._request(url, source, kind, self.parse, via=via,
                             sweep=self.sweep[source.name])

    def _follow_all(self, links, source: Source, kind: str, depth: int, via: str | None = None,
                    *, lookup: bool = True):
        """The requests :meth:`_follow` makes of ``links``: URLs, or (URL as linked,
        canonical URL) pairs (the page reader's). Article links are first looked up
        together (:meth:`_known`), unless ``lookup`` is off (revisits: due by choice)."""
        pairs = []
        for link in links:
            url, canonical = (link, None) if isinstance(link, str) else link
            if canonical is None:  # a page reader's pair was vetted there (a page repeats
                # 200 links: each checked once, in crawler.reader)
                url = fetch_url(url)
                if is_skippable(url) or not owned_by(url, self.hosts[source.name]):
                    continue
                canonical = canonical_url(url)
            pairs.append((url, canonical))
        if kind == "article" and lookup and self._cluster_worker():  # no SQLite: Redis
            pairs, known = self._cluster_unknown(pairs), set()
        else:
            known = self._known(pairs) if kind == "article" and lookup else set()
        for url, canonical in pairs:
            request = self._follow(url, source, kind, depth, via, canonical,
                                   known=canonical in known)
            if request is not None:
                yield request

    def _sitemap(self, url: str, source: Source, depth: int) -> scrapy.Request | None:
        """A request for a sitemap of ``source``: each once per crawl, on its hosts,
        at most ``DXMON_SITEMAP_DEPTH`` indexes deep and ``DXMON_SITEMAP_LIMIT`` per
        source (a sitemap index that lists itself or grows must not run away)."""
        url = fetch_url(url)
        if url in self.discovered or not owned_by(url, self.hosts[source.name]):
            return None
        if depth > self.sitemap_depth or self.sitemaps[source.name] >= self.sitemap_limit:
            self.crawler.stats.inc_value("dxmon/sitemaps_dropped")
            return None
        self.discovered.add(url)
        self.sitemaps[source.name] += 1
        return self._request(url, source, "sitemap", self.parse_sitemap,
                             sweep=self.sweep[source.name], sitemap_depth=depth)

    def _offsite(self, response, source: Source) -> bool:
        """Whether a redirect took ``response`` off the source's hosts (then it is
        nothing of this source's: not archived, its links not followed)."""
        if self.owns(source.name, response.url):
            return False
        self.crawler.stats.inc_value("dxmon/offsite_redirects")
        self.logger.warning("not archived for %s: %s led off its hosts to %s", source.name,
                            response.request.url if response.request else "?", response.url)
        return True

    # --- parsing ------------------------------------------------------------------

    def _source(self, response) -> Source:
        if self._cluster_worker():
            self._cluster_cycle(response)
        return self.named[response.meta[meta_keys.SOURCE]]

    @staticmethod
    def _unchanged(response) -> bool:
        """A 304, or a 200 whose bytes match the last full fetch (crawler.middlewares)."""
        return response.status == 304 or bool(response.meta.get(meta_keys.UNCHANGED))

    async def parse(self, response):
        """A listing page (or any non-article page): follow its links."""
        if self._unchanged(response) or not isinstance(response, TextResponse):
            if response.meta.get(meta_keys.START):
                self._count(response.meta.get(meta_keys.SOURCE), "start_pages_unchanged")
            return
        source = self._source(response)
        if self._offsite(response, source):
            return
        article = is_article_url(response.url, self.patterns[source.name]) and \
            response.meta[meta_keys.KIND] != "listing"
        async for out in self._read(response, source, article=article):
            yield out

    async def parse_article(self, response):
        if response.status == 304:
            return
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("dxmon/not_html")
            return
        source = self._source(response)
        if self._offsite(response, source):
            return
        async for out in self._read(response, source, article=True):
            yield out

    async def _read(self, response, source: Source, *, article: bool):
        """Read the page in a worker; yield its article (if ``article``), then requests
        for its article links and, on a listing, its other pages."""
        page = await self.reader.read(response.body, response.url, response.encoding,
                                      hosts=self.hosts[source.name],
                                      pattern=self.patterns[source.name], extract=article,
                                      listings=not article)
        stats = self.crawler.stats
        self._count_page(response, source, page, article)
        if page.error:
            stats.inc_value("dxmon/extract_errors")
            self.logger.warning("could not read %s: %s", response.url, page.error)
        elif article:
            if page.kind == "listing":  # a section page linked like a story: followed
                stats.inc_value("dxmon/listing_pages_in_article_links")
            elif page.prepared is None:
                stats.inc_value("dxmon/not_articles")
                self.logger.warning("no article text on %s", response.url)
            else:
                yield self._item(response, source, page)
        for linked, canonical in page.variants:
            self.variants.setdefault(canonical, set()).add(linked)
        for request in self._links_of(response, source, page, listings=not article):
            yield request

    def _count(self, source: str | None, what: str, n: int = 1) -> None:
        """Count ``what`` for ``source``: it lands in that source's crawl_runs stats."""
        if source:
            self.crawler.stats.inc_value(f"dxmon/source/{source}/{what}", n)

    def _count_page(self, response, source: Source, page: Page, article: bool) -> None:
        """What monitor.health judges a source by: the article links its start pages
        gave, and how extraction went on its article pages."""
        if response.meta.get(meta_keys.START) and not article:
            self._count(source.name, "start_pages_read")
            self._count(source.name, "start_article_links", len(page.articles))
        elif article and page.kind != "listing":
            self._count(source.name, "article_pages")
            if page.error or page.prepared is None:
                self._count(source.name, "article_pages_empty")
            elif len(page.prepared.text) < SHORT_TEXT_CHARS:
                self._count(source.name, "article_pages_short")

    def _count_failure(self, request, failure, status: int | None) -> None:
        """A failed request, counted for its source's health (monitor.health): start
        pages refused by robots.txt or failed, DNS and TLS errors, server errors."""
        source = request.meta.get(meta_keys.SOURCE)
        if request.meta.get(meta_keys.START):
            self._count(source, "start_pages_failed")
            if failure.check(IgnoreRequest) and "robots.txt" in str(failure.value):
                self._count(source, "start_pages_robots")
        if _dns_failure(failure):
            self._count(source, "dns_errors")
        elif _tls_failure(failure):
            self._count(source, "tls_errors")
        elif status is not None and (status >= 500 or status == 429):
            self._count(source, "server_errors")

    def _item(self, response, source: Source, page: Page) -> dict:
        """The article to store, with every spelling that led to it so far (the rest
        are written when the crawl ends) and the canonical hint it gave, if any."""
        requested = response.request.url if response.request else response.url
        if page.canonical_hint:
            self.crawler.stats.inc_value("dxmon/canonical_hints")
            self.logger.info("canonical of %s is off %s's hosts, kept as a hint: %.200s",
                             response.url, source.name, page.canonical_hint)
        variants = {requested, response.url}
        for canonical in {response.meta.get(meta_keys.CANONICAL), page.prepared.article.canonical_url}:
            variants |= self.variants.get(canonical, set())
        return {"source": source.name, "url": response.url, "requested_url": requested,
                "prepared": page.prepared, "etag": _header(response, b"ETag"),
                "last_modified": _header(response, b"Last-Modified"),
                "variants": sorted(variants), "canonical_hint": page.canonical_hint}

    def closed(self, reason):
        if self.reader is not None:
            self.reader.close()

    def _links_of(self, response, source: Source, page: Page, *, listings: bool):
        """Requests for the page's article links, then its listing links if ``listings``.

        A listing page that links no new article is not followed further (deeper
        pages hold older stories), unless it is a start page or this is a full sweep.
        """
        depth = response.meta.get("depth", 0)
        via = response.url if listings else None
        new = list(self._follow_all(page.articles, source, "article", depth, via))
        yield from new
        if not page.listings:
            return
        if not (new or response.meta.get(meta_keys.START) or self.sweep[source.name]):
            self.crawler.stats.inc_value("dxmon/listings_not_followed")
            return
        yield from self._follow_all(page.listings, source, "listing", depth)

    def parse_feed(self, response):
        if self._unchanged(response):
            return
        source = self._source(response)
        if self._offsite(response, source):
            return
        selector = scrapy.Selector(text=response.text, type="xml")
        selector.remove_namespaces()
        urls = selector.xpath("//item/link/text() | //entry/link/@href").getall()
        self.crawler.stats.inc_value("dxmon/feed_links", len(urls))
        yield from self._follow_all((response.urljoin(url.strip()) for url in urls), source,
                                    "article", 0, response.url)

    def parse_sitemap(self, response):
        if self._unchanged(response):
            return
        source = self._source(response)
        if self._offsite(response, source):
            return
        try:
            sitemap = Sitemap(response.body)
        except Exception:
            self.logger.warning("not a sitemap: %s", response.url)
            return
        locs = [response.urljoin(entry.get("loc", "").strip()) for entry in sitemap]
        if sitemap.type != "sitemapindex":
            yield from self._follow_all(locs, source, "article", 0, response.url)
            return
        depth = response.meta.get(meta_keys.SITEMAP_DEPTH, 0) + 1
        for loc in locs:
            if (request := self._sitemap(loc, source, depth)) is not None:
                yield request

    def failed(self, failure):
        request = failure.request
        self.crawler.stats.inc_value("dxmon/fetch_errors")
        if source := request.meta.get(meta_keys.SOURCE):  # one crawl serves many sources
            self.crawler.stats.inc_value(f"dxmon/source/{source}/fetch_errors")
        status = getattr(getattr(failure.value, "response", None), "status", None)
        if status is not None:
            transient = status >= 500 or status in (408, 429)
        else:  # a network error; not a robots.txt refusal, a redirect loop or a size cap
            transient = not failure.check(IgnoreRequest, DownloadCancelledError)
        via = request.meta.get(meta_keys.VIA)
        dirty = self.context.dirty_listings
        if transient and via and via not in dirty:  # a 404 stays; a 503 may not
            dirty.add(via)
            self.crawler.stats.inc_value("dxmon/validators_withheld")
        if status:
            self.crawler.stats.inc_value(f"dxmon/http_{status}")
        self._count_failure(request, failure, status)
        self.logger.warning("fetch failed: %s (%s)", request.url,
                            status or failure.getErrorMessage())


def _causes(exc: BaseException | None, depth: int = 0):
    """``exc``, what it was raised from, and the reasons a failed response gives
    (twisted's ResponseFailed/ResponseNeverReceived), however Scrapy wrapped them."""
    if exc is None or depth > 8:
        return
    yield exc
    yield from _causes(exc.__cause__ or exc.__context__, depth + 1)
    for reason in getattr(exc, "reasons", None) or ():
        yield from _causes(getattr(reason, "value", None), depth + 1)


def _tls_failure(failure) -> bool:
    """Whether the request failed in the TLS handshake (a bad or expired certificate,
    no common protocol): OpenSSL's or Python's SSL error anywhere in what it failed of."""
    return any(isinstance(e, SSLError | ssl.SSLError) for e in _causes(failure.value))


def _dns_failure(failure) -> bool:
    """Whether the host name could not be resolved."""
    return any(isinstance(e, DNSLookupError | CannotResolveHostError)
               for e in _causes(failure.value))


def _header(response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
