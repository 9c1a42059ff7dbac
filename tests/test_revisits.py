"""Revisits and known articles (issue 16): old articles stay skipped, young ones are
revisited when due and not before, and a crawl's start costs what is due, not what
is known.

Real `scrapy crawl news` runs against the test portals, whose request log is the
evidence, and a real SQLite file. "Weeks later" is made by moving every stored time
of the archive back (:func:`travel`): the same as crawling again weeks later.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.models import VN_TZ
from storage import bulk, crawl_state
from storage.schema import open_db
from testsupport.crawl import ROOT, Crawl
from testsupport.portals import PortalWeb

SITES = ["thanhhoa-tv", "hagiang-tv"]  # with validators, and without any (full downloads)
OLD = 12  # old articles per site: three listing pages of five


def travel(crawl: Crawl, back: timedelta) -> None:
    """Move every stored time back by ``back``: the next crawl runs ``back`` later."""
    days = back / timedelta(days=1)
    second, milli = "'%Y-%m-%dT%H:%M:%S+00:00'", "'%Y-%m-%dT%H:%M:%f+00:00'"
    columns = {"articles": ["first_seen", "last_seen"], "article_urls": ["first_seen"],
               "fetch_state": ["checked_at", "fetched_at"], "sources": ["first_crawl_at",
                                                                        "baseline_at"]}
    db = crawl.db()
    try:
        if "next_check_at" in {c.name for c in db["articles"].columns}:  # not on main
            columns["articles"].append("next_check_at")
        for table, names in columns.items():
            sets = ", ".join(f"{c} = strftime({second}, julianday({c}) - {days})" for c in names)
            db.execute(f"UPDATE {table} SET {sets}")
        db.execute(f"UPDATE crawl_runs SET started_at = strftime({milli}, julianday(started_at) "
                   f"- {days}), finished_at = strftime({milli}, julianday(finished_at) - {days})")
    finally:
        db.close()


def article_requests(web: PortalWeb, mark: int, slugs: set[str]) -> list[str]:
    """The slugs of the articles among ``slugs`` requested since request ``mark``."""
    paths = {web.article_path(site, slug): slug for site in SITES for slug in slugs
             if slug in web.state[site].articles}
    return sorted(paths[p] for r in web.requests[mark:]
                  if (p := urlsplit(r.path).path) in paths)


def young_article(web: PortalWeb, site: str, n: int):
    template = web.articles(site)[0]
    return template.edited(
        slug=f"xa-hoan-thanh-ke-hoach-tiem-chung-dot-{n}",
        title=f"Các xã hoàn thành kế hoạch tiêm chủng đợt {n}",
        published=datetime.now(VN_TZ) - timedelta(days=1),
        sapo=f"Đợt tiêm chủng thứ {n} trong năm đã hoàn thành tại các trạm y tế xã.",
        paragraphs=(f"Trong đợt {n}, các trạm y tế xã tổ chức tiêm cho trẻ dưới năm tuổi và "
                    "phụ nữ mang thai, bảo đảm an toàn và đúng lịch.",
                    "Ngành y tế đề nghị phụ huynh theo dõi trẻ sau tiêm và báo ngay cho trạm "
                    "khi có biểu hiện bất thường."))


@pytest.fixture
def web():
    portal = PortalWeb(articles=[], sites=SITES, traps=False, page_size=5)
    now = datetime.now(VN_TZ)
    for site in SITES:
        portal.add_synthetic(site, OLD, words=120)
        for i, article in enumerate(portal.articles(site)):  # published 40-51 days ago
            portal.edit(site, article.slug, published=now - timedelta(days=40 + i))
    with portal:
        yield portal


def test_old_articles_are_never_requested_again_young_ones_when_due(web, tmp_path):
    """The attack on "known articles are not fetched again, except young ones": weeks
    after they were last checked, a full sweep follows every listing that links the old
    articles, and requests none of them (before issue 16 it requested every one, the
    portal without validators sending each in full)."""
    crawl = Crawl(web, tmp_path)
    crawl.scrapy()
    old = {a.slug for site in SITES for a in web.articles(site)}
    assert crawl.query("SELECT COUNT(*) AS n FROM articles")[0]["n"] == len(SITES) * OLD

    travel(crawl, timedelta(weeks=3))
    mark = len(web.requests)
    crawl.scrapy()
    for site in SITES:
        assert crawl.last_run_stats(site).get("full_sweep") == 1
        pages = {web.listing_path(site, "dia-phuong", p) for p in (1, 2, 3)}
        read = {r.path for r in web.requests[mark:] if r.site == site and r.status == 200}
        assert pages <= read  # every listing page read in full: each links old ones
    assert article_requests(web, mark, old) == []
    assert crawl.last_run_stats(SITES[0])["dxmon/known_skipped"] >= len(SITES) * OLD

    # young articles (published a day ago): stored, then due every sixth of their age
    for i, site in enumerate(SITES):
        web.publish(site, young_article(web, site, i))
    young = {young_article(web, site, i).slug for i, site in enumerate(SITES)}
    mark = len(web.requests)
    crawl.scrapy()
    assert article_requests(web, mark, young) == sorted(young)

    for site in SITES:  # every page's bytes change: each listing is read, its links looked up
        web.touch_furniture(site)
    mark = len(web.requests)
    crawl.scrapy()  # at once: not due (a day-old article is due 4 hours after its check)
    assert article_requests(web, mark, young | old) == []
    assert "dxmon/revisits" not in crawl.last_run_stats(SITES[0])

    travel(crawl, timedelta(hours=6))
    for site in SITES:
        web.touch_furniture(site)
    mark = len(web.requests)
    crawl.scrapy()  # six hours later: due, each requested once; the old ones still not
    assert article_requests(web, mark, young | old) == sorted(young)
    assert crawl.last_run_stats(SITES[0])["dxmon/revisits"] == len(SITES)


# --- what a crawl start reads ---------------------------------------------------------

# A `scrapy crawl news` whose database connection counts SQLite's virtual machine steps
# (a progress handler at every instruction: SQLite counts them per statement, so a
# coarser one would miss every short statement): how much the crawl asks of SQLite,
# deterministic whatever the machine's speed. The migration is not counted.
COUNTED_CRAWL = """
import atexit, sys
import crawler.addon as addon
real, ticks = addon.open_db, [0]
def tick():
    ticks[0] += 1
    return 0
