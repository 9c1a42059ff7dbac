"""URL identity and article recognition (issue 11 §1): the cases first, then the rules.

Each shape Vietnamese portals use, in several spellings, with its negatives beside it;
then properties over generated URLs: the canonical form is idempotent, every variant of
one article canonicalises to one URL, and what is fetched is the link as written minus
its fragment.
"""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.urls import canonical_url, fetch_url, is_article_url, is_skippable, owned_by

B = "https://cong.example.vn"

ARTICLES = [
    # SharePoint / ASP.NET detail pages: an item named by a numeric id in the query
    "/Pages/newsdetail.aspx?NewsId=5521&CatId=12",
    "/Pages/newsdetail.aspx?CatId=12&NewsId=5521",
    "/Pages/chitiet.aspx?ItemID=5521&CateID=12",
    "/portal/Pages/chi-tiet-tin.aspx?ItemID=43",
    "/tin-tuc/chi-tiet.aspx?newsid=884120",
    "/NewsDetail.aspx?id=3318",
    "/Default.aspx?tabid=120&ArticleId=90412",
    # SharePoint dated folders
    "/portal/Pages/2024-03-05/Slug-abc123.aspx",
    "/portal/Pages/2024-03-05/Thu-tuong-chu-tri-phien-hop-abc123.aspx",
    "/Pages/2025-1-9/Hoi-nghi-so-ket.aspx",
    # CMS numeric folders, trailing slash
    "/kenh/7021/202503/slug-3318842/",
    "/tin-tuc/2025/03/thu-tuong-chu-tri-phien-hop/",
    "/tin-tuc/2025/3/15/hop-ban-chi-dao/",
    # ids without an extension
    "/slug-dtnew-512233",
    "/thu-tuong-lam-viec-voi-doanh-nghiep-dtnew-512233",
    "/id/90412/slug",
    "/id/90412/hop-ban-chi-dao",
    # extensions
    "/thoi-su/phien-hop-thu-tam-ban-chi-dao-post884120.vnp",
    "/hop-bcd-post884120.vnp",
    "/slug-post884120.amp",
    "/thoi-su/phien-hop-thu-tam-post884120.html.amp",
    "/xa-hoi/thu-tuong-chu-tri-phien-hop-1234567.ldo",
    "/thoi-su/ban-chi-dao-hop-phien-thu-nhat-20260225.htm",
    "/chinh-tri/uy-ban-quoc-gia-hop-phien-thu-tu.html",
    "/tin-tuc/ban-chi-dao-hop-123456.aspx",
    "/amp/thoi-su/uy-ban-quoc-gia-ve-chuyen-doi-so-hop-phien-thu-tam.html",
    # video / photo / media sections with a written article
    "/video/thu-tuong-chu-tri-phien-hop-thu-8-123456.htm",
    "/media/hoi-nghi-chuyen-doi-so-toan-quoc-20250305.html",
    "/photo/toan-canh-phien-hop-ban-chi-dao-654321.vnp",
    "/emagazine/chuyen-doi-so-cap-xa-nam-2025.html",
]

NOT_ARTICLES = {
    # listings: followed as listings, never as articles
    "listing": ["/thoi-su.htm", "/tin-tuc/page/2", "/thoi-su/trang-3.htm", "/chuyen-muc/thoi-su",
                "/Pages/danhsach.aspx?CatID=12", "/Pages/tin-tuc.aspx?Page=2", "/video/",
                "/video.htm", "/kenh/7021/", "/thoi-su.html?trang=4"],
    # plainly no article, never followed at all
    "tag": ["/tag/chuyen-doi-so.html", "/tags/chuyen-doi-so-12345.htm", "/tu-khoa/phien-hop",
            "/hashtag/uy-ban-quoc-gia-ve-chuyen-doi-so"],
    "search": ["/tim-kiem?q=chuyen+doi+so", "/search?keyword=phien+hop",
               "/Pages/search.aspx?k=phien+hop", "/tim-kiem.htm?keywords=thu-tuong-chu-tri-phien-hop",
               "/Pages/NewsSearch.aspx?ItemID=5521"],
    "print": ["/print/thu-tuong-chu-tri-phien-hop-123456.htm",
              "/thu-tuong-chu-tri-phien-hop-123456.htm?print=1", "/in-bai/123456",
              "/Pages/Print.aspx?ItemID=5521"],
    "login": ["/dang-nhap?returnUrl=/tin-tuc/bai-viet-12345", "/login.aspx?ReturnUrl=%2Ftin-tuc",
              "/user/login", "/_layouts/15/Authenticate.aspx?Source=%2FPages%2Fa.aspx",
              "/admin/dang-nhap", "/quan-tri/dang-nhap"],
    "download": ["/files/bao-cao-chuyen-doi-so-2024.pdf", "/Download.aspx?FileID=12345",
                 "/download/van-ban-quyet-dinh-123456", "/uploads/2025/03/quyet-dinh-so-123456.docx",
                 "/van-ban/ke-hoach-chuyen-doi-so-123456.htm?download=1",
                 "/DownloadFile.aspx?id=5521"],
    "calendar": ["/lich-phat-song/2024-04-24.html", "/lich-cong-tac/tuan-10-2025",
                 "/calendar/2025-03", "/lich-lam-viec/thu-tuong-123456.htm"],
    "scheme": ["mailto:toasoan@example.vn", "javascript:void(0)", "tel:02373721150"],
}
SKIPPED = [u for kind, urls in NOT_ARTICLES.items() if kind != "listing" for u in urls]


