"""URLs: what is fetched (the link as written), what identifies an article (its
canonical form), which links are articles, and which hosts a source owns.

A link is fetched exactly as the page wrote it, resolved against the page's base with
its fragment dropped (:func:`fetch_url`): servers exist that answer 404 to a dropped
trailing slash, a dropped ``.amp`` or reordered query parameters. Portals link one
article many ways: with tracking parameters (``utm_*``, ``fbclid``, ``zarsrc``), with or
without a trailing slash, on a mobile host (``m.``), as an AMP copy (``/amp/…``,
``….amp``, ``?amp``), with its query in another order. All of them canonicalise to one
URL (:func:`canonical_url`), which is identity only: dedup, the known-URL skip and the
``articles.url`` key. Every variant seen is kept as an ``article_urls`` row.

Article recognition is generic (no per-site selectors, as DESIGN.md asks), written
from the shapes Vietnamese portals use (tests/test_urls.py holds the cases):

- a last path segment that is a slug of several words or carries a long numeric id,
  with any of the extensions ``.htm .html .aspx .php .shtml .vnp .ldo .amp`` or none,
  under a section that may be ``/video/``, ``/photo/`` or ``/media/`` (many of those
  pages carry a full written article);
- a slug under a date folder (``/portal/Pages/2024-03-05/Slug-abc123.aspx``);
- a SharePoint or ASP.NET detail page whose query names an item by a numeric id
  (``/Pages/newsdetail.aspx?NewsId=…&CatId=…``): a category or page number alone
  names a listing.

Links that are plainly no article and lead to none are never followed
(:func:`is_skippable`): tag, search, print, login and calendar pages, file downloads,
non-http schemes.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_url", "fetch_url", "is_article_url", "is_listing_url", "is_skippable",
           "url_shape", "host_of", "site_host", "owned_by"]

_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|zarsrc|zaloapp|_ga|ref|src|source|from|"
                       r"amp|mobile|share|cmpid|itm_\w+|mc_\w+)$", re.IGNORECASE)
_FILES = re.compile(r"\.(?:pdf|docx?|xlsx?|pptx?|zip|rar|7z|jpe?g|png|gif|webp|svg|mp[34]|avi|mov|"
                    r"wmv|flv|apk|exe|css|js|ico|xml|rss|json|txt|odt|ods|csv)$", re.IGNORECASE)
# path segments (extension dropped, lower case) that are never an article nor lead to one
_NEVER = frozenset({
    # tags
    "tag", "tags", "tu-khoa", "tukhoa", "hashtag", "keyword", "keywords",
    # search
    "tim-kiem", "timkiem", "search", "ket-qua-tim-kiem", "ketquatimkiem", "searchresults",
    # print views
    "print", "in-bai", "inbai", "ban-in", "printpreview", "printer", "print-view",
    # accounts
    "login", "dang-nhap", "dangnhap", "logout", "dang-xuat", "dang-ky", "dangky", "register",
    "signin", "signup", "authenticate",
    # downloads
    "download", "downloads", "tai-ve", "taive", "tai-file", "downloadfile", "getfile",
    # calendars
    "lich-phat-song", "lich-cong-tac", "lich-lam-viec", "calendar", "lich",
})
_NEVER_QUERY = re.compile(r"^(?:print|printable|download|attachment|fileid|keyword|keywords|q|"
                          r"k|returnurl|tukhoa)$", re.IGNORECASE)
_LISTING = re.compile(r"(?:^|/)(?:page|trang|p|chuyen-muc|category|danh-muc|rss|"
                      r"binh-luan|lien-he|gioi-thieu)(?:/|$|-\d+\.)", re.IGNORECASE)
_PAGINATION_QUERY = re.compile(r"^(?:page|trang|p|pg|start|offset|pageindex|pagenum)$",
                               re.IGNORECASE)
# a query key naming one item (SharePoint/ASP.NET detail pages); categories do not
_ITEM_KEY = re.compile(r"^(?:news|item|article|post|content|bai|baiviet|tin|tintuc|doc)?_?id$",
                       re.IGNORECASE)
_EXTENSIONS = re.compile(r"\.(?:html?|aspx?|php|shtml|vnp|ldo|amp|vn)$", re.IGNORECASE)
_DATE_FOLDER = re.compile(r"/(?:\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{4}/\d{1,2})/")
_ID = re.compile(r"\d{5,}")
# AMP spellings of a path, stripped until none is left
_AMP_PATH = (re.compile(r"^/amp(?=/)"), re.compile(r"(?:/amp/?|\.amp)$"))


def host_of(url: str) -> str:
    """The host with its port, if any: what politeness and source ownership go by."""
    return urlsplit(url).netloc.lower().rsplit("@", 1)[-1]


def _desktop(host: str) -> str:
    """``host`` without mobile ("m.") or AMP ("amp.") prefixes."""
    while True:
        before = host
        if host.startswith("m.") and host.count(".") >= 2:
            host = host[2:]
        host = host.removeprefix("amp.")
        if host == before:
            return host


def site_host(netloc: str) -> str:
    """A link's host as :func:`canonical_url` writes it: lower case, no user, no mobile
    or AMP prefix, no default port."""
    return _desktop(netloc.lower().rsplit("@", 1)[-1]).removesuffix(":80").removesuffix(":443")


def owned_by(url: str, hosts) -> bool:
    """Whether ``url`` is http(s) on one of ``hosts`` (compared as :func:`site_host`
    forms without "www.", so a mobile or AMP host belongs with its desktop host, and a
    start URL that redirects to its www. host stays on the source)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return False
    return _owner_form(parts.netloc) in _site_hosts(frozenset(hosts))


