"""One article page → :class:`~core.models.Extracted`: title, main text, date, author, site.

trafilatura finds the main text; around it we handle what Vietnamese portals do
that a generic extractor does not know about:

* **furniture** inside the article zone: hotline headers ("Đường dây nóng: …"),
  share bars, "Ý kiến bạn đọc" / "Xem thêm bình luận" prompts, "Đọc nhiều nhất" and
  "Tin liên quan" lists. Blocks whose class/id says so are pruned before extraction;
  lines that are only furniture are dropped after it. Related-article titles are
  kept apart (``related``), because detection must ignore them.
* **dates** written ``dd/mm/yyyy hh:mm``, ``hh:mm, dd/mm/yyyy``, ``Thứ tư, 24/4/2024 -
  19:46`` and meta tags with or without an offset; a date without an offset is
  Vietnam time.
* **bylines** such as "Đình Hà – Xuân Trường" on a line of their own.
* **charsets** declared only in a ``<meta>`` tag, including Windows-1258 (decomposed
  tone marks, recomposed to NFC by :func:`core.text.published`), and charset claims
  the bytes contradict (a "UTF-16" page without a BOM or NUL bytes).
* **listing pages** handed over as articles (a section page linked like a story):
  :func:`classify_page` tells them apart from the page itself, and they give no
  article.

What comes out is the publisher's text (:func:`core.text.published`: NFC, nothing
rewritten); every comparison made on the way (title lines, related titles,
furniture, dates, bylines) uses the matching form (:func:`core.text.normalize_line`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from urllib.parse import urljoin

import lxml.etree
import lxml.html
import trafilatura
from w3lib.encoding import html_to_unicode
from w3lib.url import safe_url_string

from core.models import VN_TZ, Extracted
from core.text import normalize, normalize_line, published, published_title
from crawler.urls import site_host

__all__ = ["extract_article", "article_from_tree", "classify_page", "page_kind", "parse_html",
           "page_links", "decode_html", "parse_vn_datetime", "MIN_TEXT_CHARS"]

MIN_TEXT_CHARS = 200
# trafilatura's own extraction at least this long is kept without the comparison with
# readability and justext that trafilatura runs by default (40 % of its time). Measured
# on the public benchmarks (README, Extraction): the comparison changes little above
# this length and F1 is 0.958 on scrapinghub either way (0.961 never comparing); on
# trafilatura's eval set 0.913 against 0.915 (0.910 never comparing).
CONFIDENT_CHARS = 1000

# class/id words of blocks that are never the article's text
_FURNITURE_WORDS = ("related", "lien-quan", "lienquan", "cung-chuyen-muc", "comment", "binh-luan",
                    "binhluan", "y-kien", "share", "social", "hotline", "most-read", "doc-nhieu",
                    "docnhieu", "xem-nhieu", "quang-cao", "tags")
_RELATED_WORDS = ("related", "lien-quan", "lienquan", "cung-chuyen-muc", "most-read", "doc-nhieu",
                  "docnhieu", "xem-nhieu")
_FURNITURE_MARK = re.compile("|".join(map(re.escape, _FURNITURE_WORDS)))
_RELATED_MARK = re.compile("|".join(map(re.escape, _RELATED_WORDS)))
_LEAD_MARK = re.compile("sapo|lead|chapeau|summary|description|tomtat")
# not <form>: ASP.NET portals wrap the whole page in one
_CHROME_TAGS = ("nav", "aside", "footer", "iframe", "svg", "select", "button", "textarea", "video",
                "audio", "embed", "object", "canvas", "map")
_HREFS = lxml.etree.XPath("//a/@href | //area/@href")  # strings, no element objects
_ROOTED = re.compile(r"\s*(?:/|https?:)", re.IGNORECASE)  # resolved without the page's path
_LEAD_TAGS = frozenset(("div", "p", "h2", "h3", "span", "strong"))

_FURNITURE_LINE = re.compile(
    r"^(?:đường dây nóng|hotline|ý kiến bạn đọc|xem thêm bình luận|gửi bình luận|bình luận"
    r"|viết bình luận|chia sẻ|đọc nhiều nhất|xem nhiều nhất|tin liên quan|bài viết liên quan"
    r"|tin cùng chuyên mục|tin khác|in bài|từ khóa|tags?|theo dõi|bản quyền|copyright|©"
    r"|đầu trang|trở về|quay lại|facebook|zalo|twitter|email|print)\b[:\s]*",
    re.IGNORECASE)
_TABLE_FURNITURE = re.compile(r"^\|(?:[^|]{0,50}\|)+$")
_RELATED_HEADING = re.compile(r"^(?:tin liên quan|bài viết liên quan|tin cùng chuyên mục|"
                              r"đọc nhiều nhất|xem nhiều nhất|tin khác|tin mới|có thể bạn quan tâm)",
                              re.IGNORECASE)

_DATE = r"(?P<d>\d{1,2})\s*[/.-]\s*(?P<m>\d{1,2})\s*[/.-]\s*(?P<y>\d{4})"
_TIME = r"(?P<H>\d{1,2})\s*[:hg]\s*(?P<M>\d{2})"
_DATETIME_PATTERNS = [
    re.compile(_DATE + r"[\s,|–-]*(?:lúc\s*)?" + _TIME + r"(?!\d)"),  # 24/04/2024 19:46
    re.compile(_TIME + r"(?:\s*(?:SA|CH|AM|PM))?[\s,|–-]*(?:ngày\s*)?" + _DATE),  # 18:54, 27/04/2022
]
_DATE_ONLY = re.compile(_DATE)
_DATE_ONLY_LINE = re.compile(
    r"^(?:(?:thứ\s+\w+|chủ nhật)[,\s]*)?(?:ngày\s*)?[\d/.:,|\s–-]*(?:\(GMT\+7\))?\s*$", re.IGNORECASE)

_NAME = r"[A-ZĐÀ-Ỹ][\wÀ-ỹ]*(?:\s+[A-ZĐÀ-Ỹ][\wÀ-ỹ]*){0,3}"
_BYLINE = re.compile(rf"^(?:Bài(?: và ảnh)?:\s*|Tin, ảnh:\s*|PV\s*)?{_NAME}(?:\s*[–,-]\s*{_NAME}){{0,3}}"
                     rf"(?:\s*\([^)]{{1,40}}\))?$")

_META_DATES = ("article:published_time", "og:published_time", "datePublished", "pubdate",
               "publishdate", "publish-date", "dc.date.issued", "dc.date", "date", "article.published",
               "itemprop:datePublished")


def decode_html(body: bytes, headers_charset: str | None = None) -> str:
    """Bytes → text: HTTP charset, then BOM, then ``<meta>``, then detection.

    A declared charset that does not fit the bytes (a page saying UTF-8 but written
    in Windows-1258, as older Vietnamese sites are) leaves U+FFFD marks; then the
    page's own ``<meta>``, Windows-1258 and UTF-8 are tried too, and the reading with
    the fewest undecodable bytes wins. A UTF-16 or UTF-32 claim (header or
    ``<meta>``) is believed only if the bytes bear it out (:func:`_wide_bytes`): read
    as UTF-16, a UTF-8 page decodes without a single error, into CJK nonsense.
    """
    wide = _wide_bytes(body)
    if headers_charset and _is_wide(headers_charset) and not wide:
        headers_charset = None
    content_type = f"text/html; charset={headers_charset}" if headers_charset else None
    encoding, text = html_to_unicode(content_type, body)
    if _is_wide(encoding) and not wide:
        encoding, text = html_to_unicode("text/html; charset=utf-8", body)
    if "\ufffd" not in text:
        return text
    readings = [text]
    encoding, own = html_to_unicode(None, body)
    if wide or not _is_wide(encoding):
        readings.append(own)
    readings += [body.decode(codec, errors="replace") for codec in ("cp1258", "utf-8")]
    return min(readings, key=lambda t: t.count("\ufffd"))


_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _is_wide(encoding: str | None) -> bool:
    """A UTF-16 or UTF-32 name, however spelled ("utf-16le", "UTF_16", "ucs-2")."""
    name = (encoding or "").lower().replace("_", "-").replace("-", "")
    return name.startswith(("utf16", "utf32", "ucs2", "ucs4"))


def _wide_bytes(body: bytes) -> bool:
    """Bytes that can be UTF-16/32: a byte-order mark, or NUL bytes in at least an
    eighth of them (markup is ASCII, so half the bytes of a UTF-16 page are NUL, and
    Vietnamese letters of Latin-1 too; a UTF-8 page has none)."""
    return body.startswith(_WIDE_BOMS) or body.count(b"\x00") * 8 >= len(body) > 0


def parse_vn_datetime(text: str) -> datetime | None:
    """The first date-and-time (or, failing that, date) in ``text``, Vietnam time."""
    for pattern in _DATETIME_PATTERNS:
        for m in pattern.finditer(text):
            moment = _build(m, with_time=True)
            if moment:
                return moment
    for m in _DATE_ONLY.finditer(text):
        moment = _build(m, with_time=False)
        if moment:
            return moment
    return None


def _build(m: re.Match, *, with_time: bool) -> datetime | None:
    try:
        hour, minute = (int(m["H"]), int(m["M"])) if with_time else (0, 0)
        moment = datetime(int(m["y"]), int(m["m"]), int(m["d"]), hour, minute, tzinfo=VN_TZ)
    except ValueError:
        return None
    return moment if 1990 <= moment.year <= 2100 else None


def _parse_iso(value: str) -> datetime | None:
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return parse_vn_datetime(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


def parse_html(html: str | bytes, *, headers_charset: str | None = None):
    """The page's lxml tree, or None for an empty or unparseable page."""
    clean = False  # known to hold no control character
    if isinstance(html, bytes):
        # in an ASCII-compatible encoding a control character is its own byte, and
        # bytes are searched ten times faster than text
        clean = not _wide_bytes(html) and len(html.translate(None, _CONTROL_BYTES)) == len(html)
        html = decode_html(html, headers_charset)
    if not html or not html.strip():
        return None
    # control characters are no text, and one in a paragraph makes trafilatura (which
    # works on an XML copy of the tree) give up on the whole page
    if not clean and _CONTROL.search(html):
        html = html.translate(_NO_CONTROL)
    try:
        return lxml.html.fromstring(html, parser=_parser())
    except (lxml.etree.ParserError, ValueError):
        return None


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f])
# dropped, except vertical tab and form feed, which separate words as spaces do
_NO_CONTROL = {c: None for c in [*range(0x09), *range(0x0e, 0x20), 0x7f]} | {0x0b: " ", 0x0c: " "}
_PARSERS = threading.local()


