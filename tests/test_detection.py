"""Detection: the labelled corpus gate, the seed documents, and the rules one by one.

The corpus (tests/corpus/*.json, our own articles in the seeds' shape) is rendered
through the portal templates — related lists and all — extracted, then detected:
precision must be 1.00 (a false alert is the worst outcome), recall at least 0.95,
and every number, date and grouping exact (grouping: pairs of articles put correctly in
the same or different sessions by the rules of monitor.grouping). Speed is measured by
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
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import parse_config
from core.models import VN_TZ
from evaluation.detection import label_sessions, load_corpus, score
from monitor.detect import detect, detect_html, parse_number
from testsupport.content import ARTICLES_JSON
from testsupport.shared import require_shared, shared_root

ROOT = Path(__file__).resolve().parent.parent
SEEDS = shared_root() / "seeds"


@pytest.fixture
def seeds() -> Path:
    """The seed documents: skipped on a developer's machine without them, failed in CI."""
    return require_shared(SEEDS, "the seed documents")


def vn(day: str, hour: int = 20) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=VN_TZ)


def reports(text, published):
    return [(m.body, m.number, m.date) for m in detect(text, published) if m.role == "report"]


def test_corpus_gate_precision_1_recall_1_dates_numbers_and_grouping_exact():
    items = load_corpus()
    assert len(items) >= 120
    assert sum(1 for i in items for x in i.labels if x["role"] == "report") >= 60
    assert any(i.key.startswith("phrasing:") for i in items)  # issue 11 §3's cases are gated
    s = score(items)
    assert s.precision == 1.0, s.errors
    assert s.recall == 1.0, s.errors
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


@pytest.mark.parametrize("prefix", sorted(SEED_EXPECTED))
def test_seed_documents(prefix, seeds):
    (path,) = seeds.glob(f"{prefix}_*.txt")
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


def test_dxmon_detect_command_on_a_seed(tmp_path, seeds):
    (path,) = seeds.glob("003_*.txt")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "detect", str(path),
                          "--published", "2022-04-27T19:00"], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    (m,) = json.loads(out.stdout)
    assert (m["role"], m["number"], m["date"]) == ("report", 2, "2022-04-27")
    assert "phiên họp thứ 2" in m["evidence"]


# --- issue 11 §3: sessions found however the press words them ----------------------------

PHRASING = ROOT / "tests" / "corpus" / "phrasing.json"


def test_phrasing_corpus_alone_is_exact_and_holds_negatives():
    items = load_corpus([PHRASING])
    reporting = [i for i in items if any(x["role"] == "report" for x in i.labels)]
    assert len(reporting) >= 12 and len(items) - len(reporting) >= 10
    s = score(items)
    assert (s.precision, s.recall) == (1.0, 1.0), s.errors
    assert (s.number_accuracy, s.date_accuracy, s.grouping_accuracy) == (1.0, 1.0, 1.0), s.errors


B_NAME = {"head": "Ban Chỉ đạo", "owner": "Chính phủ",
          "items": ["khoa học", "công nghệ", "đổi mới sáng tạo", "chuyển đổi số"],
          "last": "Đề án 06"}
PARTY_ITEMS = ["khoa học", "công nghệ", "đổi mới sáng tạo"]


