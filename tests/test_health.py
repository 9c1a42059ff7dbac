"""Source health (issue 15 part 3): real crawls of a test portal that goes silent, is
redesigned, answers 503 with Retry-After, or starts disallowing its start pages in
robots.txt. Each raises exactly one ``source.unhealthy`` and, after recovery, exactly
one ``source.recovered`` at a real webhook receiver, across several further crawls;
the blips beside them (a quiet weekend, one 503, one redesigned crawl) raise nothing.

The cadence rule is time-based: the tests move the cycle's clock (``crawl_cycle``'s
``now``), as a service would see time pass between crawls.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.cycle import crawl_cycle
from monitor.health import BAD_IN_A_ROW, GOOD_IN_A_ROW, crawl_symptoms
from storage.health import health_of
from tests.test_web import Served
from testsupport.content import load_articles
from testsupport.crawl import Crawl
from testsupport.portals import PortalWeb

SITE = "thanhhoa-tv"


class ChangingPortal(PortalWeb):
    """The test portal, plus the two changes a real one makes to a crawler's grief: a
    redesign (section pages keep answering 200 but link no article any more) and a
    robots.txt that disallows everything."""

    def __init__(self, *args, **kwargs):
        self.redesigned: set[str] = set()
        self.robots_closed: set[str] = set()
        super().__init__(*args, **kwargs)

    def _route(self, site, raw_path, headers):
        if raw_path.startswith("/robots.txt") and site in self.robots_closed:
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /\n"
        return super()._route(site, raw_path, headers)

    def _listing(self, site, section, path, query):
        page = super()._listing(site, section, path, query)
        if page is None or site not in self.redesigned:
            return page
        # the new design loads its stories by script: the HTML holds no story link
        return ("<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>"
                f"{section}</title></head><body><header><a href='/'>Trang chủ</a></header>"
                "<main><h1>Tin tức</h1><div id='app' data-api='/api/v2/news'></div>"
                "<p>Đang tải nội dung, vui lòng chờ trong giây lát.</p></main></body></html>")


def daily_articles(now: datetime):
    """The site's articles, one a day for the 11 days before ``now``: a cadence of a day,
    so the source may stay quiet for 3 days."""
    mine = [a for a in load_articles() if a.site == SITE]
    return [a.edited(published=(now - timedelta(days=i + 1, minutes=7 * i)).replace(microsecond=0))
            for i, a in enumerate(mine)]


@pytest.fixture
def t0():
    return datetime.now(UTC)


@pytest.fixture
def portal(t0):
    with ChangingPortal(daily_articles(t0), sites=(SITE,), traps=False) as web:
        yield web


@pytest.fixture
def health(portal, tmp_path, webhook_receiver):
    """A crawl folder whose config sends every event to the webhook receiver."""
    crawl = Crawl(portal, tmp_path)
    crawl.write_config(extra=f'[[notify]]\nkind = "webhook"\nurl = "{webhook_receiver.url}"\n'
                             'retry_base = "1s"\n'
                             'events = ["session.new", "session.corrected", "source.*"]\n')
    return crawl


def cycle(crawl: Crawl, at: datetime | None = None, **settings) -> dict:
    """One real crawl cycle of the site (crawl, process, judge, deliver) at ``at``, with
    Scrapy ``settings``; the source's health row after it."""
    outcome, report = crawl_cycle(crawl.config, SITE, now=(lambda: at) if at else None,
                                  extra_settings=settings)
    assert report is not None, outcome
    db = crawl.db()
    try:
        return health_of(db, SITE)
    finally:
        db.close()


def events(receiver) -> list[dict]:
    """The source.* webhooks the receiver got, in order."""
    out = []
    for hit in receiver.delivered:
        body = hit.json
        if body.get("event", "").startswith("source."):
            out.append(body)
    return out


def assert_events(receiver, expected: list[str]) -> list[dict]:
    got = events(receiver)
    assert [e["event"] for e in got] == expected, json.dumps(got, ensure_ascii=False)[:2000]
    assert len({e["delivery_id"] for e in got}) == len(got)
    return got


def payload(event: dict) -> dict:
    return event.get("payload", event)


def test_k_is_two_both_ways():
    """The README's justification is about two in a row: keep them in step."""
    assert BAD_IN_A_ROW == GOOD_IN_A_ROW == 2


