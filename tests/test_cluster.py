"""The crawl spread over machines (crawler.cluster): a real ``redis-server``, three real
``dxmon worker`` processes, the seeding and writing ``scrapy crawl news`` that owns the
SQLite archive, and the test portals on a real HTTP server whose clock stamps each
request. Workers here share the machine, but nothing passes between them except
through Redis: no worker opens the archive.

What is attacked: every article stored exactly once; each host's pace on the server's
clock with three workers; a worker SIGKILLed with requests in hand; the writer
SIGKILLed with stream entries read and not acknowledged; the Redis URL (with its
password) in any log.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from testsupport.cluster import ENV, PASSWORD, KillingProxy, RedisServer, Worker
from testsupport.crawl import ROOT, Crawl
from testsupport.portals import PortalWeb

SITES = ["thanhhoa-tv", "hagiang-tv", "mst-portal", "hanoi-portal", "chinhphu-news"]
# every site's robots.txt Crawl-delay: exact (no jitter), as in test_recrawl
DELAY = 0.5
LEASE = "DXMON_CLUSTER_LEASE=3"  # a dead worker is noticed in 3 s (10 s by default)
CLUSTER = '\n[cluster]\nredis_url_env = "DXMON_REDIS_URL"\n'


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def rds(redis_server, monkeypatch):
    redis_server.flush()
    monkeypatch.setenv(ENV, redis_server.url)
    return redis_server


class StampedWeb(PortalWeb):
    """The test portals, each request also stamped when the server starts answering it,
    before rendering its page (``requests`` stamps it after: late by the rendering,
    which varies with the load)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[str, str, float]] = []

    def respond(self, site, method, raw_path, headers):
        self.arrivals.append((site, raw_path, time.time()))
        return super().respond(site, method, raw_path, headers)

    def arrival_times(self, site: str) -> list[float]:
        return sorted(at for s, path, at in self.arrivals
                      if s == site and path != "/robots.txt")


@pytest.fixture
def web():
    portal = StampedWeb(articles=[], sites=SITES, traps=False, page_size=5)
    for site in SITES:
        portal.add_synthetic(site, 9, words=120)  # each site its own text: 45 articles
        portal.crawl_delays[site] = DELAY
    with portal:
        yield portal


@pytest.fixture
def crawl(web, tmp_path, rds):
    c = Crawl(web, tmp_path)
    c.write_config(extra=CLUSTER)
    return c


@pytest.fixture
def workers(crawl, rds, tmp_path):
    started: list[Worker] = []

    def start(n: int = 3) -> list[Worker]:
        for _ in range(n):
            started.append(Worker(crawl.config_path, rds.url,
                                  tmp_path / f"worker-{len(started)}.log", settings=[LEASE]))
        client = rds.client()  # all of them beating before the crawl is seeded
        alive = [w for w in started if w.process.poll() is None]
        wait_for(lambda: client.zcard("dxmon:workers") >= len(alive), 90, "workers")
        return started[-n:]

    yield start
    for w in started:
        w.stop()


