"""The session feeds (web/feeds.py): Atom read back by feedparser, iCalendar by icalendar.

The archive is a real one: the test portals crawled by `dxmon crawl`, a preview
published, then the meeting's report, then another session printed with the wrong
number and corrected. What a subscriber sees is checked at each step: one entry and
one event per session, the same id and UID through preview → held → corrected (a
calendar must update its event, not add a second), TENTATIVE only while announced,
SEQUENCE and ``updated`` moving on each change. Hostile and random text in the
evidence must never make a feed unreadable.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from datetime import date, datetime, timedelta

import feedparser
import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import parse_config
from core.models import VN_TZ, Extracted, Mention
from monitor.process import process_articles
from storage.articles import store_article
from storage.schema import open_db
from testsupport.content import next_session_number, recently, session_report
from web.feeds import _UNWRITABLE, atom_feed, entry_uuid, ics_feed

BODY = "bcd-khcn-cds-da06"
BASE = "http://127.0.0.1:8765"


def read_atom(db, lang="vi") -> feedparser.FeedParserDict:
    feed = feedparser.parse(atom_feed(db, BASE, lang))
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def read_ics(db, lang="vi") -> list:
    calendar = icalendar.Calendar.from_ical(ics_feed(db, BASE, lang=lang))
    return list(calendar.walk("VEVENT"))


def sessions_of(db) -> list[dict]:
    return list(db.query("SELECT * FROM sessions ORDER BY id"))


def event_for(events, session_link: str):
    (event,) = [e for e in events if str(e["url"]) == BASE + session_link]
    return event


# --- on a crawled archive -------------------------------------------------------------


def test_every_crawled_session_is_one_entry_and_one_event_with_stable_ids(crawl):
    crawl.dxmon("crawl")
    db = open_db(crawl.db_path)
    sessions = sessions_of(db)
    assert len(sessions) >= 4  # the portals' history holds several sessions of two bodies
    feed, events = read_atom(db), read_ics(db)
    held = [e for e in feed.entries if "/sessions/" in e.link]
    assert sorted(e.link for e in held) == sorted(f"{BASE}/sessions/{s['id']}" for s in sessions)
    assert sorted(str(e["url"]) for e in events if e["status"] == "CONFIRMED") == sorted(
        f"{BASE}/sessions/{s['id']}" for s in sessions)
    assert len(feed.entries) == len(events)  # the same sessions, upcoming ones included
    # every id unique, and each session's id is made from its stored uid
    assert len({e.id for e in feed.entries}) == len(feed.entries)
    assert len({str(e["uid"]) for e in events}) == len(events)
    for s in sessions:
        (entry,) = [e for e in held if e.link == f"{BASE}/sessions/{s['id']}"]
        assert entry.id == f"urn:uuid:{entry_uuid(s['uid'])}"
        assert str(event_for(events, f"/sessions/{s['id']}")["uid"]) == entry_uuid(s["uid"])
        # an evidence sentence and the outlets that reported it
        assert "phiên họp" in entry.summary.lower() or "họp" in entry.summary.lower()
    # newest meeting first
    days = [e.decoded("dtstart") for e in events]
    assert days == sorted(days, reverse=True)
    assert [str(e["url"]) for e in events] == [e.link for e in feed.entries]

    # a second generation, after another crawl that changes nothing: the same ids
    crawl.dxmon("crawl")
    again, events_again = read_atom(db), read_ics(db)
    assert [e.id for e in again.entries] == [e.id for e in feed.entries]
    assert [e.updated for e in again.entries] == [e.updated for e in feed.entries]
    assert [str(e["uid"]) for e in events_again] == [str(e["uid"]) for e in events]
    assert [int(e["sequence"]) for e in events_again] == [int(e["sequence"]) for e in events]
    db.close()


def test_a_preview_becomes_the_held_session_then_a_correction_updates_it(crawl, portals):
    crawl.dxmon("crawl")
    db = open_db(crawl.db_path)
    now = datetime.now(VN_TZ)
    number = next_session_number(portals.all_articles(), BODY)
    before = {s["id"] for s in sessions_of(db)}

    # announced: "ngày mai ... sẽ chủ trì phiên họp thứ N"
    published = recently(now, 30)  # "ngày mai" is the day after this, also near midnight
    preview = session_report("chinhphu-news", BODY, number, now.date(), published).edited(
        slug=f"lich-cong-tac-tuan-toi-{number}", title="Lịch công tác của Thủ tướng tuần tới",
        sapo=f"Ngày mai, Thủ tướng Chính phủ sẽ chủ trì phiên họp thứ {number} của Ban Chỉ đạo "
             "của Chính phủ về phát triển khoa học, công nghệ, đổi mới sáng tạo, chuyển đổi số "
             "và Đề án 06.", labels=())
    portals.publish("chinhphu-news", preview)
    crawl.dxmon("crawl", "--source", "chinhphu-news")
    assert {s["id"] for s in sessions_of(db)} == before  # a preview makes no session
    tentative = [e for e in read_ics(db) if e["status"] == "TENTATIVE"
                 and f"thứ {number}" in str(e["summary"])]
    assert len(tentative) == 1, [str(e["summary"]) for e in read_ics(db)]
    (announced,) = tentative
    assert int(announced["sequence"]) == 0
    assert announced.decoded("dtstart") == published.date() + timedelta(days=1)
    uid = str(announced["uid"])
    (announced_entry,) = [e for e in read_atom(db).entries if e.id == f"urn:uuid:{uid}"]
    assert "Sắp diễn ra" in announced_entry.title

    # held, and reported: the same event, now CONFIRMED, at the day it was held
    portals.publish("thanhhoa-tv", session_report("thanhhoa-tv", BODY, number, now.date(),
                                                  recently(now, 5)))
    crawl.dxmon("crawl", "--source", "thanhhoa-tv")
    (held,) = [s for s in sessions_of(db) if s["id"] not in before]
    assert held["number"] == number
    events = read_ics(db)
    assert [str(e["uid"]) for e in events].count(uid) == 1  # updated, not duplicated
    event = event_for(events, f"/sessions/{held['id']}")
    assert str(event["uid"]) == uid
    assert str(event["status"]) == "CONFIRMED"
    assert int(event["sequence"]) > int(announced["sequence"])
    assert event.decoded("dtstart") == now.date()
    assert not [e for e in events if e["status"] == "TENTATIVE" and f"thứ {number}" in
                str(e["summary"])]
    feed = read_atom(db)
    (entry,) = [e for e in feed.entries if e.id == f"urn:uuid:{uid}"]
    assert entry.link == f"{BASE}/sessions/{held['id']}" and "Sắp diễn ra" not in entry.title
    assert "thanhhoa-tv" in entry.summary
    assert entry.title.startswith("Ban Chỉ đạo của Chính phủ về phát triển khoa học")
    assert len(feed.entries) == len(events)

    # another outlet prints a session with the wrong number, then corrects it
    wrong_number = number + 5
    wrong = session_report("hanoi-portal", BODY, wrong_number, now.date(), recently(now, 10))
    portals.publish("hanoi-portal", wrong)
    crawl.dxmon("crawl", "--source", "hanoi-portal")
    (printed,) = [s for s in sessions_of(db)
                  if s["number"] == wrong_number and s["body"] == BODY]
    first_entry = _entry(read_atom(db), printed)
    first_event = event_for(read_ics(db), f"/sessions/{printed['id']}")
    assert f"thứ {wrong_number}" in first_entry.title

    portals.edit("hanoi-portal", wrong.slug,
                 title=wrong.title.replace(f"thứ {wrong_number}", f"thứ {wrong_number + 1}"),
                 sapo=wrong.sapo.replace(f"thứ {wrong_number}", f"thứ {wrong_number + 1}"))
    portals.touch_furniture("hanoi-portal")
    crawl.dxmon("crawl", "--source", "hanoi-portal")
    (corrected,) = [s for s in sessions_of(db) if s["id"] == printed["id"]]
    assert corrected["number"] == wrong_number + 1  # corrected, not a new session
    entry = _entry(read_atom(db), corrected)
    assert entry.id == first_entry.id
    assert f"thứ {wrong_number + 1}" in entry.title
    assert _when(entry.updated) > _when(first_entry.updated)
    event = event_for(read_ics(db), f"/sessions/{printed['id']}")
    assert str(event["uid"]) == str(first_event["uid"])
    assert int(event["sequence"]) > int(first_event["sequence"])
    assert event.decoded("dtstamp") > first_event.decoded("dtstamp")
    # the session of the preview is untouched by it
    untouched = event_for(read_ics(db), f"/sessions/{held['id']}")
    assert str(untouched["uid"]) == uid and int(untouched["sequence"]) == int(event_sequence(
        events, held))
    db.close()


def event_sequence(events, session) -> int:
    return int(event_for(events, f"/sessions/{session['id']}")["sequence"])


def _entry(feed, session):
    (entry,) = [e for e in feed.entries if e.link == f"{BASE}/sessions/{session['id']}"]
    return entry


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- hostile and random text ------------------------------------------------------------

CONFIG = """
[storage]
path = "dxmon.db"
[[sources]]
name = "a"
start_urls = ["http://127.0.0.1:1/"]
"""
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=VN_TZ)


class Script:
    """A detector returning, for an article's title line, the mentions the test chose."""

    def __init__(self):
        self.by_title: dict[str, list[Mention]] = {}

    def __call__(self, text, published):
        return self.by_title.get(text.split("\n", 1)[0], [])


