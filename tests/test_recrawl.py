"""Incremental crawling against portals that count every request: what a re-crawl costs.

Three sites, each with a section of old articles over several listing pages:
thanhhoa-tv serves ETag/Last-Modified, hagiang-tv serves no validators at all,
mst-portal asks for a robots.txt Crawl-delay. Real `scrapy crawl news` runs, a real
SQLite file; the portal's request log is the evidence.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest

from core.models import VN_TZ
from testsupport.crawl import Crawl
from testsupport.portals import PortalWeb

SITES = ["thanhhoa-tv", "hagiang-tv", "mst-portal"]


@pytest.fixture
def web():
    portal = PortalWeb(articles=[], sites=SITES, traps=False, page_size=5)
    for site in SITES:  # the same 14 stories on each site: syndicated copies, stored once
        portal.add_synthetic(site, 14, words=120)  # 3 listing pages each
    with portal:
        yield portal


@pytest.fixture
def crawl(web, tmp_path):
    return Crawl(web, tmp_path)


def article_paths(web, site) -> set[str]:
    return {web.article_path(site, a.slug) for a in web.articles(site)}


def since(web, mark: int, site: str):
    return [r for r in web.requests[mark:] if r.site == site and r.path != "/robots.txt"]


def split(web, requests, site):
    arts = article_paths(web, site)
    articles = [r for r in requests if urlsplit(r.path).path in arts]
    listings = [r for r in requests if urlsplit(r.path).path not in arts]
    return articles, listings


def a_new_article(web, site, n: int):
    template = web.articles(site)[0]
    return template.edited(
        slug=f"tin-moi-cap-nhat-so-{n}", title=f"Tin mới cập nhật số {n} về mùa vụ đông",
        published=datetime.now(VN_TZ) - timedelta(days=3), section=template.section,
        sapo=f"Tỉnh triển khai kế hoạch số {n} cho vụ đông năm nay.",
        paragraphs=(f"Theo kế hoạch số {n}, các xã đăng ký diện tích gieo trồng cây vụ đông "
                    "trước ngày cuối tháng, ưu tiên giống ngắn ngày chịu rét.",
                    "Ngành nông nghiệp cử cán bộ hướng dẫn kỹ thuật làm đất tối thiểu và che "
                    "phủ rơm rạ để giữ ẩm."))


def test_unchanged_recrawl_fetches_no_article_and_listings_answer_304(crawl, web):
    crawl.scrapy()
    mark = len(web.requests)
    crawl.scrapy()
    for site in ("thanhhoa-tv", "mst-portal"):
        articles, listings = split(web, since(web, mark, site), site)
        assert articles == []
        assert listings and {r.status for r in listings} == {304}
    # no validators: the pages come back whole, their bytes match, nothing is followed
    articles, listings = split(web, since(web, mark, "hagiang-tv"), "hagiang-tv")
    assert articles == [] and {r.status for r in listings} == {200}
    assert crawl.last_run_stats("hagiang-tv")["dxmon/unchanged_by_hash"] == len(listings)


def test_one_new_article_costs_one_article_fetch(crawl, web):
    crawl.scrapy()
    for i, site in enumerate(SITES):
        web.publish(site, a_new_article(web, site, i))
    mark = len(web.requests)
    crawl.scrapy()
    for i, site in enumerate(SITES):
        articles, listings = split(web, since(web, mark, site), site)
        new = web.article_path(site, f"tin-moi-cap-nhat-so-{i}")
        assert [urlsplit(r.path).path for r in articles] == [new], site
        # the first listing page leads to it; the page after it holds only known stories,
        # so pagination stops there (feeds and sitemaps are read once each)
        pages = [r for r in listings if not r.path.endswith((".rss", ".xml"))]
        assert len(pages) <= 2 * len(web.state[site].sections()), site
    assert crawl.query("SELECT COUNT(*) AS n FROM article_urls")[0]["n"] == 3 * 15


def test_a_server_that_lies_with_304_is_caught_by_the_unconditional_recheck(crawl, web):
    web.lying_304.add("thanhhoa-tv")  # 304 to every conditional request, changed or not
    crawl.scrapy("-a", "source=thanhhoa-tv", "-s", "DXMON_TRUST_304=2")
    web.publish("thanhhoa-tv", a_new_article(web, "thanhhoa-tv", 7))
    new = web.article_path("thanhhoa-tv", "tin-moi-cap-nhat-so-7")
    found_at = None
    for attempt in range(1, 4):
        crawl.scrapy("-a", "source=thanhhoa-tv", "-s", "DXMON_TRUST_304=2")
        if web.fetched("thanhhoa-tv", new):
            found_at = attempt
            break
    # two 304s in a row are not trusted a third time: that request goes unconditionally
    assert found_at == 3
    assert crawl.last_run_stats("thanhhoa-tv")["dxmon/unconditional_recheck"] >= 1
    assert crawl.query("SELECT id FROM articles WHERE url LIKE ?", ["%tin-moi-cap-nhat-so-7%"])


def test_an_article_that_failed_to_download_is_not_hidden_by_the_next_304(crawl, web):
    crawl.scrapy("-a", "source=thanhhoa-tv")
    article = a_new_article(web, "thanhhoa-tv", 9)
    web.publish("thanhhoa-tv", article)
    path = web.article_path("thanhhoa-tv", article.slug)
    web.fail("thanhhoa-tv", path, 503, times=3)  # every retry of this crawl fails
    crawl.scrapy("-a", "source=thanhhoa-tv", "-s", "DXMON_MAX_HOST_DELAY=0.5")
    assert [r.status for r in web.fetched("thanhhoa-tv", path)] == [503, 503, 503]
    assert crawl.last_run_stats("thanhhoa-tv")["dxmon/validators_withheld"] >= 1
    # the listing that linked it kept its old validators: it is read again, not "304"
    crawl.scrapy("-a", "source=thanhhoa-tv")
    assert [r.status for r in web.fetched("thanhhoa-tv", path)][-1] == 200
    assert crawl.query("SELECT id FROM articles WHERE url LIKE ?", [f"%{article.slug}%"])


def gaps(requests) -> list[float]:
    return [b.at - a.at for a, b in zip(requests, requests[1:], strict=False)]


def test_request_spacing_respects_crawl_delay_and_retry_after(crawl, web):
    crawl.scrapy("-a", "source=mst-portal")  # robots.txt there says Crawl-delay: 0.2
    pages = since(web, 0, "mst-portal")
    # the crawler spaces its requests by 0.2 s. The server's clock stamps each arrival
    # when its thread gets to it, late by up to a tenth of a second on a loaded 2-core
    # machine, which shortens the gap after a late stamp by as much: so no gap under half
    # the delay (two requests at once would be ~0 apart) and 0.9 of it on average (the
    # stamps' lateness does not add up over the crawl; a pace of 0.1 s would fail)
    spacing = gaps(pages)
    assert len(pages) >= 10 and min(spacing) >= 0.1 and sum(spacing) / len(spacing) >= 0.18

    # thanhhoa-tv's section page answers 429 with Retry-After: 2 the first time
    first = web.listing_path("thanhhoa-tv", web.state["thanhhoa-tv"].sections()[0])
    web.fail("thanhhoa-tv", first, 429, times=1, headers={"Retry-After": "2"})
    mark = len(web.requests)
    crawl.scrapy("-a", "source=thanhhoa-tv")
    pages = since(web, mark, "thanhhoa-tv")
    i = next(i for i, r in enumerate(pages) if r.status == 429)
    assert pages[i + 1].at - pages[i].at >= 1.98  # nothing sooner, on the server's clock
    assert web.fetched("thanhhoa-tv", first)[-1].status == 200  # retried, and read
    # the host then eases back to its own pace: the crawl does not stay at 2 s a page
    assert sum(gaps(pages[i + 1:])) < 2 * (len(pages) - i - 2)


def test_a_host_asking_for_an_hour_is_left_and_shown_in_status(crawl, web):
    home = web.start_urls("thanhhoa-tv")[0]
    web.fail("thanhhoa-tv", urlsplit(home).path, 503, times=1, headers={"Retry-After": "3600"})
    crawl.scrapy("-a", "source=thanhhoa-tv")
    assert since(web, 0, "thanhhoa-tv")[-1].status == 503  # and nothing after it
    status = crawl.dxmon("status").stdout
    assert "Hosts backed off" in status and "Retry-After 3600s" in status


@pytest.mark.parametrize(("robots", "delay"), [
    (b"User-agent: *\nCrawl-delay: 2\n", 2.0),
    (b"User-agent: *\nDisallow: /admin/\nCrawl-delay: 0.5\n", 0.5),
    # another robot's delay is not ours (a pattern over the whole file took it)
    (b"User-agent: otherbot\nCrawl-delay: 30\n\nUser-agent: *\nDisallow: /admin/\n", None),
    (b"User-agent: dxmon\nCrawl-delay: 3\n\nUser-agent: *\nCrawl-delay: 1\n", 3.0),
    (b"", None),
    (b"\xff\xfe not a robots.txt \x00", None),
])
def test_the_crawl_delay_is_the_one_robots_txt_gives_our_user_agent(tmp_path, robots, delay):
    """Read by Scrapy's own robots.txt parser, the one that decides what is allowed."""
    from types import SimpleNamespace

    from scrapy.utils.test import get_crawler

    from crawler import settings
    from crawler.addon import CrawlContext
    from crawler.middlewares import PolitenessMiddleware
    from storage.schema import open_db

    crawler = get_crawler(settings_dict={"USER_AGENT": settings.USER_AGENT})
    db = open_db(tmp_path / "dxmon.db")
    context = CrawlContext(config=SimpleNamespace(storage_path=tmp_path / "dxmon.db"),
                           sources=[], db=db)
    politeness = PolitenessMiddleware(crawler, context, limit=8, max_delay=60.0,
                                      default_delay=1.0, own_delays={})
    try:
        assert politeness._crawl_delay(robots) == delay
    finally:
        db.close()


def test_each_source_shows_its_own_failed_fetches(crawl, web):
    """One Scrapy process crawls every source; a failure on one portal is that source's
    error count on the Sources page and in `status --json`, not every source's."""
    crawl.scrapy()
    article = a_new_article(web, "hagiang-tv", 11)
    web.publish("hagiang-tv", article)
    web.fail("hagiang-tv", web.article_path("hagiang-tv", article.slug), 404, times=1)
    crawl.scrapy()
    sources = {s["source"]: s for s in json.loads(crawl.dxmon("status", "--json").stdout)
               ["sources"]}
    assert sources["hagiang-tv"]["errors"] == 1
    assert sources["thanhhoa-tv"]["errors"] == 0 and sources["mst-portal"]["errors"] == 0