@st.composite
def name_variants(draw, party=False):
    """A press variant of the Government committee's name (or of the Party's): "của" and
    "phát triển" left out or not, list items joined by ", ", " " or " và ", "CĐS" for
    "chuyển đổi số", "Uỷ"/"Ủy"-style case changes, a line break between any two words."""
    sep = st.sampled_from([", ", " ", " và "])
    items = PARTY_ITEMS if party else B_NAME["items"]
    text = "Ban Chỉ đạo " + ("Trung ương" if party else draw(st.sampled_from(["", "của "])) + "Chính phủ")
    text += " về " + draw(st.sampled_from(["", "phát triển "])) + items[0]
    for item in items[1:]:
        text += draw(sep) + item
    if party:
        text += " và chuyển đổi số"
    else:
        text += draw(st.sampled_from([" và ", ", "])) + "Đề án 06"
    if draw(st.booleans()):
        text = text.replace("chuyển đổi số", "CĐS")
    if draw(st.booleans()):
        text = text.replace("Ban Chỉ đạo", "ban chỉ đạo").replace("Chính phủ", "chính phủ")
    words = text.split(" ")
    cut = draw(st.integers(0, len(words) - 1))
    if cut:
        words[cut - 1] += "\n"
    return " ".join(words).replace("\n ", "\n")


@settings(max_examples=60, deadline=None)
@given(name_variants())
def test_every_variant_of_the_committee_name_is_found(name):
    text = (f"Phiên họp đầu năm\nSáng 25/2, Thủ tướng Phạm Minh Chính, Trưởng {name}, chủ trì "
            f"phiên họp lần thứ nhất năm 2026.")
    assert reports(text, vn("2026-02-25")) == [("bcd-khcn-cds-da06", 1, date(2026, 2, 25))]


@settings(max_examples=60, deadline=None)
@given(name_variants(party=True))
def test_no_variant_of_the_party_committee_is_taken_for_it(name):
    text = (f"Phiên họp đầu năm\nSáng 25/2, Tổng Bí thư Tô Lâm, Trưởng {name} (Ban Chỉ đạo), "
            f"chủ trì phiên họp lần thứ nhất năm 2026 của Ban Chỉ đạo.")
    assert reports(text, vn("2026-02-25")) == []


def test_short_name_after_the_full_one_and_lower_case_quoc_gia():
    full = ("Thủ tướng là Trưởng Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, đổi "
            "mới sáng tạo, chuyển đổi số và Đề án 06 (Ban Chỉ đạo).")
    assert reports(f"Tin\n{full} Chiều 22/7, Ban Chỉ đạo họp phiên thứ ba năm 2025.",
                   vn("2025-07-22")) == [("bcd-khcn-cds-da06", 3, date(2025, 7, 22))]
    assert reports("Chiều 22/7, BCĐ Chính phủ về KHCN, ĐMST, CĐS và Đề án 06 họp phiên thứ ba.",
                   vn("2025-07-22")) == [("bcd-khcn-cds-da06", 3, date(2025, 7, 22))]
    assert reports("Chiều 22/7, BCĐ chuyển đổi số tỉnh Thanh Hóa họp phiên thứ ba.",
                   vn("2025-07-22")) == []
    for name in ("Ủy ban quốc gia về chuyển đổi số", "uỷ ban quốc gia về chuyển đổi số",
                 "Ủy ban Quốc\ngia về chuyển đổi số", "UBQG về CĐS", "UBQG chuyển đổi số"):
        assert reports(f"Sáng 24/4, {name} họp phiên thứ 8.", vn("2024-04-24")) == \
            [("ubqg-cds", 8, date(2024, 4, 24))], name


def test_a_users_own_watch_gets_the_same_tolerance():
    config = parse_config("""
[storage]
path = "x.db"
[[sources]]
name = "a"
start_urls = ["http://127.0.0.1:1/"]
[[watch]]
id = "hd-bvmt"
name = "Hội đồng quốc gia của Chính phủ về bảo vệ môi trường, tài nguyên và biến đổi khí hậu"
""")
    (watch,) = config.watch
    for text in [
        "Sáng 3/4, Hội đồng quốc gia Chính phủ về bảo vệ môi trường tài nguyên, biến đổi khí hậu "
        "họp phiên thứ 2.",
        "Sáng 3/4, Hội đồng Quốc gia của Chính phủ về bảo vệ môi trường, tài nguyên, biến đổi khí "
        "hậu họp phiên thứ 2.",
        "Sáng 3/4, hội đồng quốc gia Chính phủ về bảo vệ môi trường, tài nguyên và\nbiến đổi khí "
        "hậu họp phiên thứ 2.",
    ]:
        found = [(m.body, m.number, m.date) for m in detect(text, vn("2025-04-03"), (watch,))
                 if m.role == "report"]
        assert found == [("hd-bvmt", 2, date(2025, 4, 3))], text
    assert detect("Sáng 3/4, Hội đồng quốc gia về bảo vệ môi trường họp phiên thứ 2.",
                  vn("2025-04-03"), (watch,)) == []  # a word of the name missing: another body