def test_silent_source_alerts_once_after_its_cadence_and_clears_on_a_new_article(
        health, portal, webhook_receiver, t0):
    state = cycle(health, t0)  # the baseline: 11 articles, one a day
    assert state["state"] == "healthy"
    # a quiet weekend and more (60 h) is within 3x a daily cadence: nothing
    state = cycle(health, t0 + timedelta(hours=60))
    assert state["state"] == "healthy" and not events(webhook_receiver)
    # past 72 h without a new article: unhealthy at once (the cadence rule is time-based)
    state = cycle(health, t0 + timedelta(hours=80))
    assert state["state"] == "unhealthy"
    assert state["symptoms"][0].startswith("silent:")
    webhook_receiver.wait_for(1)
    state = cycle(health, t0 + timedelta(hours=90))  # still silent: no second alert
    assert state["state"] == "unhealthy"
    assert_events(webhook_receiver, ["source.unhealthy"])
    (new,) = [a for a in load_articles() if a.site == "mst-portal"][:1]
    portal.publish(SITE, new.edited(slug="tin-moi-sau-ky-nghi", site=SITE,
                                    published=datetime.now(UTC).replace(microsecond=0)))
    state = cycle(health, t0 + timedelta(hours=95))
    assert state["state"] == "healthy"
    webhook_receiver.wait_for(2)
    state = cycle(health, t0 + timedelta(hours=100))
    assert state["state"] == "healthy"
    down, up = assert_events(webhook_receiver, ["source.unhealthy", "source.recovered"])
    assert payload(down)["source"] == SITE
    assert "silent" in " ".join(payload(down)["symptoms"])
    assert payload(down)["last_good_crawl"]
    assert payload(up)["source"] == SITE


def test_redesigned_listing_alerts_once_and_one_bad_crawl_does_not(
        health, portal, webhook_receiver):
    assert cycle(health)["state"] == "healthy"
    portal.redesigned.add(SITE)  # one crawl of the new design, then it is rolled back
    state = cycle(health)
    assert state["state"] == "healthy" and state["bad_streak"] == 1
    assert state["streak_symptoms"][0].startswith("listing_empty:")
    portal.redesigned.clear()
    assert cycle(health)["state"] == "healthy"
    portal.redesigned.add(SITE)  # the redesign for good: two bad crawls in a row
    cycle(health)
    state = cycle(health)  # its start pages now answer 304: the verdict is kept
    assert state["state"] == "unhealthy"
    assert state["symptoms"][0].startswith("listing_empty:")
    webhook_receiver.wait_for(1)
    assert cycle(health)["state"] == "unhealthy"
    portal.redesigned.clear()
    assert cycle(health)["state"] == "unhealthy"  # one good crawl is not recovery
    assert cycle(health)["state"] == "healthy"
    webhook_receiver.wait_for(2)
    assert cycle(health)["state"] == "healthy"
    down, up = assert_events(webhook_receiver, ["source.unhealthy", "source.recovered"])
    assert "listing_empty" in " ".join(payload(down)["symptoms"])


def test_503_with_retry_after_alerts_once_and_a_blip_does_not(health, portal, webhook_receiver):
    assert cycle(health)["state"] == "healthy"
    paths = [portal.listing_path(SITE, s) for s in portal.state[SITE].sections()]

    def outage(times: int, retry_after: str) -> None:
        for path in paths:
            portal.fail(SITE, path, 503, times=times, headers={"Retry-After": retry_after})

    outage(1, "3600")  # one crawl told to come back in an hour: a blip
    state = cycle(health)
    assert state["state"] == "healthy" and state["bad_streak"] == 1
    assert "held_back" in state["streak_symptoms"][0]
    outage(1, "1")  # a short Retry-After the crawl waits out: a good crawl
    state = cycle(health)
    assert state["state"] == "healthy" and state["bad_streak"] == 0
    outage(1000, "3600")  # the outage
    cycle(health)
    state = cycle(health)
    assert state["state"] == "unhealthy"
    assert any(s.startswith("held_back:") and "Retry-After" in s for s in state["symptoms"])
    webhook_receiver.wait_for(1)
    assert cycle(health)["state"] == "unhealthy"
    portal.failures.clear()
    cycle(health)
    assert cycle(health)["state"] == "healthy"
    webhook_receiver.wait_for(2)
    assert cycle(health)["state"] == "healthy"
    down, up = assert_events(webhook_receiver, ["source.unhealthy", "source.recovered"])
    assert "Retry-After" in " ".join(payload(down)["symptoms"])
    assert payload(up)["since"] == payload(down)["since"]


