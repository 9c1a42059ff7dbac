"""The demo and test portals: five sites on 127.0.0.1, each on its own port (its own host).

``PortalWeb`` serves the articles of ``articles.json`` through the five templates of
:mod:`testsupport.templates`, with what real portals do to crawlers:

* paginated section listings (each site its own pagination style), relative and
  absolute links, a home page; an RSS feed (mst-portal) and a sitemap index
  (hanoi-portal); ``robots.txt`` with a ``Disallow`` (and a ``Crawl-delay`` on one site);
* URL variants of one article (tracking parameters, fragments, trailing slash, an AMP
  copy with ``rel=canonical``), a page whose charset (Windows-1258) is declared only in
  a ``<meta>`` tag, a link to a PDF, a 6 MB page, a redirect loop, an endless calendar,
  a dead link (404) and an article that fails with 500 once and then recovers;
* ``ETag``/``Last-Modified`` validators and 304 answers (hagiang-tv sends none; a site
  can be told to lie with 304 even after a change);
* changes between two crawls: :meth:`publish`, :meth:`edit`, :meth:`delete`,
  :meth:`touch_furniture` (the "most read" box changes, the article does not);
* a log of every request, so tests can check what a crawl fetched.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape as xml_escape

from core.models import VN_TZ
from testsupport.chrome import add_chrome
from testsupport.content import (
    PortalArticle,
    load_articles,
    next_session_number,
    recently,
    session_report,
)
from testsupport.templates import render_article, render_listing

__all__ = ["PortalWeb", "SITES", "Request"]

SITES = ("thanhhoa-tv", "mst-portal", "hagiang-tv", "hanoi-portal", "chinhphu-news")
BIG_PAGE_BYTES = 6 * 1024 * 1024


@dataclass
class Request:
    site: str
    method: str
    path: str  # with the query string
    headers: dict
    status: int
    at: float


class _Ctx:
    """What a template needs to know about its site: how to link, what is most read."""

    def __init__(self, web: PortalWeb, site: str, amp: bool = False):
        self.web, self.site, self.amp = web, site, amp
        self.most_read = web.state[site].most_read()

    def article_href(self, slug: str) -> str:
        return self.web.article_path(self.site, slug)

    def related_href(self, slug: str) -> str:
        """A related item's link: the article if the site has it, else its section page."""
        state = self.web.state[self.site]
        if slug in state.articles:
            return self.article_href(slug)
        return self.web.listing_path(self.site, state.sections()[0])

    def amp_href(self, slug: str) -> str:
        return "/amp" + self.article_href(slug)

    def absolute(self, path: str) -> str:
        return self.web.base_url(self.site) + path

    def listing_href(self, slug: str, i: int) -> str:
        path = self.article_href(slug)
        if self.site == "hanoi-portal" and i % 2 == 0:
            path += "/?utm_source=trang-chu&utm_medium=web#noi-dung"  # variants of one URL
        return self.absolute(path) if i % 3 == 0 else path


@dataclass
class _Site:
    name: str
    articles: dict[str, PortalArticle] = field(default_factory=dict)
    modified: dict[str, datetime] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    furniture: int = 0
    server: ThreadingHTTPServer | None = None
    latest: list[tuple[str, str]] = field(default_factory=list)
    latest_key: tuple[int, int] | None = None

    def most_read(self) -> list[tuple[str, str]]:
        """Five articles, reshuffled by :meth:`PortalWeb.touch_furniture` (cached)."""
        key = (self.furniture, len(self.articles), len(self.deleted))
        if getattr(self, "_most_read_key", None) != key:
            live = sorted(self.live(),
                          key=lambda a: zlib.crc32(f"{a.slug}:{self.furniture}".encode()))
            self._most_read = [(a.title, a.slug) for a in live[:5]]
            self._most_read_key = key
        return self._most_read

    def live(self) -> list[PortalArticle]:
        return [a for s, a in self.articles.items() if s not in self.deleted]

    def sections(self) -> list[str]:
        return sorted({a.section for a in self.articles.values()}) or ["thoi-su"]


