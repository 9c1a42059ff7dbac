"""The dxmon add-on: the one place a crawl reads its config and opens its database.

Enabled in ``crawler/settings.py`` (Scrapy's ``ADDONS``). Scrapy builds the spider
first, then loads add-ons (``Crawler.crawl``: ``_create_spider``, then
``_apply_settings``, whose first step is ``AddonManager.load_settings``), then the
extensions, and the middlewares and pipelines with the engine. So the add-on sees the
spider's arguments, and everything built after it can receive what it loaded:

- the config path: ``-a config=PATH``, else the ``DXMON_CONFIG`` setting
  (``dxmon crawl --config`` passes ``-s DXMON_CONFIG=PATH``), else ``$DXMON_CONFIG``,
  else ``./dxmon.toml`` (:func:`core.config.config_path`), read once;
- each source's ``delay`` as its hosts' download slots (``DOWNLOAD_SLOTS``), before
  the downloader exists, so ``-a config=`` gets its own delays;
- dxmon's middlewares, pipeline and extensions;
- one :class:`CrawlContext`: the loaded config, the sources this crawl covers
  (``-a source=NAME`` or every enabled one), one database handle, and the state the
  spider and the middlewares share. Components get it with :func:`crawl_context`
  in ``from_crawler``; none reads the file or the environment again.

A bad config or an unusable database is one line on stderr (``dxmon: ...``) and exit
code 2 (``SystemExit``), before any request. The add-on is off (``NotConfigured``) for
a spider that takes no dxmon config, such as ``scrapy shell``'s.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

import sqlite_utils
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings

from core.config import Config, load_config
from core.errors import DxmonError
from core.models import Source
from crawler.urls import host_of, owned_by, site_host
from storage.schema import open_db

__all__ = ["DxmonAddon", "CrawlContext", "crawl_context", "source_slots"]

logger = logging.getLogger(__name__)

# Components the add-on enables, with their orders: SourceBoundaryMiddleware before
# robots.txt (100), so a redirect off the source is not even asked about; the other
# two after the retry middleware (550), so each retry is seen (and slowed down).
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.SourceBoundaryMiddleware": 50,
    "crawler.middlewares.PolitenessMiddleware": 560,
    "crawler.middlewares.ConditionalGetMiddleware": 580,
}
ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}
EXTENSIONS = {
    "crawler.extensions.CrawlRuns": 100,
    "crawler.extensions.CrawlGuard": 110,
    "monitor.after_crawl.ProcessAfterCrawl": 900,
}
# Exit code of a crawl refused before it starts (bad config, unusable database): the
# same as `dxmon`'s user errors.
EXIT_USER_ERROR = 2


@dataclass
class CrawlContext:
    """What one crawl's components share, owned by the add-on."""

    config: Config
    sources: list[Source]  # those this crawl covers
    db: sqlite_utils.Database  # the crawl's one connection (SQLite has one writer anyway)
    # listings that led to an article that failed to download: their validators are
    # not saved (crawler.middlewares), so the next crawl reads them again
    dirty_listings: set[str] = field(default_factory=set)
    # canonical URL -> every spelling an article link had (stored with the article,
    # and the rest by the store pipeline when the crawl ends)
    variants: dict[str, set[str]] = field(default_factory=dict)
    # what went wrong after the crawl (crawler.commands.crawl exits non-zero)
    failures: list[str] = field(default_factory=list)
    # cluster mode ([cluster] redis_url_env): this process's Redis side (crawler.cluster)
    cluster: object | None = None

    def __post_init__(self) -> None:
        self.by_host: dict[str, Source] = {}
        for s in self.sources:
            for url in s.all_urls:
                self.by_host.setdefault(host_of(url), s)
            for host in s.allowed_domains:
                self.by_host.setdefault(host.lower(), s)
        # each source's hosts, with and without "www." (a start URL that redirects to
        # its www. host stays on its source: crawler.urls.owned_by)
        self.hosts = {s.name: frozenset(v for h, owner in self.by_host.items() if owner is s
                                        for v in (h, h.removeprefix("www."), "www." + h))
                      for s in self.sources}
        self.by_site_host = {site_host(h): s for h, s in reversed(self.by_host.items())}

    def owns(self, source: str, url: str) -> bool:
        """Whether ``url`` is http(s) on one of the hosts of the source named ``source``."""
        return owned_by(url, self.hosts[source])

    def owner(self, url: str) -> Source | None:
        """The source whose hosts ``url`` is on, if any."""
        return self.by_host.get(host_of(url)) or self.by_site_host.get(
            site_host(host_of(url)))