def test_robots_txt_disallowing_start_pages_alerts_once(health, portal, webhook_receiver):
    assert cycle(health)["state"] == "healthy"
    portal.robots_closed.add(SITE)
    assert cycle(health)["state"] == "healthy"  # one crawl: not yet
    state = cycle(health)
    assert state["state"] == "unhealthy"
    assert state["symptoms"][0].startswith("robots:")
    webhook_receiver.wait_for(1)
    shown = shown_health(health)
    assert shown["status"]["health"] == shown["api"]["health"] == shown["page"] == "unhealthy"
    assert shown["status"]["health_reason"].startswith("robots: robots.txt disallows 2 of 2")
    assert shown["status"]["last_good_crawl"] and shown["status"]["health_since"]
    assert "robots: robots.txt disallows" in shown["text"] and "unhealthy" in shown["text"]
    assert "robots.txt disallows" in shown["page_reason"]
    assert cycle(health)["state"] == "unhealthy"
    portal.robots_closed.clear()
    cycle(health)
    assert cycle(health)["state"] == "healthy"
    webhook_receiver.wait_for(2)
    assert cycle(health)["state"] == "healthy"
    down, up = assert_events(webhook_receiver, ["source.unhealthy", "source.recovered"])
    assert "robots" in " ".join(payload(down)["symptoms"])
    assert SITE in down["subject"] and SITE in up["subject"]
    shown = shown_health(health)
    assert shown["status"]["health"] == shown["api"]["health"] == shown["page"] == "healthy"
    assert shown["status"]["health_reason"] == "" and shown["page_reason"] == ""


def shown_health(crawl: Crawl) -> dict:
    """The source's health as `dxmon status` (text and --json), /api/sources and the
    Sources page (a real uvicorn) show it."""
    status = json.loads(crawl.dxmon("status", "--json").stdout)
    text = crawl.dxmon("status").stdout
    served = Served(crawl.config)
    try:
        api = served.get("/api/sources").json()
        page = served.page("/sources")
    finally:
        served.stop()
    (cell,) = page.xpath(f'//tr[@class="source"][@data-source="{SITE}"]/td[@class="health"]')
    return {"status": next(s for s in status["sources"] if s["source"] == SITE),
            "api": next(s for s in api["sources"] if s["source"] == SITE),
            "text": text, "page": cell.get("data-health"),
            "page_reason": "".join(cell.xpath('span[@class="reason"]/text()'))}


# --- the judgement of one crawl, without crawling -------------------------------------

RUN = {"started_at": "2026-12-06T10:00:00.000+00:00",
       "finished_at": "2026-12-06T10:00:05.000+00:00"}


@pytest.mark.parametrize(("stats", "was_empty", "expected"), [
    ({"start_pages_read": 2, "start_article_links": 14}, False, []),
    ({"start_pages_read": 2, "start_article_links": 0}, False, ["listing_empty"]),
    ({"start_pages_unchanged": 2}, True, ["listing_empty"]),  # a 304 keeps the verdict
    ({"start_pages_unchanged": 2}, False, []),
    # one page redesigned, the other unchanged since it had links: not a redesign yet
    ({"start_pages_read": 1, "start_pages_unchanged": 1, "start_article_links": 0}, False, []),
    ({"start_pages_failed": 2, "start_pages_robots": 2}, False, ["robots"]),
    ({"start_pages_failed": 2, "dns_errors": 2}, False, ["dns"]),
    ({"start_pages_failed": 2, "tls_errors": 2}, False, ["tls"]),
    ({"start_pages_failed": 2, "server_errors": 6}, False, ["held_back"]),
    ({"start_pages_failed": 2}, False, ["unreachable"]),
    ({"start_pages_read": 2, "start_article_links": 9, "article_pages": 6,
      "article_pages_short": 3, "article_pages_empty": 1}, False, ["extraction"]),
    ({"start_pages_read": 2, "start_article_links": 9, "article_pages": 6,
      "article_pages_short": 3}, False, []),  # half is not most
    ({"start_pages_read": 2, "start_article_links": 9, "article_pages": 2,
      "article_pages_empty": 2}, False, []),  # too few pages to judge extraction
])
def test_crawl_symptoms(stats, was_empty, expected):
    verdict = crawl_symptoms({**RUN, "stats": stats}, ("http://a/1", "http://a/2"), [], was_empty)
    assert [s.split(":")[0] for s in verdict.symptoms] == expected


@pytest.mark.parametrize(("stats", "was_bad", "bad"), [
    ({"article_pages": 0}, True, True),  # nothing read: the verdict stays
    ({"article_pages": 2, "article_pages_short": 1}, True, True),  # too few to clear it
    ({"article_pages": 2}, True, False),  # the pages it read were fine
    ({"article_pages": 4, "article_pages_short": 1}, True, False),
    ({"article_pages": 2, "article_pages_empty": 2}, False, False),  # too few to judge
])
def test_extraction_verdict_is_kept_without_enough_evidence(stats, was_bad, bad):
    base = {"start_pages_read": 2, "start_article_links": 9}
    verdict = crawl_symptoms({**RUN, "stats": {**base, **stats}}, ("http://a/1",), [], False,
                             was_bad)
    assert verdict.extraction_bad is bad
    assert [s.split(":")[0] for s in verdict.symptoms] == (["extraction"] if bad else [])


