"""Scrapy settings of the dxmon crawler (``scrapy crawl news`` from the repository root).

The dxmon add-on (``ADDONS``, :mod:`crawler.addon`) reads the config once and sets up
the crawl: the download slots, dxmon's middlewares, pipeline and extensions, and the
one database handle they share. Every ``DXMON_*`` setting is declared below, with
what it does; each is read once, when its component is built.

Politeness: robots.txt is obeyed (its ``Crawl-delay`` too, see PolitenessMiddleware),
each source's ``delay`` applies per host (download slots set by the add-on), at most
two requests at a time per host; answers that mean "slow down" (429, 503) are retried
with backoff. Oversized pages are cut off; redirects are bounded.
"""

BOT_NAME = "dxmon"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
# `scrapy crawl` that also exits non-zero when post-crawl processing failed
COMMANDS_MODULE = "crawler.commands"
ADDONS = {"crawler.addon.DxmonAddon": 0}

USER_AGENT = "dxmon/0.1 (+https://github.com/dxmon/dxmon; news archive and alerting)"
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 16
# items of one response processed at once: a page yields one article, and Scrapy starts
# this many asyncio workers for every response (100 by default: a third of the CPU)
CONCURRENT_ITEMS = 4
# Each host's real concurrency is set by the add-on's download slots (2 at delay 0,
# else 1). Scrapy also sizes its keep-alive pool per host with this value: at 2, a
# connection handed back a moment after the next request started is closed, and each
# host saw a new TCP connection every 2-3 requests (every 6 at 4); 8 keeps them open.
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 1.0  # overridden per host by each source's `delay`
DOWNLOAD_DELAY_JITTER = 0.5  # ±50%, like a person reading
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024

RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
DEPTH_PRIORITY = 1  # breadth first: newest listing pages before deep pagination
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

# dxmon's middlewares, pipeline and extensions are enabled by the add-on (crawler.addon);
# set one to None here to switch it off.

# dxmon settings
# the config file; `-a config=PATH` wins over it; unset: $DXMON_CONFIG, else ./dxmon.toml
# (`dxmon crawl --config PATH` passes -s DXMON_CONFIG=PATH)
DXMON_CONFIG = None
DXMON_PROCESS_AFTER_CRAWL = True  # detect, group and deliver when the crawl ends
DXMON_CRAWL_GUARD = True  # stop on a storage failure or when the dxmon parent is gone
# set by `dxmon crawl` / `dxmon serve` for their child (crawler.extensions.CrawlGuard):
# the parent's pid (the crawl stops once that process is gone; 0 = none) and the pipe
# on which the crawl tells it why it stopped early (-1 = none)
DXMON_PARENT_PID = 0
DXMON_STATUS_FD = -1
DXMON_CONDITIONAL_GET = True  # If-None-Match / If-Modified-Since and content hashes
# consecutive 304s of one URL after which its next request goes unconditionally: some
# servers answer 304 even after a change (5: a server that always says 304 is read
# whole every sixth time; an honest one costs one full fetch in six)
DXMON_TRUST_304 = 5
# the longest a host may ask us to wait between requests (Retry-After, doubling after
# failures); a Retry-After beyond it leaves the host for this crawl
DXMON_MAX_HOST_DELAY = 60.0
DXMON_EXTRACT_WORKERS = 0  # page-reading processes (crawler.reader); 0 = one per CPU
DXMON_STORE_BATCH = 50  # articles per write transaction, at most (crawler.pipelines)
DXMON_STORE_WAIT = 0.2  # seconds an article waits for others to share its transaction
# a long crawl merges the search index every this many stored articles (between
# batches; a short one leaves it to after_crawl): storage.maintenance.MERGE_EVERY
DXMON_MERGE_EVERY = 500
DXMON_HOST_FAILURE_LIMIT = 8  # consecutive failures before a host is left for this crawl
DXMON_SHAPE_LIMIT = 12  # links of one digit-masked shape followed from non-article pages
# sitemap discovery (issue 12): an index, its child indexes, their sitemaps; and at most
# this many sitemaps per source and crawl (portals split theirs by month: 50 covers
# four years of monthly sitemaps)
DXMON_SITEMAP_DEPTH = 2
DXMON_SITEMAP_LIMIT = 50

# cluster mode ([cluster] in the config, crawler.cluster): this process's role, "seeder"
# (the default: the process that owns the archive) or "worker" (set by `dxmon worker`);
# and the lease time: a worker silent this long is dead (its hosts freed, what it had
# taken queued again). Every process of a cluster must use the same value.
DXMON_CLUSTER_ROLE = None
DXMON_CLUSTER_LEASE = 10.0

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