def _parser() -> lxml.html.HTMLParser:
    """lxml.html's parser, with every element an HtmlElement picked in C.

    lxml.html's own parser calls a Python method for each element Python touches, to
    give forms and inputs their own classes (which nothing here uses): 1,700 calls a
    portal page, a tenth of its extraction time. One parser per thread, as lxml asks.
    """
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = lxml.html.HTMLParser()
        parser.set_element_class_lookup(lxml.etree.ElementDefaultClassLookup(
            element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment,
            pi=lxml.html.HtmlProcessingInstruction, entity=lxml.html.HtmlEntity))
    return parser


def page_links(tree, url: str, encoding: str = "utf-8", hosts: frozenset[str] | None = None
               ) -> list[str]:
    """The page's ``<a>``/``<area>`` links, absolute, each once, in page order; in-page
    anchors, scripts, mail and phone links left out (as Scrapy's LinkExtractor does),
    and, if ``hosts`` is given, absolute links to other hosts (a portal's footer and
    banners link dozens of other sites)."""
    base = url
    for href in tree.xpath("//base/@href"):
        base = urljoin(url, href.strip())
        break
    origin = base[:base.find("/", base.find("//") + 2)] if base.count("/") >= 3 else base
    links, seen = [], set()
    for href in _HREFS(tree):
        # a rooted or absolute link resolves the same against any page of the site: the
        # menus, columns and footer repeat on every page, so those are resolved once
        link, host = _resolve(origin if _ROOTED.match(href) else base, href, encoding)
        if link is None or link in seen or (hosts is not None and host and host not in hosts):
            continue
        seen.add(link)
        links.append(link)
    return links


