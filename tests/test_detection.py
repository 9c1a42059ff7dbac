"""Detection: the labelled corpus gate, the seed documents, and the rules one by one.

The corpus (tests/corpus/*.json, our own articles in the seeds' shape) is rendered
through the portal templates — related lists and all — extracted, then detected:
precision must be 1.00 (a false alert is the worst outcome), recall at least 0.95,
and every number, date and grouping exact (grouping: pairs of articles put correctly in
the same or different sessions by the rules of monitor.events). Speed is measured by
benchmarks/detection.py, not here.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from core.models import VN_TZ
from crawler.scoring import shared_root
from monitor.demo.content import ARTICLES_JSON
from monitor.detect import detect, detect_html, parse_number
from monitor.scoring import label_sessions, load_corpus, score

ROOT = Path(__file__).resolve().parent.parent
SEEDS = shared_root() / "seeds"
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"no seed documents at {SEEDS}")


def vn(day: str, hour: int = 20) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=VN_TZ)


def reports(text, published):
    return [(m.body, m.number, m.date) for m in detect(text, published) if m.role == "report"]


def test_corpus_gate_precision_1_recall_095_dates_numbers_and_grouping_exact():
    items = load_corpus()
    assert len(items) >= 80
    assert sum(1 for i in items for x in i.labels if x["role"] == "report") >= 40
    s = score(items)
    assert s.precision == 1.0, s.errors
    assert s.recall >= 0.95, s.errors
    assert s.date_errors == 0 and s.date_accuracy == 1.0, s.errors
    assert s.number_accuracy == 1.0, s.errors
    assert s.grouping_accuracy == 1.0, s.errors


def test_demo_portal_articles_are_detected_as_labelled():
    s = score(load_corpus([ARTICLES_JSON]))
    assert s.precision == 1.0 and s.recall == 1.0, s.errors
    assert (s.number_accuracy, s.date_accuracy, s.grouping_accuracy) == (1.0, 1.0, 1.0), s.errors


def test_corpus_follows_the_real_timeline():
    sessions = {x for v in label_sessions(load_corpus()).values() for x in v}
    assert sessions == TIMELINE_SESSIONS
    dates = {(x["body"], x.get("number"), x.get("period")): x["date"] for i in load_corpus()
             for x in i.labels if x["role"] == "report" and x.get("number") is not None}
    assert dates == {k: v for k, v in TIMELINE_DATES.items() if k in dates}
    assert len(dates) == len(TIMELINE_DATES)


def test_grouping_score_catches_a_split_and_a_merge():
    items = [i for i in load_corpus() if any(x["role"] == "report" for x in i.labels)]

    def drops_one_number(text, published):
        out = detect(text, published)
        if "thứ mười" in text:  # one report of session 10 loses its number and its day
            out = [dataclasses.replace(m, number=None, date=m.date + timedelta(days=1))
                   for m in out]
        return out

    s = score(items, detector=drops_one_number)
    assert s.grouping_accuracy < 1.0 and s.number_accuracy < 1.0
    assert any(e.startswith("GROUPING") and "split" in e for e in s.errors)

    def same_number_for_all(text, published):
        return [dataclasses.replace(m, number=1, period=None) for m in detect(text, published)]

    s = score(items, detector=same_number_for_all)
    assert any(e.startswith("GROUPING") and "joined" in e for e in s.errors)


# the timeline: the Committee (continuous numbering) and its successor (yearly)
U, B = "ubqg-cds", "bcd-khcn-cds-da06"
TIMELINE_DATES = {
    (U, 1, None): "2021-11-30", (U, 2, None): "2022-04-27", (U, 3, None): "2022-08-08",
    (U, 5, None): "2023-02-25", (U, 6, None): "2023-07-12", (U, 7, None): "2023-12-28",
    (U, 8, None): "2024-04-24", (U, 9, None): "2024-07-10", (U, 10, None): "2025-02-06",
    (B, 1, "2025"): "2025-03-18", (B, 2, "2025"): "2025-05-20", (B, 3, "2025"): "2025-07-22",
    (B, 4, "2025"): "2025-09-23", (B, 5, "2025"): "2025-11-15", (B, 1, "2026"): "2026-02-25",
}
TIMELINE_SESSIONS = set(TIMELINE_DATES) | {(U, "2022-12-25")}  # the unnumbered 2022 review

SEED_EXPECTED = {
    "000": ("2024-04-24", [("ubqg-cds", 8, date(2024, 4, 24))]),
    "001": ("2024-04-24", [("ubqg-cds", 8, date(2024, 4, 24))]),
    "002": ("2023-12-28", [("ubqg-cds", None, date(2023, 12, 28))]),
    "003": ("2022-04-27", [("ubqg-cds", 2, date(2022, 4, 27))]),
    "004": ("2023-07-19", []),
}


@needs_seeds
@pytest.mark.parametrize("prefix", sorted(SEED_EXPECTED))
def test_seed_documents(prefix):
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    published, expected = SEED_EXPECTED[prefix]
    assert reports(path.read_text(encoding="utf-8"), vn(published)) == expected


LEAD = ("Sáng 24/4, Thủ tướng Phạm Minh Chính, Chủ tịch Ủy ban Quốc gia về chuyển đổi số "
        "chủ trì phiên họp thứ 8 của Ủy ban.")


def test_spellings_unicode_forms_and_abbreviations():
    expected = [("ubqg-cds", 8, date(2024, 4, 24))]
    assert reports(LEAD, vn("2024-04-24")) == expected
    assert reports(unicodedata.normalize("NFD", LEAD), vn("2024-04-24")) == expected
    assert reports(LEAD.replace("Ủy ban", "Uỷ ban"), vn("2024-04-24")) == expected
    assert reports("Sáng 24/4, Ủy ban Quốc gia về CĐS họp phiên lần thứ tám.",
                   vn("2024-04-24")) == expected
    assert reports("Chiều qua (24/4), Phiên họp lần thứ tám của Ủy ban Quốc gia về chuyển đổi "
                   "số đã diễn ra.", vn("2024-04-25", 7)) == expected


def test_year_comes_from_publication_across_new_year():
    text = ("Chiều ngày 28/12, Ủy ban Quốc gia về chuyển đổi số họp phiên tổng kết hoạt động "
            "năm 2023.")
    assert reports(text, vn("2024-01-02", 8)) == [("ubqg-cds", None, date(2023, 12, 28))]


def test_yearly_numbering_keeps_the_year_apart():
    text = ("Sáng 25/2, Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, đổi mới "
            "sáng tạo, chuyển đổi số và Đề án 06 họp phiên thứ nhất năm 2026.")
    (m,) = detect(text, vn("2026-02-25"))
    assert (m.number, m.period) == (1, "2026")


def test_yearly_numbering_last_year_from_the_text():
    text = ("Nhiệm vụ này được nêu trong kết luận tại phiên họp thứ 2 của Ban Chỉ đạo của Chính "
            "phủ về phát triển khoa học, công nghệ, đổi mới sáng tạo, chuyển đổi số và Đề án 06 "
            "hồi tháng 5 năm ngoái.")
    (m,) = detect(text, vn("2026-02-10"))
    assert (m.role, m.number, m.period) == ("reference", 2, "2025")


@pytest.mark.parametrize("word, number", [
    ("VIII", 8), ("IX", 9), ("X", 10), ("IV", 4), ("XIV", 14), ("I", 1), ("V", 5),
    ("8", 8), ("tám", 8), ("Ba", 3), ("mười", 10),
    ("viii", None), ("ix", None), ("VX", None), ("IIII", None), ("Ixia", None), ("thứ", None),
])
def test_parse_number_digits_words_and_upper_case_roman_numerals(word, number):
    assert parse_number(word) == number


@pytest.mark.parametrize("text, published, expected", [
    ("Sáng 24/4, Thủ tướng chủ trì Phiên họp thứ VIII của Ủy ban Quốc gia về chuyển đổi số.",
     "2024-04-24", [("ubqg-cds", 8, date(2024, 4, 24))]),
    ("Chiều 10/7, Ủy ban Quốc gia về chuyển đổi số tổ chức phiên họp lần thứ IX.",
     "2024-07-10", [("ubqg-cds", 9, date(2024, 7, 10))]),
    ("Chiều 15/11, Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, đổi mới sáng "
     "tạo, chuyển đổi số và Đề án 06 họp phiên lần thứ V năm 2025.",
     "2025-11-15", [("bcd-khcn-cds-da06", 5, date(2025, 11, 15))]),
    # lower case or part of a word: not a Roman numeral, so not a number
    ("Chiều 10/7, Ủy ban Quốc gia về chuyển đổi số tổ chức phiên họp lần thứ ix.",
     "2024-07-10", [("ubqg-cds", None, date(2024, 7, 10))]),
    ("Chiều 10/7, Ủy ban Quốc gia về chuyển đổi số tổ chức phiên họp lần thứ Ivan.",
     "2024-07-10", [("ubqg-cds", None, date(2024, 7, 10))]),
])
def test_roman_numerals_only_upper_case_whole_words_after_thu(text, published, expected):
    assert reports(text, vn(published)) == expected


@pytest.mark.parametrize("text, published, expected", [
    # 28/12/2023 was a Thursday (Thứ Năm): the meeting's day, not session 5
    ("Tại phiên họp thứ Năm, 28/12/2023, Ủy ban Quốc gia về chuyển đổi số tổng kết hoạt động "
     "năm.", "2023-12-28", [("ubqg-cds", None, date(2023, 12, 28))]),
    ("Chiều 28/12, Ủy ban Quốc gia về chuyển đổi số họp phiên thứ Năm (28/12) tổng kết năm.",
     "2023-12-29", [("ubqg-cds", None, date(2023, 12, 28))]),
    # 25/2/2023 was a Saturday: "thứ năm" before it is the fifth session
    ("Chiều 25/2, Ủy ban Quốc gia về chuyển đổi số tổ chức phiên họp thứ năm (25/2/2023).",
     "2023-02-25", [("ubqg-cds", 5, date(2023, 2, 25))]),
    # a weekday in the date line or the text is never a session number
    ("Thứ Năm, 6/2/2025\nChiều 6/2, Thủ tướng chủ trì Phiên họp thứ 10 của Ủy ban Quốc gia về "
     "chuyển đổi số.", "2025-02-06", [("ubqg-cds", 10, date(2025, 2, 6))]),
    ("Thứ Tư, 24/9/2025\nBan Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, đổi mới "
     "sáng tạo, chuyển đổi số và Đề án 06 giao Bộ Khoa học và Công nghệ theo dõi.",
     "2025-09-24", []),
])
def test_weekday_names_are_not_session_numbers(text, published, expected):
    assert reports(text, vn(published)) == expected


@pytest.mark.parametrize("text", [
    "Ngày mai (19/9), Thủ tướng sẽ chủ trì phiên họp thứ 9 của Ủy ban Quốc gia về chuyển đổi số.",
    "Từ sau phiên họp thứ 7 của Ủy ban Quốc gia về chuyển đổi số, tỉnh đã kiện toàn tổ công nghệ.",
    "Sáng 18/9, Ban Chỉ đạo Trung ương về phát triển khoa học, công nghệ, đổi mới sáng tạo và "
    "chuyển đổi số họp phiên thứ 4.",
    "Sáng 18/9, Ban Chỉ đạo quốc gia về IUU họp phiên thứ 26.",
    "Sáng 18/9, Ban Chỉ đạo chuyển đổi số tỉnh Thanh Hóa họp phiên thứ 3.",
    "Sáng 18/9, Ban Chỉ đạo các công trình, dự án trọng điểm ngành đường sắt họp phiên thứ 6; "
    "Thủ tướng là Trưởng Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, đổi mới "
    "sáng tạo, chuyển đổi số và Đề án 06.",
    "Sáng 18/9, Quốc hội tiếp tục Kỳ họp thứ 10; Ủy ban Quốc gia về chuyển đổi số đã giải thể.",
    "Sáng 18/9, Thủ tướng chủ trì Hội nghị về chuyển đổi số; Ban Chỉ đạo của Chính phủ về phát "
    "triển khoa học, công nghệ, đổi mới sáng tạo, chuyển đổi số và Đề án 06 sẽ họp phiên thứ IV.",
    "Sáng 18/9, Thủ tướng chủ trì Hội nghị về chuyển đổi số với các Bộ trưởng, Chủ tịch UBND tỉnh.",
])
def test_previews_references_and_other_bodies_never_report(text):
    assert reports(text, vn("2024-09-18")) == []


def test_related_lists_on_a_page_are_ignored():
    page = (ROOT / "tests" / "corpus" / "negatives.json")
    items = [i for i in load_corpus([page]) if "Tin" in i.html]
    html = items[0].html.replace(
        "</ul>", '<li><a href="/x-1.htm">Thủ tướng chủ trì phiên họp thứ 8 của Ủy ban Quốc '
                 "gia về chuyển đổi số</a></li></ul>", 1)
    assert "phiên họp thứ 8" in html
    assert [m for m in detect_html(html, published=vn("2024-04-24")) if m.role == "report"] == []


@needs_seeds
def test_dxmon_detect_command_on_a_seed(tmp_path):
    (path,) = SEEDS.glob("003_*.txt")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "detect", str(path),
                          "--published", "2022-04-27T19:00"], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    (m,) = json.loads(out.stdout)
    assert (m["role"], m["number"], m["date"]) == ("report", 2, "2022-04-27")
    assert "phiên họp thứ 2" in m["evidence"]
