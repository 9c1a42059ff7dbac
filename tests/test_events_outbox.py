"""The outbox carries any event (issue 15): enqueue_event, the per-channel ``events``
filter, the renderer registry, and the migration that generalised ``alerts``.

Real parts: a real SQLite file, a real webhook receiver and a real SMTP server on
127.0.0.1, the real dispatcher with an injected clock.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ConfigError
from notifier.message import Alert, Rendered, md_escape, register_renderer
from notifier.outbox import Dispatcher, enqueue_alerts, enqueue_event, outbox_summary
from notifier.registry import build_channels
from storage.schema import MIGRATIONS, open_db, transaction, utcnow_iso
from tests.test_notifier import EVIDENCE, Clock, a_session, make_config, webhook_config

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
HEALTH = {"source": "thanhhoa-tv", "symptom": "no new article for 3 days",
          "since": "2026-11-19T02:00:00+00:00", "last_good_crawl": "2026-11-19T01:30:00+00:00"}


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("DXMON_TEST_SECRET", "s3cret-for-tests")


def dispatcher(db, config, clock=None):
    return Dispatcher(db, build_channels(config), clock=clock or Clock(T0), watch=config.watch)


def two_channels(tmp_path, url, port, *, hook_events=None, mail_events=None):
    hook = f"events = {json.dumps(hook_events)}\n" if hook_events is not None else ""
    mail = f"events = {json.dumps(mail_events)}\n" if mail_events is not None else ""
    return make_config(tmp_path, (
        f'[[notify]]\nkind = "webhook"\nurl = "{url}"\nsecret_env = "DXMON_TEST_SECRET"\n'
        f'{hook}'
        f'[[notify]]\nkind = "email"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f'sender = "dxmon@localhost"\nto = ["ops@localhost"]\n{mail}'))


# --- enqueue_event ------------------------------------------------------------------------


def test_enqueue_event_is_idempotent_per_event_key_and_channel(tmp_path, secret):
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook", 'events = ["source.*"]')
    db = open_db(config.storage_path)
    assert enqueue_event(db, "source.unhealthy", "thanhhoa-tv-20261119", HEALTH,
                         config.notify, T0) == 1
    # the same event and key again: nothing new, whatever the payload says now
    assert enqueue_event(db, "source.unhealthy", "thanhhoa-tv-20261119",
                         {**HEALTH, "symptom": "other"}, config.notify, T0) == 0
    # another key, or another event with the same key: a row each
    assert enqueue_event(db, "source.unhealthy", "thanhhoa-tv-20261120", HEALTH,
                         config.notify, T0) == 1
    assert enqueue_event(db, "source.recovered", "thanhhoa-tv-20261119", HEALTH,
                         config.notify, T0) == 1
    keys = [r["idempotency_key"] for r in db.query(
        "SELECT idempotency_key FROM alerts ORDER BY id")]
    assert keys == ["dxmon-source.unhealthy-thanhhoa-tv-20261119-webhook",
                    "dxmon-source.unhealthy-thanhhoa-tv-20261120-webhook",
                    "dxmon-source.recovered-thanhhoa-tv-20261119-webhook"]
    row = next(db.query("SELECT * FROM alerts ORDER BY id LIMIT 1"))
    assert row["session_id"] is None and row["event"] == "source.unhealthy"
    assert json.loads(row["payload"]) == HEALTH  # the first payload, kept


def test_enqueue_event_refuses_an_unknown_event_and_joins_the_callers_transaction(
        tmp_path, secret):
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook", 'events = ["*"]')
    db = open_db(config.storage_path)
    with pytest.raises(ValueError, match="unknown event 'source.down'"):
        enqueue_event(db, "source.down", "k", {}, config.notify, T0)
    with pytest.raises(RuntimeError), transaction(db):
        assert enqueue_event(db, "digest", "2026-11-22", {"n": 1}, config.notify, T0) == 1
        raise RuntimeError("the caller's work failed")
    assert db["alerts"].count == 0  # rolled back with the caller's transaction
    assert enqueue_event(db, "digest", "2026-11-22", {"n": 1}, config.notify, T0) == 1


# --- the events filter --------------------------------------------------------------------


def test_events_filter_routes_each_event_to_the_channels_that_take_it(
        tmp_path, webhook_receiver, smtp_server, secret):
    """The webhook takes only source.*; email keeps the default (sessions and tests)."""
    config = two_channels(tmp_path, webhook_receiver.url, smtp_server.port,
                          hook_events=["source.*"])
    db = open_db(config.storage_path)
    a_session(db, config)  # a session alert: email only
    assert enqueue_event(db, "source.unhealthy", "thanhhoa-tv-1", HEALTH,
                         config.notify, T0) == 1  # webhook only
    assert enqueue_event(db, "topic.match", "t-1", {"topic": "ai"}, config.notify, T0) == 0
    report = dispatcher(db, config).run_due()
    assert len(report.sent) == 2
    (hit,) = webhook_receiver.hits
    assert hit.headers["x-dxmon-event"] == "source.unhealthy"
    (mail,) = smtp_server.wait_for(1)
    assert mail["X-Dxmon-Event"] == "session.new"
    assert [r["channel"] for r in db.query("SELECT channel FROM alerts ORDER BY id")] == \
        ["email", "webhook"]


def test_default_events_are_what_every_channel_got_before(tmp_path, webhook_receiver, secret):
    config = webhook_config(tmp_path, webhook_receiver.url)
    assert config.notify[0].events == ["session.new", "session.corrected", "dxmon.test"]
    db = open_db(config.storage_path)
    session_id = a_session(db, config)
    enqueue_alerts(db, session_id, config.notify, kind="correction",
                   detail={"before": {"number": 9}, "after": {"number": 10}}, now=T0)
    assert enqueue_event(db, "source.unhealthy", "x", HEALTH, config.notify, T0) == 0
    assert [r["event"] for r in db.query("SELECT event FROM alerts ORDER BY id")] == \
        ["session.new", "session.corrected"]


@pytest.mark.parametrize("events, accepted", [
    ('["source.*"]', ["source.unhealthy", "source.recovered"]),
    ('["*"]', ["session.new", "session.corrected", "topic.match", "digest",
               "source.unhealthy", "source.recovered", "dxmon.test"]),
    ('["digest", "topic.match"]', ["topic.match", "digest"]),
    ('[]', []),
])
def test_events_patterns(tmp_path, events, accepted):
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook", f"events = {events}")
    from core.schema import EVENT_NAMES
    assert [e for e in EVENT_NAMES if config.notify[0].accepts(e)] == accepted


@pytest.mark.parametrize("events, bad", [
    ('["sessions.new"]', "sessions.new"), ('["source.unhealty"]', "source.unhealty"),
    ('["session.new", "topic"]', "topic"), ('["sourc*.x"]', "sourc*.x"),
])
def test_an_unknown_event_name_is_refused_with_its_key_and_line(tmp_path, events, bad):
    with pytest.raises(ConfigError) as err:
        webhook_config(tmp_path, "http://127.0.0.1:9/hook", f"events = {events}")
    message = str(err.value)
    assert "notify[0].events" in message and "line 8" in message and repr(bad) in message


def test_events_of_the_wrong_type_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"notify\[0\]\.events.*must be an array"):
        webhook_config(tmp_path, "http://127.0.0.1:9/hook", 'events = "source.*"')


# --- rendering and delivery of a non-session event ---------------------------------------


@pytest.fixture
def health_renderer():
    """A "source." renderer for these tests only: the registry is the process's, and
    monitor/health.py registers its own there."""
    import monitor.renderers  # noqa: F401  the real ones first: alerts_json imports them
    from notifier import message
    saved = dict(message._RENDERERS)
    register_renderer("source.", _render_health)
    yield
    message._RENDERERS.clear()
    message._RENDERERS.update(saved)


def _render_health(alert: Alert) -> Rendered:
    d = alert.data
    subject = f"Nguồn {d['source']} có vấn đề: {d['symptom']}"
    return Rendered(subject, f"{subject}\nTừ {d['since']}",
                    f"**{md_escape(subject)}**\nTừ {md_escape(d['since'])}")


def test_a_non_session_event_reaches_webhook_and_email_with_its_payload(
        tmp_path, webhook_receiver, smtp_server, secret, health_renderer):
    config = two_channels(tmp_path, webhook_receiver.url, smtp_server.port,
                          hook_events=["source.*"], mail_events=["source.unhealthy"])
    db = open_db(config.storage_path)
    enqueue_event(db, "source.unhealthy", "thanhhoa-tv-1", HEALTH, config.notify, T0)
    report = dispatcher(db, config).run_due()
    assert len(report.sent) == 2
    (hit,) = webhook_receiver.hits
    body = hit.json
    assert body == {"event": "source.unhealthy",
                    "delivery_id": "dxmon-source.unhealthy-thanhhoa-tv-1-webhook",
                    "subject": "Nguồn thanhhoa-tv có vấn đề: no new article for 3 days",
                    "created_at": "2026-11-22T02:00:00.000000+00:00", "payload": HEALTH}
    assert hit.headers["x-dxmon-delivery"] == body["delivery_id"]
    (mail,) = smtp_server.wait_for(1)
    assert mail["Subject"] == "Nguồn thanhhoa-tv có vấn đề: no new article for 3 days"
    assert mail["Message-ID"] == "<dxmon-source.unhealthy-thanhhoa-tv-1-email@dxmon>"
    text = mail.get_body(("plain",)).get_content()
    assert "Từ 2026-11-19" in text and "dxmon-source.unhealthy-thanhhoa-tv-1-email" in text


def test_an_event_without_a_renderer_is_still_sent_listing_its_payload(
        tmp_path, smtp_server, secret):
    config = make_config(tmp_path, (
        f'[[notify]]\nkind = "email"\nhost = "127.0.0.1"\nport = {smtp_server.port}\n'
        'security = "none"\nsender = "dxmon@localhost"\nto = ["ops@localhost"]\n'
        'events = ["digest"]\n'))
    db = open_db(config.storage_path)
    enqueue_event(db, "digest", "daily-2026-11-22",
                  {"summary": "3 phiên họp, 2 bài", "period": "2026-11-22"}, config.notify, T0)
    assert len(dispatcher(db, config).run_due().sent) == 1
    (mail,) = smtp_server.wait_for(1)
    assert mail["Subject"] == "dxmon: digest — 3 phiên họp, 2 bài"
    assert "period: 2026-11-22" in mail.get_body(("plain",)).get_content()


def test_status_and_api_show_a_non_session_row_by_event_and_summary(tmp_path, secret,
                                                                   health_renderer):
    """A given-up source.unhealthy row: `dxmon status` names the event and says what it
    was about; nothing looks for a session it does not have."""
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook",
                            'events = ["source.*"]\nmax_attempts = 1\ntimeout = 1')
    db = open_db(config.storage_path)
    enqueue_event(db, "source.unhealthy", "thanhhoa-tv-1", HEALTH, config.notify, T0)
    report = dispatcher(db, config).run_due()  # nothing listens on port 9: given up
    assert len(report.failed) == 1
    (row,) = outbox_summary(db)["failed"]
    assert row["event"] == "source.unhealthy" and row["session_id"] is None
    assert row["summary"] == "Nguồn thanhhoa-tv có vấn đề: no new article for 3 days"
    assert "payload" not in row
    from monitor.views import alerts_json
    (listed,) = alerts_json(db)["alerts"]
    assert listed["summary"] == row["summary"] and listed["event"] == "source.unhealthy"


# --- the migration --------------------------------------------------------------------------

# The outbox as the code before issue 15 wrote it: the table of 0001_initial, rows
# inserted with the columns that code named (storage/outbox.py of that commit).
_OLD_INSERT = ("INSERT INTO alerts (session_id, channel, kind, idempotency_key, status, "
               "attempts, created_at, next_attempt_at, detail, last_error, sent_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _archive_before(path) -> list[tuple]:
    """An archive at the schema of the code before 0009 (its migrations, as shipped),
    holding sessions and outbox rows in every state; its alerts rows."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    import sqlite_utils
    db = sqlite_utils.Database(conn)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, step in MIGRATIONS:
        if name == "0009_events_outbox":
            break
        with transaction(db):
            step(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", [name, utcnow_iso()])
    for n in (1, 2):
        db["sessions"].insert({"key": f"ubqg-cds:n:{n}", "body": "ubqg-cds", "number": n,
                               "date": f"2024-0{n}-10", "first_seen": "2024-01-10T00:00:00",
                               "alertable": 1})
    rows = [(1, "webhook", "session", "dxmon-session-1-aaaa", "sent", 1,
             "2024-01-10T00:00:00.000000+00:00", "2024-01-10T00:00:00.000000+00:00", None,
             None, "2024-01-10T00:00:01.000000+00:00"),
            (1, "email", "session", "dxmon-session-1-bbbb", "failed", 12,
             "2024-01-10T00:00:00.000000+00:00", "2024-01-11T00:00:00.000000+00:00", None,
             "SMTP 550: no such user", None),
            (1, "webhook", "correction", "dxmon-correction-1-cccc", "pending", 2,
             "2024-01-12T00:00:00.000000+00:00", "2024-01-12T01:00:00.000000+00:00",
             json.dumps({"before": {"number": 1}, "after": {"number": 3}}), "HTTP 503", None),
            (2, "webhook", "session", "dxmon-session-2-dddd", "pending", 0,
             "2024-02-10T00:00:00.000000+00:00", "2024-02-10T00:00:00.000000+00:00", None,
             None, None)]
    with transaction(db):
        for row in rows:
            db.execute(_OLD_INSERT, list(row))
        db.execute("DELETE FROM alerts WHERE idempotency_key = 'dxmon-session-1-bbbb'")
        db.execute(_OLD_INSERT, list(rows[1]))  # a gap in the ids: ids must be kept as they are
    before = db.execute("SELECT * FROM alerts ORDER BY id").fetchall()
    conn.close()
    return before


def test_migration_keeps_every_row_its_id_delivery_id_and_state(tmp_path, webhook_receiver,
                                                                  secret):
    path = tmp_path / "dxmon.db"
    before = _archive_before(path)
    assert [r[0] for r in before] == [1, 3, 4, 5]
    db = open_db(path)  # migrates
    after = db.execute(
        "SELECT id, session_id, channel, kind, idempotency_key, status, attempts, last_error, "
        "created_at, next_attempt_at, lease_until, sent_at, detail FROM alerts ORDER BY id"
    ).fetchall()
    assert after == before
    events = [r[0] for r in db.execute("SELECT event FROM alerts ORDER BY id")]
    assert events == ["session.new", "session.corrected", "session.new", "session.new"]
    indexes = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts'")}
    assert {"idx_alerts_due", "idx_alerts_session"} <= indexes
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    # session_id is nullable now; a session's row still needs a session that exists
    with pytest.raises(sqlite3.IntegrityError), transaction(db):
        db.execute("UPDATE alerts SET session_id = 99 WHERE id = 1")
    # a new row continues after the old ids
    config = webhook_config(tmp_path, webhook_receiver.url, 'events = ["*"]')
    enqueue_event(db, "digest", "d1", {"n": 1}, config.notify, T0)
    assert db.execute("SELECT MAX(id) FROM alerts").fetchone()[0] == 6
    # the old pending rows go out with their old delivery ids (the webhook channel)
    clock = Clock(T0 + timedelta(seconds=1))
    dispatcher(db, config, clock).run_due()
    got = sorted(h.headers["x-dxmon-delivery"] for h in webhook_receiver.hits)
    assert got == ["dxmon-correction-1-cccc", "dxmon-digest-d1-webhook", "dxmon-session-2-dddd"]
    correction = next(h for h in webhook_receiver.hits
                      if h.headers["x-dxmon-event"] == "session.corrected").json
    assert correction["correction"]["after"]["number"] == 3
    # reopening does not migrate again
    db.close()
    assert open_db(path).execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 5


def test_session_alerts_keep_their_delivery_ids_and_payload_shape(tmp_path, webhook_receiver,
                                                                   secret):
    config = webhook_config(tmp_path, webhook_receiver.url)
    db = open_db(config.storage_path)
    session_id = a_session(db, config)
    dispatcher(db, config).run_due()
    (hit,) = webhook_receiver.hits
    payload = hit.json
    assert set(payload) == {"event", "delivery_id", "session", "articles", "evidence"}
    assert payload["delivery_id"].startswith(f"dxmon-session-{session_id}-")
    assert payload["evidence"] == EVIDENCE
    # the delivery id is what the code before computed: kind|session|channel, sha256
    import hashlib
    raw = f"session|{session_id}|webhook|"
    assert payload["delivery_id"] == (f"dxmon-session-{session_id}-"
                                      + hashlib.sha256(raw.encode()).hexdigest()[:16])
    assert datetime.fromisoformat(
        next(db.query("SELECT sent_at FROM alerts"))["sent_at"]) - T0 < timedelta(seconds=1)


def test_alerts_page_and_status_name_the_event_of_a_non_session_row(tmp_path, capsys, secret,
                                                                    health_renderer):
    """The Alerts page shows a source.unhealthy row by its event and one-line subject
    (no link to a session it does not have) beside a session's row."""
    import lxml.html

    from monitor.cli import main as dxmon
    from tests.test_web import Served

    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook",
                            'events = ["*"]\nmax_attempts = 1\ntimeout = 1')
    db = open_db(config.storage_path)
    a_session(db, config)
    enqueue_event(db, "source.unhealthy", "thanhhoa-tv-1", HEALTH, config.notify, T0)
    assert len(dispatcher(db, config).run_due().failed) == 2  # nothing listens on port 9
    db.close()
    assert dxmon(["--config", str(config.path), "status"]) == 0
    out = capsys.readouterr().out
    assert ("(webhook, source.unhealthy: Nguồn thanhhoa-tv có vấn đề: no new article for "
            "3 days) after 1 attempts") in out
    served = Served(config)
    try:
        page = lxml.html.fromstring(served.get("/alerts").text)
    finally:
        served.stop()
    rows = page.cssselect("table#outbox tr.alert")
    assert [r.get("data-state") for r in rows] == ["failed", "failed"]
    (cell,) = page.cssselect("td.event-summary")
    assert cell.get("data-event") == "source.unhealthy"
    assert cell.text_content() == "Nguồn thanhhoa-tv có vấn đề: no new article for 3 days"
    links = [a.get("href") for a in page.cssselect("table#outbox a")]
    assert links == ["/sessions/1"]  # the session's row links; the event's does not