def counted(*args, **kwargs):
    db = real(*args, **kwargs)
    db.conn.set_progress_handler(tick, 1)
    return db
addon.open_db = counted
atexit.register(lambda: print(f"sqlite-steps={ticks[0]}", file=sys.stderr))
from scrapy.cmdline import execute
sys.argv = ["scrapy", "crawl", "news", "-s", "DXMON_PROCESS_AFTER_CRAWL=False"]
execute()
"""


def counted_crawl(crawl: Crawl) -> int:
    """A re-crawl's SQLite work, in VM instructions."""
    result = subprocess.run([sys.executable, "-c", COUNTED_CRAWL], cwd=ROOT, env=crawl.env(),
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return int(re.search(r"sqlite-steps=(\d+)", result.stderr).group(1))


def add_other_source(crawl: Crawl, count: int) -> None:
    """``count`` articles of another source, first seen over the last 60 days (some
    young, most old), each with a URL that was fetched: what a large archive holds."""
    now = datetime.now(UTC)
    rows, urls, versions, search = [], [], [], []
    for i in range(1, count + 1):
        seen = crawl_state.utcnow_iso(now - timedelta(minutes=4 * i))
        url = f"https://baochinhphu.example.test/thoi-su/tin-so-{i}.htm"
        rows.append({"id": 1_000_000 + i, "url": url, "source": "baochinhphu-tin",
                     "title": f"Tin số {i}", "text": f"Nội dung tin số {i}.",
                     "content_hash": f"h{i}", "first_seen": seen, "last_seen": seen,
                     "processed_hash": f"h{i}", "cluster_id": 1_000_000 + i})
        urls.append((url, 1_000_000 + i, seen))
        versions.append((1_000_000 + i, f"h{i}", f"Tin số {i}", f"Nội dung tin số {i}.", seen))
        search.append((1_000_000 + i, f"tin so {i}", f"noi dung tin so {i}."))
    db = crawl.db()
    try:
        bulk.bulk_add_sources(db, [{"name": "baochinhphu-tin"}])
        bulk.bulk_add_articles(db, rows, urls, versions, search)
        db.conn.executemany("INSERT INTO fetch_state (url, fetched_at, checked_at) "
                            "VALUES (?, ?, ?)", [(u, s, s) for u, _, s in urls])
        crawl_state.schedule_young_articles(db, now)  # as the store path would have left them
    finally:
        db.close()


def test_a_crawl_start_reads_what_is_due_not_what_is_known(tmp_path):
    """An unchanged re-crawl of a one-page portal asks as much of SQLite with 20,000
    archived articles of another source as with 20: the known-URL handling reads the
    links the page gives and the due revisits, not the archive (before issue 16, every
    crawl start read every article URL: 1,282 steps with 20 articles, 820,462 with
    20,000)."""
    work = {}
    with PortalWeb(articles=[], sites=["thanhhoa-tv"], traps=False, page_size=5) as web:
        web.add_synthetic("thanhhoa-tv", 5, words=120)  # one listing page
        for size in (20, 20_000):
            (tmp_path / str(size)).mkdir()
            crawl = Crawl(web, tmp_path / str(size))
            crawl.scrapy()
            add_other_source(crawl, size)
            counted_crawl(crawl)  # the first crawl after the archive grew: caches warm
            work[size] = counted_crawl(crawl)
            assert crawl.last_run_stats("thanhhoa-tv").get("dxmon/articles_new") is None
    print("SQLite VM steps of an unchanged re-crawl by archive size:", work)
    assert work[20_000] < 1.5 * work[20], work


# --- the schedule: the rule, its SQL, and the migration ----------------------------------

BASE = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def schedule_db(tmp_path_factory):
    db = open_db(tmp_path_factory.mktemp("revisits") / "dxmon.db")
    bulk.bulk_add_sources(db, [{"name": "s"}])
    yield db
    db.close()


def put_article(db, published: datetime | None, first_seen: datetime, checked: datetime,
                window: timedelta) -> str:
    """One stored article of source ``s`` with a fetched URL, checked at ``checked``."""
    db.execute("DELETE FROM fetch_state")
    db.execute("DELETE FROM articles")
    url = "https://s.example.test/tin/bai-1.htm"
    seen = crawl_state.utcnow_iso(first_seen)
    bulk.bulk_add_articles(db, [{
        "id": 1, "url": url, "source": "s", "title": "t", "text": "x", "content_hash": "h",
        "published_at": published.astimezone(VN_TZ).isoformat() if published else None,
        "first_seen": seen, "last_seen": seen}], [(url, 1, seen)], [], [])
    db.execute("INSERT INTO fetch_state (url, fetched_at, checked_at) VALUES (?, ?, ?)",
               [url, seen, seen])
    crawl_state.schedule_revisit(db, 1, checked, window)
    return url


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(published=st.one_of(st.none(), st.integers(-3 * 86400, 3 * 86400)),
       checked=st.integers(-3600, 90 * 86400), later=st.integers(0, 90 * 86400),
       window_days=st.integers(1, 60))
def test_young_articles_are_due_by_the_rule_and_old_ones_never(schedule_db, published, checked,
                                                               later, window_days):
    """For any publication time, last check, crawl time and window: the SQL schedule
    and the crawl start's queries agree with :func:`storage.crawl_state.next_check`,
    and an article as old as the window is never due, whenever it was checked."""
    db, window = schedule_db, timedelta(days=window_days)  # times in whole seconds, as stored
    first_seen = BASE
    born = BASE + timedelta(seconds=published) if published is not None else first_seen
    at = BASE + timedelta(seconds=checked)
    now = at + timedelta(seconds=later)
    expected = crawl_state.next_check(born, at, window)
    # a second either side of a boundary is rounding (times are stored to the second)
    assume(expected is None or abs((now - expected).total_seconds()) > 2)
    assume(abs((at + crawl_state.revisit_interval(at - born) - born - window)
               .total_seconds()) > 2)
    assume(abs((now - born - window).total_seconds()) > 2)
    assume(abs((at - born - crawl_state.FIRST_HOURS).total_seconds()) > 2)
    url = put_article(db, born if published is not None else None, first_seen, at, window)
    stored = db.execute("SELECT next_check_at FROM articles").fetchone()[0]
    if expected is None:
        assert stored is None
    else:
        assert abs((datetime.fromisoformat(stored) - expected).total_seconds()) < 2
    due = expected is not None and now >= expected and now - born < window
    revisits = crawl_state.due_revisits(db, ["s"], now, window, lambda u: "s")
    assert [r.url for r in revisits] == ([url] if due else [])
    assert crawl_state.known_links(db, [url, url + "?x"], now, window) == {url: due}
    if now - born >= window:  # old: never due, and unscheduled once a crawl start saw it
        assert not due
        if expected is not None and now >= expected:
            assert db.execute("SELECT next_check_at FROM articles").fetchone()[0] is None


@pytest.mark.parametrize(("age", "interval"), [
    (timedelta(minutes=30), timedelta(0)), (timedelta(hours=2), timedelta(minutes=20)),
    (timedelta(days=1), timedelta(hours=4)), (timedelta(days=6), timedelta(days=1)),
    (timedelta(days=60), timedelta(days=7)), (timedelta(hours=-3), timedelta(0))])
def test_the_revisit_interval_decays_with_age(age, interval):
    assert crawl_state.revisit_interval(age) == interval


def test_the_migration_schedules_an_existing_archive(tmp_path):
    """An archive written before 0010_revisits: old articles are never due, young ones
    are due a sixth of their age after their last check (their URLs' latest
    fetch_state.checked_at, else first seen); nothing users see changes."""
    now = datetime.now(UTC).replace(microsecond=0)
    path = tmp_path / "dxmon.db"
    db = open_db(path)
    bulk.bulk_add_sources(db, [{"name": "s"}])
    cases = {  # id: (published, first seen, last check of a URL or None)
        1: (now - timedelta(days=40), now - timedelta(days=40), now - timedelta(days=21)),
        2: (now - timedelta(days=3), now - timedelta(days=3), now - timedelta(hours=6)),
        3: (None, now - timedelta(days=1), None),  # no fetch: from its first sight
        4: (now - timedelta(hours=1), now - timedelta(minutes=50), now - timedelta(minutes=5)),
        5: (now - timedelta(days=6, hours=20), now - timedelta(days=6, hours=20),
            now - timedelta(hours=6)),  # due again only after the window: never
        6: ("not a date", now - timedelta(days=2), now - timedelta(days=1)),
        # old, never checked since it was stored (an archive's usual article): by the
        # rule of its check, it would have been due at once; it is old now: never
        7: (now - timedelta(days=300), now - timedelta(days=300, minutes=-20), None),
    }
    for i, (published, first_seen, checked) in cases.items():
        url, seen = f"https://s.example.test/bai-{i}.htm", crawl_state.utcnow_iso(first_seen)
        pub = published.astimezone(VN_TZ).isoformat() if isinstance(published, datetime) \
            else published
        bulk.bulk_add_articles(db, [{"id": i, "url": url, "source": "s", "title": f"Bài {i}",
                                     "text": "Nội dung.", "content_hash": f"h{i}",
                                     "published_at": pub, "first_seen": seen,
                                     "last_seen": seen}],
                               [(url, i, seen), (url + "?amp=1", i, seen)],
                               [(i, f"h{i}", f"Bài {i}", "Nội dung.", seen)],
                               [(i, f"bai {i}", "noi dung.")])
        if checked is not None:
            crawl_state.record_validators(db, url + "?amp=1", None, None,
                                          crawl_state.utcnow_iso(checked))
            crawl_state.record_validators(db, url, None, None,  # an older check: not the last
                                          crawl_state.utcnow_iso(checked - timedelta(days=2)))
    # back to the schema before this migration (the store path writes the current one)
    db.executescript("""
        DROP INDEX idx_articles_next_check; DROP INDEX idx_articles_unprocessed;
        DROP INDEX idx_crawl_runs_pid; DROP INDEX idx_crawl_runs_running;
        DROP INDEX idx_crawl_runs_finished;
        ALTER TABLE articles DROP COLUMN next_check_at;
        DELETE FROM _migrations WHERE name = '0010_revisits';
    """)
    before = [dict(r) for r in db.query("SELECT * FROM articles ORDER BY id")]
    db.close()

    db = open_db(path)  # migrates
    try:
        after = [dict(r) for r in db.query("SELECT * FROM articles ORDER BY id")]
        scheduled = {r["id"]: r.pop("next_check_at") for r in after}
        assert after == before
        window = timedelta(days=7)
        for i, (published, first_seen, checked) in cases.items():
            born = published if isinstance(published, datetime) else first_seen
            want = crawl_state.next_check(born, checked or first_seen, window) \
                if now - born < window else None
            got = scheduled[i] and datetime.fromisoformat(scheduled[i])
            assert (got is None) == (want is None), (i, got, want)
            if want is not None:
                assert abs((got - want).total_seconds()) < 2, i
        # old, old by its next check, old now
        assert scheduled[1] is None and scheduled[5] is None and scheduled[7] is None
        assert scheduled[2] is not None and scheduled[4] is not None
        due = {r.article_id for r in crawl_state.due_revisits(db, ["s"], now, window,
                                                              lambda u: "s")}
        # 2 was checked 6 h ago: due 11 h after that. 3 is due too, but no URL of it was
        # ever fetched: not requested directly, only if a listing links it
        assert due == {4, 6}
        links = crawl_state.known_links(db, [f"https://s.example.test/bai-{i}.htm"
                                             for i in cases], now, window)
        assert {int(u.split("-")[-1][:-4]) for u, d in links.items() if d} == {3, 4, 6}
    finally:
        db.close()


def test_the_per_crawl_queries_are_indexed(tmp_path):
    """What a crawl start and the pass after it ask is answered from an index, never by
    reading the whole table (SQLite's own query plan)."""
    db = open_db(tmp_path / "dxmon.db")
    now, window = datetime.now(UTC), timedelta(days=7)

    def plan(sql: str, params=()) -> str:
        return " / ".join(r[3] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    traced: list[str] = []
    db.conn.set_trace_callback(traced.append)
    crawl_state.due_revisits(db, ["a", "b"], now, window, lambda u: None)
    crawl_state.known_links(db, ["https://x.test/1", "https://x.test/2"], now, window)
    crawl_state.last_full_sweep(db, "a")
    crawl_state.crawl_runs_closed(db, 12345)
    crawl_state.crawl_runs_of(db, 12345)
    from storage.articles import unprocessed_articles
    from storage.health import unjudged_runs
    from storage.schema import abandon_dead_runs
    unprocessed_articles(db)
    unjudged_runs(db)
    abandon_dead_runs(db)
    db.conn.set_trace_callback(None)
    for sql in traced:
        if sql.lstrip().upper().startswith("SELECT"):  # a partial index holds few rows
            steps = re.sub(r"SCAN \w+ USING (COVERING )?INDEX idx_(articles_unprocessed|"
                           r"crawl_runs_running)", "", plan(sql.replace("?", "NULL")))
            assert not re.search(r"\bSCAN (articles|article_urls|crawl_runs|a|u|r)\b", steps), \
                (sql, steps)
    assert "idx_articles_unprocessed" in plan(
        "SELECT * FROM articles WHERE processed_hash IS NULL OR processed_hash != content_hash "
        "ORDER BY id")
    db.close()


def test_a_sqlite_build_that_reads_offsets_in_iso_times():
    """The schedule is computed in SQL from times with offsets (+07:00 for published_at):
    SQLite's julianday reads them as the instants they are."""
    conn = sqlite3.connect(":memory:")
    (same,) = conn.execute("SELECT julianday('2026-03-01T07:00:00+07:00') = "
                           "julianday('2026-03-01T00:00:00+00:00')").fetchone()
    assert same == 1
