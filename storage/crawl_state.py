"""Crawl state: sources and their crawl runs, fetch validators, and host health.

Tables: ``sources``, ``crawl_runs``, ``fetch_state``, ``host_state``, and the revisit
schedule of stored articles (``articles.next_check_at``). Each function
takes the :class:`sqlite_utils.Database` first and is named after what it answers
or does; writers that must be atomic open their own
:func:`storage.schema.transaction` (nested calls become savepoints).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import sqlite_utils

from storage.schema import transaction, utcnow_iso

# --- sources and crawl runs -------------------------------------------------------------


def ensure_source(db: sqlite_utils.Database, name: str) -> None:
    """Make sure ``sources`` has a row for ``name`` (articles reference it)."""
    db.execute("INSERT OR IGNORE INTO sources (name) VALUES (?)", [name])


def start_crawl_run(db: sqlite_utils.Database, source: str, *, pid: int | None = None,
                    now: datetime | None = None) -> int:
    """Record that a crawl of ``source`` started; return the run id."""
    with transaction(db):
        ensure_source(db, source)
        db.execute("UPDATE sources SET first_crawl_at = COALESCE(first_crawl_at, ?) WHERE name = ?",
                   [utcnow_iso(now), source])
        # run times to the millisecond: alert latency is measured from a crawl's end
        cursor = db.execute(
            "INSERT INTO crawl_runs (source, started_at, status, pid) VALUES (?, ?, 'running', ?)",
            [source, utcnow_iso(now, "milliseconds"), pid])
        return cursor.lastrowid


def finish_crawl_run(db: sqlite_utils.Database, run_id: int, status: str, stats: dict,
                     *, now: datetime | None = None) -> None:
    """Close a crawl run. The first ``ok`` run of a source sets the source's baseline."""
    with transaction(db):
        db.execute("UPDATE crawl_runs SET finished_at = ?, status = ?, stats = ? WHERE id = ?",
                   [utcnow_iso(now, "milliseconds"), status,
                    json.dumps(stats, default=str, ensure_ascii=False), run_id])
        if status == "ok":
            db.execute(
                "UPDATE sources SET baseline_at = COALESCE(baseline_at, ?) "
                "WHERE name = (SELECT source FROM crawl_runs WHERE id = ?)",
                [utcnow_iso(now), run_id])


def close_abandoned_runs(db: sqlite_utils.Database, pid: int, status: str,
                         *, now: datetime | None = None) -> int:
    """Close the runs a killed or timed-out crawl process (``pid``) left ``running``."""
    with transaction(db):
        cursor = db.execute(
            "UPDATE crawl_runs SET status = ?, finished_at = ? WHERE pid = ? AND status = 'running'",
            [status, utcnow_iso(now), pid])
        return cursor.rowcount


def source_baseline(db: sqlite_utils.Database, source: str) -> str | None:
    """When the source's first successful crawl ended (UTC ISO), or None if it has not."""
    row = db.execute("SELECT baseline_at FROM sources WHERE name = ?", [source]).fetchone()
    return row[0] if row else None


def last_crawl_runs(db: sqlite_utils.Database) -> dict[str, dict]:
    """The latest crawl run of each source, by source name."""
    rows = db.query(
        "SELECT * FROM crawl_runs WHERE id IN (SELECT MAX(id) FROM crawl_runs GROUP BY source)")
    return {row["source"]: row for row in rows}


def crawl_runs_of(db: sqlite_utils.Database, pid: int) -> dict[str, dict]:
    """The latest run of each source crawled by process ``pid`` (one crawl's own runs,
    whatever other crawl runs beside it), by source name."""
    rows = db.query("SELECT * FROM crawl_runs WHERE id IN (SELECT MAX(id) FROM crawl_runs "
                    "WHERE pid = ? GROUP BY source)", [pid])
    return {row["source"]: row for row in rows}


def last_finished_crawl(db: sqlite_utils.Database, source: str) -> str | None:
    """When the latest finished crawl of ``source`` ended (UTC ISO), or None."""
    row = db.execute("SELECT MAX(finished_at) FROM crawl_runs WHERE source = ? "
                     "AND finished_at IS NOT NULL", [source]).fetchone()
    return row[0] if row else None


