"""A real `scrapy crawl news` of a portal on 127.0.0.1: what is stored is what was
published, and a section page linked like an article is followed, never archived.

The portal (testsupport/pages.py): a home page of teasers; an article typed with
"hoặc", the new tone placement ("hoá", "thuỷ", "Uỷ ban") and one paragraph in NFD; a
brief under a long related list; and a section page whose URL looks like an article's,
the only page that links two further articles.
"""

from __future__ import annotations

import unicodedata

import pytest

from storage.articles import article_by_url, search_articles
from testsupport import pages as P
from testsupport.crawl import Crawl

TITLE = "Uỷ ban nhân dân tỉnh bàn giải pháp thuỷ lợi, số hoá và hoá đơn điện tử"
PARAGRAPHS = [
    "Sáng 12/3, Uỷ ban nhân dân tỉnh họp bàn các giải pháp phát triển thuỷ lợi, đẩy nhanh "
    "số hoá hồ sơ và mở rộng việc dùng hoá đơn điện tử trong năm 2026.",
    "Theo báo cáo, các sở, ngành đã rà soát toàn bộ công trình thuỷ lợi xuống cấp; hạng mục "
    "nào chưa bố trí được vốn sẽ được đề xuất bổ sung tại kỳ họp tới hoặc chuyển sang năm sau.",
    # typed decomposed (NFD), as some editors save it
    unicodedata.normalize("NFD", "Phó Chủ tịch Uỷ ban đề nghị các địa phương báo cáo kết quả "
                                 "trước ngày 30/3 hoặc ngay khi có vướng mắc, không để ngoặc "
                                 "kép, ngoặt ngoẹo trong văn bản gửi lên tỉnh."),
    "Hội nghị cũng thống nhất lộ trình số hoá hồ sơ đất đai để người dân tra cứu trực tuyến, "
    "giảm thời gian đi lại và chi phí sao chụp giấy tờ.",
]
ARTICLE = "/thoi-su/uy-ban-tinh-ban-giai-phap-thuy-loi-so-hoa-hoa-don-dien-tu-32001.htm"
BRIEF = "/thoi-su/tinh-so-ket-chuyen-doi-so-quy-mot-nam-2026-32002.htm"
SECTION = "/thoi-su/tong-hop-tin-chuyen-doi-so-cac-dia-phuong-moi-nhat-50001.htm"
BRIEF_TEXT = [
    "Chiều 14/3, tỉnh sơ kết công tác chuyển đổi số quý I, ghi nhận tỷ lệ hồ sơ trực tuyến "
    "toàn trình tăng rõ so với cùng kỳ năm trước.",
    "Lãnh đạo tỉnh giao các sở hoàn thành kết nối dữ liệu dùng chung trước tháng 6 và báo "
    "cáo kết quả về Văn phòng Uỷ ban.",
]


def _site() -> dict[str, str]:
    home_links = [(ARTICLE, TITLE), (BRIEF, "Tỉnh sơ kết công tác chuyển đổi số quý I năm 2026"),
                  (SECTION, "Tổng hợp tin chuyển đổi số các địa phương mới nhất")]
    home = P._head("Trang chủ") + '<div class="main">' + "".join(
        P._teaser(h, t, P.SUMMARIES[0]) for h, t in home_links) + "</div>" + P._FOOT
    site = {"/": home, ARTICLE: P.article_page(TITLE, PARAGRAPHS),
            BRIEF: P.article_page("Tỉnh sơ kết công tác chuyển đổi số quý I năm 2026",
                                  BRIEF_TEXT, related=15, most_read=12),
            # a section page: a grid linking two articles nothing else links
            SECTION: P._head("Chuyển đổi số") + '<div class="main"><h1>Chuyển đổi số</h1>'
            + "".join(P._teaser(h, t, P.SUMMARIES[i % 5]) for i, (h, t) in
                      enumerate(P.links(0, 10))) + "</div>" + P._FOOT}
    for i, (href, title) in enumerate(P.links(0, 2)):
        site[href] = P.article_page(title, [P.SUMMARIES[i], P.SUMMARIES[i + 2],
                                            P.SUMMARIES[i + 1]])
    return site


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    with P.PageServer(_site()) as server:
        crawl = Crawl(server, tmp_path_factory.mktemp("reading"))
        crawl.scrapy()
        yield server, crawl


def _row(crawl, server, path):
    db = crawl.db()
    try:
        return article_by_url(db, server.base + path)
    finally:
        db.close()


def test_stored_title_and_text_are_the_page_text_in_nfc(crawled):
    server, crawl = crawled
    row = _row(crawl, server, ARTICLE)
    assert row["title"] == TITLE  # "Uỷ", "thuỷ", "hoá" as typed
    for paragraph in PARAGRAPHS:
        assert unicodedata.normalize("NFC", paragraph) in row["text"].split("\n")
    assert "hoặc" in row["text"] and "họăc" not in row["text"]
    assert "ngoặc" in row["text"] and "ngoặt" in row["text"]
    assert "thủy" not in row["text"] and "Ủy" not in row["title"]
    assert unicodedata.is_normalized("NFC", row["text"])


