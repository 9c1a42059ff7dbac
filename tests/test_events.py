"""Grouping reports into sessions, and when a session alerts (monitor/grouping.py,
monitor/process.py, monitor/alerting.py, monitor/corrections.py).

These tests feed chosen mentions straight into the grouping (the detector is a
parameter), so each rule is checked on its own; detection itself is scored on the
corpus in test_detection_corpus.py, and the whole path in the end-to-end tests.
"""

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from core.config import DEFAULT_WATCH, parse_config
from core.models import VN_TZ, Extracted, Mention
from monitor.grouping import group_reports, group_sessions, session_key
from monitor.process import process_articles
from storage.articles import store_article
from storage.crawl_state import finish_crawl_run, start_crawl_run
from storage.schema import open_db
from storage.sessions import list_sessions

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=VN_TZ)

CONFIG = """
[storage]
path = "dxmon.db"
[monitor]
fresh_days = 7
[[sources]]
name = "a"
start_urls = ["http://127.0.0.1:1/"]
[[sources]]
name = "b"
start_urls = ["http://127.0.0.1:2/"]
[[notify]]
kind = "webhook"
url = "http://127.0.0.1:3/hook"
"""


@pytest.fixture
def env(tmp_path):
    path = tmp_path / "dxmon.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = parse_config(CONFIG, path=path)
    db = open_db(config.storage_path)
    yield config, db
    db.close()


class Script:
    """A detector that returns, for each article title, the mentions the test chose."""

    def __init__(self):
        self.by_title: dict[str, list[Mention]] = {}

    def __call__(self, text, published):
        return self.by_title.get(text.split("\n", 1)[0], [])


def report(number=None, day=None, period=None, body="ubqg-cds", role="report"):
    return Mention(body=body, role=role, evidence=f"evidence {number} {day}", number=number,
                   period=period, date=day)


def store(db, source, slug, title, text="body", now=NOW):
    article = Extracted(url=f"http://{source}/{slug}", canonical_url=f"http://{source}/{slug}",
                        title=title, text=text or title, published_at=now)
    return store_article(db, source, article, now=now).article_id


def baseline(db, source, now=NOW):
    run = start_crawl_run(db, source, now=now - timedelta(minutes=2))
    finish_crawl_run(db, run, "ok", {}, now=now - timedelta(minutes=1))


def alerts(db):
    return list(db.query("SELECT * FROM alerts ORDER BY id"))


def test_history_found_by_the_first_crawl_never_alerts(env):
    config, db = env
    script = Script()
    script.by_title["p8"] = [report(8, NOW.date())]
    store(db, "a", "p8", "p8", now=NOW - timedelta(minutes=3))  # stored during the first crawl
    baseline(db, "a")
    result = process_articles(db, config, now=NOW, detector=script)
    assert len(result.new_sessions) == 1 and result.alerted_sessions == []
    assert alerts(db) == []


def test_a_new_session_after_the_baseline_alerts_once_per_channel(env):
    config, db = env
    baseline(db, "a")
    script = Script()
    script.by_title["p9"] = [report(9, NOW.date())]
    store(db, "a", "p9", "p9", text="one outlet")
    result = process_articles(db, config, now=NOW, detector=script)
    assert len(result.alerted_sessions) == 1
    rows = alerts(db)
    assert [(r["channel"], r["kind"], r["status"]) for r in rows] == [
        ("webhook", "session", "pending")]
    # three more outlets report it later: they attach silently
    baseline(db, "b")
    for i in range(3):
        script.by_title[f"p9-{i}"] = [report(9, NOW.date())]
        store(db, "b", f"p9-{i}", f"p9-{i}", text=f"another outlet {i}")
    process_articles(db, config, now=NOW, detector=script)
    assert len(alerts(db)) == 1
    (session,) = list_sessions(db)
    assert session["articles"] == 4 and session["outlets"] == 2


def test_processing_twice_changes_nothing(env):
    config, db = env
    baseline(db, "a")
    script = Script()
    script.by_title["x"] = [report(3, NOW.date())]
    store(db, "a", "x", "x")
    process_articles(db, config, now=NOW, detector=script)
    snapshot = [list(db.query(f"SELECT * FROM {t}")) for t in ("sessions", "session_articles",
                                                                "alerts", "mentions")]
    again = process_articles(db, config, now=NOW, detector=script)
    assert again.articles == 0
    assert [list(db.query(f"SELECT * FROM {t}")) for t in ("sessions", "session_articles",
                                                           "alerts", "mentions")] == snapshot