@pytest.mark.parametrize("path", ARTICLES)
def test_article_shapes_are_recognised(path):
    url = urljoin(B, path)
    assert is_article_url(url), url
    assert not is_skippable(url)


@pytest.mark.parametrize("kind,path", [(k, u) for k, urls in NOT_ARTICLES.items() for u in urls])
def test_non_articles_are_not_articles(kind, path):
    url = urljoin(B, path)
    assert not is_article_url(url), url
    assert is_skippable(url) == (kind != "listing"), url


# one article, linked every way portals link it
VARIANTS = {
    "https://cong.example.vn/Pages/chitiet.aspx?CateID=12&ItemID=5521": [
        "https://cong.example.vn/Pages/chitiet.aspx?ItemID=5521&CateID=12",
        "https://cong.example.vn/Pages/chitiet.aspx?ItemID=5521&CateID=12&utm_source=zalo",
        "https://m.cong.example.vn/Pages/chitiet.aspx?CateID=12&ItemID=5521#binh-luan",
        "HTTPS://Cong.Example.VN:443/Pages/chitiet.aspx?ItemID=5521&CateID=12&amp=1",
    ],
    "https://cong.example.vn/kenh/7021/202503/slug-3318842": [
        "https://cong.example.vn/kenh/7021/202503/slug-3318842/",
        "https://cong.example.vn/amp/kenh/7021/202503/slug-3318842/",
        "https://cong.example.vn/kenh/7021/202503/slug-3318842/amp/",
        "https://cong.example.vn/kenh/7021/202503/slug-3318842?fbclid=abc&zarsrc=30",
        "https://amp.cong.example.vn//kenh/7021/202503/slug-3318842/",
    ],
    "https://cong.example.vn/slug-post884120": [
        "https://cong.example.vn/slug-post884120.amp",
        "https://m.cong.example.vn/slug-post884120.amp#top",
        "https://cong.example.vn/slug-post884120?amp",
        "https://cong.example.vn/amp/slug-post884120",
    ],
    "https://cong.example.vn/thoi-su/bai-post1.html": [
        "https://cong.example.vn/thoi-su/bai-post1.html.amp",
        "https://cong.example.vn/amp/thoi-su/bai-post1.html?utm_medium=web&utm_source=fb",
    ],
}


@pytest.mark.parametrize("canonical,variant",
                         [(c, v) for c, vs in VARIANTS.items() for v in vs] +
                         [(c, c) for c in VARIANTS])
def test_every_variant_has_the_one_canonical_form(canonical, variant):
    assert canonical_url(variant) == canonical


@pytest.mark.parametrize("linked,fetched", [
    ("https://cong.example.vn/kenh/7021/202503/slug-3318842/#binh-luan",
     "https://cong.example.vn/kenh/7021/202503/slug-3318842/"),
    ("https://cong.example.vn/Pages/chitiet.aspx?ItemID=5521&CateID=12",
     "https://cong.example.vn/Pages/chitiet.aspx?ItemID=5521&CateID=12"),
    ("https://cong.example.vn/slug-post884120.amp", "https://cong.example.vn/slug-post884120.amp"),
    ("https://m.cong.example.vn/a-b-c-d?", "https://m.cong.example.vn/a-b-c-d?"),
    ("https://cong.example.vn/a-b-c-d?utm_source=x#", "https://cong.example.vn/a-b-c-d?utm_source=x"),
])
def test_the_fetched_url_is_the_link_minus_its_fragment(linked, fetched):
    assert fetch_url(linked) == fetched