# --- hosts -------------------------------------------------------------------------------

def host_problems(db: sqlite_utils.Database) -> list[dict]:
    """Hosts the crawler is backing off from (repeated failures), worst first."""
    return list(db.query("SELECT host, failures, backoff_until, reason, crawl_delay "
                         "FROM host_state WHERE failures > 0 ORDER BY failures DESC, host"))


def record_host(db: sqlite_utils.Database, host: str, *, ok: bool, reason: str | None = None,
                crawl_delay: float | None = None, now: datetime | None = None,
                backoff: timedelta | None = None) -> None:
    """Note one outcome for ``host``: success clears its failures; failure counts up."""
    stamp = utcnow_iso(now)
    until = utcnow_iso((now or datetime.now(UTC)) + backoff) if backoff else None
    with transaction(db):
        db.execute(
            "INSERT INTO host_state (host, failures, backoff_until, reason, crawl_delay, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(host) DO UPDATE SET "
            "failures = CASE WHEN ? THEN 0 ELSE failures + 1 END, "
            "backoff_until = excluded.backoff_until, reason = excluded.reason, "
            "crawl_delay = COALESCE(excluded.crawl_delay, crawl_delay), updated_at = excluded.updated_at",
            [host, 0 if ok else 1, until, reason, crawl_delay, stamp, ok])


def crawl_runs_closed(db: sqlite_utils.Database, pid: int) -> bool:
    """Whether the crawl process ``pid`` has opened run rows and closed them all."""
    # fetchall: the statement completes, so no read snapshot outlives the poll
    ((opened, still_open),) = db.execute(
        "SELECT COUNT(*), COUNT(*) - COUNT(finished_at) FROM crawl_runs WHERE pid = ?",
        [pid]).fetchall()
    return opened > 0 and still_open == 0


def last_full_sweep(db: sqlite_utils.Database, source: str) -> str | None:
    """When the latest successful crawl of ``source`` that followed every listing to its
    end started (UTC ISO), or None."""
    # newest first along idx_crawl_runs_source, stopping at the first sweep (a day's
    # runs back at most), not json_extract over every run the source ever had
    row = db.execute(
        "SELECT started_at FROM crawl_runs WHERE source = ? AND status = 'ok' "
        "AND json_extract(stats, '$.full_sweep') = 1 ORDER BY started_at DESC LIMIT 1",
        [source]).fetchone()
    return row[0] if row else None


# --- fetch state: validators of listings, feeds and sitemaps -----------------------------


class Validators(NamedTuple):
    """What the last full fetch of a URL left for the next one to ask with."""

    etag: str | None
    last_modified: str | None
    unchanged: int  # 304s (or identical bytes) in a row since that fetch
    content_hash: str | None  # sha1 of the body then


def validators_for(db: sqlite_utils.Database, url: str) -> Validators | None:
    """The validators stored for ``url``, or None if it was never fetched in full."""
    row = db.execute("SELECT etag, last_modified, unchanged, content_hash FROM fetch_state "
                     "WHERE url = ?", [url]).fetchone()
    return Validators(*row) if row else None


def record_validators(db: sqlite_utils.Database, url: str, etag, last_modified, now: str,
                      content_hash: str | None = None) -> None:
    """A full fetch of ``url``: its validators and content hash, and the 304 streak reset.
    (One statement: atomic on its own, inside a caller's transaction or not.)"""
    etag = etag.decode("latin-1") if isinstance(etag, bytes) else etag
    last_modified = (last_modified.decode("latin-1") if isinstance(last_modified, bytes)
                     else last_modified)
    db.execute(
        "INSERT INTO fetch_state (url, etag, last_modified, content_hash, fetched_at, "
        "checked_at, unchanged) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT(url) DO UPDATE SET "
        "etag = excluded.etag, last_modified = excluded.last_modified, "
        "content_hash = COALESCE(excluded.content_hash, content_hash), "
        "fetched_at = excluded.fetched_at, checked_at = excluded.checked_at, unchanged = 0",
        [url, etag, last_modified, content_hash, now, now])