@lru_cache(maxsize=16384)
def _resolve(base: str, href: str, encoding: str) -> tuple[str | None, str | None]:
    """(``href`` made absolute against ``base``, or None if it is no page link; the
    :func:`site_host` it names if it is absolute, else None)."""
    href = href.strip()
    if not href or href[0] == "#" or href.startswith(("javascript:", "mailto:", "tel:")):
        return None, None
    host = None
    if href.startswith(("http://", "https://", "//")):
        host = site_host(href.split("/", 3)[2])
    link = urljoin(base, safe_url_string(href, encoding=encoding))
    return (link if link.startswith(("http://", "https://")) else None), host


def extract_article(html: str | bytes, url: str, *, headers_charset: str | None = None
                    ) -> Extracted | None:
    """The article on the page, or None when the page holds no article text."""
    tree = parse_html(html, headers_charset=headers_charset)
    return None if tree is None else article_from_tree(tree, url)


def article_from_tree(tree, url: str, *, check_kind: bool = True) -> Extracted | None:
    """The article in a parsed page (the tree is changed: parse it again to reuse it);
    None for a listing page (:func:`page_kind`; ``check_kind=False`` when the caller
    has asked already)."""
    if check_kind and page_kind(tree) == "listing":
        return None
    # (tag walks in C, not XPath predicates: these run on every page)
    for bad in [el for el in tree.iter("script", "style", "noscript")
                if el.tag != "script" or el.get("type") != "application/ld+json"]:
        bad.drop_tree()
    _unwrap_layout_tables(tree)
    blocks = _Blocks(tree)
    related = _related_titles(blocks)
    title = _title(tree, None)
    page_lines = _PageLines(tree, title)  # read only if the markup lacks a date or byline
    linked_data = _json_ld(tree)
    published_at = _published(tree, linked_data, page_lines)
    author = _author(tree, linked_data, page_lines)
    canonical = _canonical(tree, url)
    lead = _lead(blocks)
    site_name = _site_name(tree)
    if not (title and published_at):
        # trafilatura's metadata search (htmldate, its author and site heuristics) costs
        # a third of the text extraction: run it only when the headline or date is missing
        meta = trafilatura.extract_metadata(tree, url)
        title = title or _title(tree, meta.title)
        published_at = published_at or (_parse_iso(meta.date) if meta.date else None)
        author = author or (published_title(meta.author) or None if meta.author else None)
        site_name = site_name or (published_title(meta.sitename) or None if meta.sitename
                                  else None)
    _drop_furniture(blocks)
    # what trafilatura's own cleaning would remove anyway, removed once here: its
    # fallback extractors (readability, the baseline) then work on the page's text
    # instead of copying and scoring menus, side columns and footers again
    for body in tree.iter("body"):
        for node in list(body.iter(*_CHROME_TAGS)):
            if node.getparent() is not None:
                node.drop_tree()
    options = {"url": url, "include_comments": False, "deduplicate": False}
    doc = trafilatura.bare_extraction(tree, fast=True, **options)
    if doc is None or len(doc.text or "") < CONFIDENT_CHARS:
        # short: compare with readability and justext too, which trafilatura does by default
        # (bare_extraction works on a copy of the tree, so this reads the same page)
        doc = trafilatura.bare_extraction(tree, **options)
    if doc is None or not doc.text:
        return None
    lines = _clean_lines(doc.text, title, related)
    if lead:
        # compared in the matching form: the same lead may be typed two ways on one page
        key, firsts = normalize(lead), [normalize_line(ln) for ln in lines[:3]]
        if key not in firsts and not any(key[:60] in ln for ln in firsts):
            lines.insert(0, lead)
    if author:
        author_key = normalize_line(author)
        lines = [ln for ln in lines if normalize_line(ln) != author_key]
    text = published("\n".join(lines))
    if len(text) < MIN_TEXT_CHARS:
        return None
    return Extracted(url=url, canonical_url=canonical, title=title, text=text,
                     published_at=published_at, author=author,
                     site_name=site_name,
                     related=tuple(related))