def archive_with(tmp_path, evidence: str, title: str, *, role: str = "report", n: int = 1):
    """An archive whose one article reports (or previews) a session by ``evidence``, stored
    and grouped by the real storage and processing code (the detector is scripted)."""
    path = tmp_path / "dxmon.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = parse_config(CONFIG, path=path)
    db = open_db(tmp_path / f"feeds-{n}.db")
    script = Script()
    key = f"k{n}"
    article = Extracted(url=f"http://a/{n}", canonical_url=f"http://a/{n}", title=key,
                        text=f"{title}\n{evidence}", published_at=NOW)
    store_article(db, "a", article, now=NOW)
    script.by_title[key] = [Mention(body="ubqg-cds", role=role, evidence=evidence, number=n,
                                    date=date(2026, 11, 21 + (role == "preview")))]
    process_articles(db, config, now=NOW, detector=script)
    return db


HOSTILE = [
    "<script>alert('x')</script> phiên họp thứ 1 & <b>bold</b> ]]> &amp; \x00\x01\x0b\x1b\x7f",
    "Phiên họp thứ nhất\r\n\u2028\u0085\ufeff \"quoted\" 'single' ; , \\ : BEGIN:VEVENT",
    "END:VCALENDAR\nBEGIN:VEVENT\nUID:evil\nEND:VEVENT ＜script＞ \u202e reversed",
]