def mark_unchanged(db: sqlite_utils.Database, url: str, now: str, *,
                   article: bool = False, window: timedelta | None = None) -> None:
    """``url`` answered "not changed" (a 304, or the same bytes): its streak counts up and
    it was checked ``now``; an ``article`` URL's article was seen ``now`` too, and its
    next revisit is scheduled from then (``window``: the config's ``revisit_days``)."""
    if article and window is None:
        raise TypeError("mark_unchanged(article=True) needs the revisit window")
    with transaction(db):
        db.execute("UPDATE fetch_state SET checked_at = ?, unchanged = unchanged + 1 "
                   "WHERE url = ?", [now, url])
        if article:
            db.execute(f"UPDATE articles SET last_seen = :at, next_check_at = "
                       f"{_NEXT_CHECK.format(last='julianday(:at)')} WHERE id = "
                       "(SELECT article_id FROM article_urls WHERE url = :url)",
                       {"at": now, "url": url, "window": _days(window)})


# --- revisits: when a stored article is due to be requested again -----------------------
#
# An article is revisited (requested again, conditionally) only while it is young: its
# age (published_at, else first_seen) under the [monitor] revisit_days window. Each
# check (stored new, updated or unchanged; a 304) sets ``articles.next_check_at`` to the
# check's time plus :func:`revisit_interval` of the article's age then, or to NULL once
# that time falls outside the window: an old article is never due again, and a partial
# index holds only the young ones, so what a crawl start reads is what is due.

# every crawl in an article's first hours: corrections come early
FIRST_HOURS = timedelta(hours=2)
# then a sixth of its age: a day-old article every 4 hours, a week-old one daily
AGE_DIVISOR = 6
# never longer than a week (only reached with a revisit_days above 42)
MAX_INTERVAL = timedelta(days=7)
# the window a migrated archive is scheduled with (core.config's default revisit_days;
# a migration has no config): see storage.schema._revisits
DEFAULT_WINDOW = timedelta(days=7)



def _born(table: str = "") -> str:
    """An article's birth as a Julian day (UTC: SQLite reads the +07:00 of published_at
    and the +00:00 of internal times alike); an unreadable published_at falls back to
    first_seen, as the crawl start's Python did before issue 16."""
    return f"COALESCE(julianday({table}published_at), julianday({table}first_seen))"


def _days(span: timedelta) -> float:
    return span / timedelta(days=1)


# revisit_interval in SQL, for a check at {last} (a Julian day expression)
_NEXT = (f"({{last}} + CASE WHEN {{last}} - {_born()} < {_days(FIRST_HOURS)!r} THEN 0.0 "
         f"ELSE MIN(({{last}} - {_born()}) / {AGE_DIVISOR}.0, {_days(MAX_INTERVAL)!r}) END)")
# next_check_at after a check at {last}: NULL if the article is old by then (:window
# in days); to the second, in the form of every internal time (utcnow_iso)
_NEXT_CHECK = (f"CASE WHEN {_NEXT} - {_born()} < :window "
               f"THEN strftime('%Y-%m-%dT%H:%M:%S+00:00', {_NEXT}) END")


def revisit_interval(age: timedelta) -> timedelta:
    """How long after its last check a stored article is due again: edits come early.

    Every crawl in its first hours, then a sixth of its age (a day-old article every
    4 hours, a week-old one daily): about forty conditional requests over its first
    week, whatever the crawl interval.
    """
    if age < FIRST_HOURS:
        return timedelta(0)
    return min(age / AGE_DIVISOR, MAX_INTERVAL)


def next_check(born: datetime, checked: datetime, window: timedelta) -> datetime | None:
    """When an article born at ``born`` and checked at ``checked`` is due again, or None
    if it is old by then (never again). The rule :data:`_NEXT_CHECK` computes in SQL."""
    due = checked + revisit_interval(checked - born)
    return due if due - born < window else None


def schedule_revisit(db: sqlite_utils.Database, article_id: int, checked: str | datetime,
                     window: timedelta) -> None:
    """The article was just checked (stored, or found unchanged) at ``checked``: set when
    it is due again, NULL if never (``window``: the config's ``revisit_days``)."""
    next_check_at = _NEXT_CHECK.format(last="julianday(:at)")
    db.execute(f"UPDATE articles SET next_check_at = {next_check_at} WHERE id = :id",
               {"at": _iso(checked), "window": _days(window), "id": article_id})