# --- page kind: an article, or a listing of other pages' teasers -------------------------

# A run of body paragraphs this long is an article whatever else the page holds: the
# longest teaser summary ("sapo") on the section pages we know is about 300 characters,
# and a one-paragraph news brief is rarely under 500.
BODY_CHARS = 500
# A page with fewer headline links than this is not a listing (an article's related
# list has 3-10; a section page shows 10-40 teasers).
MIN_TEASERS = 5
# A headline link: anchor text of at least this many characters and words (Vietnamese
# headlines run 60-120 characters; menu entries are one to four words: "Thời sự",
# "Quốc phòng - An ninh").
_TEASER_CHARS = 30
_TEASER_WORDS = 5
# A block with at least this much text outside links counts as a paragraph (a card's
# date or category line is shorter).
_PARAGRAPH_CHARS = 40
# After a teaser, this many paragraphs in a row are article text, not its summary.
_BODY_PARAGRAPHS = 3
# A site's imprint after its last teaser is one-line entries ("Giấy phép số …",
# "Địa chỉ: …", "© 2026 …": 40-150 characters, 60-90 on average on the real pages
# of benchmarks/realworld.py); an article's paragraphs wrap over several lines (150-270
# characters on average there). After the last teaser, only paragraphs longer than a
# line of this many characters can make a body.
_LINE_CHARS = 120
_BLOCK_TAGS = frozenset(("p", "div", "td", "th", "li", "section", "article", "blockquote", "h1",
                         "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "tbody", "tr", "figure",
                         "figcaption", "header", "footer", "main", "dl", "dd", "dt", "pre", "form",
                         "nav", "aside", "center", "address"))
_SKIPPED_TAGS = frozenset(("script", "style", "noscript", "template", "nav", "footer", "select",
                           "button", "svg"))


def classify_page(html: str | bytes, url: str) -> str:
    """``"article"`` or ``"listing"``, judged from the page itself (see :func:`page_kind`);
    ``url`` is not used for the verdict (a section page may have any URL)."""
    tree = parse_html(html)
    return "article" if tree is None else page_kind(tree)


