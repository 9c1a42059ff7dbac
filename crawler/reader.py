"""Reading fetched pages in worker processes: the article, ready to store, and the links.

Everything CPU-bound a page costs happens here, off the crawl's event loop: decoding,
parsing, extraction (lxml + trafilatura), preparing the article for storage
(normalising, hashing, folding, the MinHash signature: :func:`storage.articles.prepare`)
and mining the page's links (a real portal page carries 200 or more: menus, side
columns, footers), which are sorted into articles and other pages of the source's own
hosts and come back as linked (fragment dropped), each with its canonical form. The crawl process is left with what only it can do:
scheduling requests and writing to SQLite.

:class:`PageReader` runs :func:`read_page` in a process pool (``DXMON_EXTRACT_WORKERS``,
default one per CPU), or in the crawl process itself when one worker is asked for.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import lru_cache

from crawler.urls import (
    canonical_url,
    fetch_url,
    is_article_url,
    is_listing_url,
    is_skippable,
    owned_by,
)
from storage.articles import Prepared, prepare

__all__ = ["Page", "PageReader", "read_page"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """What a page holds: its article (None if it is not one) and its links on the
    source's hosts as (URL as linked, canonical URL) pairs, each canonical once (its
    first spelling), in page order; ``variants``: the other spellings of those links."""

    prepared: Prepared | None
    articles: tuple[tuple[str, str], ...] = ()
    listings: tuple[tuple[str, str], ...] = ()  # other pages, for listings' pagination
    error: str | None = None  # the extractor failed: "ExceptionName: message"
    # a canonical link the page gave that is no URL of the source (another host, another
    # scheme): recorded as a hint, never the article's URL (issue 12)
    canonical_hint: str | None = None
    variants: tuple[tuple[str, str], ...] = ()  # (URL as linked, canonical) seen again
    # "listing" when a page asked for as an article is a page of teasers: no article,
    # and its links are given as a listing's are (crawler.extract.page_kind)
    kind: str | None = None


def read_page(body: bytes, url: str, encoding: str | None, *, hosts: frozenset[str],
              pattern: re.Pattern | None, extract: bool, listings: bool) -> Page:
    """Read one page: its article if ``extract``, its article links, and its links to
    other pages if ``listings`` (any page when the source has no article ``pattern``,
    else only URLs that look like listings).

    A page to ``extract`` that turns out to be a listing (judged from the page, not its
    URL) gives no article: it is read as a listing, and its links are followed.
    """
    # imported here: the crawl process only needs trafilatura and lxml's extraction
    # code (0.15 s to import) if it reads a page itself, which a re-crawl rarely does
    from crawler.extract import article_from_tree, page_kind, page_links, parse_html

    encoding = _known_codec(encoding)
    tree = parse_html(body, headers_charset=encoding)
    if tree is None:
        return Page(None)
    kind = page_kind(tree) if extract else None
    if kind == "listing":
        extract, listings = False, True
    articles, others, variants, seen = [], [], [], {}
    for link in page_links(tree, url, _link_codec(encoding), hosts):
        article, listing, linked, canonical = _sort(link, pattern, hosts)
        bucket = articles if article else others if listings and listing else None
        if bucket is None or linked is None:
            continue
        if canonical not in seen:
            seen[canonical] = linked
            bucket.append((linked, canonical))
        elif seen[canonical] != linked and article:
            variants.append((linked, canonical))
    prepared, error, hint = None, None, None
    if extract:
        try:
            article = article_from_tree(tree, url, check_kind=False)
        except Exception as exc:  # a page that breaks the extractor is reported, not fatal
            article, error = None, f"{type(exc).__name__}: {exc}"
        if article is not None:
            canonical, hint = own_canonical(article.canonical_url, url, hosts)
            prepared = prepare(replace(article, canonical_url=canonical))
    return Page(prepared, tuple(articles), tuple(others), error, hint, tuple(variants), kind)


def own_canonical(claimed: str, url: str, hosts: frozenset[str]) -> tuple[str, str | None]:
    """(the article's canonical URL, a hint or None): the page's canonical link if it is
    http(s) on the source's hosts, else the fetched URL's canonical form, the claim
    kept as a hint only (a syndicating or hostile page must not claim another
    source's article, nor make a ``javascript:`` URL the article's)."""
    if claimed == url or owned_by(claimed, hosts):
        return canonical_url(claimed), None
    return canonical_url(url), claimed[:2000]


def _known_codec(encoding: str | None) -> str | None:
    """``encoding`` if Python knows it, else None (the page's own claims decide then)."""
    if not encoding:
        return None
    try:
        codecs.lookup(encoding)
    except LookupError:
        return None
    return encoding


def _link_codec(encoding: str | None) -> str:
    """The codec a link's query is percent-encoded in: the page's, unless it is none or
    UTF-16/32 (browsers use UTF-8 then)."""
    name = codecs.lookup(encoding).name if encoding else "utf-8"
    return "utf-8" if name.startswith(("utf-16", "utf-32")) else name


@lru_cache(maxsize=16384)  # a portal's menus and columns link the same pages everywhere
def _sort(link: str, pattern: re.Pattern | None, hosts: frozenset[str]
          ) -> tuple[bool, bool, str | None, str]:
    """(an article link?, may it be followed as another page?, the URL to fetch (the
    link minus its fragment), or None if it is off the source's hosts or never
    fetched, its canonical URL)."""
    linked, canonical = fetch_url(link), canonical_url(link)
    if not owned_by(linked, hosts) or is_skippable(linked) or is_skippable(canonical):
        linked = None
    return (is_article_url(link, pattern), pattern is None or is_listing_url(link), linked,
            canonical)


def _ready() -> None:
    """Nothing: its completion says the pool's workers are up (and have imported us)."""


def _die_with_parent() -> None:
    """A worker's initializer: be killed when the process that forked it dies.

    Workers are forked by the pool's fork server, which exits when the crawl process
    does (even on SIGKILL); a worker blocked on its task queue would never notice (it
    holds both ends of that pipe) and lived on for minutes. Linux's
    ``PR_SET_PDEATHSIG`` has the kernel send it SIGKILL then; elsewhere, nothing.
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the fork server died before the call: nothing will signal us
        os._exit(1)


class PageReader:
    """:func:`read_page` in a pool of ``workers`` processes (in-process for one).

    The pool starts at the first page, not before: an unchanged re-crawl reads no page
    and never pays for it. Starting takes about a second (a fork server, then each
    worker importing trafilatura); until the pool says it is up, pages are read in the
    crawl process, so a crawl that finds a handful of new articles is not held up by
    the pool's start.

    A worker that dies (killed for memory, or a crash in a C library on a pathological
    page) breaks the whole pool, and every page in it fails: the pool is replaced, and
    each of those pages is read again in a process of its own (never in the crawl
    process, which a page that kills its reader would take down too). A page that
    kills that reader as well is reported as an error; the crawl goes on.
    """

    def __init__(self, workers: int = 0, read=None):
        self.workers = workers or os.cpu_count() or 1
        self.pool: ProcessPoolExecutor | None = None
        self.up = None  # the pool's first (empty) task: done once the workers are up
        self.replaced = 0  # pools replaced after a worker died
        self._read = read or read_page  # a module-level function (it is pickled)

    async def read(self, body: bytes, url: str, encoding: str | None, **options) -> Page:
        if self.workers == 1:
            return self._read(body, url, encoding, **options)
        pool = self._started()
        if not self.up.done():  # still starting: this page is read here
            return self._read(body, url, encoding, **options)
        try:
            return await asyncio.wrap_future(pool.submit(self._read, body, url, encoding,
                                                         **options))
        except BrokenProcessPool:
            self._replace(pool)
        # again, in a process of its own: if this is the page that kills its reader, it
        # takes no other page with it this time
        alone = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"),
                                    initializer=_die_with_parent)
        try:
            return await asyncio.wrap_future(alone.submit(self._read, body, url, encoding,
                                                          **options))
        except BrokenProcessPool:
            return Page(None, error="BrokenProcessPool: the page-reading process died on "
                                    "this page, twice")
        finally:
            alone.shutdown(wait=False)

    def _started(self) -> ProcessPoolExecutor:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("forkserver"),
                initializer=_die_with_parent)
            self.up = self.pool.submit(_ready)
        return self.pool

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        """Drop a broken pool (once, whichever of its pages notices first)."""
        if self.pool is pool:
            logger.warning("a page-reading process died; starting a new pool")
            pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
            self.replaced += 1

    def close(self) -> None:
        if self.pool is not None:
            # the crawl is over: pages in flight are not waited for
            self.pool.shutdown(wait=self.up.done(), cancel_futures=True)
            self.pool = None