@pytest.mark.parametrize("role", ["report", "preview"])
@pytest.mark.parametrize("evidence", HOSTILE)
def test_hostile_evidence_yields_valid_feeds_that_carry_it_as_text(tmp_path, evidence, role):
    db = archive_with(tmp_path, evidence, "<script>document.cookie</script>", role=role)
    names = {"ubqg-cds": "<script>x()</script> Ủy ban & \x01"}
    feed = feedparser.parse(atom_feed(db, BASE, "en", bodies=names))
    assert not feed.bozo, feed.get("bozo_exception")
    (entry,) = feed.entries
    kept = _UNWRITABLE.sub("", evidence).strip()
    assert "<script>" not in atom_feed(db, BASE, "en", bodies=names).decode()  # escaped
    who = "Reported by: a" if role == "report" else "Announced by: a"
    assert entry.summary == f"{kept}\n\n{who}"  # the text, exactly, as text
    assert entry.title.removeprefix("Upcoming — ").startswith(
        "<script>x()</script> Ủy ban & : session 1")
    (event,) = icalendar.Calendar.from_ical(ics_feed(db, BASE, lang="en", bodies=names)
                                            ).walk("VEVENT")
    assert str(event["summary"]) == entry.title
    # iCalendar has one line break: CR LF and CR arrive as LF
    assert str(event["description"]).startswith(f"{lf(kept)}\n\n{who}")
    assert str(event["status"]) == ("CONFIRMED" if role == "report" else "TENTATIVE")
    # the injected "UID:evil" stayed text inside the description
    assert str(event["uid"]) == entry.id.removeprefix("urn:uuid:")
    db.close()


def lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Vietnamese letters with their diacritics, markup, quotes, separators iCalendar and
# XML care about, and the control characters a hostile page may carry
VIETNAMESE = ("aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợ"
              "ùúủũụừứửữựỳýỷỹỵĐĂÂÊÔƠƯ")