def page_kind(tree) -> str:
    """``"listing"`` for a page of teasers, else ``"article"`` (the tree is not changed).

    The page's leaf blocks are read in document order; what the page does not show in
    its flow (scripts, and blocks it hides or names a dialog: :func:`_hidden`) is not
    read. A block led by a headline link to another page is a teaser (a link that
    opens a sentence going on after it is running text); a block with 40+ characters
    outside links is a paragraph (a list item is not); paragraphs in a row, not
    interrupted by a teaser or a headline, make a run. A page is an article when its
    ``h1`` headline stands inside an HTML5 ``<article>``. Otherwise it is a listing
    when it shows at least :data:`MIN_TEASERS` teasers outside related-article lists
    and has no body run. A body run is one of :data:`BODY_CHARS`, or of
    ``MIN_TEXT_CHARS`` that is not a teaser's summary (a run right after a teaser,
    shorter than :data:`_BODY_PARAGRAPHS` paragraphs). After the page's last teaser
    come the site's imprint and notices, so there a run is a body only if its
    paragraphs longer than a line (:data:`_LINE_CHARS`) make :data:`BODY_CHARS`. A bare
    link between two paragraphs of the body ("see also") does not end the body's run,
    unless such links alternate with the paragraphs (headline, summary, headline...:
    a listing).

    Cases (tests/test_extraction.py): teaser grids with or without summaries, plain
    headline lists, a featured story above a grid, old table layouts, headlines
    opening or beside their summary paragraph, and any of them with a real portal's
    chrome (ad slots holding scripts, an imprint in ``<div>`` columns, list items or
    the top menu, notices hidden by CSS or the ``hidden`` attribute, a pop-up of long
    paragraphs, a log-in button linked to "#") are listings; a long article, a brief
    under a long related list or above an unmarked grid, wire copy in short
    paragraphs, a live report, a photo story, questions and answers, a round-up whose
    paragraphs open with links, a body after a strip of video teasers, a paywalled
    stub, "see also" links between paragraphs, a headline linked to its own page, an
    old table layout with ``<br>`` paragraphs are articles. Known limits: a section
    page whose description between its name and its grid is as long as a brief (200+
    characters) reads as a brief with its related links; so does a front page that
    opens with its top story as an unlinked ``h1`` over a 200+ character lead; an
    imprint after the last teaser written as 500+ characters of long paragraphs reads
    as a body (benchmarks/realworld.py, held-out pages).
    """
    body = tree.find("body")
    root = body if body is not None else tree
    teasers: set[str] = set()
    runs = _Runs()
    last_teaser = None
    for seq, (block, kind, size, href) in enumerate(_leaf_blocks(root)):
        runs.seq = seq
        if kind in ("teaser", "link"):
            last_teaser = seq
            if not _in_related(block):
                teasers.add(href)
            if kind == "link" and runs.open_body():
                runs.interrupt()
            else:
                runs.close(after_teaser=True)
        elif kind == "headline":
            if _in_article_element(block):
                return "article"
            runs.close(after_teaser=False)
        elif kind == "paragraph":
            runs.add(size)
    runs.close(after_teaser=False)
    if len(teasers) < MIN_TEASERS:
        return "article"
    for chars, paragraphs, after_teaser, last, wrapped in runs.done:
        if after_teaser and (last_teaser is None or last > last_teaser):
            # after the page's last teaser: the site's imprint (one-line entries), unless
            # it holds an article's body (a body after a strip of videos)
            if wrapped >= BODY_CHARS:
                return "article"
        elif chars >= BODY_CHARS or chars >= MIN_TEXT_CHARS and (
                not after_teaser or paragraphs >= _BODY_PARAGRAPHS):
            return "article"
    return "listing"


class _Runs:
    """Runs of paragraphs, each (characters, paragraphs, right after a teaser?, the
    number of its last block, characters in paragraphs longer than a line), for
    :func:`page_kind`; a run not led by a teaser may go on across bare links.
    ``seq``: the number of the block being read."""

    def __init__(self):
        self.done: list[tuple[int, int, bool, int, int]] = []
        self.segments: list[list[int]] = []  # the open run, split at its bare links
        self.after_teaser = False  # the open run's lead
        self.last_teaser = False  # what came before the next run
        self.seq = 0
        self.last = 0  # the open run's last paragraph
        self.wrapped = 0  # its characters in paragraphs longer than _LINE_CHARS

    def open_body(self) -> bool:
        return bool(self.segments) and not self.after_teaser

    def add(self, chars: int) -> None:
        if not self.segments:
            self.after_teaser = self.last_teaser
            self.segments.append([0, 0])
            self.wrapped = 0
        self.segments[-1][0] += chars
        self.wrapped += chars if chars > _LINE_CHARS else 0
        self.segments[-1][1] += 1
        self.last = self.seq

    def interrupt(self) -> None:
        self.segments.append([0, 0])

    def close(self, *, after_teaser: bool) -> None:
        parts = [seg for seg in self.segments if seg[1]]
        links = len(self.segments) - 1
        if parts and links >= 3 and links >= sum(seg[1] for seg in parts) - 1:
            # a link before every paragraph: headlines and their summaries
            self.done += [(chars, paras, self.after_teaser if i == 0 else True, self.last,
                           min(chars, self.wrapped)) for i, (chars, paras) in enumerate(parts)]
        elif parts:
            self.done.append((sum(seg[0] for seg in parts), sum(seg[1] for seg in parts),
                              self.after_teaser, self.last, self.wrapped))
        self.segments = []
        self.last_teaser = after_teaser


