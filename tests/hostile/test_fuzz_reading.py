"""Fuzzing page reading: random mutations of real-shaped pages through
:func:`crawler.reader.read_page`, the function every fetched page goes through.

Mutations: truncation, the bytes in one charset and the claim another (or a bogus
one), tags nested thousands deep, unclosed and stray tags, random bytes written over
or into the page, a slice repeated. Promise: no exception escapes, the page is read
within a bound, and whatever article comes out is clean stored text.
"""

from __future__ import annotations

import time
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.reader import read_page
from testsupport import pages as P

URL = "http://127.0.0.1/thoi-su/tap-huan-an-toan-thong-tin-cho-can-bo-33001.htm"
HOSTS = frozenset({"127.0.0.1"})
BODY = [
    "Sáng 12/3, Uỷ ban nhân dân tỉnh họp bàn giải pháp thuỷ lợi và số hoá hồ sơ đất đai, "
    "giao các sở báo cáo trước ngày 30/3 hoặc ngay khi có vướng mắc.",
    "Các địa phương được yêu cầu rà soát công trình xuống cấp, đề xuất vốn sửa chữa và công "
    "khai tiến độ trên cổng thông tin điện tử của tỉnh.",
    "Hội nghị thống nhất lộ trình đưa toàn bộ hồ sơ lên môi trường số trong năm 2026.",
]
PAGES = [
    P.article_page("Uỷ ban tỉnh bàn giải pháp thuỷ lợi và số hoá hồ sơ đất đai", BODY),
    P.article_page("Tỉnh sơ kết quý I", BODY[:2], related=15, most_read=10),
    P.table_article("Tỉnh sơ kết công tác chuyển đổi số", BODY),
    P.teaser_grid("Thời sự"),
    P.featured_listing("Chuyển đổi số"),
    P.inline_listing("Văn hoá - Xã hội"),
]
CHARSETS = ["utf-8", "utf-16", "utf-16-le", "utf-32", "cp1258", "windows-1252", "latin-1",
            "ascii", "x-no-such-charset", "utf-8; foo=bar", ""]
# A page is read in 10-40 ms; nesting thousands deep costs more. 10 s is far above
# any real page and far below a hang.
BOUND_S = 10.0


@st.composite
def mutated(draw) -> tuple[bytes, str | None]:
    page = draw(st.sampled_from(PAGES))
    if draw(st.booleans()):  # nested tags around the body, possibly unclosed
        depth = draw(st.integers(1, 3000))
        tag = draw(st.sampled_from(["div", "table", "a", "p", "span", "li", "font"]))
        close = f"</{tag}>" * depth if draw(st.booleans()) else ""
        page = page.replace("<body>", "<body>" + f"<{tag}>" * depth, 1)
        page = page.replace("</body>", close + "</body>", 1)
    if draw(st.booleans()):  # stray and broken markup
        junk = draw(st.sampled_from(["<", "<p", "</div></div></div>", "<!--", "<![CDATA[",
                                     "<script>", "&#xD800;", "&#0;", "<h1>", "\x00", "\u202e"]))
        at = draw(st.integers(0, len(page)))
        page = page[:at] + junk + page[at:]
    codec = draw(st.sampled_from(["utf-8", "utf-16", "cp1258", "latin-1"]))
    body = page.encode(codec, errors="replace")
    for _ in range(draw(st.integers(0, 3))):  # random bytes over or into the page
        at = draw(st.integers(0, len(body)))
        noise = draw(st.binary(min_size=1, max_size=64))
        body = body[:at] + noise + body[at + len(noise) * draw(st.integers(0, 1)):]
    if draw(st.booleans()):  # a slice repeated
        a = draw(st.integers(0, len(body)))
        body = body[:a] + body[a:a + 2000] * draw(st.integers(2, 20)) + body[a:]
    if draw(st.booleans()):  # truncated
        body = body[:draw(st.integers(0, len(body)))]
    claim = draw(st.sampled_from(CHARSETS + [None]))
    return body, claim


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(), st.booleans())
def test_a_mutated_page_is_read_without_an_exception_or_a_hang(case, extract):
    body, claim = case
    started = time.monotonic()
    page = read_page(body, URL, claim, hosts=HOSTS, pattern=None, extract=extract,
                     listings=not extract)
    assert time.monotonic() - started < BOUND_S
    if page.prepared is not None:
        stored = page.prepared
        assert unicodedata.is_normalized("NFC", stored.text)
        assert len(stored.title) <= 500 and "\n" not in stored.title
        assert not any(unicodedata.category(ch) == "Cc" for ch in stored.text.replace("\n", ""))
    assert all(linked.startswith("http://127.0.0.1") and canonical.startswith("http://127.0.0.1")
               for linked, canonical in page.articles + page.listings)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=4000), st.sampled_from(CHARSETS + [None]))
def test_random_bytes_are_read_without_an_exception(body, claim):
    page = read_page(body, URL, claim, hosts=HOSTS, pattern=None, extract=True, listings=False)
    assert page.prepared is None or page.prepared.text
