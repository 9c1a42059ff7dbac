"""Bad input, one case per test: a clear log line, the rest of the crawl unharmed, nothing
half-written.

One real `scrapy crawl news` of the five test portals, with all their traps, is shared
by the tests of this module; each test checks one trap's log line and its outcome in
the database, and that the site it sits on was archived whole anyway.
"""

from __future__ import annotations

import pytest

from core.text import normalize
from testsupport.crawl import Crawl
from testsupport.portals import PortalWeb


class CrawlResult:
    def __init__(self, web: PortalWeb, crawl: Crawl, log: str):
        self.web, self.crawl, self.log = web, crawl, log

    def archived_whole(self, site: str) -> bool:
        titles = {r["title"] for r in self.crawl.query(
            "SELECT a.title FROM articles a JOIN article_urls u ON u.article_id = a.id "
            "WHERE u.url LIKE ?", [self.web.base_url(site) + "/%"])}
        return {normalize(a.title) for a in self.web.articles(site)} <= titles

    def stored(self, fragment: str) -> list[dict]:
        return self.crawl.query("SELECT u.url FROM article_urls u WHERE u.url LIKE ?",
                                [f"%{fragment}%"])


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    web = PortalWeb()
    victim = web.articles("thanhhoa-tv")[1]
    web.wrong_charset.add(("thanhhoa-tv", victim.slug))
    with web:
        crawl = Crawl(web, tmp_path_factory.mktemp("bad-input"))
        run = crawl.scrapy()
        yield CrawlResult(web, crawl, run.stderr)


def test_the_crawl_as_a_whole_finished_ok(result):
    runs = result.crawl.query("SELECT source, status FROM crawl_runs")
    assert {r["status"] for r in runs} == {"ok"} and len(runs) == 5
    assert result.crawl.query("SELECT * FROM articles WHERE text = '' OR title = ''") == []


def test_a_404_is_logged_and_stores_nothing(result):
    assert "fetch failed: " in result.log and "bai-viet-da-go-999999.htm (404)" in result.log
    assert result.stored("999999") == [] and result.archived_whole("thanhhoa-tv")


def test_a_500_that_recovers_is_retried_and_archived(result):
    first = sorted(result.web.state["chinhphu-news"].articles)[0]
    path = result.web.article_path("chinhphu-news", first)
    assert [r.status for r in result.web.fetched("chinhphu-news", path)][:2] == [500, 200]
    stats = result.crawl.last_run_stats("chinhphu-news")
    assert stats["retry/count"] >= 1 and stats["downloader/response_status_count/500"] >= 1
    assert result.archived_whole("chinhphu-news")


def test_a_charset_declared_only_in_meta_is_read(result):
    assert result.archived_whole("hagiang-tv")  # every title in proper Vietnamese


def test_a_page_in_windows_1258_that_claims_utf8_is_read_correctly(result):
    victim = result.web.articles("thanhhoa-tv")[1]
    (row,) = result.crawl.query("SELECT * FROM articles WHERE title = ?",
                                [normalize(victim.title)])
    assert "\ufffd" not in row["text"] and normalize(victim.paragraphs[0]) in row["text"]


def test_a_non_html_link_is_not_archived(result):
    assert result.web.count("thanhhoa-tv", "/files/") <= 1
    assert result.stored(".pdf") == [] and result.archived_whole("mst-portal")


def test_an_oversized_page_is_cut_off_with_a_log_line(result):
    assert "exceeds" in result.log.lower() or "DownloadCancelledError" in result.log
    assert result.stored("999998") == []


def test_a_broken_page_is_dropped_with_a_log_line(result):
    assert "trang-loi-ket-noi-999997.htm" in result.log  # "no article text on …"
    assert result.stored("999997") == [] and result.archived_whole("thanhhoa-tv")


def test_a_redirect_loop_is_bounded(result):
    assert result.web.count("hagiang-tv", "/chuyen-huong/") <= 8
    assert "redirect" in result.log.lower() and result.archived_whole("hagiang-tv")


def test_an_endless_calendar_is_cut(result):
    # each day links the next one: the depth limit (4) and the per-shape cap end it
    assert result.web.count("hagiang-tv", "/lich-phat-song/") <= 14
    assert result.crawl.last_run_stats("hagiang-tv")["request_depth_max"] <= 4


def test_robots_disallow_is_obeyed(result):
    assert result.web.count(prefix="/admin/") == 0
    assert "Forbidden by robots.txt" in result.log