def _leaf_blocks(root):
    """(block, kind, characters outside links, the teaser's href) for each block that has
    no block inside it, in document order, and for the text a block holds beside its
    inner blocks (old portals write the article as text and ``<br>`` in a ``<div>``
    that also holds pictures' blocks). ``kind``: "teaser", "headline" (a heading that
    is no link: the article's own), "paragraph" or "other". Scripts and what the page
    hides (:func:`_hidden`) are not read."""
    stack = [root]
    while stack:
        el = stack.pop()
        tag = el.tag
        if not isinstance(tag, str) or tag in _SKIPPED_TAGS or _hidden(el):
            continue
        children = [c for c in el if isinstance(c.tag, str)]
        if any(c.tag in _BLOCK_TAGS for c in children):
            own = _own_text_chars(el)
            if own >= _PARAGRAPH_CHARS:
                yield el, "paragraph", own, None
            stack.extend(reversed(children))
            continue
        yield (el, *_block_kind(el))


_HIDING_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# class/id words of dialogs: log-in boxes, paywalls, membership pop-ups, shown over the
# page on a click (the generic names of the component, as "related" or "comment" are;
# not "overlay", which also names the caption laid over a teaser's picture)
_DIALOG_MARK = re.compile(r"popup|pop-up|modal|lightbox")


def _hidden(el) -> bool:
    """A block the page itself says it does not show in its flow: the ``hidden``
    attribute, ``aria-hidden="true"``, an inline ``display: none`` / ``visibility:
    hidden`` (account notices, payment forms and log-in boxes waiting for a click), or
    a dialog (``<dialog>``, ``role="dialog"``, ``aria-modal``, or a class or id naming
    a pop-up or modal, unless it holds an ``h1``)."""
    if el.tag == "dialog":
        return True
    attrib = el.attrib
    if not attrib:
        return False
    get = attrib.get
    if "hidden" in attrib or get("aria-hidden") == "true" or get("aria-modal") == "true" or \
            get("role") in ("dialog", "alertdialog"):
        return True
    style = get("style")
    if style and _HIDING_STYLE.search(style):
        return True
    # a block so named that holds the page's headline is the page ("modal-enabled"
    # articles open their pictures in a dialog)
    return _names_dialog(get("class"), get("id")) and el.find(".//h1") is None


@lru_cache(maxsize=4096)  # a portal's pages repeat the same few hundred class names
def _names_dialog(cls: str | None, ident: str | None) -> bool:
    return bool(_DIALOG_MARK.search(f"{cls or ''} {ident or ''}".lower()))


def _in_sentence(text: str, anchor: str) -> bool:
    """The link opens a sentence that goes on after it ("<a>X is investigating Y</a>.
    The company..."): a link in running text, not a headline standing on its own line
    (a headline is followed by nothing, a line break, a dash, a colon, a date)."""
    rest = text[len(anchor):].lstrip()
    return bool(rest) and (rest[0] in ".,;!?" or rest[0].islower())


def _to_a_page(link) -> bool:
    """A link to another page: not a button dressed as a link ("#", "javascript:"),
    which opens a form or a menu on the page itself."""
    href = (link.get("href") or "").strip().lower()
    return bool(href) and not href.startswith(("#", "javascript:"))


def _in_article_element(el) -> bool:
    """Inside an HTML5 ``<article>``: a headline there is an article's own (a section
    page's teaser cards are ``<article>`` elements too, but their headings are not
    ``h1`` and are links)."""
    return any(node.tag == "article" for node in el.iterancestors())


def _shown_text(el) -> str:
    """The text of ``el`` and its descendants, without scripts, styles and hidden
    blocks (an ad slot is a ``<div>`` holding only its script), spaces collapsed."""
    if not len(el):  # most blocks and links: text alone
        return " ".join((el.text or "").split())
    parts: list[str] = []
    _shown_parts(el, parts)
    return " ".join(" ".join(parts).split())


def _shown_parts(el, parts: list[str]) -> None:
    """The pieces of :func:`_shown_text`, in document order (spaces are collapsed once,
    at the end, however deep a block's inline markup goes)."""
    if el.text:
        parts.append(el.text)
    for child in el:
        if isinstance(child.tag, str) and child.tag not in _SKIPPED_TAGS and not _hidden(child):
            _shown_parts(child, parts)
        if child.tail:
            parts.append(child.tail)


def _own_text_chars(el) -> int:
    """Characters of text outside links that ``el`` holds beside its inner blocks: its
    own text, its inline children's, and the text after each child."""
    chars = len((el.text or "").strip())
    for child in el:
        if isinstance(child.tag, str) and child.tag not in _BLOCK_TAGS and \
                child.tag not in _SKIPPED_TAGS and child.tag != "a" and not _hidden(child):
            inline = _shown_text(child)
            chars += len(inline) - sum(len(_shown_text(a)) for a in child.iter("a"))
        chars += len((child.tail or "").strip())
    return chars


