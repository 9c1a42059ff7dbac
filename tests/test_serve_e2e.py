"""`dxmon serve` as a real process: schedules, outages, a crash mid-delivery, a crawl beside it.

Real parts only: the test portals, `dxmon serve` (which runs `scrapy crawl news`
children on each source's schedule), the SQLite file, an aiosmtpd server that is down
at first, and HTTP receivers scripted to fail. Time is real; sources run every few
seconds so the whole story takes well under a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from core.models import VN_TZ
from notifier.outbox import lease_for
from notifier.registry import build_channels
from notifier.webhook import verify
from testsupport.content import next_session_number, recently, session_report
from testsupport.receivers import HostileReceiver, SmtpServer, WebhookReceiver, free_port

SECRET = "serve-signing-key"
BODY = "bcd-khcn-cds-da06"
SITES = ["thanhhoa-tv", "chinhphu-news"]
# How long a test waits for an event (a baseline crawl, a retry, two more serve cycles)
# before failing: each comes within seconds to ~20 s here, so the bound is over 10 x
# what it waits for and only ever ends a test that would hang. pytest's own limit is 300 s.
WAIT_S = 240


class Serve:
    """One `dxmon serve` process, its output in a log file."""

    def __init__(self, crawl, name: str = "serve"):
        self.crawl = crawl
        self.log_path = crawl.folder / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Serve:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "serve", "--config",
             str(self.crawl.config_path)], cwd=self.crawl.folder, env=self.crawl.env(),
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    @property
    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


@pytest.fixture
def serving(crawl):
    started: list[Serve] = []

    def start(name: str = "serve") -> Serve:
        started.append(Serve(crawl, name).start())
        return started[-1]

    yield start
    for serve in started:
        serve.kill()


def until(predicate, timeout: float = WAIT_S, what: str = "condition", every: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def baseline_done(crawl) -> bool:
    rows = crawl.query("SELECT DISTINCT source FROM crawl_runs WHERE status = 'ok'")
    return {r["source"] for r in rows} >= set(SITES)


def cycles_since(crawl, run_id: int) -> int:
    """The fewest finished serve crawls of any source since crawl run ``run_id``."""
    rows = crawl.query("SELECT source, COUNT(*) AS n FROM crawl_runs WHERE id > ? AND "
                       "status = 'ok' GROUP BY source", [run_id])
    counts = {r["source"]: r["n"] for r in rows}
    return min(counts.get(s, 0) for s in SITES)


def alerts(crawl, channel: str | None = None) -> list[dict]:
    if channel:
        return crawl.query("SELECT * FROM alerts WHERE channel = ?", [channel])
    return crawl.query("SELECT * FROM alerts")


def webhook_toml(name: str, url: str, **options) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in options.items())
    return (f'[[notify]]\nname = "{name}"\nkind = "webhook"\nurl = "{url}"\n'
            f'secret_env = "DXMON_SERVE_SECRET"\nretry_base = "1s"\n{extra}\n')


def publish_new_session(portals, site: str, variant: int = 0):
    now = datetime.now(VN_TZ)
    number = next_session_number(portals.all_articles(), BODY)
    published = recently(now, 2)
    article = session_report(site, BODY, number, published.date(), published, variant=variant)
    portals.publish(site, article)
    return number, published.date(), article


def test_serve_delivers_through_outages_and_beside_a_manual_crawl(
        crawl, portals, serving, monkeypatch):
    monkeypatch.setenv("DXMON_SERVE_SECRET", SECRET)
    hook = WebhookReceiver(script=[(500, {}), (500, {}), (429, {"Retry-After": "2"})]).start()
    gone = WebhookReceiver(script=[(410, {})]).start()
    smtp = SmtpServer(port=free_port())  # not started: connection refused until it is
    try:
        crawl.write_config(sites=SITES, interval="4s", extra=(
            webhook_toml("hook", hook.url) + webhook_toml("gone", gone.url) +
            f'[[notify]]\nname = "mail"\nkind = "email"\nhost = "127.0.0.1"\n'
            f'port = {smtp.port}\nsecurity = "none"\nsender = "dxmon@localhost"\n'
            f'to = ["team@localhost"]\nretry_base = "1s"\n'))
        serve = serving()
        until(lambda: baseline_done(crawl), WAIT_S, "the baseline crawl of both sources")
        # the sites hold the whole history: it is archived, nobody is told
        assert crawl.query("SELECT COUNT(*) AS n FROM sessions")[0]["n"] >= 2
        assert alerts(crawl) == [] and hook.hits == [] and gone.hits == []

        # a second service on the same database refuses, saying why
        second = subprocess.run([sys.executable, "-m", "monitor.cli", "serve", "--config",
                                 str(crawl.config_path)], cwd=crawl.folder, env=crawl.env(),
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "already running" in second.stderr and str(serve.proc.pid) in second.stderr

        number, day, article = publish_new_session(portals, "thanhhoa-tv")

        # webhook: 500, 500, 429 Retry-After 2, then 200 — delivered once, not before the delay
        (ok,) = hook.wait_for(1, timeout=WAIT_S)
        assert [h.status for h in hook.hits] == [500, 500, 429, 200]
        assert ok.at - hook.hits[2].at >= 2.0
        assert len({h.headers["x-dxmon-delivery"] for h in hook.hits}) == 1
        assert verify(SECRET, ok.body, ok.headers["x-dxmon-signature"])
        payload = ok.json
        assert payload["event"] == "session.new"
        assert (payload["session"]["number"], payload["session"]["date"]) == (number,
                                                                             day.isoformat())
        assert f"phiên họp thứ {number}" in payload["evidence"]
        assert payload["articles"][0]["url"] == portals.url("thanhhoa-tv", article.slug)

        # 410: given up at once, and `dxmon status` says so
        until(lambda: [a for a in alerts(crawl, "gone") if a["status"] == "failed"], WAIT_S,
              "the 410 channel to give up")
        assert len(gone.hits) == 1
        status = crawl.dxmon("status").stdout
        assert "gave up" in status and "410" in status

        # SMTP down for three attempts, then back: the email arrives once
        until(lambda: [a for a in alerts(crawl, "mail") if a["attempts"] >= 3], WAIT_S,
              "three failed SMTP attempts")
        assert smtp.messages == []
        smtp.start()
        (mail,) = smtp.wait_for(1, timeout=WAIT_S)
        assert mail["Subject"].startswith(f"Phiên họp thứ {number} năm {day.year} — Ban Chỉ đạo")
        (row,) = until(lambda: [a for a in alerts(crawl, "mail") if a["status"] == "sent"], WAIT_S,
                       "the email row to be marked sent")
        assert row["attempts"] >= 4

        # another outlet reports it and a user runs a manual crawl while serve runs
        portals.publish("chinhphu-news", session_report("chinhphu-news", BODY, number, day,
                                                        recently(datetime.now(VN_TZ), 1),
                                                        variant=1))
        manual = crawl.scrapy(process=True)
        assert "database is locked" not in manual.stderr
        session_id = crawl.query("SELECT id FROM sessions WHERE body = ? AND number = ?",
                                 [BODY, number])[0]["id"]
        until(lambda: len(crawl.query(
            "SELECT 1 FROM session_articles WHERE session_id = ? AND role = 'report'",
            [session_id])) == 2, WAIT_S, "the second outlet to attach")
        # two more full serve cycles of each source (crawl, detect, group, deliver), as
        # the service's own crawl_runs record them: had the attach alerted anyone again,
        # those cycles would have sent it (an event to wait for, not a sleep)
        last = crawl.query("SELECT MAX(id) AS id FROM crawl_runs")[0]["id"]
        until(lambda: cycles_since(crawl, last) >= 2, WAIT_S, "two more serve cycles")
        assert len(alerts(crawl)) == 3
        assert len(hook.delivered) == 1 and len(smtp.messages) == 1 and len(gone.hits) == 1

        serve.signal(signal.SIGTERM)
        assert serve.wait(60) == 0
        log = serve.output
        assert "database is locked" not in log and "Traceback" not in log
        assert "stopped" in log
        assert crawl.query("SELECT * FROM crawl_runs WHERE status = 'running'") == []
    finally:
        hook.stop()
        gone.stop()
        smtp.stop()


def test_serve_killed_mid_delivery_resends_with_the_same_delivery_id(
        crawl, portals, serving, monkeypatch):
    monkeypatch.setenv("DXMON_SERVE_SECRET", SECRET)
    hook = WebhookReceiver().start()
    try:
        crawl.write_config(sites=SITES, interval="4s",
                           extra=webhook_toml("hook", hook.url, timeout=2))
        first = serving("serve-1")
        until(lambda: baseline_done(crawl), WAIT_S, "the baseline crawl of both sources")
        # the first delivery is received, and the receiver kills the service before it
        # answers: the service dies having sent, never having heard back (no time window)
        hook.on_hit = lambda hit: os.kill(first.proc.pid, signal.SIGKILL)
        publish_new_session(portals, "chinhphu-news")
        until(lambda: hook.hits, WAIT_S, "the first delivery attempt")
        first.wait(10)
        hook.on_hit = None
        assert first.proc.returncode == -signal.SIGKILL
        (row,) = alerts(crawl)
        assert row["status"] == "sending"  # died between "sent" and "marked sent"

        second = serving("serve-2")
        # the lease (2 × the 2 s timeout + 5 s) expires, then the row is sent again
        until(lambda: len(hook.hits) >= 2, WAIT_S, "the resend after restart")
        until(lambda: alerts(crawl)[0]["status"] == "sent", WAIT_S, "the row to be marked sent")
        assert {h.headers["x-dxmon-delivery"] for h in hook.hits} == {row["idempotency_key"]}
        assert len(alerts(crawl)) == 1
        second.signal(signal.SIGINT)
        assert second.wait(60) == 0
    finally:
        hook.stop()


def test_a_trickling_receiver_gets_one_post_while_crawls_keep_running_and_serve_stops(
        crawl, portals, serving, monkeypatch):
    """Issue 12 finding 2, under the real service with a manual crawl beside it.

    The receiver answers 200 at once, then trickles its body a byte every 0.2 s for as
    long as anyone listens. The README promises hold: a slow live send is never taken
    over (one POST), each session alerts once, crawls keep their schedule while the
    receiver dawdles, and SIGTERM ends `dxmon serve` within seconds.
    """
    monkeypatch.setenv("DXMON_SERVE_SECRET", SECRET)
    receiver = HostileReceiver("trickle")
    try:
        # a 2 s deadline makes a 9 s lease: the watch below lasts several leases
        crawl.write_config(sites=SITES, interval="4s",
                           extra=webhook_toml("hook", receiver.url(), timeout=2))
        serve = serving()
        until(lambda: baseline_done(crawl), WAIT_S, "the baseline crawl of both sources")
        assert receiver.posts == []

        number, day, _ = publish_new_session(portals, "thanhhoa-tv")
        # a user crawls by hand at the same moment: two dispatchers may both try to send
        manual = crawl.scrapy(process=True)
        assert "database is locked" not in manual.stderr
        receiver.wait_for_connections(1, timeout=WAIT_S)
        (row,) = until(lambda: [a for a in alerts(crawl) if a["status"] == "sent"], WAIT_S,
                       "the alert to be marked sent")
        first_post = receiver.posts[0]
        assert first_post.closed.wait(30)  # dxmon hung up; the receiver would go on

        # watch for three leases after the POST (on the receiver's clock) and two more
        # serve cycles of each source (the service's own crawl_runs): no second POST, and
        # both sources keep being crawled. Two events to wait for, not a sleep
        watch_from = crawl.query("SELECT MAX(id) AS id FROM crawl_runs")[0]["id"]
        lease = lease_for(build_channels(crawl.config)["hook"]).total_seconds()
        until(lambda: time.time() - first_post.opened_at >= 3 * lease
              and cycles_since(crawl, watch_from) >= 2, WAIT_S,
              "three leases and two more serve cycles of each source")
        assert len(receiver.posts) == 1
        assert [(a["status"], a["attempts"]) for a in alerts(crawl)] == [("sent", 1)]
        session = crawl.query("SELECT * FROM sessions WHERE body = ? AND number = ?",
                              [BODY, number])
        assert len(session) == 1 and session[0]["date"] == day.isoformat()

        signalled = time.monotonic()
        serve.signal(signal.SIGTERM)
        assert serve.wait(30) == 0
        stopped_in = time.monotonic() - signalled
        log = serve.output
        assert "Traceback" not in log and "stopped" in log
        assert crawl.query("SELECT * FROM crawl_runs WHERE status = 'running'") == []
        print(f"serve stopped {stopped_in:.1f}s after SIGTERM")
    finally:
        receiver.stop()