@pytest.mark.parametrize("url,owned", [
    ("https://cong.example.vn/a", True), ("http://m.cong.example.vn/a", True),
    ("https://amp.cong.example.vn:443/a", True), ("https://www.cong.example.vn/a", True),
    ("https://www2.cong.example.vn/a", False), ("https://cong.example.vn:8443/a", False),
    ("javascript:alert(1)", False),
    ("data:text/html,x", False), ("ftp://cong.example.vn/a", False),
    ("https://example.org/a", False), ("https://cong.example.vn.evil.example/a", False),
    ("https://user@evil.example/@cong.example.vn", False),
])
def test_a_source_owns_only_its_hosts(url, owned):
    assert owned_by(url, {"cong.example.vn"}) is owned


# --- properties over generated URLs ----------------------------------------------------

_word = st.text("abcdehmnotuy0123456789", min_size=1, max_size=8)
_slug = st.lists(_word, min_size=1, max_size=6).map("-".join)
_path = st.lists(st.one_of(_slug, st.sampled_from(["amp", "Pages", "2024-03-05", "7021", ""])),
                 min_size=1, max_size=5).map(lambda s: "/" + "/".join(s))
_ext = st.sampled_from(["", "/", ".htm", ".html", ".aspx", ".vnp", ".ldo", ".amp", ".html.amp"])
_param = st.tuples(st.sampled_from(["ItemID", "CateID", "NewsId", "utm_source", "fbclid", "amp",
                                    "id", "p", "zarsrc"]), st.text("abc019+%", max_size=4))
_host = st.sampled_from(["cong.example.vn", "m.cong.example.vn", "amp.cong.example.vn",
                         "Cong.Example.VN", "cong.example.vn:8080"])


# examples per URL property: 100 random URLs from the shapes above (300 took ~35 s of
# the suite for three properties)
URL_EXAMPLES = 100


@st.composite
def urls(draw):
    params = draw(st.lists(_param, max_size=4, unique_by=lambda p: p[0]))
    query = "&".join(f"{k}={v}" if v else k for k, v in params)
    fragment = draw(st.sampled_from(["", "#", "#binh-luan"]))
    return (f"{draw(st.sampled_from(['http', 'https']))}://{draw(_host)}{draw(_path)}"
            f"{draw(_ext)}{'?' + query if query else ''}{fragment}")


@settings(max_examples=URL_EXAMPLES, deadline=None)
@given(urls())
def test_canonical_url_is_idempotent(url):
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=URL_EXAMPLES, deadline=None)
@given(urls(), st.randoms())
def test_variants_of_one_url_canonicalise_to_one(url, rng):
    """Reordering the query, adding tracking parameters, a fragment, a trailing slash, a
    mobile host or an AMP spelling never changes the canonical form."""
    base, _, fragment = url.partition("#")
    head, _, query = base.partition("?")
    params = [p for p in query.split("&") if p]
    rng.shuffle(params)
    params.append("utm_campaign=tin-moi")
    scheme, rest = head.split("://", 1)
    variants = [f"{head}?{'&'.join(params)}#x", f"{scheme}://m.{rest}?{query}",
                f"{head.rstrip('/')}/?{query}" if not head.endswith((".amp",)) else head + "?" + query,
                f"{head}.amp?{query}" if head.rstrip("/").endswith(("htm", "html")) else base]
    assert {canonical_url(v) for v in variants} == {canonical_url(base)}


@settings(max_examples=URL_EXAMPLES, deadline=None)
@given(urls())
def test_the_fetched_url_is_the_linked_one_minus_the_fragment(url):
    fetched = fetch_url(url)
    assert "#" not in fetched and url.startswith(fetched)
    assert url[len(fetched):] in ("", "#", "#binh-luan")


# --- each shape served strictly, crawled for real -----------------------------------------

