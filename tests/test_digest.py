"""Digests: once per period, across restarts of `dxmon serve`, caught up after downtime.

Real parts: the test portals and `dxmon crawl` make the archive (a session reported and
a topic story published after the baseline), then the real service (APScheduler,
delivery thread, SQLite) runs with an injected clock that the test moves, and delivers
to a real HTTP receiver. The period logic itself is checked as properties.
"""

from __future__ import annotations

import dataclasses
import time as clock_time
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import parse_config
from core.errors import ConfigError
from core.models import VN_TZ, Digest
from monitor.digest import digest_message, due_period
from monitor.service import Service
from tests.topic_stories import TOPICS, drill, hook, payload
from testsupport.content import next_session_number, recently, session_report

BODY = "bcd-khcn-cds-da06"
CHECK_S = 0.2  # the test service looks for due digests this often


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def digest_hits(receiver) -> list[dict]:
    return [payload(h.json) for h in receiver.delivered if h.json.get("event") == "digest"]


def run_service(config, clock: Clock, receiver, expect: int, *, move_to: datetime | None = None, then_expect: int | None = None) -> None:
    """Start the service, wait until ``expect`` digests were delivered in all (and a few
    more checks, so a second send would show), optionally move the clock; stop."""
    service = Service(config, clock=clock, digest_check_s=CHECK_S)
    service.start()
    try:
        receiver_wait(receiver, expect)
        if move_to is not None:
            clock.at = move_to
            receiver_wait(receiver, then_expect)
    finally:
        service.stop()


def receiver_wait(receiver, count: int, hold: float = 2.0) -> None:
    """Until ``count`` digests arrived, then ``hold`` s more (10 checks) to catch extras."""
    deadline = clock_time.monotonic() + 30
    while len(digest_hits(receiver)) < count and clock_time.monotonic() < deadline:
        clock_time.sleep(0.05)
    clock_time.sleep(hold)
    assert len(digest_hits(receiver)) == count, [d["period"] for d in digest_hits(receiver)]


def test_a_digest_goes_out_once_per_day_across_restarts_and_catches_up_once(
        crawl, portals, webhook_receiver):
    now = datetime.now(VN_TZ)
    # the digest's time: the next whole minute more than an hour ahead, so the period
    # that ends then holds everything this test crawls now
    at = (now + timedelta(hours=1, minutes=1)).replace(second=0, microsecond=0)
    digest = (f'[[digest]]\nid = "sang"\nevery = "daily"\nat = "{at:%H:%M}"\n'
              f'tz = "Asia/Ho_Chi_Minh"\n')
    crawl.write_config(extra=hook(webhook_receiver) + TOPICS + digest,
                       sites=["thanhhoa-tv", "hagiang-tv"])
    crawl.dxmon("crawl")  # the baseline
    number = next_session_number(portals.all_articles(), BODY)
    published = recently(now, 10)
    portals.publish("thanhhoa-tv", session_report("thanhhoa-tv", BODY, number,
                                                  published.date(), published))
    portals.publish("hagiang-tv", drill("hagiang-tv", recently(now, 8), 1))
    tomorrow = now.date() + timedelta(days=1)  # announced: the next session, tomorrow
    portals.publish("thanhhoa-tv", session_report(
        "thanhhoa-tv", BODY, number + 1, now.date(), recently(now, 6)).edited(
        slug="lich-lam-viec-ngay-mai", title="Lịch làm việc của Thủ tướng ngày mai",
        sapo=f"Ngày mai ({tomorrow.day}/{tomorrow.month}), Thủ tướng Chính phủ sẽ chủ trì "
             f"phiên họp thứ {number + 1} của Ban Chỉ đạo của Chính phủ về phát triển khoa "
             "học, công nghệ, đổi mới sáng tạo, chuyển đổi số và Đề án 06.", labels=()))
    crawl.dxmon("crawl")
    assert digest_hits(webhook_receiver) == []  # `dxmon crawl` sends no digest
    config = dataclasses.replace(crawl.config, sources=())  # no crawl runs in the service

    # the service starts just after the digest's time: the period is sent, once
    clock = Clock(at + timedelta(minutes=1))
    run_service(config, clock, webhook_receiver, 1)
    (first,) = digest_hits(webhook_receiver)
    (hit,) = [h.json for h in webhook_receiver.delivered if h.json["event"] == "digest"]
    assert hit["subject"].startswith("Bản tin ngày dxmon: ")
    assert first["period"]["end"] == at.isoformat()
    assert first["period"]["start"] == (at - timedelta(days=1)).isoformat()
    assert [s["number"] for s in first["sessions"]] == [number]
    assert [(u["number"], u["date"]) for u in first["upcoming"]] == [
        (number + 1, tomorrow.isoformat())]
    assert [m["title"] for m in first["topics"]] == [drill("hagiang-tv", now, 1).title]
    subject, text, markdown = digest_message(first)
    assert f"Phiên họp thứ {number} năm" in text and first["topics"][0]["url"] in text
    assert f"Phiên họp thứ {number + 1}" in text.split("Sắp diễn ra")[1]
    assert first["topics"][0]["url"] in markdown

    # restarted the same day: nothing more; still running when the next day's time
    # comes: that day's digest, once
    clock.at = at + timedelta(hours=5)
    run_service(config, clock, webhook_receiver, 1, move_to=at + timedelta(days=1, seconds=1),
                then_expect=2)
    second = digest_hits(webhook_receiver)[1]
    assert second["period"]["start"] == at.isoformat()
    assert second["sessions"] == [] and second["topics"] == []

    # down for three days: on start, only the latest missed day goes out, once
    clock.at = at + timedelta(days=4, hours=2)
    run_service(config, clock, webhook_receiver, 3)
    third = digest_hits(webhook_receiver)[2]
    assert third["period"]["start"] == (at + timedelta(days=3)).isoformat()
    rows = crawl.query("SELECT period_start FROM digests_sent ORDER BY period_start")
    assert [r["period_start"] for r in rows] == [
        (at + timedelta(days=d)).isoformat() for d in (-1, 0, 3)]
    ids = [h.headers["x-dxmon-delivery"] for h in webhook_receiver.delivered]
    assert len(ids) == len(set(ids))