class DxmonAddon:
    """Reads the config once and sets up the crawl (see the module docstring)."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.context: CrawlContext | None = None

    @classmethod
    def from_crawler(cls, crawler):
        # off for a spider that takes no dxmon config (`scrapy shell`, another spider)
        if not hasattr(crawler.spider, "config_path"):
            raise NotConfigured
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        spider = self.crawler.spider
        path = getattr(spider, "config_path", None) or settings.get("DXMON_CONFIG") or None
        try:
            config = load_config(path)
            name = getattr(spider, "source_name", None)
            sources = [config.source(name)] if name else [s for s in config.sources
                                                          if s.enabled]
            cluster = cluster_state(config, settings.get("DXMON_CLUSTER_ROLE") or None,
                                    settings.getfloat("DXMON_CLUSTER_LEASE", 10.0))
            # a worker has no archive: its components write to a scratch database
            worker = cluster is not None and cluster.role == "worker"
            db = open_db(":memory:" if worker else config.storage_path)
        except DxmonError as exc:
            refuse(exc)
        settings.set("DXMON_CONFIG", str(config.path), priority="addon")
        slots = {**settings.getdict("DOWNLOAD_SLOTS"), **source_slots(config.sources)}
        settings.set("DOWNLOAD_SLOTS", slots, priority="addon")
        for setting, components in (("DOWNLOADER_MIDDLEWARES", DOWNLOADER_MIDDLEWARES),
                                    ("ITEM_PIPELINES", ITEM_PIPELINES),
                                    ("EXTENSIONS", EXTENSIONS)):
            for path_, order in components.items():
                settings.setdefault_in_component_priority_dict(setting, path_, order)
        if cluster is not None:
            cluster_settings(settings, cluster.role)
        self.context = CrawlContext(config, sources, db, cluster=cluster)
        # closed after every engine_stopped handler connected before the engine started
        # (the post-crawl processing uses the handle): handlers run in connection order
        self.crawler.signals.connect(self._connect_close, signal=signals.engine_started)

    def _connect_close(self) -> None:
        self.crawler.signals.connect(self._close, signal=signals.engine_stopped)

    def _close(self) -> None:
        if self.context is not None:
            self.context.db.close()


def cluster_state(config: Config, role: str | None, lease: float = 10.0):
    """This process's cluster side when ``[cluster] redis_url_env`` is set, else None.
    The URL is read from the environment here and kept out of Scrapy's settings
    (which Scrapy logs)."""
    env = config.cluster.redis_url_env
    if not env:
        if role == "worker":
            raise DxmonError("a worker needs [cluster] redis_url_env in the config")
        return None
    url = os.environ.get(env)
    if not url:
        raise DxmonError(f"[cluster] redis_url_env names ${env}, which is not set")
    from crawler.cluster import ClusterState

    try:
        return ClusterState(url, config.cluster.prefix, role or "seeder", lease)
    except ConnectionError as exc:
        raise DxmonError(str(exc)) from None


def cluster_settings(settings: BaseSettings, role: str) -> None:
    """Cluster mode: scrapy-redis's scheduler (dxmon's subclass); a worker streams its
    articles to the writer instead of storing them, and never ends on its own."""
    settings.set("SCHEDULER", "crawler.cluster.ClusterScheduler", priority="addon")
    if role == "worker":
        settings.set("DXMON_PROCESS_AFTER_CRAWL", False, priority="addon")
        for setting, path_, order in (
                ("ITEM_PIPELINES", "crawler.pipelines.StorePipeline", None),
                ("ITEM_PIPELINES", "crawler.cluster.StreamPipeline", 300),
                ("DOWNLOADER_MIDDLEWARES", "crawler.cluster.StreamValidatorsMiddleware", 570),
                ("DOWNLOADER_MIDDLEWARES", "crawler.cluster.LeaseGuardMiddleware", 1),
                ("DOWNLOADER_MIDDLEWARES", "crawler.middlewares.PolitenessMiddleware", None),
                ("DOWNLOADER_MIDDLEWARES", "crawler.cluster.StreamPolitenessMiddleware",
                 DOWNLOADER_MIDDLEWARES["crawler.middlewares.PolitenessMiddleware"]),
                ("SPIDER_MIDDLEWARES", "crawler.cluster.CycleMiddleware", 950),
                ("EXTENSIONS", "crawler.cluster.ClusterWorker", 120)):
            components = settings.getdict(setting)
            components[path_] = order
            settings.set(setting, components, priority="addon")
    else:
        components = settings.getdict("EXTENSIONS")
        components["crawler.cluster.ClusterWriter"] = 120
        settings.set("EXTENSIONS", components, priority="addon")


def refuse(exc: DxmonError):
    """One line on stderr, exit code 2: the crawl cannot start with this config."""
    print(f"dxmon: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USER_ERROR)


def crawl_context(crawler) -> CrawlContext:
    """The :class:`CrawlContext` of ``crawler``'s dxmon add-on."""
    for addon in crawler.addons.addons:
        if isinstance(addon, DxmonAddon) and addon.context is not None:
            return addon.context
    raise RuntimeError("crawler.addon.DxmonAddon is not enabled (Scrapy's ADDONS setting)")


def source_slots(sources) -> dict[str, dict]:
    """Download slots from each source's ``delay``: one per host (with its port, as the
    spider names them), two requests at a time at delay 0, else one, with ±50% jitter;
    and the bare hostname's slot (robots.txt goes by it) at the gentlest delay."""
    slots: dict[str, dict] = {}
    for source in sources:
        for host in {host_of(u) for u in source.all_urls} | set(source.allowed_domains):
            slots[host] = {"delay": source.delay, "concurrency": 2 if source.delay == 0 else 1,
                           "jitter": 0.5 if source.delay > 0 else 0}
        for host in {host_of(u).split(":")[0] for u in source.all_urls}:
            old = slots.get(host, {}).get("delay", source.delay)
            slots[host] = {"delay": min(old, source.delay), "concurrency": 1}
    return slots