def schedule_young_articles(db: sqlite_utils.Database, now: datetime,
                            window: timedelta = DEFAULT_WINDOW) -> int:
    """Schedule the articles still young at ``now`` from their last check: the latest
    ``checked_at`` of their URLs in ``fetch_state``, else their ``first_seen`` (what
    crawl starts decided by before issue 16). The others are left as they are (NULL in
    the new column: never due). One statement, for the migration that adds
    ``next_check_at``; the number of articles scheduled."""
    last = ("julianday(COALESCE((SELECT MAX(f.checked_at) FROM article_urls u "
            "JOIN fetch_state f ON f.url = u.url WHERE u.article_id = articles.id), first_seen))")
    return db.execute(f"UPDATE articles SET next_check_at = {_NEXT_CHECK.format(last=last)} "
                      f"WHERE {_born()} > julianday(:now) - :window",
                      {"now": _iso(now), "window": _days(window)}).rowcount


class Revisit(NamedTuple):
    """A young article due now, and the URL to request it by."""

    source: str  # the crawled source whose hosts the URL is on
    article_id: int
    url: str


def due_revisits(db: sqlite_utils.Database, sources: list[str], now: datetime,
                 window: timedelta, owner) -> list[Revisit]:
    """The articles of ``sources`` due for a revisit at ``now``: one indexed range of
    ``next_check_at``, never a scan of the archive.

    One URL per article and source (``owner(url)`` names the source whose hosts a URL is
    on, or None): the oldest one that was fetched before (the canonical form may be a
    spelling the server does not answer). An article found old by now (no crawl of its
    source came while it was due) is unscheduled instead: never due again.
    """
    if not sources:
        return []
    marks = ", ".join("?" * len(sources))
    at = _iso(now)
    rows = db.execute(
        f"SELECT a.id, u.url, f.url IS NOT NULL, {_born('a.')} <= julianday(?) - ? "
        "FROM articles a JOIN article_urls u ON u.article_id = a.id "
        f"LEFT JOIN fetch_state f ON f.url = u.url WHERE a.source IN ({marks}) "
        "AND a.next_check_at IS NOT NULL AND a.next_check_at <= ? "
        "ORDER BY a.id, u.first_seen, u.url", [at, _days(window), *sources, at]).fetchall()
    revisits, chosen, stale = [], set(), set()
    for article_id, url, fetched, old in rows:
        if old:
            stale.add(article_id)
            continue
        source = owner(url)
        if fetched and source is not None and (article_id, source) not in chosen:
            chosen.add((article_id, source))
            revisits.append(Revisit(source, article_id, url))
    if stale:
        with transaction(db):
            db.conn.executemany("UPDATE articles SET next_check_at = NULL WHERE id = ?",
                                [(i,) for i in sorted(stale)])
    return revisits


# SQLite accepts up to 32766 parameters; a sitemap can list 50,000 URLs
_LOOKUP_CHUNK = 500


def known_links(db: sqlite_utils.Database, urls, now: datetime, window: timedelta
                ) -> dict[str, bool]:
    """For each of ``urls`` that led to a stored article: whether that article is due
    for a revisit at ``now`` (young and its ``next_check_at`` reached). One indexed
    query per 500 URLs (``article_urls``' primary key): a crawl asks only about the
    links its pages give, not about every URL it knows."""
    urls = list(dict.fromkeys(urls))
    found: dict[str, bool] = {}
    at = _iso(now)
    for i in range(0, len(urls), _LOOKUP_CHUNK):
        chunk = urls[i:i + _LOOKUP_CHUNK]
        for url, due in db.execute(
                "SELECT u.url, a.next_check_at IS NOT NULL AND a.next_check_at <= ? AND "
                f"{_born('a.')} > julianday(?) - ? "
                "FROM article_urls u JOIN articles a ON a.id = u.article_id "
                f"WHERE u.url IN ({', '.join('?' * len(chunk))})",
                [at, at, _days(window), *chunk]):
            found[url] = bool(due)
    return found


def _iso(value: str | datetime) -> str:
    return value if isinstance(value, str) else utcnow_iso(value)