def test_unnumbered_and_numbered_reports_of_one_meeting_are_one_session(env):
    config, db = env
    script = Script()
    day = date(2023, 12, 28)
    script.by_title["review"] = [report(None, day)]
    script.by_title["seventh"] = [report(7, day)]
    script.by_title["seventh-nodate"] = [report(7, None)]
    store(db, "a", "review", "review", text="year-end review")
    process_articles(db, config, now=NOW, detector=script)
    store(db, "b", "seventh", "seventh", text="the seventh session")
    store(db, "b", "seventh-nodate", "seventh-nodate", text="the seventh, no date")
    process_articles(db, config, now=NOW, detector=script)
    (session,) = list_sessions(db)
    assert (session["number"], session["date"], session["articles"]) == (7, "2023-12-28", 3)


def test_a_numbered_report_without_date_merges_when_a_dated_one_links_them(env):
    config, db = env
    script = Script()
    day = date(2024, 4, 24)
    script.by_title["n"] = [report(8, None)]
    script.by_title["d"] = [report(None, day)]
    script.by_title["nd"] = [report(8, day)]
    for slug in ("n", "d", "nd"):
        store(db, "a", slug, slug, text=f"text {slug}")
        process_articles(db, config, now=NOW, detector=script)
    (session,) = list_sessions(db)
    assert (session["number"], session["date"], session["articles"]) == (8, "2024-04-24", 3)


def test_numbering_restarts_with_a_new_period(env):
    config, db = env
    script = Script()
    script.by_title["first-2025"] = [report(1, date(2025, 3, 18), body="bcd-khcn-cds-da06")]
    script.by_title["first-2026"] = [report(1, date(2026, 2, 25), period="2026",
                                            body="bcd-khcn-cds-da06")]
    store(db, "a", "f25", "first-2025", text="2025")
    store(db, "a", "f26", "first-2026", text="2026")
    process_articles(db, config, now=NOW, detector=script)
    keys = sorted(r[0] for r in db.execute("SELECT key FROM sessions"))
    assert keys == [session_key("bcd-khcn-cds-da06", 1, None, None),
                    session_key("bcd-khcn-cds-da06", 1, "2026", None)]


def test_previews_and_references_only_attach_to_known_sessions(env):
    config, db = env
    baseline(db, "a")
    script = Script()
    script.by_title["preview"] = [report(11, NOW.date() + timedelta(days=2), role="preview")]
    script.by_title["ref"] = [report(7, None, role="reference")]
    store(db, "a", "preview", "preview", text="will chair")
    store(db, "a", "ref", "ref", text="since the seventh")
    process_articles(db, config, now=NOW, detector=script)
    assert list_sessions(db) == [] and alerts(db) == []
    script.by_title["seventh"] = [report(7, date(2023, 12, 28))]
    store(db, "a", "seventh", "seventh", text="the seventh")
    process_articles(db, config, now=NOW, detector=script)
    assert alerts(db) == []  # 2023 is not fresh news
    store(db, "a", "ref2", "ref", text="since the seventh, again")
    process_articles(db, config, now=NOW, detector=script)
    roles = sorted(r[0] for r in db.execute("SELECT role FROM session_articles"))
    assert roles == ["reference", "report"]


def test_an_old_session_found_after_the_baseline_does_not_alert(env):
    config, db = env
    baseline(db, "a")
    script = Script()
    script.by_title["old"] = [report(10, NOW.date() - timedelta(days=8))]
    store(db, "a", "old", "old")
    result = process_articles(db, config, now=NOW, detector=script)
    assert result.new_sessions and not result.alerted_sessions and alerts(db) == []


def test_an_edit_that_changes_the_number_corrects_the_session(env):
    config, db = env
    baseline(db, "a")
    script = Script()
    script.by_title["s"] = [report(5, NOW.date())]
    store(db, "a", "s", "s", text="the fifth")
    process_articles(db, config, now=NOW, detector=script)
    script.by_title["s"] = [report(6, NOW.date())]
    store(db, "a", "s", "s", text="the sixth (corrected)")
    result = process_articles(db, config, now=NOW, detector=script)
    (session,) = list_sessions(db)
    assert session["number"] == 6 and result.corrected_sessions == [session["id"]]
    assert [(r["kind"]) for r in alerts(db)] == ["session", "correction"]


# --- meetings told without "phiên họp" (issue 11 §3) ----------------------------------------


def meeting(day, body="ubqg-cds"):
    return Mention(body=body, role="meeting", evidence=f"conference on {day}", date=day)