# (the one spelling the portal serves, other spellings its pages link it by). The served
# spelling is never the canonical one where the shape allows: a crawler that requests
# the canonical form gets 404.
SHAPES = [
    ("/Pages/newsdetail.aspx?NewsId=5521&CatId=12",
     ["/Pages/newsdetail.aspx?CatId=12&NewsId=5521", "/Pages/newsdetail.aspx?NewsId=5521&CatId=12#top"]),
    ("/Pages/chitiet.aspx?ItemID=5522&CateID=12",
     ["/Pages/chitiet.aspx?ItemID=5522&CateID=12&utm_source=zalo", "/Pages/chitiet.aspx?CateID=12&ItemID=5522"]),
    ("/portal/Pages/2024-03-05/Hoi-nghi-so-ket-abc123.aspx",
     ["/portal/Pages/2024-03-05/Hoi-nghi-so-ket-abc123.aspx?fbclid=x1"]),
    ("/kenh/7021/202503/ban-chi-dao-hop-3318842/",
     ["/kenh/7021/202503/ban-chi-dao-hop-3318842", "/kenh/7021/202503/ban-chi-dao-hop-3318842/amp/"]),
    ("/thu-tuong-lam-viec-dtnew-512233", ["/thu-tuong-lam-viec-dtnew-512233/", "/amp/thu-tuong-lam-viec-dtnew-512233"]),
    ("/id/90412/hop-ban-chi-dao", ["/id/90412/hop-ban-chi-dao?utm_medium=web#binh-luan"]),
    ("/thoi-su/phien-hop-thu-tam-post884120.vnp", ["/thoi-su/phien-hop-thu-tam-post884120.vnp?zarsrc=31"]),
    ("/slug-post884122.amp", ["/slug-post884122", "/amp/slug-post884122"]),
    ("/thoi-su/tin-hoi-nghi-chuyen-doi-so-445566.htm",
     ["/amp/thoi-su/tin-hoi-nghi-chuyen-doi-so-445566.htm", "/thoi-su/tin-hoi-nghi-chuyen-doi-so-445566.htm?amp",
      "/thoi-su/tin-hoi-nghi-chuyen-doi-so-445566.htm.amp"]),
    ("/chinh-tri/uy-ban-quoc-gia-hop-phien-thu-tu.html", ["/chinh-tri/uy-ban-quoc-gia-hop-phien-thu-tu.html/"]),
    ("/tin-tuc/ban-chi-dao-hop-123456.aspx", ["/tin-tuc/ban-chi-dao-hop-123456.aspx?src=home"]),
    ("/xa-hoi/thu-tuong-chu-tri-phien-hop-1234567.ldo", ["/xa-hoi/thu-tuong-chu-tri-phien-hop-1234567.ldo#x"]),
    ("/video/thu-tuong-chu-tri-phien-hop-thu-8-123457.htm", ["/video/thu-tuong-chu-tri-phien-hop-thu-8-123457.htm?utm_source=fb"]),
    ("/media/hoi-nghi-chuyen-doi-so-toan-quoc-20250305.html", ["/media/hoi-nghi-chuyen-doi-so-toan-quoc-20250305.html/"]),
    ("/photo/toan-canh-phien-hop-ban-chi-dao-654321.vnp", ["/photo/toan-canh-phien-hop-ban-chi-dao-654321.vnp?share=1"]),
]


def test_every_shape_is_fetched_as_linked_stored_once_with_every_spelling(tmp_path):
    """A strict portal (404 to any spelling but the one it serves) links each article by
    its served spelling on one listing and by other spellings on another: each article
    is fetched once, as linked, stored once, and every spelling is one of its URLs; a
    re-crawl asks for nothing the portal does not serve; plainly-not-article links are
    never requested."""
    import json
    from datetime import datetime, timedelta

    from core.models import VN_TZ
    from testsupport.crawl import Crawl
    from testsupport.strict import StrictWeb, article_html, listing_html, paragraphs

    never = [u for u in SKIPPED if u.startswith("/")]
    published = (datetime.now(VN_TZ) - timedelta(minutes=40)).isoformat(timespec="seconds")
    with StrictWeb("cong-strict") as web:
        site = web["cong-strict"]
        base = site.base

        def at(target: str) -> str:
            return base + target

        for i, (served, _) in enumerate(SHAPES):
            site.add(served, article_html(f"Bài số {i}: hoạt động chuyển đổi số của tỉnh",
                                          paragraphs(f"Nội dung riêng của bài số {i}"),
                                          published=published))
        amp_copy = "/amp/thoi-su/tin-hoi-nghi-chuyen-doi-so-445566.htm"
        site.add(amp_copy, article_html("Bản AMP", paragraphs("Bản AMP"), published=published,
                                        canonical=site.url(SHAPES[8][0])))
        site.add("/thoi-su.html", listing_html("Thời sự", [s for s, _ in SHAPES] + ["/tin-moi.html"]))
        mobile = f"http://m.{site.host}{SHAPES[0][0]}"  # never fetched: only recorded
        site.add("/tin-moi.html", listing_html("Tin mới", [v for _, vs in SHAPES for v in vs] +
                                               never + [mobile]))
        web.start_urls["cong-strict"] = [site.url("/thoi-su.html")]
        crawl = Crawl(web, tmp_path)
        crawl.scrapy()
        first = list(site.hits)
        crawl.scrapy()  # a re-crawl: young articles are revisited by a spelling that works

    assert [h.target for h in site.hits if h.status == 404 and h.target != "/robots.txt"] == []
    for served, _ in SHAPES:
        assert len([h for h in first if h.target == served]) == 1, served
    assert not [h for h in site.hits if h.target in never]
    rows = crawl.query("SELECT id, url FROM articles")
    assert len(rows) == len(SHAPES)
    stored = {r["url"]: r["id"] for r in rows}
    for served, variants in SHAPES:
        (article_id,) = {known for url, known in stored.items()
                         if url == canonical_url(at(served))}
        urls = {r["url"] for r in crawl.query("SELECT url FROM article_urls WHERE article_id = ?",
                                              [article_id])}
        expected = {at(served)} | {fetch_url(at(v)) for v in variants}
        assert expected <= urls, (served, expected - urls)
    assert crawl.query("SELECT article_id FROM article_urls WHERE url = ?", [mobile]) == \
        [{"article_id": stored[canonical_url(at(SHAPES[0][0]))]}]
    history = json.loads(crawl.dxmon("history", "--json", at(amp_copy)).stdout)
    assert history["article"]["url"] == canonical_url(at(SHAPES[8][0]))


