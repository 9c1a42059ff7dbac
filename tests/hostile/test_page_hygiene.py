"""Text hygiene at the source boundary (issue 12, finding 13), against a real server.

A page's headline may be 100 KB long, or carry bidi overrides, zero-width and control
characters and line breaks; a page may claim UTF-16 while its bytes are UTF-8. What a
real `scrapy crawl news` stores must be a clean, capped, one-line title and proper
Vietnamese text. Beside each case, its negative: a real UTF-16 page is still read.
"""

from __future__ import annotations

import unicodedata

import pytest

from core.text import TITLE_MAX
from storage.articles import article_by_url
from testsupport import pages as P
from testsupport.crawl import Crawl

BODY = [
    "Sáng 12/3, Sở Thông tin và Truyền thông tổ chức tập huấn an toàn thông tin cho cán bộ "
    "phụ trách công nghệ thông tin của các sở, ngành và địa phương trong tỉnh.",
    "Học viên được hướng dẫn nhận diện thư điện tử giả mạo, cách xử lý khi máy tính bị mã "
    "độc tấn công hoặc khi phát hiện tài khoản quản trị bị lộ mật khẩu.",
    "Đơn vị tổ chức cho biết sẽ mở thêm hai lớp trong quý II để mọi xã, phường đều có người "
    "được đào tạo bài bản về an toàn thông tin.",
]
WORDS = "Tập huấn an toàn thông tin cho cán bộ các sở ngành"
HUGE = "/thoi-su/tap-huan-an-toan-thong-tin-tieu-de-dai-33001.htm"
DIRTY = "/thoi-su/tap-huan-an-toan-thong-tin-tieu-de-ban-33002.htm"
UTF16_HEADER = "/thoi-su/tap-huan-an-toan-thong-tin-bao-sai-ma-33003.htm"
UTF16_META = "/thoi-su/tap-huan-an-toan-thong-tin-the-meta-sai-33004.htm"
REAL_UTF16 = "/thoi-su/tap-huan-an-toan-thong-tin-utf16-that-33005.htm"
# a title with everything a hostile page can hide in it
DIRTY_TITLE = ("Tập huấn\u202e an toàn\u200b thông\u200d tin\ufeff cho\x07 cán\x1b bộ\n các"
               "\u2066 sở\u2069\r\n ngành\u00ad")


def _page(title: str, number: int, meta_charset: str = "utf-8", dirty: bool = False) -> str:
    """An article with its own last paragraph (the same text twice would be one article);
    ``dirty``: that paragraph hides a bidi override, an isolate and control characters."""
    own = f"Đây là lớp tập huấn thứ {number} trong năm, với {20 + number} học viên tham dự."
    if dirty:
        own = own.replace("lớp", "lớp\u202e").replace("năm", "\u2067năm\u2069\x1b")
    return P.article_page(title, [*BODY, own]).replace('<meta charset="utf-8">',
                                                       f'<meta charset="{meta_charset}">')


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    home = P._head("Trang chủ") + "".join(
        P._teaser(path, f"{WORDS} số {i}", P.SUMMARIES[0])
        for i, path in enumerate([HUGE, DIRTY, UTF16_HEADER, UTF16_META, REAL_UTF16])) + P._FOOT
    server = P.PageServer({"/": home, HUGE: _page(WORDS + " " + "rất dài " * 12_000, 1),
                           DIRTY: _page(DIRTY_TITLE, 2, dirty=True)})
    # the claim only in <meta>: the HTTP header names no charset
    server.put(UTF16_META, _page(WORDS, 3, "utf-16").encode("utf-8"), "text/html")
    server.put(UTF16_HEADER, _page(WORDS, 4).encode("utf-8"), "text/html; charset=utf-16")
    server.put(REAL_UTF16, _page(WORDS, 5, "utf-16").encode("utf-16"),
               "text/html; charset=utf-16")
    with server:
        crawl = Crawl(server, tmp_path_factory.mktemp("hygiene"))
        crawl.scrapy()
        yield server, crawl


def _row(crawled, path):
    server, crawl = crawled
    db = crawl.db()
    try:
        row = article_by_url(db, server.base + path)
    finally:
        db.close()
    assert row is not None, f"{path} was not archived"
    return row


def test_a_100_kb_title_is_capped(crawled):
    title = _row(crawled, HUGE)["title"]
    assert len(title) <= TITLE_MAX
    assert title.startswith(WORDS + " rất dài") and title.endswith("…")


def test_control_bidi_and_zero_width_characters_and_line_breaks_leave_the_title(crawled):
    title = _row(crawled, DIRTY)["title"]
    assert title == "Tập huấn an toàn thông tin cho cán bộ các sở ngành"
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in title)


def test_the_stored_text_holds_no_bidi_override_or_control_character(crawled):
    text = _row(crawled, DIRTY)["text"]
    assert "Đây là lớp tập huấn thứ 2 trong năm, với 22 học viên tham dự." in text.split("\n")
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text.replace("\n", ""))


@pytest.mark.parametrize("path", [UTF16_HEADER, UTF16_META])
def test_a_utf16_claim_on_utf8_bytes_is_not_believed(crawled, path):
    row = _row(crawled, path)
    assert row["title"] == WORDS
    assert BODY[0] in row["text"].split("\n")


def test_a_real_utf16_page_is_still_read(crawled):
    row = _row(crawled, REAL_UTF16)
    assert row["title"] == WORDS and BODY[0] in row["text"].split("\n")


def test_a_saved_page_whose_meta_claims_utf16_is_read_as_utf8():
    """`dxmon detect page.html` reads a file with no HTTP header: only the <meta> claims."""
    from crawler.extract import extract_article

    article = extract_article(_page(WORDS, 6, "utf-16").encode("utf-8"),
                              "http://127.0.0.1" + UTF16_META)
    assert article is not None and article.title == WORDS
    assert BODY[0] in article.text.split("\n")