def test_a_meeting_joins_the_known_session_of_its_day_as_a_report_without_alerting(env):
    config, db = env
    baseline(db, "a")
    baseline(db, "b")
    script = Script()
    script.by_title["p10"] = [report(10, NOW.date())]
    script.by_title["conference"] = [meeting(NOW.date())]
    store(db, "a", "p10", "p10", text="the tenth session")
    process_articles(db, config, now=NOW, detector=script)
    store(db, "b", "conference", "conference", text="the national conference")
    result = process_articles(db, config, now=NOW, detector=script)
    assert result.new_sessions == [] and result.alerted_sessions == []
    assert len(alerts(db)) == 1
    (session,) = list_sessions(db)
    assert (session["number"], session["articles"], session["outlets"]) == (10, 2, 2)
    roles = [r[0] for r in db.execute("SELECT role FROM session_articles ORDER BY article_id")]
    assert roles == ["report", "report"]


def test_a_meeting_never_creates_a_session_by_itself(env):
    config, db = env
    baseline(db, "a")
    script = Script()
    script.by_title["conference"] = [meeting(NOW.date())]
    script.by_title["other-day"] = [meeting(NOW.date() - timedelta(days=1))]
    script.by_title["p10"] = [report(10, NOW.date())]
    store(db, "a", "conference", "conference", text="a conference, no session known")
    result = process_articles(db, config, now=NOW, detector=script)
    assert result.new_sessions == [] and list_sessions(db) == [] and alerts(db) == []
    # a session of another day does not take it either
    store(db, "a", "p10", "p10", text="the tenth")
    store(db, "a", "other-day", "other-day", text="the day before")
    process_articles(db, config, now=NOW, detector=script)
    (session,) = list_sessions(db)
    assert session["articles"] == 1


def test_grouping_a_meeting_joins_only_a_session_formed_before_it():
    day = date(2025, 2, 6)
    pairs = [("early", meeting(day)), ("p10", report(10, day)), ("late", meeting(day)),
             ("other body", meeting(day, body="bcd-khcn-cds-da06"))]
    membership, sessions = group_sessions(pairs)
    assert set(membership) == {"p10", "late"}
    assert membership["late"] == membership["p10"]
    assert group_reports(pairs) == membership
    (row,) = sessions.values()
    assert (row["number"], row["date"]) == (10, "2025-02-06")


def test_real_detection_a_conference_article_joins_the_session_of_its_day(env):
    config, db = env
    baseline(db, "a")
    baseline(db, "b")
    day = f"{NOW.day}/{NOW.month}"
    store(db, "a", "p3", "Thủ tướng chủ trì phiên họp thứ 3 của Ủy ban Quốc gia về chuyển đổi số",
          text=f"Sáng {day}, Thủ tướng chủ trì phiên họp thứ 3 của Ủy ban Quốc gia về chuyển "
               "đổi số.")
    store(db, "b", "conf", "Hội nghị trực tuyến toàn quốc về chuyển đổi số",
          text=f"Sáng {day}, Thủ tướng Phạm Minh Chính, Chủ tịch Ủy ban Quốc gia về chuyển đổi "
               "số, chủ trì Hội nghị trực tuyến toàn quốc về chuyển đổi số.")
    watch = (replace(DEFAULT_WATCH[0], active_until=None),)  # the Committee, still at work
    config = replace(config, watch=watch)
    process_articles(db, config, now=NOW)
    (session,) = list_sessions(db)
    assert (session["number"], session["articles"], session["outlets"]) == (3, 2, 2)
    assert len(alerts(db)) == 1
    (evidence,) = [r[0] for r in db.execute(
        "SELECT evidence FROM mentions m JOIN articles a ON a.id = m.article_id "
        "WHERE a.url LIKE '%conf' AND m.role = 'report'")]
    assert evidence.startswith(f"Sáng {day}, Thủ tướng Phạm Minh Chính")


def test_a_meeting_processed_before_the_report_of_the_same_pass_still_joins(env):
    config, db = env
    baseline(db, "a")
    script = Script()
    script.by_title["conference"] = [meeting(NOW.date())]
    script.by_title["p10"] = [report(10, NOW.date())]
    store(db, "a", "conference", "conference", text="the conference, stored first")
    store(db, "a", "p10", "p10", text="the tenth, stored second")
    result = process_articles(db, config, now=NOW, detector=script)
    (session,) = list_sessions(db)
    assert session["articles"] == 2 and len(result.alerted_sessions) == 1