def test_one_source_never_overwrites_another_sources_row(tmp_path):
    """The same URL reached from two sources (a host both list): the second source's
    different text is a recorded conflict, the first source's row stays as it was; the
    same text is only seen again."""
    from core.models import Extracted
    from storage.articles import article_versions, count_source_conflicts, prepare, store_article
    from storage.schema import open_db

    db = open_db(tmp_path / "dxmon.db")
    url = "https://cong.example.vn/tin-tuc/hoi-nghi-chuyen-doi-so-12345.html"
    text_a = "Hội nghị chuyển đổi số của tỉnh. " * 12
    a = store_article(db, "nguon-a", Extracted(url=url, canonical_url=url,
                                               title="Bản của A", text=text_a))
    b = store_article(db, "nguon-b", Extracted(url=url, canonical_url=url,
                                               title="Bản của B", text="Khác hẳn. " * 40))
    same = store_article(db, "nguon-b", Extracted(url=url + "?utm_source=x",
                                                  canonical_url=url, title="Bản của A",
                                                  text=text_a))
    assert (a.outcome, b.outcome, same.outcome) == ("new", "conflict", "unchanged")
    assert b.article_id == a.article_id and b.conflict and not same.conflict
    row = db.execute("SELECT source, title, text FROM articles").fetchall()
    assert row == [("nguon-a", "Bản của A", prepare(Extracted(
        url=url, canonical_url=url, title="", text=text_a)).text)]
    assert len(article_versions(db, a.article_id)) == 1
    assert count_source_conflicts(db) == 1
    store_article(db, "nguon-b", Extracted(url=url, canonical_url=url, title="Bản của B",
                                           text="Khác hẳn. " * 40))
    assert count_source_conflicts(db) == 1  # one claim, counted once


@settings(max_examples=60, deadline=None)
@given(st.lists(urls(), min_size=1, max_size=8))
def test_the_page_reader_returns_links_as_linked_with_their_canonical_form(links):
    """Through the page reader (crawler.reader.read_page) as the spider gets them: each
    link on the source's hosts comes back as written minus its fragment, beside its
    canonical form, each canonical once (its first spelling). The host's letter case
    is the one thing written differently (w3lib's safe_url_string lowers it; DNS names
    are case-insensitive)."""
    from html import escape

    def as_read(u: str) -> str:
        scheme, rest = fetch_url(u).split("://", 1)
        host, _, path = rest.partition("/")
        return f"{scheme}://{host.lower()}/{path}"

    from crawler.reader import read_page

    html = "<html><body>" + "".join(f'<a href="{escape(u, quote=True)}">tin</a>'
                                    for u in links) + "</body></html>"
    page = read_page(html.encode(), "https://cong.example.vn/", "utf-8",
                     hosts=frozenset({"cong.example.vn"}), pattern=None, extract=False,
                     listings=True)
    got = list(page.articles) + list(page.listings)
    assert all(canonical_url(linked) == canonical for linked, canonical in got)
    assert len({c for _, c in got}) == len(got)
    expected = {}
    for u in links:
        if u.split("://", 1)[1].lower().startswith(("cong.example.vn/", "m.cong", "amp.cong")) \
                and not is_skippable(u):
            expected.setdefault(canonical_url(u), as_read(u))
    assert {c: linked for linked, c in got} == {
        c: v for c, v in expected.items() if c in {c for _, c in got}}
    for linked, _ in got:
        assert linked in {as_read(u) for u in links}
