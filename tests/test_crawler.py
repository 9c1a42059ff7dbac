"""Real `scrapy crawl news` runs against the test portals (issue: the foundation).

Each test starts the five portals on 127.0.0.1, writes a config for them, runs the
spider as a user would from the repository root, and checks the SQLite file and the
portals' request logs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from core.models import VN_TZ
from core.text import normalize
from testsupport.crawl import Crawl
from testsupport.portals import PortalWeb


def test_first_crawl_archives_every_article_once_and_survives_the_traps(crawl, portals):
    result = crawl.scrapy()
    articles = crawl.query("SELECT * FROM articles")
    expected = {(a.site, normalize(a.title)) for a in portals.all_articles()}
    assert {(a["source"], a["title"]) for a in articles} == expected
    assert len(articles) == len(expected)  # URL variants (utm, fragment, slash, AMP): one row
    assert not [a for a in articles if "utm_" in a["url"] or "/amp/" in a["url"] or "#" in a["url"]]
    # dates carry their offset; bylines are found in all five templates
    assert all(a["published_at"] and a["published_at"].endswith("+07:00") for a in articles)
    by_title = {a["title"]: a for a in articles}
    for a in portals.all_articles():
        row = by_title[normalize(a.title)]
        assert row["author"] == normalize(a.author)
        assert datetime.fromisoformat(row["published_at"]) == a.published
        assert normalize(a.paragraphs[0]) in row["text"]
        assert "Đường dây nóng" not in row["text"] and "Ý kiến bạn đọc" not in row["text"]
    # politeness and traps
    assert portals.count(prefix="/admin/") == 0  # robots.txt Disallow
    assert all(portals.count(site, "/robots.txt") == 1 for site in portals.sites)
    assert portals.count("hagiang-tv", "/lich-phat-song/") <= 14  # the endless calendar is cut
    assert portals.count("hagiang-tv", "/chuyen-huong/") <= 8  # the redirect loop too
    assert not crawl.query("SELECT * FROM articles WHERE url LIKE '%.pdf' OR url LIKE '%999998%'")
    stats = crawl.last_run_stats("thanhhoa-tv")
    assert stats["dxmon/http_404"] >= 1
    assert "DownloadCancelledError" in result.stderr or "exceeds" in result.stderr.lower() or \
        stats.get("downloader/exception_type_count/scrapy.exceptions.DownloadCancelledError")
    # the article that answered 500 once was retried and archived
    first = sorted(portals.state["chinhphu-news"].articles)[0]
    path = portals.article_path("chinhphu-news", first)
    assert [r.status for r in portals.fetched("chinhphu-news", path)][:2] == [500, 200]
    runs = crawl.query("SELECT source, status FROM crawl_runs")
    assert {r["status"] for r in runs} == {"ok"} and len(runs) == 5


def test_windows_1258_declared_only_in_meta_is_read_correctly(crawl, portals):
    crawl.scrapy("-a", "source=hagiang-tv")
    titles = {r["title"] for r in crawl.query("SELECT title FROM articles")}
    assert titles == {normalize(a.title) for a in portals.articles("hagiang-tv")}
    assert any("Hà Giang" in t for t in titles)


def test_second_crawl_uses_conditional_requests_and_skips_known_articles(crawl, portals):
    crawl.scrapy()
    before = len(portals.requests)
    crawl.scrapy()
    second = portals.requests[before:]
    assert sum(1 for r in second if r.status == 304) >= 5  # listings, feed, sitemap unchanged
    assert any("if-none-match" in r.headers for r in second)
    article_paths = {portals.article_path(a.site, a.slug) for a in portals.all_articles()}
    refetched = [r for r in second if urlsplit(r.path).path in article_paths]
    assert len(refetched) < len(article_paths) / 3  # only young articles are revisited
    assert crawl.query("SELECT COUNT(*) AS n FROM articles")[0]["n"] == len(article_paths)
    stats = crawl.last_run_stats("thanhhoa-tv")
    assert stats["dxmon/not_modified"] >= 1 and "dxmon/articles_new" not in stats


def test_publish_edit_and_furniture_changes_between_crawls(crawl, portals):
    now = datetime.now(VN_TZ)
    young = portals.articles("mst-portal")[0].edited(
        slug="bo-truong-lam-viec-voi-doanh-nghiep-cong-nghe-so",
        published=now - timedelta(minutes=50),
        title="Bộ trưởng làm việc với doanh nghiệp công nghệ số",
        sapo="Sáng nay, Bộ trưởng Bộ Khoa học và Công nghệ làm việc với các doanh nghiệp công "
             "nghệ số về nhu cầu hạ tầng dữ liệu và nhân lực chất lượng cao.",
        paragraphs=("Các doanh nghiệp kiến nghị sớm ban hành hướng dẫn về chia sẻ dữ liệu giữa "
                    "khu vực công và tư, đồng thời mở rộng chương trình đào tạo kỹ sư bán dẫn.",
                    "Bộ trưởng ghi nhận các ý kiến và giao các đơn vị chức năng nghiên cứu, trả "
                    "lời bằng văn bản trong tháng này."))
    portals.publish("mst-portal", young)
    # a young article on another site: revisited on every crawl in its first hours
    local = portals.articles("thanhhoa-tv")[0].edited(
        slug="tinh-uy-lam-viec-voi-huyen-mien-nui", published=now - timedelta(minutes=40),
        title="Lãnh đạo tỉnh làm việc với một huyện miền núi về giảm nghèo bền vững",
        sapo="Sáng nay, đoàn công tác của tỉnh đã làm việc với huyện miền núi về kết quả thực "
             "hiện chương trình giảm nghèo bền vững.",
        paragraphs=("Huyện báo cáo tỷ lệ hộ nghèo giảm hơn bốn điểm phần trăm so với đầu năm, "
                    "nhiều mô hình trồng cây dược liệu dưới tán rừng cho thu nhập ổn định.",
                    "Đoàn công tác đề nghị huyện tiếp tục rà soát hộ cận nghèo, ưu tiên vốn "
                    "vay cho thanh niên khởi nghiệp tại quê nhà."))
    portals.publish("thanhhoa-tv", local)
    crawl.scrapy()
    new = young.edited(slug="bo-truong-gap-go-startup-cong-nghe-tai-ha-noi",
                       title="Bộ trưởng gặp gỡ các startup công nghệ tại Hà Nội",
                       published=now - timedelta(hours=1),
                       paragraphs=("Chiều nay, Bộ trưởng đã gặp gỡ đại diện ba mươi doanh nghiệp "
                                   "khởi nghiệp sáng tạo tại Hà Nội để nghe kiến nghị về thủ tục "
                                   "đăng ký nhiệm vụ khoa học và cơ chế thử nghiệm có kiểm soát.",
                                   *young.paragraphs[1:]))
    portals.publish("mst-portal", new)
    edited = portals.edit("mst-portal", young.slug, paragraphs=young.paragraphs + (
        "Cập nhật: Bộ sẽ tổ chức đối thoại định kỳ mỗi quý với cộng đồng doanh nghiệp số.",))
    portals.touch_furniture("thanhhoa-tv")  # every page's bytes change, no article's text
    before = len(portals.requests)
    crawl.scrapy()
    # the young thanhhoa-tv article was fetched again in full (its bytes changed) ...
    local_path = portals.article_path("thanhhoa-tv", local.slug)
    assert [r.status for r in portals.requests[before:]
            if urlsplit(r.path).path == local_path] == [200]
    titles = {r["title"] for r in crawl.query("SELECT title FROM articles")}
    assert normalize(new.title) in titles
    (row,) = crawl.query("SELECT * FROM articles WHERE title = ?", [normalize(edited.title)])
    assert "đối thoại định kỳ" in row["text"]
    versions = crawl.query("SELECT * FROM article_versions WHERE article_id = ?", [row["id"]])
    assert len(versions) == 2  # as first seen, and as edited
    history = crawl.dxmon("history", portals.url("mst-portal", young.slug))
    assert "đối thoại định kỳ" in history.stdout
    thanhhoa_versions = crawl.query(
        "SELECT COUNT(*) AS n FROM article_versions v JOIN articles a ON a.id = v.article_id "
        "WHERE a.source = 'thanhhoa-tv'")
    # ... and, its text unchanged, made no version: one per article, as first seen
    assert thanhhoa_versions[0]["n"] == len(portals.articles("thanhhoa-tv"))


def test_pages_of_real_weight_give_the_same_clean_archive(tmp_path):
    """Every page in a real portal's chrome (testsupport/chrome.py: inline styles and
    scripts, a mega-menu, a "Tin mới" column linking the site's newest articles,
    banners, a footer linking 55 provincial portals): still one row per article, with
    its own title, date, author and paragraphs and none of the chrome, and no request
    leaves the portals."""
    with PortalWeb(weight="real", traps=False) as web:
        crawl = Crawl(web, tmp_path)
        crawl.scrapy()
        rows = {r["title"]: r for r in crawl.query("SELECT * FROM articles")}
        assert len(rows) == len(web.all_articles())
        for a in web.all_articles():
            row = rows[normalize(a.title)]
            assert row["author"] == normalize(a.author)
            assert datetime.fromisoformat(row["published_at"]) == a.published
            assert all(normalize(p) in row["text"] for p in a.paragraphs)
            for chrome in ("Tin mới", "Liên kết website", "Cổng TTĐT tỉnh", "Cơ quan chủ quản",
                           "Quảng cáo", "adSlots", "Đầu trang"):
                assert chrome not in row["text"], (a.slug, chrome)
        sizes = [len(body) for site in web.sites for _, _, body in
                 [web.respond(site, "GET", web.article_path(site, web.articles(site)[0].slug),
                              {})]]
        assert min(sizes) > 50_000  # the weight is really there
        assert not [r for r in web.requests if r.status == 404]  # the chrome leads nowhere


def test_page_links_keep_the_sites_own_pages_once_in_order():
    from crawler.extract import page_links, parse_html

    html = """<html><head><base href="http://127.0.0.1:8000/tin-tuc/"></head><body>
    <a href="#top">Đầu trang</a> <a href="javascript:void(0)">Menu</a>
    <a href="mailto:toasoan@example.vn">Thư</a> <a href="tel:02373721150">Gọi</a>
    <a href="bai-mot-ve-chuyen-doi-so.htm">relative, against the base</a>
    <a href="/tin-tuc/bai-hai-ve-du-lieu-so.htm?utm_source=zalo">absolute path</a>
    <a href="https://thanhhoa.gov.vn/">another site</a>
    <a href="//quangcao.example.vn/banner">protocol-relative, another site</a>
    <a href="http://m.127.0.0.1:8000/tin-tuc/bai-ba-ve-ha-tang.htm">mobile host</a>
    <map><area href="/tin-tuc/bai-bon-ve-nen-tang.htm"></map>
    <a href="bai-mot-ve-chuyen-doi-so.htm">the same again</a></body></html>"""
    tree = parse_html(html)
    assert page_links(tree, "http://127.0.0.1:8000/", hosts=frozenset({"127.0.0.1:8000"})) == [
        "http://127.0.0.1:8000/tin-tuc/bai-mot-ve-chuyen-doi-so.htm",
        "http://127.0.0.1:8000/tin-tuc/bai-hai-ve-du-lieu-so.htm?utm_source=zalo",
        "http://m.127.0.0.1:8000/tin-tuc/bai-ba-ve-ha-tang.htm",
        "http://127.0.0.1:8000/tin-tuc/bai-bon-ve-nen-tang.htm",
    ]
    everything = page_links(tree, "http://127.0.0.1:8000/")
    assert "https://thanhhoa.gov.vn/" in everything and len(everything) == 6


def test_a_batch_with_one_bad_article_stores_the_others(tmp_path):
    """Articles are written in batches (crawler.pipelines); when one cannot be stored the
    batch is rolled back and written again one by one: only the bad one is lost."""
    import asyncio
    from dataclasses import replace
    from types import SimpleNamespace

    from scrapy.utils.test import get_crawler

    from core.models import Extracted
    from crawler.addon import CrawlContext
    from crawler.pipelines import StorePipeline
    from storage.articles import prepare
    from storage.schema import open_db

    def item(i: int, **broken) -> dict:
        url = f"http://127.0.0.1:8000/tin-tuc/ban-tin-so-{i}-ve-chuyen-doi-so.htm"
        text = f"Bản tin số {i}. " + "Tỉnh triển khai nền tảng dữ liệu dùng chung. " * 8
        prepared = prepare(Extracted(url=url, canonical_url=url, title=f"Bản tin {i}",
                                     text=text))
        return {"source": "thanhhoa-tv", "url": url, "prepared": replace(prepared, **broken),
                "etag": f'"e{i}"', "last_modified": None}

    crawler = get_crawler()
    context = CrawlContext(config=SimpleNamespace(storage_path=tmp_path / "dxmon.db",
                                                   revisit_days=7),
                           sources=[], db=open_db(tmp_path / "dxmon.db"))
    pipeline = StorePipeline(crawler, context, size=10, wait=0.05)

    async def run():
        items = [item(1), item(2), item(3, signature=b"not a signature"), item(4)]
        return await asyncio.gather(*(pipeline.process_item(i) for i in items),
                                    return_exceptions=True)

    results = asyncio.run(run())
    pipeline.close_spider()
    context.db.close()
    assert [r["outcome"] if isinstance(r, dict) else "error" for r in results] == \
        ["new", "new", "error", "new"]
    db = open_db(tmp_path / "dxmon.db")
    assert [r[0] for r in db.execute("SELECT title FROM articles ORDER BY id")] == \
        ["Bản tin 1", "Bản tin 2", "Bản tin 4"]
    assert db.execute("SELECT COUNT(*) FROM fetch_state").fetchone()[0] == 3  # with validators


def test_a_reader_process_that_dies_costs_only_its_page():
    """A worker killed mid-page breaks Python's whole process pool: the reader replaces
    the pool, reads each page that was in it again in a process of its own, and reports
    the page that killed its reader twice as an error, instead of failing every page
    after it."""
    import asyncio

    from crawler.reader import PageReader
    from testsupport.readers import dies_on_marked_pages

    article = ("<html><head><title>Tin</title></head><body><article><h1>Hội nghị chuyển "
               "đổi số tỉnh</h1>" + "".join(f"<p>Đoạn {i}: sở ngành báo cáo tiến độ chuyển đổi số "
                                         f"của tỉnh trong quý, với số liệu riêng.</p>"
                                         for i in range(12)) + "</article></body></html>")
    good, deadly = article.encode(), article.replace("<body>", "<body><!-- kill the reader -->"
                                                     ).encode()
    options = {"hosts": frozenset(["127.0.0.1"]), "pattern": None, "extract": True,
               "listings": False}

    async def crawl():
        reader = PageReader(2, read=dies_on_marked_pages)
        try:
            reader._started()
            await asyncio.wrap_future(reader.up)  # pages go to the pool from here on
            pages = await asyncio.gather(*(
                reader.read(body, f"http://127.0.0.1/bai-{i}-hoi-nghi-chuyen-doi-so", "utf-8",
                            **options)
                for i, body in enumerate([good, deadly, good, good])))
            after = await reader.read(good, "http://127.0.0.1/bai-5-hoi-nghi-chuyen-doi-so",
                                      "utf-8", **options)
            return pages, after, reader.replaced
        finally:
            reader.close()

    pages, after, replaced = asyncio.run(crawl())
    assert "died on this page, twice" in (pages[1].error or "")
    for page in [pages[0], pages[2], pages[3], after]:
        assert page.error is None and page.prepared is not None
        assert page.prepared.title == "Hội nghị chuyển đổi số tỉnh"
    assert replaced == 1