def seeder(crawl: Crawl, log: Path, *args: str) -> subprocess.Popen:
    """The process owning the archive: ``scrapy crawl news`` in cluster mode."""
    cmd = [sys.executable, "-m", "scrapy", "crawl", "news", "-s", LEASE,
           "-s", "DXMON_PROCESS_AFTER_CRAWL=False", "-s", "DXMON_STORE_BATCH=3", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=crawl.env(), stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def assert_stored_once(crawl: Crawl, web: PortalWeb) -> None:
    """Every article of the portals is in the archive once: one article row, one
    version, its URL once (what a single-machine crawl gives: 45 different stories)."""
    expected = [web.url(a.site, a.slug) for a in web.all_articles()]
    rows = crawl.query("SELECT url FROM article_urls")
    urls = [r["url"] for r in rows]
    missing = [u for u in expected if u not in urls]
    assert not missing, f"{len(missing)} articles never stored: {missing[:3]}"
    (n,) = crawl.query("SELECT count(*) AS n FROM articles")
    (v,) = crawl.query("SELECT count(*) AS n FROM article_versions")
    assert n["n"] == len(expected) == len(set(urls) & set(expected))
    assert v["n"] == len(expected), "an article was stored twice (a second version)"


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_workers_store_every_article_once_and_keep_each_hosts_pace(
        crawl, web, rds, workers, tmp_path):
    pool = workers(3)
    result = crawl.scrapy("-s", LEASE)  # seeds, writes, ends when the cycle is done
    assert_stored_once(crawl, web)
    # each host's pace on the server's clock: the Crawl-delay (exact) between any two
    # requests, whichever worker sent them. A stamp late by the server thread's wait for
    # the CPU shortens the next gap by as much: so no gap under half the delay (two
    # workers at one host would be ~0 apart) and 0.9 of it on average (test_recrawl's
    # tolerance)
    for site in SITES:
        times = web.arrival_times(site)
        spacing = gaps(times)
        assert len(times) >= 10, site
        assert min(spacing) >= DELAY / 2, (site, sorted(spacing)[:3])
        assert sum(spacing) / len(spacing) >= 0.9 * DELAY, site
    # the three workers really shared the portals: each took hosts (5 hosts, a share of
    # at most 2 each)
    took = [w.log.read_text(errors="replace").count("cluster: crawling") for w in pool]
    assert all(took), took
    # the run rows say what a local crawl's say
    for site in SITES:
        stats = crawl.last_run_stats(site)
        assert stats["articles_new"] == 9 and stats["pages_ok"] >= 10, (site, stats)
    # a second cycle, by `dxmon crawl`: every article is known (through Redis), none
    # fetched again; and detection runs after the writer's commits, as on one machine
    # (the first cycle left it off: all 45 articles are processed now)
    mark = len(web.requests)
    report = json.loads(crawl.dxmon("crawl", "--json").stdout)
    assert report["ok"] and report["processed_articles"] == 45, report
    again = [r for r in web.requests[mark:] if r.path in
             {web.article_path(a.site, a.slug) for a in web.all_articles()}]
    assert again == [] and len(web.requests) > mark  # the listings were read again,
    # conditionally: the seeder pushed them with the validators the archive holds
    assert any(r.status == 304 and r.site == "thanhhoa-tv" for r in web.requests[mark:])
    assert any("if-none-match" in r.headers for r in web.requests[mark:])
    assert_stored_once(crawl, web)
    # a third cycle after a portal publishes a story: its first listing changed, so its
    # links are read again, and of them only the new article is fetched: the workers,
    # which have no archive, skip the stored ones through Redis's set of stored URLs
    site = SITES[0]
    model = web.articles(site)[0]
    fresh = model.edited(slug=model.slug + "-cap-nhat", title="Cập nhật: " + model.title,
                         paragraphs=tuple(p + " Thông tin được cập nhật thêm."
                                          for p in model.paragraphs))
    web.publish(site, fresh)
    mark = len(web.requests)
    report = json.loads(crawl.dxmon("crawl", "--json").stdout)
    assert report["ok"], report
    paths = {web.article_path(a.site, a.slug) for a in web.all_articles()}
    fetched = [r.path for r in web.requests[mark:] if r.path in paths]
    assert fetched == [web.article_path(site, fresh.slug)], fetched
    assert any(r.status == 200 and r.site == site and r.path not in paths
               for r in web.requests[mark:])  # a listing was read in full
    assert_stored_once(crawl, web)
    # the password of the Redis URL is in no log: the workers', the seeder's
    logs = [w.log.read_text(errors="replace") for w in pool] + [result.stdout + result.stderr]
    assert all(PASSWORD not in text and rds.url not in text for text in logs)
    assert any("redis://***@127.0.0.1" in text for text in logs)


def test_workers_joining_mid_crawl_take_hosts_over_at_each_hosts_pace(crawl, web, rds,
                                                                      workers, tmp_path):
    """One worker takes all five hosts; two more join while it crawls and it hands hosts
    over to them: a host then changes worker mid-crawl, and the handover keeps the
    host's pace on the server's clock."""
    import re

    web.crawl_delays.update({site: 0.8 for site in SITES})  # a longer crawl to join
    (first,) = workers(1)
    proc = seeder(crawl, tmp_path / "seeder.log")
    try:
        wait_for(lambda: len(web.requests) >= 10, what="the first worker crawling")
        joined = workers(2)
        assert proc.wait(180) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_stored_once(crawl, web)
    taken = [set(re.findall(r"cluster: crawling (\S+)", w.log.read_text(errors="replace")))
             for w in [first, *joined]]
    moved = taken[0] & (taken[1] | taken[2])
    assert moved, f"no host changed worker: {taken}"
    for site in SITES:
        spacing = gaps(web.arrival_times(site))
        assert min(spacing) >= 0.4, (site, sorted(spacing)[:3])
        assert sum(spacing) / len(spacing) >= 0.72, site


def test_a_worker_killed_with_requests_in_hand_loses_nothing(crawl, web, rds, workers,
                                                             tmp_path):
    pool = workers(3)
    client = rds.client()
    proc = seeder(crawl, tmp_path / "seeder.log")
    try:
        # a worker that has taken requests and not finished them (its in-flight hash)
        holders: list[str] = []

        def someone_holds() -> bool:
            holders[:] = [key.decode().split(":", 2)[2]
                          for key in client.scan_iter("dxmon:inflight:*") if client.hlen(key)]
            return bool(holders)

        wait_for(lambda: crawl.query("SELECT count(*) AS n FROM articles")[0]["n"] >= 3
                 and someone_holds(), what="a worker with requests in hand")
        victim = holders[0]
        (worker,) = [w for w in pool if w.pid == int(victim.split(":")[1])]
        worker.kill()
        mark = len(web.requests)
        # what it held when it died (frozen now; queued again only once it is presumed
        # dead, after the lease time)
        taken = [pickle_url(m) for m in client.hvals(f"dxmon:inflight:{victim}")]
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_stored_once(crawl, web)
    # everything it had taken was requested again, after its death, by the others
    assert taken and not client.exists(f"dxmon:inflight:{victim}")
    after = {r.path for r in web.requests[mark:]}
    for url in taken:
        assert "/" + url.split("/", 3)[3] in after, url
    logs = (tmp_path / "seeder.log").read_text() + "".join(
        w.log.read_text(errors="replace") for w in pool if w is not worker)
    assert f"worker {victim} stopped answering" in logs


def test_a_worker_killed_between_marking_a_link_seen_and_queueing_it_loses_nothing(
        crawl, web, rds, workers, tmp_path):
    """The cycle's dupefilter mark and the queueing of a link are one step in Redis: a
    worker SIGKILLed right after Redis marked the first link of a listing as seen (by a
    proxy that kills it as Redis answers, before the worker reads the answer) leaves the
    link queued, so the others crawl it when they read the listing again. With the mark
    and the queue apart, the link was marked and never queued: whoever read the listing
    next dropped it as already seen, and its article was never stored."""
    proxy = KillingProxy(rds.port, b"dxmon:seen:")
    victim = Worker(crawl.config_path, proxy.url(rds.url), tmp_path / "victim.log",
                    settings=[LEASE])
    proxy.pgid = victim.pid
    client = rds.client()
    wait_for(lambda: client.zcard("dxmon:workers") >= 1, 90, "the worker beating")
    proc = seeder(crawl, tmp_path / "seeder.log")
    try:
        assert proxy.killed.wait(120), "the worker never queued a link"
        victim.process.wait(10)
        pool = workers(2)
        assert proc.wait(180) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        victim.kill()
        proxy.close()
    assert_stored_once(crawl, web)
    logs = (tmp_path / "seeder.log").read_text() + "".join(
        w.log.read_text(errors="replace") for w in pool)
    assert "stopped answering" in logs


def test_a_worker_stopped_hands_its_requests_back_at_once(crawl, web, rds, workers,
                                                          tmp_path):
    """SIGTERM (a worker taken down for maintenance): what it had taken goes back to the
    queues when it stops, not a lease time later, and the crawl ends on another."""
    web.crawl_delays.update({site: 0.5 for site in SITES})
    (first,) = workers(1)
    client = rds.client()
    proc = seeder(crawl, tmp_path / "seeder.log")
    try:
        inflight = [None]

        def holds() -> bool:
            keys = [k for k in client.scan_iter("dxmon:inflight:*") if client.hlen(k)]
            inflight[0] = keys[0] if keys else None
            return bool(keys)

        wait_for(lambda: len(web.requests) >= 8 and holds(), what="the worker crawling")
        first.process.send_signal(signal.SIGTERM)
        first.process.wait(60)
        # handed back on its way out: gone before the 3 s lease could have expired
        assert not client.exists(inflight[0])
        assert client.zcard("dxmon:workers") == 0
        workers(1)
        assert proc.wait(180) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_stored_once(crawl, web)
    assert "unfinished requests queued again" in first.log.read_text(errors="replace")


def test_two_seeders_on_one_stream_write_one_after_the_other(crawl, web, rds, workers,
                                                             tmp_path):
    """Two crawls of the archive at once in cluster mode (``dxmon serve`` runs two
    sources' crawls in parallel): one stream, so one writer at a time. The second waits
    for the first's cycle, and each run row counts its own source's articles: sharing
    the stream, each writer stored (and counted) whatever entries it read, the other
    source's among them, and withheld listings and validators could part."""
    workers(2)
    a, b = SITES[0], SITES[1]
    first = seeder(crawl, tmp_path / "a.log", "-a", f"source={a}")
    second = seeder(crawl, tmp_path / "b.log", "-a", f"source={b}")
    try:
        assert first.wait(180) == 0 and second.wait(180) == 0
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
    for site in (a, b):
        stats = crawl.last_run_stats(site)
        assert stats["articles_new"] == 9, (site, stats)
    stored = {r["url"] for r in crawl.query("SELECT url FROM article_urls")}
    expected = {web.url(x.site, x.slug) for x in web.all_articles() if x.site in (a, b)}
    assert expected <= stored
    (n,) = crawl.query("SELECT count(*) AS n FROM articles")
    assert n["n"] == 18
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "waiting for it to finish" in logs and "the stream is ours now" in logs


def pickle_url(member: bytes) -> str:
    import pickle

    return pickle.loads(member[32:])["url"]


def test_the_writer_killed_mid_batch_loses_nothing_and_duplicates_nothing(
        crawl, web, rds, workers, tmp_path):
    workers(3)
    client = rds.client()
    proc = seeder(crawl, tmp_path / "seeder.log")
    lock = None
    try:
        wait_for(lambda: crawl.query("SELECT count(*) AS n FROM articles")[0]["n"] >= 3,
                 what="the first articles stored")
        # another connection holds the archive's write lock: the writer's next batch,
        # read from the stream, waits in its transaction, unacknowledged: killed there
        lock = sqlite3.connect(crawl.db_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        wait_for(lambda: client.xpending("dxmon:stream", "writer")["pending"] > 0,
                 what="the writer holding a batch")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if lock is not None:
            lock.rollback()
            lock.close()
        if proc.poll() is None:
            proc.kill()
    stored_before = crawl.query("SELECT count(*) AS n FROM articles")[0]["n"]
    assert stored_before < 45, "the writer was killed after the end: nothing was attacked"
    # the workers finish the cycle without the writer; what they send waits in Redis
    wait_for(lambda: int(client.get("dxmon:left:1") or 0) == 0, 120, "the workers to finish")
    assert client.xpending("dxmon:stream", "writer")["pending"] > 0 or \
        client.xlen("dxmon:stream") > 0
    # the next writer re-reads its pending entries first, then the rest: stored once
    crawl.scrapy("-s", LEASE, "-s", "DXMON_STORE_BATCH=3")
    assert_stored_once(crawl, web)
    assert client.xpending("dxmon:stream", "writer")["pending"] == 0


def test_a_host_a_worker_leaves_is_left_for_that_cycle_and_shown_in_status(crawl, web, rds,
                                                                          workers):
    """Retry-After: 3600 on a start page: the worker leaves the host (its requests are
    done, the cycle ends), the archive's `dxmon status` shows it, and the next cycle
    asks the host again, as the next local crawl would."""
    workers(2)
    home = web.start_urls("thanhhoa-tv")[0]
    path = home.split("/", 3)[3]
    web.fail("thanhhoa-tv", "/" + path, 503, times=1, headers={"Retry-After": "3600"})
    crawl.scrapy("-a", "source=thanhhoa-tv", "-s", LEASE)
    assert [r.status for r in web.requests if r.site == "thanhhoa-tv"
            and r.path != "/robots.txt"] == [503]
    status = crawl.dxmon("status").stdout
    assert "Hosts backed off" in status and "Retry-After 3600s" in status
    crawl.scrapy("-a", "source=thanhhoa-tv", "-s", LEASE)
    assert crawl.query("SELECT count(*) AS n FROM articles")[0]["n"] == 9


def test_a_worker_without_the_variable_or_redis_says_so_without_the_password(crawl, tmp_path,
                                                                              monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    cmd = [sys.executable, "-m", "monitor.cli", "worker", "--config", str(crawl.config_path)]
    out = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "DXMON_REDIS_URL" in out.stderr
    # a Redis that does not answer: one line, the URL without its password
    dead = f"redis://:{PASSWORD}@127.0.0.1:1/0"
    out = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), ENV: dead},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "cannot reach Redis at redis://***@127.0.0.1:1/0" in out.stderr
    assert PASSWORD not in out.stderr + out.stdout


@settings(max_examples=60, deadline=None)
@given(password=st.text(alphabet=string.ascii_letters + string.digits + "-_.~!$&*+,;=",
                        min_size=6, max_size=40),
       user=st.sampled_from(["", "default", "dxmon"]), port=st.integers(1, 65535),
       db=st.integers(0, 15))
def test_a_redis_url_is_logged_without_its_password(password, user, port, db):
    from urllib.parse import quote

    from crawler.cluster import redacted

    expected = f"redis://***@10.0.0.7:{port}/{db}"
    assume(password not in expected)  # "0.0.7:1" is no secret the redaction could hide
    url = f"redis://{user}:{quote(password, safe='')}@10.0.0.7:{port}/{db}"
    shown = redacted(url)
    assert quote(password, safe="") not in shown and password not in shown
    assert shown == expected
    assert redacted(f"redis://10.0.0.7:{port}/{db}") == f"redis://10.0.0.7:{port}/{db}"


def test_a_bad_cluster_table_is_refused(tmp_path):
    from core.config import parse_config
    from core.errors import ConfigError

    config = parse_config('[cluster]\nredis_url_env = "DXMON_REDIS_URL"\n')
    assert config.cluster.redis_url_env == "DXMON_REDIS_URL"
    assert parse_config("").cluster.redis_url_env is None
    for bad in ('redis_url_env = "redis://x"', 'redis_url = "redis://h"', 'prefix = ""'):
        with pytest.raises(ConfigError):
            parse_config(f"[cluster]\n{bad}\n")


def cluster_queue(rds):
    """One process's side of the cluster on the real Redis, without a crawl: its state
    and its host queue (a worker's, which takes requests)."""
    from scrapy import Spider

    from crawler.cluster import ClusterState, HostLeaseQueue

    state = ClusterState(rds.url, "dxmon", "worker", lease=3.0)
    spider = Spider(name="news")
    spider.cluster = state
    state.queue = HostLeaseQueue(state.server, spider, "dxmon:q:news")
    state.queue.ready = True
    state.server.zadd("dxmon:workers", {state.worker: time.time() * 1000})
    return state, state.queue


def page(n: int):
    from scrapy import Request

    from crawler.cluster import CYCLE

    return Request(f"http://127.0.0.1:9/tin-tuc/bai-{n}.html", meta={CYCLE: 1})


def test_a_request_queued_again_while_its_worker_stalled_is_crawled_and_counted_once(rds):
    """A worker stalls past the lease: a reaper queues what it had taken again. When it
    wakes, its retry of that request is dropped (whoever takes the queued one redoes it),
    so the cycle's count reaches 0 only once nothing is queued: two copies would be
    acknowledged twice, and the writer would end the cycle with one still queued."""
    from crawler.cluster import requeue

    _, seeder = cluster_queue(rds)
    a_state, a = cluster_queue(rds)
    b_state, b = cluster_queue(rds)
    client = rds.client()
    assert seeder.push(page(1), "fp-1")
    taken = a.pop()
    assert taken.url == page(1).url
    assert requeue(b_state, a_state.worker) == 1  # a presumed dead: its request queued again
    assert not a.push(taken.replace(dont_filter=True))  # a wakes, its fetch failed: a retry
    assert client.zcard("dxmon:q:127.0.0.1:9") == 1
    assert int(client.get("dxmon:left:1")) == 1
    for lease in client.scan_iter("dxmon:lease:*"):  # a's lease of the host runs out
        client.delete(lease)
    again = b.pop()
    assert again.url == page(1).url and b.pop() is None
    b.ack(again)
    assert int(client.get("dxmon:left:1")) == 0
    assert not client.exists("dxmon:q:127.0.0.1:9")


def test_a_reaper_leaves_a_request_its_worker_took_while_being_reaped(rds):
    """A worker presumed dead but alive takes a request between the reaper's read of its
    in-flight hash and the requeue: that request stays the worker's (and the worker
    stays known), so its acknowledgement counts; dropped with the hash, it would be
    outstanding for ever and the cycle would never end."""
    from crawler.cluster import requeue

    _, seeder = cluster_queue(rds)
    a_state, a = cluster_queue(rds)
    reaper, _ = cluster_queue(rds)
    client = rds.client()
    assert seeder.push(page(1), "fp-1") and seeder.push(page(2), "fp-2")
    first = a.pop()
    later = []
    read = reaper.server.hgetall

    def hgetall(key):
        held = read(key)
        later.append(a.pop())  # the worker, alive, takes the next one meanwhile
        return held

    reaper.server.hgetall = hgetall
    assert requeue(reaper, a_state.worker) == 1
    assert later[0].url != first.url
    assert client.hlen(f"dxmon:inflight:{a_state.worker}") == 1
    assert client.zscore("dxmon:workers", a_state.worker) is not None
    a.ack(later[0])
    assert int(client.get("dxmon:left:1")) == 1  # the first one, queued again: outstanding
    assert client.zcard("dxmon:q:127.0.0.1:9") == 1
