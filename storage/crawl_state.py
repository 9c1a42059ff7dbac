"""Crawl state: sources and their crawl runs, fetch validators, and host health.

Tables: ``sources``, ``crawl_runs``, ``fetch_state``, ``host_state``. Each function
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
    row = db.execute(
        "SELECT MAX(started_at) FROM crawl_runs WHERE source = ? AND status = 'ok' "
        "AND json_extract(stats, '$.full_sweep') = 1", [source]).fetchone()
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
                   article: bool = False) -> None:
    """``url`` answered "not changed" (a 304, or the same bytes): its streak counts up and
    it was checked ``now``; an ``article`` URL's article was seen ``now`` too."""
    with transaction(db):
        db.execute("UPDATE fetch_state SET checked_at = ?, unchanged = unchanged + 1 "
                   "WHERE url = ?", [now, url])
        if article:
            db.execute("UPDATE articles SET last_seen = ? WHERE id = "
                       "(SELECT article_id FROM article_urls WHERE url = ?)", [now, url])


class KnownUrl(NamedTuple):
    """One URL of a stored article, with what deciding to revisit it needs."""

    article_id: int
    url: str
    published_at: str | None
    first_seen: str
    checked_at: str | None  # when this URL was last fetched or found unchanged
    fetched: bool  # it was ever fetched in full (it has a fetch_state row)


def known_article_urls(db: sqlite_utils.Database) -> list[KnownUrl]:
    """Every URL that led to a stored article, grouped by article (oldest URL first)."""
    return [KnownUrl(a, u, p, f, c, bool(x)) for a, u, p, f, c, x in db.execute(
        "SELECT u.article_id, u.url, a.published_at, a.first_seen, f.checked_at, "
        "f.url IS NOT NULL FROM article_urls u JOIN articles a ON a.id = u.article_id "
        "LEFT JOIN fetch_state f ON f.url = u.url ORDER BY u.article_id, u.first_seen, u.url")]