def test_search_finds_it_with_and_without_diacritics_and_quotes_it_as_published(crawled):
    server, crawl = crawled
    db = crawl.db()
    try:
        for query in ("hoặc", "hoac", "HOẶC", "thủy lợi", "thuỷ lợi", "thuy loi", "Ủy ban hóa đơn"):
            found = search_articles(db, query)
            assert [r["url"] for r in found][:1] == [server.base + ARTICLE], query
        (hit,) = [r for r in search_articles(db, "hoac") if r["url"] == server.base + ARTICLE]
        assert "hoặc" in hit["snippet"] and hit["title"] == TITLE
        (hit,) = search_articles(db, "thuy loi hoac")
        assert "thuỷ lợi" in hit["snippet"] or "hoặc" in hit["snippet"]
    finally:
        db.close()


def test_a_section_page_linked_like_an_article_is_followed_and_never_archived(crawled):
    server, crawl = crawled
    assert SECTION in server.requests  # it was fetched as an article link
    assert crawl.last_run_stats("baotinh")["dxmon/listing_pages_in_article_links"] == 1
    assert _row(crawl, server, SECTION) is None
    assert crawl.query("SELECT url FROM article_urls WHERE url LIKE ?", ["%50001%"]) == []
    assert crawl.query("SELECT id FROM articles WHERE title = 'Chuyển đổi số'") == []
    for href, title in P.links(0, 2):  # linked from the section page only
        row = _row(crawl, server, href)
        assert row is not None and row["title"] == title


def test_a_brief_under_a_long_related_list_is_archived(crawled):
    server, crawl = crawled
    row = _row(crawl, server, BRIEF)
    assert row is not None and row["text"].split("\n")[:2] == BRIEF_TEXT


def test_an_alert_quotes_the_report_as_published(tmp_path, webhook_receiver):
    """'hoặc' and the page's own tone placement ('Uỷ', 'hoá') survive detection, the
    session's evidence and the webhook's payload: the alert quotes the publisher."""
    from datetime import datetime, timedelta

    from core.models import VN_TZ

    now = datetime.now(VN_TZ)
    if now.hour < 12:  # "Sáng nay" written before the morning would announce a session
        now = (now - timedelta(days=1)).replace(hour=15)  # yesterday afternoon's report
    stamp = f"Thứ hai, {now.day:02d}/{now.month:02d}/{now.year} - {now.hour:02d}:{now.minute:02d}"
    sentence = (f"Sáng nay ({now.day}/{now.month}), Thủ tướng chủ trì phiên họp thứ 9 năm "
                f"{now.year} của Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, "
                "đổi mới sáng tạo, chuyển đổi số và Đề án 06, bàn cách gỡ vướng mắc về dữ "
                "liệu hoặc thủ tục mà các Uỷ ban nhân dân tỉnh nêu trong quá trình số hoá.")
    report = "/thoi-su/thu-tuong-chu-tri-phien-hop-thu-9-ban-chi-dao-khcn-cds-32101.htm"
    home = P._head("Trang chủ") + '<div class="main">' + "".join(
        P._teaser(h, t, P.SUMMARIES[0]) for h, t in P.links(0, 2)) + "</div>" + P._FOOT
    site = {"/": home}
    for i, (href, title) in enumerate(P.links(0, 2)):
        site[href] = P.article_page(title, [P.SUMMARIES[i], P.SUMMARIES[i + 2]])
    hook = f'\n[[notify]]\nkind = "webhook"\nurl = "{webhook_receiver.url}"\nretry_base = "1s"\n'
    with P.PageServer(site) as server:
        crawl = Crawl(server, tmp_path)
        crawl.write_config(extra=hook)
        crawl.dxmon("crawl")  # the baseline: history never alerts
        server.put(report, P.article_page(
            f"Thủ tướng chủ trì phiên họp thứ 9 năm {now.year} của Ban Chỉ đạo", [
                sentence, P.SUMMARIES[3], P.SUMMARIES[4]], date=stamp))
        server.put("/", P._head("Trang chủ") + '<div class="main">'
                   + P._teaser(report, "Thủ tướng chủ trì phiên họp thứ 9", P.SUMMARIES[1])
                   + "".join(P._teaser(h, t, P.SUMMARIES[0]) for h, t in P.links(0, 2))
                   + "</div>" + P._FOOT)
        crawl.dxmon("crawl")
        (hit,) = webhook_receiver.wait_for(1)
    evidence = hit.json["evidence"]
    assert "hoặc" in evidence and "Uỷ ban" in evidence and "số hoá" in evidence
    assert unicodedata.is_normalized("NFC", evidence)
    (row,) = crawl.query("SELECT evidence FROM session_articles")
    assert row["evidence"] == evidence