class PortalWeb:
    def __init__(self, articles: list[PortalArticle] | None = None, *, sites=SITES,
                 traps: bool = True, page_size: int = 5, validators: bool = True,
                 weight: str = "light", cache: bool = False):
        if weight not in ("light", "real"):
            raise ValueError(f"weight must be 'light' or 'real', not {weight!r}")
        self.sites = list(sites)
        self.weight = weight  # "real": every HTML page in a real portal's chrome (~65 KB)
        # answers kept until the site changes (publish, edit, delete, furniture): for
        # benchmarks, where rendering would make the test portal compete for the CPU
        # with the crawler it serves; tests that flip the portal's flags leave it off
        self.cache: dict[tuple, tuple[int, dict, bytes]] | None = {} if cache else None
        self.traps = traps
        self.page_size = page_size
        self.validators = validators
        self.no_validators = {"hagiang-tv"}
        self.crawl_delays = {"mst-portal": 0.2}  # robots.txt Crawl-delay, by site
        self.lying_304: set[str] = set()
        # (site, slug): served as Windows-1258 bytes while the headers say UTF-8
        self.wrong_charset: set[tuple[str, str]] = set()
        self.requests: list[Request] = []
        self.failures: dict[tuple[str, str], list[int]] = {}
        self.lock = threading.Lock()
        self.state = {name: _Site(name) for name in self.sites}
        self._paths: dict[tuple[str, str], str] = {}  # (site, path) -> slug
        for a in articles if articles is not None else load_articles():
            if a.site in self.state:
                self._add(a, a.published)
        if traps and "chinhphu-news" in self.state and self.state["chinhphu-news"].articles:
            first = sorted(self.state["chinhphu-news"].articles)[0]
            self.fail("chinhphu-news", self.article_path("chinhphu-news", first), 500, times=1)

    # --- lifecycle ------------------------------------------------------------------

    @classmethod
    def demo(cls) -> PortalWeb:
        return cls()

    def __enter__(self) -> PortalWeb:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> PortalWeb:
        for name in self.sites:
            handler = type(f"Handler_{name}", (_Handler,), {"web": self, "site": name})
            server = _Server(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True, name=name).start()
            self.state[name].server = server
        return self

    def stop(self) -> None:
        for state in self.state.values():
            if state.server:
                state.server.shutdown()
                state.server.server_close()
                state.server = None

    def base_url(self, site: str) -> str:
        return f"http://127.0.0.1:{self.state[site].server.server_address[1]}"

    def url(self, site: str, slug: str) -> str:
        return self.base_url(site) + self.article_path(site, slug)

    # --- paths ----------------------------------------------------------------------

    def article_path(self, site: str, slug: str) -> str:
        a = self.state[site].articles.get(slug)
        section = a.section if a else "thoi-su"
        ident = a.id if a else PortalArticle(slug, site, section, "", datetime.now(UTC)).id
        return {
            "thanhhoa-tv": f"/{section}/{slug}-{ident}.htm",
            "mst-portal": f"/tin-tuc/{ident}/{slug}.html",
            "hagiang-tv": f"/{section}/{slug}-{ident}.html",
            "hanoi-portal": f"/tin-tuc/{section}/{slug}-{ident}",
            "chinhphu-news": f"/{slug}-{ident}.htm",
        }[site]

    def listing_path(self, site: str, section: str, page: int = 1) -> str:
        if site == "hanoi-portal":
            return f"/tin-tuc/{section}/page/{page}"
        if site == "chinhphu-news":
            return f"/{section}.htm" if page == 1 else f"/{section}/trang-{page}.htm"
        ext = ".htm" if site == "thanhhoa-tv" else ".html"
        param = {"thanhhoa-tv": "page", "mst-portal": "p", "hagiang-tv": "trang"}[site]
        return f"/{section}{ext}" + (f"?{param}={page}" if page > 1 else "")

    def start_urls(self, site: str) -> list[str]:
        return [self.base_url(site) + self.listing_path(site, s) for s in self.state[site].sections()]

    # --- changes between crawls -----------------------------------------------------

    def _add(self, article: PortalArticle, when: datetime) -> None:
        state = self.state[article.site]
        state.articles[article.slug] = article
        state.modified[article.slug] = when
        state.deleted.discard(article.slug)
        self._paths[(article.site, self.article_path(article.site, article.slug))] = article.slug
        self._changed()

    def _changed(self) -> None:
        if self.cache:
            self.cache.clear()

    def publish(self, site: str, article: PortalArticle) -> str:
        """Put ``article`` on ``site`` now (first on its section's first page); its URL."""
        with self.lock:
            if article.site != site:
                article = article.edited(site=site)
            sections = self.state[site].sections()
            if article.section not in sections:  # onto a listing the crawler knows
                article = article.edited(section=sections[0])
            self._add(article, datetime.now(UTC))
        return self.url(site, article.slug)

    def edit(self, site: str, slug: str, **changes) -> PortalArticle:
        with self.lock:
            article = self.state[site].articles[slug].edited(**changes)
            self._add(article, datetime.now(UTC))
        return article

    def delete(self, site: str, slug: str) -> None:
        with self.lock:
            self.state[site].deleted.add(slug)
            self._changed()

    def touch_furniture(self, site: str) -> None:
        """The "most read" box reshuffles: every page's bytes change, no article's text does."""
        with self.lock:
            self.state[site].furniture += 1
            self._changed()

    def fail(self, site: str, path: str, status: int = 500, times: int = 1,
             headers: dict | None = None) -> None:
        """Answer ``status`` (with ``headers``, e.g. Retry-After) to the next ``times``
        requests of ``path``."""
        with self.lock:
            self.failures[(site, path)] = [(status, headers or {})] * times

    def articles(self, site: str) -> list[PortalArticle]:
        return sorted(self.state[site].live(), key=lambda a: a.published, reverse=True)

    def all_articles(self) -> list[PortalArticle]:
        return [a for site in self.sites for a in self.articles(site)]

    def add_synthetic(self, site: str, count: int, *, words: int = 350) -> None:
        """``count`` filler articles (for the throughput benchmarks)."""
        import random

        base = datetime(2026, 1, 1, 8, 0, tzinfo=VN_TZ)
        vocabulary = ("ủy ban nhân dân tỉnh tiếp tục chỉ đạo các sở ngành triển khai kế hoạch cải "
                      "cách hành chính nâng cao chất lượng phục vụ người dân doanh nghiệp nông "
                      "nghiệp giao thông giáo dục y tế văn hóa du lịch đầu tư công hạ tầng số dữ "
                      "liệu xã huyện thôn bản mùa vụ lúa chè cà phê học sinh giáo viên bệnh viện "
                      "đường tỉnh cầu cống kênh mương thủy lợi điện nước sạch").split()
        rng = random.Random(f"20261122-{site}")  # each site its own text: no cross-site aliases
        for i in range(count):
            paragraphs = tuple(" ".join(rng.choice(vocabulary) for _ in range(words // 4)).capitalize()
                               + "." for _ in range(4))
            self._add(PortalArticle(slug=f"ban-tin-dia-phuong-so-{i}", site=site,
                                    section="dia-phuong", title=f"Bản tin địa phương số {i}",
                                    published=base + timedelta(minutes=i), author="Phóng viên",
                                    sapo=f"Bản tin số {i} về hoạt động của địa phương.",
                                    paragraphs=paragraphs), base)

    def demo_new_session(self, now: datetime) -> tuple[str, PortalArticle]:
        """The article the demo publishes: the next session of the successor body, today."""
        body = "bcd-khcn-cds-da06"
        number = next_session_number(self.all_articles(), body)
        site = "thanhhoa-tv" if "thanhhoa-tv" in self.sites else self.sites[0]
        published = recently(now, 5)
        return site, session_report(site, body, number, published.date(), published)

    # --- what crawls did ------------------------------------------------------------

    def count(self, site: str | None = None, prefix: str = "") -> int:
        return sum(1 for r in self.requests
                   if (site is None or r.site == site) and r.path.startswith(prefix))

    def fetched(self, site: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.site == site and urlsplit(r.path).path == path]

    def config_toml(self, db_path: Path | str, *, delay: float = 0, extra: str = "",
                    sites: list[str] | None = None, interval: str = "30m",
                    fresh_days: int = 7) -> str:
        out = [f'[storage]\npath = "{db_path}"\n', f"[monitor]\nfresh_days = {fresh_days}\n"]
        for site in sites or self.sites:
            base = self.base_url(site)
            feeds = [f"{base}/rss/tin-tuc.rss"] if site == "mst-portal" else []
            sitemaps = [f"{base}/sitemap.xml"] if site == "hanoi-portal" else []
            out.append("[[sources]]\n"
                       f'name = "{site}"\n'
                       f"start_urls = {self.start_urls(site)!r}\n".replace("'", '"') +
                       f"feeds = {feeds!r}\n".replace("'", '"') +
                       f"sitemaps = {sitemaps!r}\n".replace("'", '"') +
                       f'interval = "{interval}"\ndelay = {delay}\n')
        return "\n".join(out) + extra

    # --- serving --------------------------------------------------------------------

    def respond(self, site: str, method: str, raw_path: str, headers: dict
                ) -> tuple[int, dict, bytes]:
        with self.lock:
            queue = self.failures.get((site, urlsplit(raw_path).path))
            if queue:
                status, headers = queue.pop(0)
                return status, {"Content-Type": "text/html; charset=utf-8", **headers}, \
                    f"<html><body><h1>Lỗi {status}</h1></body></html>".encode()
            if self.cache is None:
                return self._route(site, raw_path, headers)
            key = (site, raw_path, headers.get("if-none-match"), headers.get("if-modified-since"))
            if key not in self.cache:
                self.cache[key] = self._route(site, raw_path, headers)
            return self.cache[key]

    def _route(self, site: str, raw_path: str, headers: dict) -> tuple[int, dict, bytes]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        state = self.state[site]
        if path == "/robots.txt":
            text = "User-agent: *\nDisallow: /admin/\nDisallow: /binh-luan\n"
            if site in self.crawl_delays:
                text += f"Crawl-delay: {self.crawl_delays[site]}\n"
            return 200, {"Content-Type": "text/plain"}, text.encode()
        if path.startswith("/admin/"):
            return 200, {"Content-Type": "text/html"}, b"<html><body>private</body></html>"
        if self.traps:
            trap = self._trap(site, path)
            if trap:
                return trap
        if path in ("/", ""):
            return self._page(site, self._home(site), None, headers)
        if site == "mst-portal" and path == "/rss/tin-tuc.rss":
            return self._page(site, self._rss(site), None, headers, "application/rss+xml")
        if site == "hanoi-portal" and path == "/sitemap.xml":
            base = self.base_url(site)
            body = ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.'
                    f'sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>{base}/sitemap-tin-tuc.xml'
                    "</loc></sitemap></sitemapindex>")
            return self._page(site, body, None, headers, "application/xml")
        if site == "hanoi-portal" and path == "/sitemap-tin-tuc.xml":
            return self._page(site, self._sitemap(site), None, headers, "application/xml")
        amp = False
        if site == "hanoi-portal" and path.startswith("/amp/"):
            path, amp = path[4:], True
        slug = self._paths.get((site, path.rstrip("/") if site == "hanoi-portal" else path))
        if slug is not None:
            if slug in state.deleted:
                return 404, {"Content-Type": "text/html; charset=utf-8"}, \
                    "<html><body><h1>Bài viết không tồn tại</h1></body></html>".encode()
            article = state.articles[slug]
            status, out, body = self._page(site, render_article(article, _Ctx(self, site, amp)),
                                           state.modified[slug], headers)
            if (site, slug) in self.wrong_charset and body:
                body = encode_cp1258(body.decode("utf-8"))
            return status, out, body
        for section in state.sections():
            listing = self._listing(site, section, path, query)
            if listing is not None:
                return self._page(site, listing, None, headers)
        return 404, {"Content-Type": "text/html; charset=utf-8"}, \
            "<html><body><h1>404 - Không tìm thấy trang</h1></body></html>".encode()

    def _listing(self, site: str, section: str, path: str, query: dict) -> str | None:
        page = None
        if site == "hanoi-portal":
            m = re.fullmatch(rf"/tin-tuc/{section}/page/(\d+)", path)
            page = int(m.group(1)) if m else None
        elif site == "chinhphu-news":
            if path == f"/{section}.htm":
                page = 1
            elif m := re.fullmatch(rf"/{section}/trang-(\d+)\.htm", path):
                page = int(m.group(1))
        elif path == self.listing_path(site, section).split("?")[0]:
            param = {"thanhhoa-tv": "page", "mst-portal": "p", "hagiang-tv": "trang"}[site]
            value = query.get(param, ["1"])[0]
            page = int(value) if value.isdigit() else None
        if not page or page < 1:
            return None
        items = [a for a in self.articles(site) if a.section == section]
        pages = max(1, -(-len(items) // self.page_size))
        if page > pages:
            return None
        chunk = items[(page - 1) * self.page_size: page * self.page_size]
        prev_href = self.listing_path(site, section, page - 1) if page > 1 else None
        next_href = self.listing_path(site, section, page + 1) if page < pages else None
        extra = self._trap_links(site) if self.traps and page == 1 else ""
        return render_listing(site, f"{section} – trang {page}", chunk, _Ctx(self, site),
                              next_href=next_href, prev_href=prev_href, extra_links=extra)

    def _home(self, site: str) -> str:
        links = "".join(f'<li><a href="{self.listing_path(site, s)}">{s}</a></li>'
                        for s in self.state[site].sections())
        latest = self.articles(site)[:5]
        return render_listing(site, "Trang chủ", latest, _Ctx(self, site), next_href=None,
                              prev_href=None, extra_links=f"<ul class='menu'>{links}</ul>")

    def _rss(self, site: str) -> str:
        items = "".join(
            f"<item><title>{xml_escape(a.title)}</title>"
            f"<link>{self.url(site, a.slug)}</link><guid>{self.url(site, a.slug)}</guid>"
            f"<pubDate>{format_datetime(a.published)}</pubDate>"
            f"<description>{xml_escape(a.sapo)}</description></item>"
            for a in self.articles(site)[:20])
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                f"<title>Tin tức</title><link>{self.base_url(site)}/</link>{items}"
                "</channel></rss>")

    def _sitemap(self, site: str) -> str:
        urls = "".join(f"<url><loc>{self.url(site, a.slug)}</loc>"
                       f"<lastmod>{self.state[site].modified[a.slug].isoformat()}</lastmod></url>"
                       for a in self.articles(site))
        return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/'
                f'schemas/sitemap/0.9">{urls}</urlset>')

    def _trap_links(self, site: str) -> str:
        links = {
            "thanhhoa-tv": ["/thoi-su/bai-viet-da-go-999999.htm", "/thoi-su/toan-van-bao-cao-999998.htm",
                            "/files/bao-cao-chuyen-doi-so-2024.pdf", "/admin/dang-nhap",
                            # an article-shaped page that robots.txt disallows
                            "/admin/tin-noi-bo-ve-chuyen-doi-so-999996.htm",
                            "/thoi-su/trang-loi-ket-noi-999997.htm"],
            "hagiang-tv": ["/lich-phat-song/2024-04-24.html", "/chuyen-huong/a"],
            "mst-portal": ["/files/ke-hoach-2025.pdf"],
        }.get(site, [])
        return "".join(f'<a href="{href}">liên kết</a> ' for href in links)

    def _trap(self, site: str, path: str) -> tuple[int, dict, bytes] | None:
        if path.endswith(".pdf"):
            return 200, {"Content-Type": "application/pdf"}, b"%PDF-1.4\n% dxmon demo\n%%EOF\n"
        if path == "/thoi-su/trang-loi-ket-noi-999997.htm":  # a broken page: binary, cut short
            return 200, {"Content-Type": "text/html; charset=utf-8"}, \
                b"<html><head><title>\x00\x9f\xff\xfe" + bytes(range(256)) * 8 + b"<body><p"
        if path == "/chuyen-huong/a":
            return 302, {"Location": "/chuyen-huong/b"}, b""
        if path == "/chuyen-huong/b":
            return 302, {"Location": "/chuyen-huong/a"}, b""
        if path == "/thoi-su/toan-van-bao-cao-999998.htm":
            filler = "<p>" + "Toàn văn báo cáo. " * 60 + "</p>\n"
            body = ("<html><head><meta charset='utf-8'><title>Toàn văn báo cáo</title></head><body>"
                    + filler * (BIG_PAGE_BYTES // len(filler.encode()) + 1) + "</body></html>")
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()
        if m := re.fullmatch(r"/lich-phat-song/(\d{4})-(\d{2})-(\d{2})\.html", path):
            day = datetime(int(m[1]), int(m[2]), int(m[3]))
            prev, nxt = day - timedelta(days=1), day + timedelta(days=1)
            body = (f"<html><head><meta charset='utf-8'><title>Lịch {day:%d/%m/%Y}</title></head>"
                    f"<body><h1>Lịch phát sóng {day:%d/%m/%Y}</h1>"
                    f'<a href="/lich-phat-song/{prev:%Y-%m-%d}.html">Ngày trước</a> '
                    f'<a href="/lich-phat-song/{nxt:%Y-%m-%d}.html">Ngày sau</a></body></html>')
            return 200, {"Content-Type": "text/html; charset=utf-8"}, body.encode()
        return None

    def _latest(self, site: str) -> list[tuple[str, str]]:
        """The site's 20 newest articles as (title, path), for the chrome's "Tin mới"."""
        state = self.state[site]
        key = (len(state.articles), len(state.deleted))
        if state.latest_key != key:
            state.latest = [(a.title, self.article_path(site, a.slug))
                            for a in self.articles(site)[:20]]
            state.latest_key = key
        return state.latest

    def _page(self, site: str, text: str, modified: datetime | None, headers: dict,
              content_type: str = "text/html") -> tuple[int, dict, bytes]:
        if self.weight == "real" and content_type == "text/html":
            text = add_chrome(text, site, self._latest(site))
        if site == "hagiang-tv" and content_type == "text/html":
            body, out = encode_cp1258(text), {"Content-Type": "text/html"}  # charset: meta only
        else:
            body, out = text.encode("utf-8"), {"Content-Type": f"{content_type}; charset=utf-8"}
        if not self.validators or site in self.no_validators:
            return 200, out, body
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        out["ETag"] = etag
        if modified is not None:
            out["Last-Modified"] = format_datetime(modified.astimezone(UTC), usegmt=True)
        inm, ims = headers.get("if-none-match"), headers.get("if-modified-since")
        if site in self.lying_304 and (inm or ims):
            return 304, out, b""
        if inm is not None:
            if etag in [t.strip() for t in inm.split(",")]:
                return 304, out, b""
        elif ims and modified is not None:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                since = None
            if since and modified.astimezone(UTC).replace(microsecond=0) <= since:
                return 304, out, b""
        return 200, out, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a crawler that drops an oversized download resets the connection: not an error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    web: PortalWeb
    site: str
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive answers wait for delayed ACKs

    def do_GET(self):  # noqa: N802
        self._serve(body=True)

    def do_HEAD(self):  # noqa: N802
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out, payload = self.web.respond(self.site, self.command, self.path, headers)
        self.web.requests.append(Request(self.site, self.command, self.path, headers, status,
                                         time.time()))
        self.send_response(status)
        for k, v in out.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload) if status != 304 else 0))
        self.end_headers()
        if body and status != 304:
            self.wfile.write(payload)

    def log_message(self, *args):
        pass


def encode_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese sites wrote it: base letters with combining tone marks."""
    table = {ord(ch): _cp1258_form(ch) for ch in set(text) if ord(ch) > 127}
    return text.translate(table).encode("cp1258")


@cache
def _cp1258_form(ch: str) -> str:
    """``ch`` spelled with characters Windows-1258 has (or as an HTML character reference)."""
    try:
        ch.encode("cp1258")
        return ch
    except UnicodeEncodeError:
        pass
    decomposed = unicodedata.normalize("NFD", ch)
    base, marks = decomposed[0], decomposed[1:]
    # keep the vowel's own mark (circumflex, breve, horn) on the letter, the tone apart
    for i in range(len(marks), -1, -1):
        form = unicodedata.normalize("NFC", base + marks[:i]) + marks[i:]
        try:
            form.encode("cp1258")
            return form
        except UnicodeEncodeError:
            continue
    return f"&#{ord(ch)};"