def _block_kind(el) -> tuple[str, int, str | None]:
    text = _shown_text(el)
    if not text:
        return "other", 0, None
    link_chars = 0
    for link in el.iter("a"):
        anchor = _shown_text(link)
        link_chars += len(anchor)
        if len(anchor) >= _TEASER_CHARS and len(anchor.split()) >= _TEASER_WORDS and \
                text.startswith(anchor[:_TEASER_CHARS]) and _to_a_page(link) and \
                not _in_sentence(text, anchor):
            if el.tag == "h1":  # a headline linked to its own page
                return "headline", 0, None
            # a link alone in a paragraph ("see also" in a body) or a card's headline
            bare = el.tag in ("p", "div", "span") and len(text) == len(anchor)
            return ("link" if bare else "teaser"), 0, (link.get("href") or anchor).strip()
    if el.tag == "h1" and link_chars == 0:
        return "headline", 0, None
    outside = len(text) - link_chars
    if el.tag == "li":  # an item of a list (a menu's, an imprint's), not a paragraph
        return "other", outside, None
    return ("paragraph" if outside >= _PARAGRAPH_CHARS else "other"), outside, None


def _in_related(el) -> bool:
    """Inside a block whose class or id marks it as related articles or furniture."""
    for node in el.iterancestors():
        marks = (node.get("class") or "") + " " + (node.get("id") or "")
        if marks.strip() and (_RELATED_MARK.search(marks) or _FURNITURE_MARK.search(marks)):
            return True
    return False


def _canonical(tree, url: str) -> str:
    for href in tree.xpath("//link[@rel='canonical']/@href | //meta[@property='og:url']/@content"):
        if href.strip():
            return urljoin(url, href.strip())
    return url


def _site_name(tree) -> str | None:
    for value in tree.xpath("//meta[@property='og:site_name' or @name='application-name' or "
                            "@name='og:site_name']/@content"):
        if value.strip():
            return published_title(value).lstrip("@") or None
    return None


def _title(tree, fallback: str | None) -> str:
    for value in tree.xpath("//h1//text()[normalize-space()]/ancestor::h1[1]"):
        text = published_title(value.text_content())
        if len(text) > 10:
            return text
    for value in tree.xpath("//meta[@property='og:title']/@content"):
        if value.strip():
            return published_title(value)
    title = published_title(fallback or "")
    # "Headline - Site name": the site's name goes
    return re.split(r"\s+[|–—-]\s+(?=[^|–—-]{2,40}$)", title)[0] if title else title


def _json_ld(tree) -> list[dict]:
    """The page's JSON-LD objects (top level and ``@graph`` members); broken blocks skipped."""
    items = []
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                items.append(item)
                items += [g for g in item.get("@graph") or () if isinstance(g, dict)]
    return items


def _published(tree, linked_data: list[dict], lines: _PageLines) -> datetime | None:
    for name in _META_DATES:
        for value in tree.xpath(f"//meta[@property='{name}' or @name='{name}' or "
                                f"@itemprop='{name}']/@content"):
            moment = _parse_iso(value)
            if moment:
                return moment
    for item in linked_data:
        if item.get("datePublished"):
            moment = _parse_iso(str(item["datePublished"]))
            if moment:
                return moment
    for value in tree.xpath("//time/@datetime"):
        moment = _parse_iso(value)
        if moment:
            return moment
    # visible text: the first date after the headline (the top bar's "today" comes before it)
    short = [normalize_line(line) for line in lines.get(65) if len(line) <= 80]
    for line in short:  # a date with its time first: a bare date may be anything
        for pattern in _DATETIME_PATTERNS:
            m = pattern.search(line)
            if m and (moment := _build(m, with_time=True)):
                return moment
    for line in short:
        moment = parse_vn_datetime(line)
        if moment:
            return moment
    return None


class _PageLines:
    """The visible lines around the headline (:func:`_page_lines`), read when first asked
    for and made :func:`published_title` only as far as asked (most pages give their
    date and byline in markup; a date in the text is in the first few lines)."""

    def __init__(self, tree, title: str):
        self.tree, self.title = tree, title
        self.raw: list[str] | None = None
        self.lines: list[str] = []

    def get(self, count: int) -> list[str]:
        """The first ``count`` lines (fewer if the page has fewer)."""
        return list(itertools.islice(self, count))

    def __iter__(self) -> Iterator[str]:
        if self.raw is None:
            self.raw = _page_lines(self.tree, self.title)
        for n, raw in enumerate(self.raw):
            if n == len(self.lines):
                self.lines.append(published_title(raw))
            yield self.lines[n]


def _page_lines(tree, title: str, limit: int = 200) -> list[str]:
    """Up to ``limit`` visible lines after the headline (from the top if it is not found),
    preceded by the five lines above it (where some portals put the date), as in the
    page (stripped)."""
    body = tree.find("body")
    raw = [ln.strip() for ln in (body if body is not None else tree).text_content().splitlines()]
    raw = [ln for ln in raw if ln]
    start = 0
    if title:
        key = normalize_line(title)
        for i, line in enumerate(raw):
            if abs(len(line) - len(title)) < 8 and normalize_line(line) == key:
                start = i + 1
                break
    above = raw[max(0, start - 6):max(0, start - 1)] if start else []
    return above + raw[start:start + limit]