FULL_B = ("Thủ tướng Phạm Minh Chính là Trưởng Ban Chỉ đạo của Chính phủ về phát triển khoa "
          "học, công nghệ, đổi mới sáng tạo, chuyển đổi số và Đề án 06.")


@pytest.mark.parametrize("sentence", [
    "Thủ tướng chủ trì phiên họp lần thứ sáu của Ban Chỉ đạo vào sáng 5-3, với 63 tỉnh, thành "
    "dự trực tuyến.",
    "Sáng 5-3, phiên họp lần thứ sáu của Ban Chỉ đạo diễn ra tại trụ sở Chính phủ, kết nối tới "
    "ủy ban nhân dân các tỉnh, thành phố.",
    "Thủ tướng chủ trì phiên họp lần thứ sáu của Ban Chỉ đạo tại trụ sở Chính phủ sáng 5-3, với "
    "các bộ, ngành và tỉnh, thành phố.",
])
def test_provinces_outside_the_committees_noun_phrase_do_not_make_it_provincial(sentence):
    assert reports(f"Tin\n{FULL_B} {sentence}", vn("2026-03-05")) == \
        [("bcd-khcn-cds-da06", 6, date(2026, 3, 5))]


@pytest.mark.parametrize("sentence", [
    "Sáng 5-3, Ban Chỉ đạo chuyển đổi số tỉnh Nghệ An họp phiên thứ sáu.",
    "Sáng 5-3, Ban Chỉ đạo cải cách hành chính, chuyển đổi số, Đề án 06 thành phố Hà Nội họp "
    "phiên thứ sáu.",
    "Sáng 5-3, Ban Chỉ đạo về khoa học, công nghệ và chuyển đổi số của tỉnh tổ chức phiên họp "
    "lần thứ sáu.",
])
def test_a_provincial_committee_named_in_its_own_phrase_is_not_the_watched_one(sentence):
    assert reports(f"Tin\n{FULL_B} {sentence}", vn("2026-03-05")) == []


CONCLUDES = ("Thủ tướng Phạm Minh Chính yêu cầu khi kết luận Phiên họp thứ 7 của Ủy ban Quốc gia "
             "về chuyển đổi số sáng 20/8.")


def test_the_chairs_conclusion_is_the_meeting_on_its_day_and_a_reference_later():
    assert reports(CONCLUDES, vn("2024-08-20")) == [("ubqg-cds", 7, date(2024, 8, 20))]
    assert reports(CONCLUDES, vn("2024-08-21", 8)) == [("ubqg-cds", 7, date(2024, 8, 20))]
    later = detect(CONCLUDES, vn("2024-09-12"))
    assert [m.role for m in later] == ["reference"]
    notice = ("Văn phòng Chính phủ ban hành Thông báo kết luận của Thủ tướng tại Phiên họp thứ 7 "
              "của Ủy ban Quốc gia về chuyển đổi số.")
    for published in ("2024-08-20", "2024-09-12"):
        assert reports(notice, vn(published)) == []
    headline = "Kết luận của Thủ tướng tại phiên họp thứ 7 của Ủy ban Quốc gia về chuyển đổi số"
    assert reports(f"{headline}\nPhiên họp diễn ra ngày 20/8.", vn("2024-09-12")) == []


