"""URLs: one canonical form per article, and telling articles from listings and traps.

Portals link one article many ways: with tracking parameters (``utm_*``, ``fbclid``,
``zarsrc``), with a fragment (``#binh-luan``), with or without a trailing slash, on a
mobile host (``m.``) or as an AMP copy (``/amp/…``, ``….amp``, ``?amp``). They all
canonicalise to one URL, so an article is fetched once and stored once.

Article recognition is generic (no per-site selectors, as DESIGN.md asks): a path
whose last segment is a slug of several words or carries a long numeric id, and is
not a listing page (section, pagination, tag, search) or a file.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_url", "is_article_url", "is_listing_url", "is_skippable", "url_shape",
           "host_of", "site_host"]

_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|zarsrc|zaloapp|_ga|ref|src|source|from|"
                       r"amp|mobile|share|cmpid|itm_\w+|mc_\w+)$", re.IGNORECASE)
_FILES = re.compile(r"\.(?:pdf|docx?|xlsx?|pptx?|zip|rar|7z|jpe?g|png|gif|webp|svg|mp[34]|avi|mov|"
                    r"wmv|flv|apk|exe|css|js|ico|xml|rss|json|txt)$", re.IGNORECASE)
_LISTING = re.compile(r"(?:^|/)(?:page|trang|p|tag|tags|tim-kiem|search|chuyen-muc|category|"
                      r"danh-muc|rss|lich-phat-song|video|photo|media|login|dang-nhap|admin|"
                      r"binh-luan|lien-he|gioi-thieu)(?:/|$|-\d+\.)", re.IGNORECASE)
_PAGINATION_QUERY = re.compile(r"^(?:page|trang|p|pg|start|offset)$", re.IGNORECASE)
_ID = re.compile(r"\d{5,}")


def host_of(url: str) -> str:
    """The host with its port, if any: what politeness and source ownership go by."""
    return urlsplit(url).netloc.lower().rsplit("@", 1)[-1]


def _desktop(host: str) -> str:
    """``host`` without a mobile ("m.") or AMP ("amp.") prefix."""
    if host.startswith("m.") and host.count(".") >= 2:
        host = host[2:]
    return host.removeprefix("amp.")


def site_host(netloc: str) -> str:
    """A link's host as :func:`canonical_url` writes it: lower case, no user, no mobile
    or AMP prefix, no default port."""
    return _desktop(netloc.lower().rsplit("@", 1)[-1]).removesuffix(":80").removesuffix(":443")


def canonical_url(url: str) -> str:
    """The one URL of an article: no tracking parameters, fragment, AMP or mobile prefix."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower() or "http"
    netloc = _desktop((parts.hostname or "").lower())
    if parts.port and not (scheme == "http" and parts.port == 80 or
                           scheme == "https" and parts.port == 443):
        netloc += f":{parts.port}"
    path = parts.path or "/"
    path = re.sub(r"/{2,}", "/", path)
    if path.startswith("/amp/"):
        path = path[4:]
    path = re.sub(r"(?:/amp|\.amp)$", "", path)
    path = re.sub(r"(\.html?)\.amp$", r"\1", path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k)]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def is_skippable(url: str) -> bool:
    """Files, mail and script links: never fetched as pages."""
    parts = urlsplit(url)
    return parts.scheme not in ("http", "https") or bool(_FILES.search(parts.path))


def is_listing_url(url: str) -> bool:
    parts = urlsplit(url)
    if any(_PAGINATION_QUERY.match(k) for k, _ in parse_qsl(parts.query)):
        return True
    return bool(_LISTING.search(parts.path))


def is_article_url(url: str, pattern: re.Pattern | None = None) -> bool:
    """Whether ``url`` looks like one article's page (``pattern``, if given, decides)."""
    if pattern is not None:
        return bool(pattern.search(url))
    if is_skippable(url) or is_listing_url(url):
        return False
    path = urlsplit(url).path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    stem = re.sub(r"\.(?:html?|aspx?|php|shtml|vn)$", "", last, flags=re.IGNORECASE)
    words = [w for w in re.split(r"[-_]", stem) if w and not w.isdigit()]
    if len(words) >= 4:
        return True
    return bool(_ID.search(path)) and (len(words) >= 2 or path.count("/") >= 2)


def url_shape(url: str) -> str:
    """The URL with digits masked: many links of one shape from non-articles mark a trap."""
    parts = urlsplit(url)
    return re.sub(r"\d+", "#", f"{parts.netloc}{parts.path}?{parts.query}")
