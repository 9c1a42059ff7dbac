"""Source health: the ``source_health`` table and what judging a source reads.

One row per source (:mod:`monitor.health` decides what goes in it): its state
(``healthy`` / ``unhealthy``), the symptoms, since when, the last good crawl, and the
streaks of bad and good crawls its hysteresis counts. ``last_run_id`` is the latest
crawl run judged, so a crawl is judged once whichever process runs the judgement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlite_utils

__all__ = ["health_of", "all_health", "save_health", "unjudged_runs", "article_times",
           "last_first_seen", "host_rows"]

_COLUMNS = ("state", "symptoms", "since", "last_good_crawl", "bad_streak", "good_streak",
            "crawl_bad", "streak_symptoms", "streak_since", "listing_empty", "extraction_bad",
            "last_new_at",
            "last_run_id", "judged_at")
_JSON = ("symptoms", "streak_symptoms")


def _row(row: dict) -> dict:
    out = dict(row)
    for key in _JSON:
        out[key] = json.loads(out[key] or "[]")
    return out


def health_of(db: sqlite_utils.Database, source: str) -> dict | None:
    """The health row of ``source`` (symptom lists decoded), or None if never judged."""
    rows = list(db.query("SELECT * FROM source_health WHERE source = ?", [source]))
    return _row(rows[0]) if rows else None


def all_health(db: sqlite_utils.Database) -> dict[str, dict]:
    """Every source's health row, by source name (none in an archive opened read-only
    before its migration to 0007 ran)."""
    if "source_health" not in db.table_names():
        return {}
    return {row["source"]: _row(row) for row in db.query("SELECT * FROM source_health")}


def save_health(db: sqlite_utils.Database, source: str, row: dict) -> None:
    """Write ``source``'s health row (insert or replace every column)."""
    values = [json.dumps(row[k], ensure_ascii=False) if k in _JSON else row[k] for k in _COLUMNS]
    columns = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{k} = excluded.{k}" for k in _COLUMNS)
    db.execute(f"INSERT INTO source_health (source, {columns}) VALUES (?, {marks}) "
               f"ON CONFLICT(source) DO UPDATE SET {updates}", [source, *values])


def unjudged_runs(db: sqlite_utils.Database) -> list[dict]:
    """The latest finished crawl run of each source, when it was not judged yet
    (stats decoded)."""
    # one index probe per source (idx_crawl_runs_finished), not a pass over every run
    # of the history (48 a day per source at a half-hourly cadence)
    rows = db.query(
        "SELECT r.* FROM sources s JOIN crawl_runs r ON r.id = (SELECT MAX(id) FROM "
        "crawl_runs WHERE source = s.name AND finished_at IS NOT NULL) "
        "LEFT JOIN source_health h ON h.source = r.source "
        "WHERE h.last_run_id IS NULL OR r.id > h.last_run_id ORDER BY r.id")
    out = []
    for row in rows:
        row = dict(row)
        row["stats"] = json.loads(row["stats"] or "{}")
        out.append(row)
    return out


def article_times(db: sqlite_utils.Database, source: str, since: str, until: str
                  ) -> list[tuple[str, str | None]]:
    """(first_seen, published_at) of ``source``'s articles first seen in [since, until]
    (UTC ISO strings)."""
    return [(f, p) for f, p in db.execute(
        "SELECT first_seen, published_at FROM articles WHERE source = ? "
        "AND first_seen >= ? AND first_seen <= ?", [source, since, until])]


def last_first_seen(db: sqlite_utils.Database, source: str) -> str | None:
    """When the newest article of ``source`` was first seen (UTC ISO), or None."""
    row = db.execute("SELECT MAX(first_seen) FROM articles WHERE source = ?",
                     [source]).fetchone()
    return row[0] if row else None


def host_rows(db: sqlite_utils.Database, hosts: Iterable[str]) -> list[dict]:
    """The ``host_state`` rows of ``hosts`` that count failures."""
    hosts = list(hosts)
    if not hosts:
        return []
    marks = ", ".join("?" for _ in hosts)
    return list(db.query(f"SELECT host, failures, backoff_until, reason, updated_at "
                         f"FROM host_state WHERE failures > 0 AND host IN ({marks})", hosts))