ALPHABET = st.sampled_from(VIETNAMESE + VIETNAMESE.upper() + " \r\n\t.,;:\\\"'<>&/!?()[]-–—…"
                           + string.digits + "\x00\x01\x08\x0b\x0c\x1f\x7f\x85\u2028\ufeff")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evidence=st.text(ALPHABET, min_size=1, max_size=300),
       title=st.text(ALPHABET, max_size=80), role=st.sampled_from(["report", "preview"]))
def test_any_vietnamese_text_in_evidence_gives_feeds_that_parse(tmp_path, evidence, title, role):
    n = test_any_vietnamese_text_in_evidence_gives_feeds_that_parse.counter = getattr(
        test_any_vietnamese_text_in_evidence_gives_feeds_that_parse, "counter", 0) + 1
    db = archive_with(tmp_path, evidence, title, role=role, n=n)
    feed = read_atom(db)
    assert len(feed.entries) == 1
    (event,) = read_ics(db)
    assert str(event["uid"]) and str(event["status"]) in ("CONFIRMED", "TENTATIVE")
    # the text survives as text: what the parsers give back is what was stored, less the
    # characters neither format can carry
    kept = _UNWRITABLE.sub("", evidence).strip()
    who = "Đưa tin: a" if role == "report" else "Báo trước: a"
    summary = f"{kept}\n\n{who}" if kept else who
    assert feed.entries[0].summary == summary
    # icalendar reads a literal backslash-N in the text it is given as the line-break
    # escape (its escape_char), so that one sequence arrives as a line break
    assert str(event["description"]) == (f"{lf(summary.replace(chr(92) + 'N', chr(10)))}"
                                         f"\n\n{feed.entries[0].link}")
    db.close()


# --- the rendered-feed cache, and the benchmark's archive ------------------------------


def test_a_cached_feed_is_rendered_again_once_the_archive_changes(tmp_path):
    from storage.schema import transaction
    from storage.sessions import update_session

    db = archive_with(tmp_path, "Sáng 21/11, phiên họp thứ 1.", "t")
    reader = open_db(tmp_path / "feeds-1.db", readonly=True)
    before = atom_feed(reader, BASE, "vi")
    assert atom_feed(reader, BASE, "vi") is before  # the same archive: the same bytes
    ics_before = read_ics(reader)
    with transaction(db):  # a correction, written by another connection
        update_session(db, 1, {"number": 2, "key": "ubqg-cds:n:2"})
    after = feedparser.parse(atom_feed(reader, BASE, "vi"))
    assert "phiên họp thứ 2" in after.entries[0].title
    (event,) = read_ics(reader)
    assert int(event["sequence"]) == int(ics_before[0]["sequence"]) + 1
    assert str(event["uid"]) == str(ics_before[0]["uid"])
    reader.close()
    db.close()


def test_the_benchmark_archive_is_consistent_and_its_feeds_parse(tmp_path):
    from storage.articles import content_hash, search_articles, search_forms
    from testsupport.archive import build_archive

    facts = build_archive(tmp_path / "archive.db", articles=3000, sessions=20, seed=3)
    assert facts.articles == 3000 and facts.sessions >= 15 and facts.upcoming == 3
    db = open_db(tmp_path / "archive.db", readonly=True)
    rows = list(db.query("SELECT a.id, a.title, a.text, a.content_hash FROM articles a "
                         "JOIN articles_search s ON s.rowid = a.id"))
    assert len(rows) == 3000
    # what the builder computed word by word is what storage computes for the text:
    # the (contentless) index counts, per column, the words of search_forms of each row
    assert all(content_hash(r["text"]) == r["content_hash"] for r in rows)
    expected = Counter()
    for r in rows:
        for col, value in zip(("title", "text"), search_forms(r["title"], r["text"]), strict=True):
            words = Counter(w.lower() for w in re.findall(r"[^\W_]+", value))
            for word, n in words.items():
                expected[(word, col, "doc")] += 1
                expected[(word, col, "cnt")] += n
    db.execute("CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, articles_search, 'col')")
    indexed = Counter()
    for term, col, doc, cnt in db.execute("SELECT term, col, doc, cnt FROM temp.terms"):
        indexed[(term, col, "doc")], indexed[(term, col, "cnt")] = doc, cnt
    assert indexed == expected
    assert search_articles(db, "phien hop thu")  # found without diacritics
    feed, events = read_atom(db), read_ics(db)
    assert len(feed.entries) == len(events) == facts.sessions + facts.upcoming
    assert sum(str(e["status"]) == "TENTATIVE" for e in events) == facts.upcoming
    db.close()
