"""The extraction gate: scrapinghub's article benchmark, scored by crawler/scoring.py.

The pages stay in ../shared/benchmarks (third-party content, never copied here).
trafilatura 2.0.0 published F1 0.958 on this set; the floor is 0.95.
"""

from __future__ import annotations

import pytest

from crawler.extract import extract_article, parse_vn_datetime
from crawler.scoring import SCRAPINGHUB, benchmarks_root, score_scrapinghub


def predict(html: str, url: str) -> str | None:
    article = extract_article(html, url)
    return article.text if article else None


def test_scrapinghub_f1_at_least_095():
    root = benchmarks_root() / SCRAPINGHUB
    if not (root / "ground-truth.json").exists():
        pytest.skip(f"the benchmark is not at {root} (it is in CI)")
    scores = score_scrapinghub(predict, root, workers=2)
    assert scores.documents == 181
    assert scores.f1 >= 0.95, scores.line("dxmon")


def test_vietnamese_date_lines():
    assert parse_vn_datetime("18:54, 27/04/2022").isoformat() == "2022-04-27T18:54:00+07:00"
    assert parse_vn_datetime("24/04/2024 19:46").isoformat() == "2024-04-24T19:46:00+07:00"
    assert parse_vn_datetime("Thứ tư, 24/4/2024 - 10:30").isoformat() == \
        "2024-04-24T10:30:00+07:00"
    assert parse_vn_datetime("19/07/2024 | 15:20").isoformat() == "2024-07-19T15:20:00+07:00"


def test_a_broken_page_gives_no_article_not_an_exception():
    assert extract_article(b"", "http://127.0.0.1/a-b-c-d") is None
    assert extract_article(b"\x00\xff<<<>>>", "http://127.0.0.1/a-b-c-d") is None
    assert extract_article("<html><body><p>ngắn</p></body></html>", "http://127.0.0.1/x") is None


def test_json_ld_author_and_date_when_the_page_prints_neither():
    body = "<p>" + "Tỉnh triển khai nền tảng số dùng chung cho các xã sau sáp nhập. " * 6 + "</p>"
    for author, expected in [('"Minh Anh"', "Minh Anh"), ('{"name": "Lê Văn Bình"}', "Lê Văn Bình"),
                             ('[{"name": "Hà Thu"}, "Quang Huy"]', "Hà Thu"), ("5", None)]:
        html = ('<html><head><script type="application/ld+json">{"@graph": [{"@type": '
                f'"NewsArticle", "author": {author}, "datePublished": "2026-03-02T08:15:00"}}]}}'
                f"</script></head><body><h1>Tỉnh triển khai nền tảng số dùng chung</h1>{body}"
                "</body></html>")
        article = extract_article(html, "http://127.0.0.1/tinh-trien-khai-nen-tang-so.htm")
        assert article.author == expected
        assert article.published_at.isoformat() == "2026-03-02T08:15:00+07:00"
