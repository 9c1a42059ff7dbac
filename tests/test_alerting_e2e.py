"""The whole path, end to end: portals → `dxmon crawl` → SQLite → SMTP and webhook.

Real parts only: the test portals on 127.0.0.1, `dxmon crawl` (which runs `scrapy
crawl news` as a child process), the SQLite file, an aiosmtpd server and an HTTP
receiver. Time is real: the new session is held today.
"""

from __future__ import annotations

from datetime import datetime

from core.models import VN_TZ
from notifier.webhook import verify
from testsupport.content import next_session_number, recently, session_report

SECRET = "e2e-signing-key"
BODY = "bcd-khcn-cds-da06"


def channels(smtp_server, webhook_receiver) -> str:
    return f"""
[[notify]]
kind = "webhook"
url = "{webhook_receiver.url}"
secret_env = "DXMON_E2E_SECRET"
retry_base = "1s"

[[notify]]
kind = "email"
host = "127.0.0.1"
port = {smtp_server.port}
security = "none"
sender = "dxmon@localhost"
to = ["team@localhost"]
retry_base = "1s"
"""


def test_baseline_then_one_alert_per_channel_then_other_outlets_attach(
        crawl, portals, smtp_server, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_E2E_SECRET", SECRET)
    crawl.write_config(extra=channels(smtp_server, webhook_receiver))
    crawl.dxmon("crawl")
    # the sites hold the whole history: sessions are archived, nothing alerts
    sessions = crawl.query("SELECT * FROM sessions")
    assert {(s["body"], s["number"]) for s in sessions} >= {("ubqg-cds", 2), ("ubqg-cds", 8),
                                                           (BODY, 1), (BODY, 2)}
    assert crawl.query("SELECT * FROM alerts") == []
    assert smtp_server.messages == [] and webhook_receiver.hits == []

    now = datetime.now(VN_TZ)
    number = next_session_number(portals.all_articles(), BODY)
    published = recently(now, 3)
    first = session_report("thanhhoa-tv", BODY, number, published.date(), published)
    portals.publish("thanhhoa-tv", first)
    crawl.dxmon("crawl", "--source", "thanhhoa-tv")

    (hit,) = webhook_receiver.wait_for(1)
    (mail,) = smtp_server.wait_for(1)
    payload = hit.json
    assert verify(SECRET, hit.body, hit.headers["x-dxmon-signature"])
    assert payload["event"] == "session.new"
    assert payload["session"]["number"] == number
    assert payload["session"]["date"] == published.date().isoformat()
    assert f"phiên họp thứ {number}" in payload["evidence"]
    assert payload["articles"][0]["url"] == portals.url("thanhhoa-tv", first.slug)
    day = published.date()
    assert mail["Subject"] == (f"Phiên họp thứ {number} năm {day.year} — Ban Chỉ đạo của Chính "
                               f"phủ về phát triển khoa học, công nghệ, đổi mới sáng tạo, chuyển "
                               f"đổi số và Đề án 06 — {day.day}/{day.month}/{day.year}")

    # three more outlets report it, in their own words: they attach, nobody is told again
    for variant, site in enumerate(["chinhphu-news", "hanoi-portal", "mst-portal"], start=1):
        portals.publish(site, session_report(site, BODY, number, day, recently(now, 1),
                                             variant=variant))
    crawl.dxmon("crawl")
    assert len(webhook_receiver.delivered) == 1 and len(smtp_server.messages) == 1
    (session,) = [s for s in crawl.query("SELECT * FROM sessions WHERE number = ? AND body = ?",
                                         [number, BODY])]
    attached = crawl.query("SELECT a.source FROM session_articles sa JOIN articles a "
                           "ON a.id = sa.article_id WHERE sa.session_id = ? AND sa.role = 'report'",
                           [session["id"]])
    assert sorted(a["source"] for a in attached) == ["chinhphu-news", "hanoi-portal",
                                                    "mst-portal", "thanhhoa-tv"]
    status = crawl.dxmon("status", "--json")
    assert '"sent": 2' in status.stdout


def test_old_sessions_found_later_and_previews_never_alert(
        crawl, portals, smtp_server, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_E2E_SECRET", SECRET)
    crawl.write_config(extra=channels(smtp_server, webhook_receiver))
    crawl.dxmon("crawl")
    now = datetime.now(VN_TZ)
    # a deeper crawl finds a report of a 2023 session that the archive did not hold
    old_day = datetime(2023, 7, 20, 18, 0, tzinfo=VN_TZ)
    portals.publish("hanoi-portal", session_report("hanoi-portal", "ubqg-cds", 6, old_day.date(),
                                                   old_day))
    # and a preview of a session announced for tomorrow
    preview = session_report("chinhphu-news", BODY, 9, now.date(), recently(now, 2)).edited(
        slug="lich-cong-tac-tuan-toi-9", title="Lịch công tác của Thủ tướng tuần tới",
        sapo="Ngày mai, Thủ tướng Chính phủ sẽ chủ trì phiên họp thứ 9 của Ban Chỉ đạo của Chính "
             "phủ về phát triển khoa học, công nghệ, đổi mới sáng tạo, chuyển đổi số và Đề án 06.",
        labels=())
    portals.publish("chinhphu-news", preview)
    crawl.dxmon("crawl")
    found = crawl.query("SELECT number FROM sessions WHERE body = 'ubqg-cds' AND number = 6")
    assert found, "the old session is archived"
    assert crawl.query("SELECT * FROM alerts") == []
    assert webhook_receiver.hits == [] and smtp_server.messages == []
    assert crawl.query("SELECT id FROM articles WHERE url LIKE '%lich-cong-tac-tuan-toi-9%'")
    # a preview never creates a session (it attaches to one once the meeting is reported)
    assert crawl.query("SELECT * FROM sessions WHERE body = ? AND number = 9", [BODY]) == []


def test_an_edit_that_changes_the_number_sends_one_correction_not_a_new_alert(
        crawl, portals, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_E2E_SECRET", SECRET)
    crawl.write_config(extra=f'[[notify]]\nkind = "webhook"\nurl = "{webhook_receiver.url}"\n'
                             f'secret_env = "DXMON_E2E_SECRET"\nretry_base = "1s"\n')
    crawl.dxmon("crawl")
    now = datetime.now(VN_TZ)
    number = next_session_number(portals.all_articles(), BODY)
    published = recently(now, 3)
    # the outlet first prints the wrong number ...
    wrong = session_report("hanoi-portal", BODY, number + 1, published.date(), published)
    portals.publish("hanoi-portal", wrong)
    crawl.dxmon("crawl", "--source", "hanoi-portal")
    (first,) = webhook_receiver.wait_for(1)
    assert first.json["event"] == "session.new" and first.json["session"]["number"] == number + 1

    # ... then corrects it; the page furniture also changes, which alone is no edit
    portals.edit("hanoi-portal", wrong.slug,
                 title=wrong.title.replace(f"thứ {number + 1}", f"thứ {number}"),
                 sapo=wrong.sapo.replace(f"thứ {number + 1}", f"thứ {number}"))
    portals.touch_furniture("hanoi-portal")
    crawl.dxmon("crawl", "--source", "hanoi-portal")
    hits = webhook_receiver.wait_for(2)
    assert [h.headers["x-dxmon-event"] for h in hits] == ["session.new", "session.corrected"]
    correction = hits[1].json
    assert correction["session"]["number"] == number
    assert verify(SECRET, hits[1].body, hits[1].headers["x-dxmon-signature"])
    assert hits[0].headers["x-dxmon-delivery"] != hits[1].headers["x-dxmon-delivery"]
    (session,) = crawl.query("SELECT * FROM sessions WHERE body = ? AND date = ?",
                             [BODY, published.date().isoformat()])
    assert session["number"] == number
    versions = crawl.query("SELECT v.* FROM article_versions v JOIN articles a ON "
                           "a.id = v.article_id WHERE a.url LIKE ?", [f"%{wrong.slug}%"])
    assert len(versions) == 2  # as first printed, and as corrected
    history = crawl.dxmon("history", portals.url("hanoi-portal", wrong.slug)).stdout
    assert "+" in history and f"thứ {number}" in history

    # later crawls change nothing: no third message
    crawl.dxmon("crawl", "--source", "hanoi-portal")
    assert len(webhook_receiver.hits) == 2
    assert [a["kind"] for a in crawl.query("SELECT kind FROM alerts ORDER BY id")] == [
        "session", "correction"]
