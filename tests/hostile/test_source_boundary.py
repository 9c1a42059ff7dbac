"""The source boundary (issue 12, findings 1, 4, 5 and 6), each against a real local
server that misbehaves that way, through a real ``scrapy crawl``.

A source owns its hosts (its start URLs' hosts and ``allowed_domains``): what another
host says (a redirect, a canonical link) never becomes an article of this source, a
canonical only becomes the article's URL when it is http(s) on the source's hosts, and
one source never rewrites another's row. Sitemap discovery is bounded however a
sitemap index lists itself.
"""

from __future__ import annotations

import json
import re

import pytest

from testsupport.crawl import Crawl
from testsupport.strict import StrictWeb, article_html, listing_html, paragraphs


@pytest.fixture
def web():
    with StrictWeb("nguon-a", "nguon-b") as web:
        yield web


def test_finding_1_a_syndicated_copy_never_overwrites_the_original_source(web, tmp_path):
    """Source B republishes A's story, edited, with ``rel=canonical`` at A's article."""
    a, b = web["nguon-a"], web["nguon-b"]
    original = a.add("/tin-tuc/hoi-nghi-chuyen-doi-so-toan-tinh-12345.html",
                     article_html("Hội nghị chuyển đổi số toàn tỉnh năm 2026",
                                  paragraphs("Chuyển đổi số cấp xã")))
    a.add("/tin-tuc.html", listing_html("Tin tức", ["/tin-tuc/hoi-nghi-chuyen-doi-so-toan-tinh-12345.html"]))
    b.add("/thoi-su/dang-lai-hoi-nghi-chuyen-doi-so-67890.html",
          article_html("Tin đăng lại: tiêu đề do trang B sửa", paragraphs("Nội dung trang B viết lại"),
                       canonical=original))
    b.add("/thoi-su.html", listing_html("Thời sự", ["/thoi-su/dang-lai-hoi-nghi-chuyen-doi-so-67890.html"]))
    web.start_urls.update({"nguon-a": [a.url("/tin-tuc.html")], "nguon-b": [b.url("/thoi-su.html")]})
    crawl = Crawl(web, tmp_path)
    crawl.scrapy("-a", "source=nguon-a")
    crawl.scrapy("-a", "source=nguon-b")

    (row,) = crawl.query("SELECT * FROM articles WHERE url = ?", [original])
    assert row["source"] == "nguon-a"
    assert row["title"] == "Hội nghị chuyển đổi số toàn tỉnh năm 2026"
    assert "Chuyển đổi số cấp xã" in row["text"] and "trang B" not in row["text"]
    assert len(crawl.query("SELECT * FROM article_versions WHERE article_id = ?", [row["id"]])) == 1
    # B's copy is B's own article, on B's host
    (copy,) = crawl.query("SELECT * FROM articles WHERE source = 'nguon-b'")
    assert copy["url"].startswith(b.base) and copy["title"].startswith("Tin đăng lại")
    # the claim is linked as a hint, and counted where an operator looks
    assert crawl.query("SELECT url, article_id FROM url_hints") == \
        [{"url": original, "article_id": copy["id"]}]
    status = json.loads(crawl.dxmon("status", "--json").stdout)
    assert status["source_conflicts"] == 1
    assert "Source conflicts: 1" in crawl.dxmon("status").stdout


