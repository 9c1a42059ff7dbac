"""The ``request.meta`` keys the spider and dxmon's middlewares share, named once.

Scrapy's own keys (``download_slot``, ``handle_httpstatus_list``, ``depth``,
``redirect_urls``) keep their names; these are dxmon's.
"""

from __future__ import annotations

__all__ = [
    "SOURCE", "KIND", "VIA", "CANONICAL", "START", "SWEEP", "SITEMAP_DEPTH",
    "CONTENT_HASH", "UNCHANGED", "KINDS",
]

SOURCE = "dxmon_source"  # name of the source the request is for
KIND = "dxmon_kind"  # what the page is expected to be: one of KINDS
VIA = "dxmon_via"  # the listing, feed or sitemap that linked an article
CANONICAL = "dxmon_canonical"  # an article link's canonical URL (crawler.urls)
START = "dxmon_start"  # a start page: its links are always followed
SWEEP = "dxmon_sweep"  # this source is swept in full: no conditional request
SITEMAP_DEPTH = "dxmon_sitemap_depth"  # how many sitemap indexes led here
# set by ConditionalGetMiddleware: the last full fetch's content hash (before the
# request), and whether the 200 that came back has those same bytes (after)
CONTENT_HASH = "dxmon_content_hash"
UNCHANGED = "dxmon_unchanged"

KINDS = ("article", "listing", "feed", "sitemap")