def test_a_host_left_during_the_crawl_is_held_back_one_left_before_is_not():
    left = {"host": "a", "reason": "HTTP 503 with Retry-After 3600s",
            "updated_at": "2026-12-06T10:00:02+00:00"}
    stats = {"start_pages_read": 2, "start_article_links": 4}
    verdict = crawl_symptoms({**RUN, "stats": stats}, ("http://a/1",), [left], False)
    assert [s.split(":")[0] for s in verdict.symptoms] == ["held_back"]
    earlier = {**left, "updated_at": "2026-12-05T10:00:02+00:00"}
    assert crawl_symptoms({**RUN, "stats": stats}, ("http://a/1",), [earlier], False).symptoms == []


def test_the_message_names_the_source_the_symptom_since_when_and_the_last_good_crawl():
    from notifier.message import Alert

    data = {"source": "hagiang-tv", "state": "unhealthy", "since": "2026-12-06T08:00:00+00:00",
            "symptoms": ["listing_empty: the start pages were fetched but gave no article link"],
            "last_good_crawl": "2026-12-06T07:30:05.120+00:00"}
    down = Alert(delivery_id="dxmon-source.unhealthy-x-hook", kind="source.unhealthy",
                 channel="hook", data=data)
    for text in (down.text(), down.markdown()):
        for fact in ("hagiang", "listing", "2026-12-06T08:00:00", "2026-12-06T07:30:05"):
            assert fact in text.replace("\\", ""), (fact, text)
    assert "hagiang-tv" in down.subject()
    up = Alert(delivery_id="d", kind="source.recovered", channel="hook",
               data={**data, "state": "healthy", "recovered_at": "2026-12-06T09:00:00+00:00"})
    assert "hagiang-tv" in up.subject() and up.subject() != down.subject()
    assert "2026-12-06T09:00:00" in up.text() and "listing_empty" in up.text()


def test_a_tls_failure_is_named_as_such(portal, tmp_path):
    """https:// to a server that speaks plain HTTP: the handshake fails for real (one
    crawl: its verdict, not yet the state)."""
    crawl = Crawl(portal, tmp_path)
    crawl.config_path.write_text(crawl.config_path.read_text(encoding="utf-8").replace(
        "http://127.0.0.1", "https://127.0.0.1"), encoding="utf-8")
    # (each failed handshake doubles the host's delay, from 0.5 s up to a minute: held
    # at 0.5 s, the crawl reaches its eighth failure in seconds instead of 25)
    state = cycle(crawl, DXMON_MAX_HOST_DELAY=0.5)
    assert state["state"] == "healthy" and state["bad_streak"] == 1
    assert state["streak_symptoms"][0].startswith("tls:"), state["streak_symptoms"]


def test_articles_extracted_short_alert_once(health, portal, webhook_receiver):
    """New stories whose pages now give only a line of text (a template change that
    hides the body): one alert; the crawls after it, which read no new page, keep the
    verdict; three whole stories clear it."""
    assert cycle(health)["state"] == "healthy"
    template = [a for a in load_articles() if a.site == SITE][0]

    def publish(n: int, tag: str, short: bool) -> None:
        for i in range(n):
            article = template.edited(slug=f"{tag}-{i}", title=f"Tin {tag} số {i} trong ngày",
                                      related=(), published=datetime.now(UTC).replace(
                                          microsecond=0) - timedelta(minutes=i))
            if short:
                article = article.edited(sapo="", paragraphs=(f"Xem chi tiết tin số {i}.",),
                                         captions=())
            portal.publish(SITE, article)

    publish(3, "ngan", short=True)
    state = cycle(health)
    assert state["bad_streak"] == 1 and state["state"] == "healthy"
    assert state["streak_symptoms"][0].startswith("extraction: 3 of 3"), state["streak_symptoms"]
    state = cycle(health)  # nothing new read: the verdict stays, the second bad crawl
    assert state["state"] == "unhealthy"
    webhook_receiver.wait_for(1)
    publish(3, "day-du", short=False)
    assert cycle(health)["state"] == "unhealthy"
    assert cycle(health)["state"] == "healthy"
    webhook_receiver.wait_for(2)
    down, up = assert_events(webhook_receiver, ["source.unhealthy", "source.recovered"])
    assert "extraction" in " ".join(payload(down)["symptoms"])