HEADLINE = "Chiều nay, Thủ tướng chủ trì phiên họp thứ 9 của Ủy ban Quốc gia về chuyển đổi số"


@pytest.mark.parametrize("body", [
    "Theo chương trình công tác, chiều nay (10/7), Thủ tướng sẽ chủ trì phiên họp.",
    "Phiên họp dự kiến bắt đầu lúc 14 giờ, kết nối tới các tỉnh, thành phố.",
    "Thủ tướng sẽ chủ trì phiên họp thứ 9 tại trụ sở Chính phủ.",
    "Theo lịch công tác, Thủ tướng chủ trì phiên họp tại trụ sở Chính phủ.",
])
def test_a_body_that_announces_the_meeting_outranks_the_headline(body):
    (m,) = detect(f"{HEADLINE}\n{body}\nCác bộ đã gửi báo cáo.", vn("2024-07-10", 8))
    assert (m.role, m.number, m.date) == ("preview", 9, date(2024, 7, 10))


@pytest.mark.parametrize("body", [
    "Chiều nay (10/7), Thủ tướng đã chủ trì phiên họp tại trụ sở Chính phủ.",
    "Chiều 10/7, Thủ tướng chủ trì phiên họp. Phiên họp tiếp theo dự kiến diễn ra vào tháng 10.",
    "Chiều 10/7, Thủ tướng chủ trì phiên họp tại trụ sở Chính phủ. Các bộ sẽ hoàn thành những "
    "việc được giao tại phiên họp trong quý III.",
    "Thủ tướng đề nghị các bộ sẽ báo cáo kết quả tại phiên họp. Chiều 10/7, phiên họp đã kết "
    "thúc sau ba giờ làm việc.",
])
def test_a_body_that_tells_the_meeting_keeps_the_report(body):
    assert reports(f"{HEADLINE}\n{body}", vn("2024-07-10", 19)) == \
        [("ubqg-cds", 9, date(2024, 7, 10))]


@pytest.mark.parametrize("text, role", [
    ("Chiều 6/2, Thủ tướng Phạm Minh Chính, Chủ tịch Ủy ban Quốc gia về chuyển đổi số, chủ trì "
     "Hội nghị trực tuyến toàn quốc về chuyển đổi số.", "meeting"),
    ("Chiều 6/2, Ủy ban Quốc gia về chuyển đổi số tổ chức Hội nghị toàn quốc về chuyển đổi số.",
     "meeting"),
    ("Hội nghị toàn quốc về chuyển đổi số do Ủy ban Quốc gia về chuyển đổi số tổ chức chiều 6/2 "
     "đã kết nối tới các xã.", "meeting"),
    ("Hội nghị toàn quốc về chuyển đổi số do Ủy ban Quốc gia về chuyển đổi số và Bộ Thông tin "
     "và Truyền thông phối hợp tổ chức chiều 6/2 đã kết nối tới các xã.", "meeting"),
    ("Chiều 6/2, Ủy ban Quốc gia về chuyển đổi số phối hợp với Bộ Thông tin và Truyền thông tổ "
     "chức Hội nghị trực tuyến toàn quốc.", "meeting"),
    ("Chiều 6/2, tại trụ sở Chính phủ đã diễn ra Hội nghị tổng kết công tác năm 2024 của Ủy ban "
     "Quốc gia về chuyển đổi số.", "report"),
    # the Government's conference, chaired by the same person (seed 004's shape)
    ("Chiều 6/2, Thủ tướng Phạm Minh Chính, Chủ tịch Ủy ban Quốc gia về chuyển đổi số, chủ trì "
     "Hội nghị Thường trực Chính phủ với các địa phương về chuyển đổi số.", None),
    ("Chiều 6/2, Ban Chỉ đạo chuyển đổi số tỉnh Thanh Hóa tổ chức Hội nghị sơ kết; Ủy ban Quốc "
     "gia về chuyển đổi số gửi báo cáo.", None),
    ("Chiều 6/2, Thủ tướng Phạm Minh Chính dự Hội nghị về chuyển đổi số; ông là Chủ tịch Ủy ban "
     "Quốc gia về chuyển đổi số.", None),
    # another organisation's conference or session, the body named after it in the phrase
    ("Chiều 6/2, Hội nghị tổng kết năm 2024 của Bộ Thông tin và Truyền thông, cơ quan thường "
     "trực của Ủy ban Quốc gia về chuyển đổi số, đã diễn ra.", None),
    ("Chiều 6/2 diễn ra phiên họp thứ 5 của Bộ Thông tin và Truyền thông với Ủy ban Quốc gia về "
     "chuyển đổi số.", None),
])
def test_conferences_of_the_body_without_the_word_phien_hop(text, role):
    found = [(m.role, m.number, m.date) for m in detect(f"Tin\n{text}", vn("2025-02-06"))]
    assert found == ([(role, None, date(2025, 2, 6))] if role else [])


