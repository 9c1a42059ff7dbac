"""The outbox and its channels against a real SMTP server and a real webhook receiver.

The dispatcher's clock is injected, so retry schedules are checked without sleeping;
the end-to-end tests (test_alerting_e2e.py) run the same code in `dxmon serve`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.config import parse_config
from core.errors import ConfigError
from core.models import VN_TZ, Extracted
from notifier.outbox import Dispatcher, enqueue_alerts, outbox_summary, send_test
from notifier.registry import RetryPolicy, build_channels, validate_channels
from notifier.webhook import WebhookNotifier, verify
from storage.articles import store_article
from storage.schema import open_db

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests"
EVIDENCE = ("Chiều 10/7, Thủ tướng Phạm Minh Chính chủ trì phiên họp thứ 9 của "
            "Ủy ban Quốc gia về chuyển đổi số.")


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds: float):
        self.now += timedelta(seconds=seconds)


def make_config(tmp_path, channels: str):
    text = f'[storage]\npath = "dxmon.db"\n{channels}'
    path = tmp_path / "dxmon.toml"
    path.write_text(text, encoding="utf-8")
    return parse_config(text, path=path)


def webhook_config(tmp_path, url, extra=""):
    return make_config(tmp_path, f'[[notify]]\nkind = "webhook"\nurl = "{url}"\n'
                                 f'secret_env = "DXMON_TEST_SECRET"\nretry_base = "10s"\n{extra}')


def email_config(tmp_path, port, extra=""):
    return make_config(tmp_path, f'[[notify]]\nkind = "email"\nhost = "127.0.0.1"\n'
                                 f'port = {port}\nsecurity = "none"\nsender = "dxmon@localhost"\n'
                                 f'to = ["team@localhost", "chair@localhost"]\n'
                                 f'retry_base = "10s"\n{extra}')


def a_session(db, config, title="Phiên họp thứ 9 của Ủy ban Quốc gia về chuyển đổi số"):
    """A session with two reporting articles and one outbox row per channel."""
    now = datetime(2024, 7, 10, 18, 0, tzinfo=VN_TZ)
    ids = []
    for source in ("chinhphu-news", "thanhhoa-tv"):
        extracted = Extracted(url=f"http://127.0.0.1/{source}/phien-hop-9",
                              canonical_url=f"http://127.0.0.1/{source}/phien-hop-9",
                              title=f"{source}: {title}", text=f"{EVIDENCE}\n{source}",
                              published_at=now)
        ids.append(store_article(db, source, extracted, now=now).article_id)
    session_id = db["sessions"].insert({"key": "ubqg-cds:n:9", "body": "ubqg-cds", "number": 9,
                                        "date": "2024-07-10", "title": title,
                                        "first_seen": now.isoformat(), "alertable": 1}).last_pk
    for article_id in ids:
        db["session_articles"].insert({"session_id": session_id, "article_id": article_id,
                                       "role": "report", "evidence": EVIDENCE,
                                       "attached_at": now.isoformat()})
    enqueue_alerts(db, session_id, config.notify, now=T0)
    return session_id


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("DXMON_TEST_SECRET", SECRET)


def dispatcher(db, config, clock):
    return Dispatcher(db, build_channels(config), clock=clock, watch=config.watch)


def test_webhook_payload_is_signed_and_names_session_articles_and_evidence(
        tmp_path, webhook_receiver, secret):
    config = webhook_config(tmp_path, webhook_receiver.url)
    db = open_db(config.storage_path)
    a_session(db, config)
    report = dispatcher(db, config, Clock()).run_due()
    assert len(report.sent) == 1
    (hit,) = webhook_receiver.hits
    assert verify(SECRET, hit.body, hit.headers["x-dxmon-signature"])
    assert not verify("another secret", hit.body, hit.headers["x-dxmon-signature"])
    payload = hit.json
    assert hit.headers["x-dxmon-event"] == payload["event"] == "session.new"
    assert hit.headers["x-dxmon-delivery"] == payload["delivery_id"]
    assert payload["session"]["number"] == 9 and payload["session"]["date"] == "2024-07-10"
    assert payload["session"]["body_name"] == "Ủy ban Quốc gia về chuyển đổi số"
    assert payload["evidence"] == EVIDENCE
    assert [a["outlet"] for a in payload["articles"]] == ["chinhphu-news", "thanhhoa-tv"]
    assert all(a["url"].startswith("http://127.0.0.1/") and a["published"]
               for a in payload["articles"])
    # delivered rows are never sent again
    assert dispatcher(db, config, Clock(T0 + timedelta(days=1))).run_due().sent == []
    assert len(webhook_receiver.hits) == 1


def test_webhook_500_500_429_then_200_is_delivered_once_after_retry_after(
        tmp_path, webhook_receiver, secret):
    webhook_receiver.script = [(500, {}), (500, {}), (429, {"Retry-After": "120"})]
    config = webhook_config(tmp_path, webhook_receiver.url)
    db = open_db(config.storage_path)
    a_session(db, config)
    clock = Clock()
    d = dispatcher(db, config, clock)
    waits = []
    for _ in range(10):
        d.run_due()
        if webhook_receiver.delivered:
            break
        (row,) = db.query("SELECT * FROM alerts")
        due = datetime.fromisoformat(row["next_attempt_at"])
        assert d.run_due().sent == []  # nothing is due before its time
        waits.append((due - clock.now).total_seconds())
        clock.now = due
    assert [h.status for h in webhook_receiver.hits] == [500, 500, 429, 200]
    # backoff grows (10s base, doubled, ±25% jitter) and the 429's Retry-After is honoured
    assert 7.5 <= waits[0] <= 12.5 and 15 <= waits[1] <= 25 and waits[2] >= 120
    ids = {h.headers["x-dxmon-delivery"] for h in webhook_receiver.hits}
    assert len(ids) == 1  # the same delivery id on every attempt
    (row,) = db.query("SELECT * FROM alerts")
    assert row["status"] == "sent" and row["attempts"] == 4


def test_webhook_410_gives_up_at_once_and_stays_visible(tmp_path, webhook_receiver, secret):
    webhook_receiver.script = [(410, {})]
    config = webhook_config(tmp_path, webhook_receiver.url)
    db = open_db(config.storage_path)
    a_session(db, config)
    report = dispatcher(db, config, Clock()).run_due()
    assert report.failed and not report.sent
    summary = outbox_summary(db)
    assert summary["counts"]["failed"] == 1
    assert "HTTP 410" in summary["failed"][0]["last_error"]
    assert dispatcher(db, config, Clock(T0 + timedelta(days=2))).run_due().failed == []
    assert len(webhook_receiver.hits) == 1


def test_transient_failures_give_up_after_max_attempts(tmp_path, webhook_receiver, secret):
    webhook_receiver.script = [(503, {})] * 5
    config = webhook_config(tmp_path, webhook_receiver.url, "max_attempts = 3\n")
    db = open_db(config.storage_path)
    a_session(db, config)
    clock = Clock()
    d = dispatcher(db, config, clock)
    for _ in range(5):
        d.run_due()
        clock.advance(3600)
    assert len(webhook_receiver.hits) == 3
    (row,) = db.query("SELECT * FROM alerts")
    assert row["status"] == "failed" and "gave up after 3 attempts" in row["last_error"]


def test_a_dispatcher_that_dies_mid_send_is_resent_with_the_same_delivery_id(
        tmp_path, webhook_receiver, secret):
    config = webhook_config(tmp_path, webhook_receiver.url)
    db = open_db(config.storage_path)
    a_session(db, config)
    clock = Clock()
    crashed = dispatcher(db, config, clock)
    (row,) = crashed.claim()  # claimed, then the process "dies" before sending
    assert dispatcher(db, config, clock).run_due().sent == []  # the lease holds
    clock.advance(2 * 10 + 4)  # the webhook's timeout is 10 s: a live send could still finish
    assert dispatcher(db, config, clock).run_due().sent == []
    clock.advance(2)
    assert len(dispatcher(db, config, clock).run_due().sent) == 1
    (hit,) = webhook_receiver.hits
    assert hit.headers["x-dxmon-delivery"] == row["idempotency_key"]


def test_email_subject_parts_and_links(tmp_path, smtp_server):
    config = email_config(tmp_path, smtp_server.port)
    db = open_db(config.storage_path)
    a_session(db, config)
    assert len(dispatcher(db, config, Clock()).run_due().sent) == 1
    (msg,) = smtp_server.wait_for(1)
    assert msg["Subject"] == "Phiên họp thứ 9 — Ủy ban Quốc gia về chuyển đổi số — 10/7/2024"
    assert sorted(smtp_server.envelopes[0].rcpt_tos) == ["chair@localhost", "team@localhost"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert "phiên họp thứ 9" in part
        assert "http://127.0.0.1/chinhphu-news/phien-hop-9" in part
        assert "http://127.0.0.1/thanhhoa-tv/phien-hop-9" in part
    assert msg["Message-ID"].startswith("<dxmon-session-")


def test_a_title_with_line_breaks_cannot_inject_headers(tmp_path, smtp_server):
    config = email_config(tmp_path, smtp_server.port)
    db = open_db(config.storage_path)
    session_id = a_session(db, config)
    db.execute("UPDATE sessions SET body = ? WHERE id = ?",
               ["evil\r\nBcc: victim@example.org\r\nX-Injected: yes", session_id])
    dispatcher(db, config, Clock()).run_due()
    (msg,) = smtp_server.wait_for(1)
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert "victim@example.org" not in smtp_server.envelopes[0].rcpt_tos


def test_smtp_down_for_three_attempts_then_delivered(tmp_path, smtp_server):
    config = email_config(tmp_path, smtp_server.port)
    db = open_db(config.storage_path)
    a_session(db, config)
    smtp_server.stop()  # connection refused
    clock = Clock()
    d = dispatcher(db, config, clock)
    for _ in range(2):
        assert d.run_due().retrying
        clock.advance(3600)
    smtp_server.start()
    smtp_server.failures = ["421 4.3.2 service shutting down"]  # third attempt: a 4xx
    assert d.run_due().retrying
    clock.advance(3600)
    assert len(d.run_due().sent) == 1
    assert len(smtp_server.wait_for(1)) == 1
    (row,) = db.query("SELECT * FROM alerts")
    assert row["attempts"] == 4 and row["status"] == "sent"


def test_smtp_5xx_is_permanent(tmp_path, smtp_server):
    config = email_config(tmp_path, smtp_server.port)
    db = open_db(config.storage_path)
    a_session(db, config)
    smtp_server.failures = ["554 5.7.1 rejected"]
    assert dispatcher(db, config, Clock()).run_due().failed
    assert "554" in outbox_summary(db)["failed"][0]["last_error"]


def test_enqueue_is_idempotent(tmp_path, secret):
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook")
    db = open_db(config.storage_path)
    session_id = a_session(db, config)
    assert enqueue_alerts(db, session_id, config.notify, now=T0) == []
    assert db["alerts"].count == 1


def test_channel_config_errors_name_the_key_and_line(tmp_path, monkeypatch):
    monkeypatch.delenv("DXMON_TEST_SECRET", raising=False)
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook")
    with pytest.raises(ConfigError, match=r"line \d+, key 'notify\[0\]\.secret_env'.*"
                                          "DXMON_TEST_SECRET is not set"):
        validate_channels(config)
    # a kind or an option the schema refuses fails when the file is loaded
    with pytest.raises(ConfigError, match=r"line 5, key 'notify\[0\]\.kind'.*pigeon"):
        make_config(tmp_path, '\n[[notify]]\nkind = "pigeon"\n')
    with pytest.raises(ConfigError, match="security.*ssl, starttls, none"):
        make_config(tmp_path, '[[notify]]\nkind = "email"\nhost = "h"\n'
                              'sender = "a@b"\nto = ["x@y"]\nsecurity = "tls"\n')


def test_send_test_reports_each_channel(tmp_path, smtp_server, webhook_receiver, secret):
    config = make_config(
        tmp_path, f'[[notify]]\nkind = "webhook"\nurl = "{webhook_receiver.url}"\n'
                  f'secret_env = "DXMON_TEST_SECRET"\n'
                  f'[[notify]]\nkind = "email"\nhost = "127.0.0.1"\nport = {smtp_server.port}\n'
                  f'security = "none"\nsender = "d@localhost"\nto = ["t@localhost"]\n'
                  f'[[notify]]\nname = "dead"\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\n')
    results = {name: ok for name, ok, _ in send_test(build_channels(config))}
    assert results == {"webhook": True, "email": True, "dead": False}
    assert webhook_receiver.hits[0].headers["x-dxmon-event"] == "dxmon.test"
    assert smtp_server.wait_for(1)[0]["Subject"].startswith("[thử nghiệm]")


def test_the_webhook_channel_takes_an_injected_transport(tmp_path, secret):
    """The seam: an httpx transport in, the same outcomes out (no socket is opened)."""
    requests: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if len(requests) == 1:
            return httpx.Response(503, headers={"Retry-After": "90"}, text="busy")
        return httpx.Response(204)

    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook")
    channel = WebhookNotifier(config.notify[0], policy=RetryPolicy(base=timedelta(seconds=10)),
                              transport=httpx.MockTransport(receiver))
    db = open_db(config.storage_path)
    a_session(db, config)
    clock = Clock()
    d = Dispatcher(db, {"webhook": channel}, clock=clock, watch=config.watch)
    assert d.run_due().retrying
    (row,) = db.query("SELECT * FROM alerts")
    assert row["last_error"] == "HTTP 503: busy"
    assert datetime.fromisoformat(row["next_attempt_at"]) >= clock.now + timedelta(seconds=90)
    clock.advance(3600)
    assert len(d.run_due().sent) == 1
    first, second = requests
    assert str(first.url) == "http://127.0.0.1:9/hook"
    assert verify(SECRET, second.content, second.headers["x-dxmon-signature"])
    assert first.headers["x-dxmon-delivery"] == second.headers["x-dxmon-delivery"]