def test_finding_4_a_self_listing_growing_sitemap_index_stays_bounded(web, tmp_path):
    """``/sitemap.xml`` lists itself, and every child index lists the root, itself and
    two new children: unbounded, it grows without end."""
    a = web["nguon-a"]

    def index(locs):
        items = "".join(f"<sitemap><loc>{a.url(loc)}</loc></sitemap>" for loc in locs)
        return (200, {"Content-Type": "application/xml"},
                ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps'
                 f'.org/schemas/sitemap/0.9">{items}</sitemapindex>').encode())

    def handler(target):
        if target == "/sitemap.xml":
            return index(["/sitemap.xml", "/sitemap-1.xml"])
        if m := re.fullmatch(r"/sitemap-(\d+)\.xml", target):
            n = int(m[1])
            return index(["/sitemap.xml", target, f"/sitemap-{2 * n}.xml", f"/sitemap-{2 * n + 1}.xml"])
        return None

    a.handler = handler
    a.add("/tin-tuc.html", listing_html("Tin tức", []))
    web.start_urls["nguon-a"] = [a.url("/tin-tuc.html")]
    web.sitemaps["nguon-a"] = [a.url("/sitemap.xml")]
    crawl = Crawl(web, tmp_path)
    # the page count stops the unbounded (old) crawl; a bounded one never gets near it
    crawl.scrapy("-a", "source=nguon-a", "-s", "CLOSESPIDER_PAGECOUNT=400")
    sitemap_hits = [h for h in a.hits if h.target.startswith("/sitemap")]
    assert 1 < len(sitemap_hits) <= 60
    assert len({h.target for h in sitemap_hits}) == len(sitemap_hits)  # each URL once
    assert crawl.last_run_stats("nguon-a").get("finish_reason") != "closespider_pagecount"


def test_finding_5_a_link_redirecting_to_another_host_is_not_archived(web, tmp_path):
    a, b = web["nguon-a"], web["nguon-b"]  # only A is a source here
    b.add("/bai-viet/trang-cua-may-chu-khac-55555.html",
          article_html("Trang của máy chủ khác", paragraphs("Nội dung của máy chủ khác")))
    a.redirect("/tin-tuc/bai-chuyen-huong-ve-du-lieu-24680.html",
               b.url("/bai-viet/trang-cua-may-chu-khac-55555.html"))
    a.add("/tin-tuc.html", listing_html("Tin tức", ["/tin-tuc/bai-chuyen-huong-ve-du-lieu-24680.html"]))
    web.start_urls["nguon-a"] = [a.url("/tin-tuc.html")]
    crawl = Crawl(web, tmp_path)
    crawl.write_config()
    crawl.scrapy("-a", "source=nguon-a")
    assert crawl.query("SELECT url, source FROM articles") == []
    assert a.fetched("/tin-tuc/bai-chuyen-huong-ve-du-lieu-24680.html")  # it was tried
    assert crawl.last_run_stats("nguon-a").get("dxmon/offsite_redirects", 0) >= 1


def test_finding_6_a_canonical_off_the_source_or_not_http_is_only_a_hint(web, tmp_path):
    a = web["nguon-a"]
    own = "/tin-tuc/ban-chinh-thuc-ve-ha-tang-so-13579.html"
    pages = {
        "/tin-tuc/bai-co-lien-ket-javascript-11111.html": "javascript:alert(document.cookie)",
        "/tin-tuc/bai-tro-sang-trang-khac-22222.html": "https://example.org/bai-khac-22222.html",
        "/tin-tuc/bai-tro-ve-data-uri-33333.html": "data:text/html,<b>x</b>",
        "/tin-tuc/ban-in-ve-ha-tang-so-13579.html": own,  # on the source: it is the URL
    }
    for i, (target, canonical) in enumerate(pages.items()):
        a.add(target, article_html(f"Bài viết thứ {i} về hạ tầng số của tỉnh",
                                   paragraphs(f"Hạ tầng số đợt {i}"), canonical=canonical))
    a.add("/tin-tuc.html", listing_html("Tin tức", list(pages)))
    web.start_urls["nguon-a"] = [a.url("/tin-tuc.html")]
    crawl = Crawl(web, tmp_path)
    crawl.scrapy("-a", "source=nguon-a")
    urls = {r["url"] for r in crawl.query("SELECT url FROM articles")}
    assert urls == {a.url(t) for t in list(pages)[:3]} | {a.url(own)}
    aliases = {r["url"] for r in crawl.query("SELECT url FROM article_urls")}
    assert not [u for u in aliases if not u.startswith(a.base)]