# --- the period rule, as properties ------------------------------------------------------

ZONES = ["Asia/Ho_Chi_Minh", "Europe/Berlin", "America/New_York", "UTC"]


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                           timezones=st.sampled_from([ZoneInfo(z) for z in ZONES])),
       at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
       every=st.sampled_from(["daily", "weekly"]), day=st.integers(0, 6),
       tz=st.sampled_from(ZONES))
def test_the_due_period_is_the_latest_that_has_ended(moment, at, every, day, tz):
    digest = Digest(id="d", every=every, at=at, day=day, tz=ZoneInfo(tz))
    start, end = due_period(digest, moment)
    step = timedelta(days=1 if every == "daily" else 7)
    assert end <= moment  # its time has come...
    assert end.time() == at and start.time() == at
    assert end.date() - start.date() == step
    if every == "weekly":
        assert end.weekday() == day
    # ...and the next one's has not (wall-clock days: 07:30 stays 07:30 across DST;
    # a time skipped by a DST jump is read as the zone reads it)
    following = datetime.combine(end.date() + step, at, tzinfo=ZoneInfo(tz))
    assert following > moment or following.utcoffset() != end.utcoffset()
    # the period is due from its very end on, and not a moment before: one send per period
    assert due_period(digest, end) == (start, end)
    assert due_period(digest, end - timedelta(microseconds=1))[1] < end


def test_a_period_starts_at_the_time_not_at_midnight():
    d = Digest(id="d", at=time(7, 30))
    before = datetime(2026, 12, 7, 7, 29, tzinfo=VN_TZ)
    after = datetime(2026, 12, 7, 7, 30, tzinfo=VN_TZ)
    assert due_period(d, before)[1] == datetime(2026, 12, 6, 7, 30, tzinfo=VN_TZ)
    assert due_period(d, after)[1] == datetime(2026, 12, 7, 7, 30, tzinfo=VN_TZ)
    weekly = Digest(id="w", every="weekly", at=time(7, 30), day=0)  # Mondays
    assert due_period(weekly, after)[1] == datetime(2026, 12, 7, 7, 30, tzinfo=VN_TZ)
    assert due_period(weekly, before)[1] == datetime(2026, 11, 30, 7, 30, tzinfo=VN_TZ)
    assert date(2026, 12, 7).weekday() == 0


@pytest.mark.parametrize("entry, key", [
    ('id = "d"\nat = "25:00"', "digest[0].at"),
    ('id = "d"\nat = "7h30"', "digest[0].at"),
    ('id = "d"\ntz = "Mars/Olympus"', "digest[0].tz"),
    ('id = "d"\ntz = "Asia"', "digest[0].tz"),  # a folder of the zone database
    (f'id = "d"\ntz = "{"A" * 300}"', "digest[0].tz"),  # too long for a file name
    ('id = "d"\nevery = "monthly"', "digest[0].every"),
    ('id = "d"\nchannels = ["nowhere"]', "digest[0].channels"),
    ('id = "d"\nday = "monday"', "digest[0].day"),
    ('id = "d"', "digest[0].channels"),  # the console channel does not take digests
])
def test_a_bad_digest_is_refused_naming_its_key(entry, key):
    with pytest.raises(ConfigError) as err:
        parse_config(f'[[notify]]\nkind = "console"\n\n[[digest]]\n{entry}\n')
    assert err.value.key == key


def test_a_digest_is_read_with_its_defaults():
    (d,) = parse_config('[[digest]]\nid = "d"\n').digests
    assert (d.every, d.at, d.day, d.tz, d.channels) == ("daily", time(7, 30), 0, VN_TZ, ())