def test_enqueue_event_takes_the_built_channels_as_well_as_their_configs(tmp_path, secret):
    config = two_channels(tmp_path, "http://127.0.0.1:9/hook", 2525, hook_events=["source.*"])
    db = open_db(config.storage_path)
    channels = build_channels(config).values()
    assert enqueue_event(db, "source.recovered", "s-1", HEALTH, channels, T0) == 1
    assert enqueue_event(db, "session.new", "s-1", {}, channels, T0) == 1  # email only
    assert [(r["channel"], r["event"]) for r in db.query(
        "SELECT channel, event FROM alerts ORDER BY id")] == [
        ("webhook", "source.recovered"), ("email", "session.new")]


def test_a_fresh_dxmon_status_names_a_health_row_by_its_own_message(tmp_path, secret):
    """`dxmon status` in a process of its own (where no test registered a renderer): a
    given-up source.unhealthy row is summed up by monitor/health's renderer, not shown as
    the bare event name."""
    import subprocess
    import sys
    from pathlib import Path

    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook",
                            'events = ["source.*"]\nmax_attempts = 1\ntimeout = 1')
    db = open_db(config.storage_path)
    enqueue_event(db, "source.unhealthy", "thanhhoa-tv-1",
                  {"source": "thanhhoa-tv", "symptoms": ["silent"], "since": T0.isoformat()},
                  config.notify, T0)
    assert len(dispatcher(db, config).run_due().failed) == 1  # nothing listens on port 9
    db.close()
    dxmon = Path(sys.executable).with_name("dxmon")
    out = subprocess.run([str(dxmon), "status", "--json", "--config",
                          str(tmp_path / "dxmon.toml")], capture_output=True, text=True,
                         check=True).stdout
    (row,) = json.loads(out)["alerts"]["failed"]
    assert row["event"] == "source.unhealthy"
    assert row["summary"] == "Nguồn thanhhoa-tv gặp sự cố (source unhealthy)"