def _author(tree, linked_data: list[dict], html_lines: _PageLines) -> str | None:
    for value in tree.xpath("//meta[@name='author' or @property='article:author']/@content | "
                            "//*[@itemprop='author']//text()[normalize-space()] | "
                            "//*[contains(@class, 'author')]//text()[normalize-space()]"):
        value = published_title(value)
        if value and not value.startswith("http") and len(value) <= 80:
            return value
    for item in linked_data:
        names = item.get("author")
        for one in names if isinstance(names, list) else [names]:
            name = published_title(str((one.get("name") if isinstance(one, dict) else one) or ""))
            if any(ch.isalpha() for ch in name) and not name.startswith("http") and len(name) <= 80:
                return name
    for line in html_lines:  # up to the first byline
        if 4 <= len(line) <= 70 and not any(ch.isdigit() for ch in line):
            key = normalize_line(line)  # dashes and spaces unified for the byline pattern
            if _BYLINE.match(key) and len(line.split()) >= 2 and not _FURNITURE_LINE.match(key):
                return line
    return None


def _unwrap_layout_tables(tree) -> None:
    """Old portals lay pages out with tables; a table holding headings or paragraphs is
    layout, not data: its cells become blocks, so the article is not read as one cell."""
    for table in tree.xpath("//table[.//p or .//h1 or .//h2 or .//h3 or .//table]"):
        for node in [table, *table.xpath(".//tbody | .//thead | .//tr | .//td | .//th")]:
            if node.tag in ("table", "tbody", "thead", "tr", "td", "th"):
                node.tag = "div"


class _Blocks:
    """One walk over the page body: the blocks marked as furniture or related lists by
    their class or id, the blocks that follow a "Tin liên quan"-style heading, and the
    lead candidates. (A walk in Python is cheaper here than one XPath per question.)"""

    def __init__(self, tree):
        self.furniture, self.related, self.headed, self.leads = [], [], [], []
        body = tree.find("body")
        root = body if body is not None else tree
        for el in root.iter():
            if isinstance(el.tag, str):
                cls, ident = el.get("class") or "", el.get("id") or ""
                if cls or ident:
                    if _FURNITURE_MARK.search(cls) or _FURNITURE_MARK.search(ident):
                        self.furniture.append(el)
                    if _RELATED_MARK.search(cls) or _RELATED_MARK.search(ident):
                        self.related.append(el)
                    if el.tag in _LEAD_TAGS and el is not root and _LEAD_MARK.search(cls):
                        self.leads.append(el)
                text = el.text
                if text and len(text) < 200:
                    self._heading(el, text)
            tail = el.tail
            if tail and len(tail) < 200 and el is not root:
                self._heading(el, tail)

    def _heading(self, el, text: str) -> None:
        if _RELATED_HEADING.match(text.strip()) and len(" ".join(text.split())) < 40:
            sibling = el.getnext()
            if sibling is not None:
                self.headed.append(sibling)


def _lead(blocks: _Blocks) -> str | None:
    """The article's lead ("sapo"), which extractors often take for a teaser and drop."""
    for node in blocks.leads:
        text = published(node.text_content())
        if len(text) >= 60 and not node.xpath(".//a[string-length(normalize-space()) > 15]"):
            return text
    return None


def _drop_furniture(blocks: _Blocks) -> None:
    """Drop blocks marked as furniture; a block with paragraphs of its own may be the
    article, so it stays."""
    for block in blocks.furniture:
        if block.getparent() is not None and sum(1 for p in block.iter("p") if p is not block) < 3:
            block.drop_tree()


def _related_titles(blocks: _Blocks) -> list[str]:
    """Titles of the links in related / most-read lists."""
    titles: list[str] = []
    for block in [*blocks.related, *blocks.headed]:
        for link in block.iter("a"):
            text = published_title(link.text_content())
            if len(text) > 15 and text not in titles:
                titles.append(text)
    return titles


def _clean_lines(text: str, title: str, related: list[str]) -> list[str]:
    """The extracted text's lines as published, without the headline, related titles,
    furniture and bare date lines (each recognised in the matching form)."""
    lines, related_set = [], {normalize_line(r) for r in related}
    title_key = normalize_line(title)
    for raw in text.splitlines():
        line = published(raw)
        key = normalize_line(line)
        if not key or key == title_key and len(lines) < 5:
            continue
        if not lines and _TABLE_FURNITURE.match(key):
            continue  # a layout table's header row (station name, weather widget)
        if key in related_set:
            continue
        if _FURNITURE_LINE.match(key) and len(key) < 120:
            continue
        if _DATE_ONLY_LINE.match(key) and any(ch.isdigit() for ch in key):
            continue
        lines.append(line)
    return lines