def test_evidence_is_the_publishers_sentence_matching_is_on_the_normalised_form():
    sentence = ("Sáng 24/4, Thủ tướng, Chủ tịch Uỷ ban Quốc gia về chuyển đổi số, chủ trì phiên "
                "họp thứ 8 bàn về hoà mạng hoặc thuỷ lợi số.")
    for form in ("NFC", "NFD"):
        text = unicodedata.normalize(form, f"Tin nhanh\n{sentence}\nCác bộ đã báo cáo.")
        (m,) = detect(text, vn("2024-04-24"))
        assert (m.role, m.number) == ("report", 8)
        assert m.evidence == sentence  # NFC, "Uỷ", "hoà", "hoặc", "thuỷ" as published
        assert unicodedata.is_normalized("NFC", m.evidence)


TOPICS = ["chuyển đổi số", "cải cách hành chính, chuyển đổi số", "khoa học, công nghệ và đổi mới "
          "sáng tạo", "cải cách hành chính, chuyển đổi số, Đề án 06"]


@settings(max_examples=60, deadline=None)
@given(number=st.integers(2, 9), day=st.integers(1, 28),
       adjunct=st.sampled_from(["vào sáng {d}-3", "sáng {d}/3", "tại trụ sở Chính phủ sáng {d}/3"]),
       tail=st.sampled_from([", với {k} tỉnh, thành dự trực tuyến", ", kết nối tới {k} tỉnh, "
                             "thành phố", " với lãnh đạo các tỉnh, thành phố", ""]),
       k=st.integers(10, 63))
def test_places_after_the_committees_phrase_never_make_it_provincial(number, day, adjunct, tail, k):
    sentence = (f"Thủ tướng chủ trì phiên họp lần thứ {number} của Ban Chỉ đạo "
                f"{adjunct.format(d=day)}{tail.format(k=k)}.")
    assert reports(f"Tin\n{FULL_B} {sentence}", vn(f"2026-03-{day:02d}")) == \
        [("bcd-khcn-cds-da06", number, date(2026, 3, day))]


@settings(max_examples=60, deadline=None)
@given(topic=st.sampled_from(TOPICS), place=st.sampled_from(["tỉnh Nghệ An", "thành phố Hà Nội",
                                                              "huyện Mèo Vạc", "tỉnh", "thành phố"]),
       verb=st.sampled_from(["họp phiên thứ {n}", "tổ chức phiên họp lần thứ {n}",
                             "tổ chức Hội nghị sơ kết"]),
       number=st.integers(2, 9))
def test_a_committee_with_a_place_in_its_own_name_is_never_watched(topic, place, verb, number):
    sentence = f"Sáng 5/3, Ban Chỉ đạo {topic} {place} {verb.format(n=number)}."
    assert detect(f"Tin\n{FULL_B} {sentence}", vn("2026-03-05")) == []