def _owner_form(netloc: str) -> str:
    return site_host(netloc).removeprefix("www.")


@lru_cache(maxsize=64)  # one set per source
def _site_hosts(hosts: frozenset[str]) -> frozenset[str]:
    return frozenset(_owner_form(h) for h in hosts)


def fetch_url(url: str) -> str:
    """What is requested for a link already resolved against its page: the link with
    its fragment dropped, nothing else changed (not even an empty query)."""
    return url.strip().split("#", 1)[0]


def canonical_url(url: str) -> str:
    """The one URL of an article, for identity only: lower-case scheme and host, no
    mobile or AMP prefix or suffix, no default port, no tracking parameters, the other
    parameters sorted, no trailing slash, no fragment. Idempotent."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower() or "http"
    netloc = _desktop((parts.hostname or "").lower())
    try:
        port = parts.port
    except ValueError:  # not a number: kept as written, it identifies nothing better
        port = None
        netloc = site_host(parts.netloc)
    if port and not (scheme == "http" and port == 80 or scheme == "https" and port == 443):
        netloc += f":{port}"
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    while True:
        before = path
        for pattern in _AMP_PATH:
            path = pattern.sub("", path)
        if len(path) > 1:
            path = path.rstrip("/")
        if path == before:
            break
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k)]
    query.sort()
    return urlunsplit((scheme, netloc, path or "/", urlencode(query), ""))


def _segments(path: str) -> list[str]:
    """The path's segments in lower case, each without its extension."""
    return [_EXTENSIONS.sub("", s).lower() for s in path.split("/") if s]


def is_skippable(url: str) -> bool:
    """Never fetched: other schemes, files, and tag, search, print, login, download and
    calendar pages (plainly no article, and leading to none worth a request)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or _FILES.search(parts.path):
        return True
    if any(s in _NEVER for s in _segments(parts.path)):
        return True
    last = _segments(parts.path)[-1:] or [""]
    if re.search(r"(?:print|search|login|download|timkiem)$", last[0]):
        return True  # Print.aspx, NewsSearch.aspx, Login.aspx, DownloadFile.aspx …
    return any(_NEVER_QUERY.match(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True))


def is_listing_url(url: str) -> bool:
    """Sections and their pages: pagination, a section path, a media section's own page
    (``/video/``, ``/photo.htm``; an article under it is an article)."""
    parts = urlsplit(url)
    if any(_PAGINATION_QUERY.match(k) for k, _ in parse_qsl(parts.query)):
        return True
    if _segments(parts.path)[-1:] in (["video"], ["photo"], ["media"], ["multimedia"],
                                      ["emagazine"], ["podcast"], ["infographic"]):
        return True
    return bool(_LISTING.search(parts.path))


def _item_query(query: str) -> bool:
    """Whether the query names one item by a numeric id (``NewsId=5521``, ``ItemID=…``)."""
    return any(_ITEM_KEY.match(k) and v.isdigit() for k, v in parse_qsl(query))


def is_article_url(url: str, pattern: re.Pattern | None = None) -> bool:
    """Whether ``url`` looks like one article's page (``pattern``, if given, decides)."""
    if pattern is not None:
        return bool(pattern.search(url))
    if is_skippable(url) or is_listing_url(url):
        return False
    parts = urlsplit(url)
    if _item_query(parts.query):
        return True
    path = parts.path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    stem = _EXTENSIONS.sub("", _EXTENSIONS.sub("", last))  # "….html.amp" too
    words = [w for w in re.split(r"[-_.]", stem) if w and not w.isdigit()]
    if len(words) >= 4:
        return True
    if len(words) >= 2 and _DATE_FOLDER.search(path + "/"):
        return True
    return bool(_ID.search(path)) and (len(words) >= 2 or path.count("/") >= 2)


def url_shape(url: str) -> str:
    """The URL with digits masked: many links of one shape from non-articles mark a trap."""
    parts = urlsplit(url)
    return re.sub(r"\d+", "#", f"{parts.netloc}{parts.path}?{parts.query}")
