"""The alert outbox: one row per (event, channel), leased by dispatchers.

A session's rows (``session.new``, ``session.corrected``) carry its ``session_id``;
other events (``source.unhealthy``, ``topic.match``, ``digest``, ...) carry their
content as JSON in ``payload``, and may have no session.

Table: ``alerts``. The delivery rules (leases, retries, deadlines) live in
:mod:`notifier.outbox`; these functions only read and write the rows. Outbox times
are UTC ISO text to the microsecond (:func:`alert_time`), so they sort as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import sqlite_utils

from storage.schema import transaction

__all__ = ["alert_time", "enqueue_alert", "enqueue_event_row", "claim_due_alerts", "schedule_retry", "close_alert",
           "next_due", "has_sent_alerts", "has_session_alerts", "alert_counts",
           "alerts_given_up", "alerts_retrying"]

_COLUMNS = ("id, session_id, channel, kind, event, payload, attempts, last_error, "
            "next_attempt_at, sent_at")
# what a dispatcher needs of a claimed row
_CLAIMED = ("id", "session_id", "channel", "kind", "event", "idempotency_key", "attempts",
            "detail", "payload", "created_at")


def alert_time(moment: datetime) -> str:
    """``moment`` as outbox rows store it: UTC ISO to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# a session row's kind -> the event it announces
_SESSION_EVENTS = {"session": "session.new", "correction": "session.corrected"}


def enqueue_alert(db: sqlite_utils.Database, session_id: int, channel: str, kind: str,
                  idempotency_key: str, now: datetime, detail: str | None = None) -> int | None:
    """A session's pending row due ``now``; its id, or None when the key exists (left
    alone)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO alerts (session_id, channel, kind, event, idempotency_key, "
        "status, attempts, created_at, next_attempt_at, detail) "
        "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
        [session_id, channel, kind, _SESSION_EVENTS.get(kind, kind), idempotency_key,
         alert_time(now), alert_time(now), detail])
    return cursor.lastrowid if cursor.rowcount else None


def enqueue_event_row(db: sqlite_utils.Database, event: str, channel: str,
                      idempotency_key: str, payload: str, now: datetime,
                      session_id: int | None = None) -> int | None:
    """An event's pending row due ``now`` (its kind is the event's name); its id, or
    None when the key exists (left alone)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO alerts (session_id, channel, kind, event, idempotency_key, "
        "status, attempts, created_at, next_attempt_at, payload) "
        "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
        [session_id, channel, event, event, idempotency_key, alert_time(now),
         alert_time(now), payload])
    return cursor.lastrowid if cursor.rowcount else None


def claim_due_alerts(db: sqlite_utils.Database, channels: Iterable[str], now: datetime,
                     lease_until: Callable[[dict], datetime], limit: int = 20) -> list[dict]:
    """Lease the rows of ``channels`` due at ``now`` (pending ones whose time has come,
    and expired leases), oldest due first, in one transaction: each becomes ``sending``
    until ``lease_until(row)``, its ``attempts`` counted up (the rows returned carry the
    new count)."""
    names = list(channels)
    if not names:
        return []
    marks = ",".join("?" * len(names))
    with transaction(db):
        rows = [dict(zip(_CLAIMED, r, strict=True)) for r in db.execute(
            f"""SELECT {", ".join(_CLAIMED)}
                FROM alerts WHERE channel IN ({marks}) AND (
                  (status = 'pending' AND next_attempt_at <= ?) OR
                  (status = 'sending' AND lease_until <= ?))
                ORDER BY next_attempt_at, id LIMIT ?""",
            [*names, alert_time(now), alert_time(now), limit]).fetchall()]
        for row in rows:
            row["attempts"] += 1
            db.execute("UPDATE alerts SET status = 'sending', attempts = ?, lease_until = ? "
                       "WHERE id = ?", [row["attempts"], alert_time(lease_until(row)), row["id"]])
    return rows


def schedule_retry(db: sqlite_utils.Database, alert_id: int, error: str, when: datetime) -> None:
    """A send failed for now: the row is pending again, due at ``when``."""
    with transaction(db):
        db.execute("UPDATE alerts SET status = 'pending', last_error = ?, "
                   "next_attempt_at = ?, lease_until = NULL WHERE id = ?",
                   [error, alert_time(when), alert_id])


def close_alert(db: sqlite_utils.Database, alert_id: int, status: str, error: str | None,
                now: datetime) -> None:
    """The row is done: ``sent`` (at ``now``) or ``failed`` (with ``error``)."""
    with transaction(db):
        db.execute(
            "UPDATE alerts SET status = ?, last_error = COALESCE(?, last_error), "
            "lease_until = NULL, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
            "WHERE id = ?", [status, error, status, alert_time(now), alert_id])


def next_due(db: sqlite_utils.Database) -> datetime | None:
    """When the earliest pending row becomes due (None when nothing is pending)."""
    row = db.execute("SELECT MIN(next_attempt_at) FROM alerts WHERE status = 'pending'").fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def has_sent_alerts(db: sqlite_utils.Database, session_id: int) -> bool:
    """Whether any alert row of the session ever left ``pending`` (sent, sending, failed)."""
    return db.execute("SELECT COUNT(*) FROM alerts WHERE session_id = ? AND status != 'pending'",
                      [session_id]).fetchone()[0] > 0


def has_session_alerts(db: sqlite_utils.Database, session_id: int) -> bool:
    """Whether the session was ever queued to alert as a new session."""
    return db.execute("SELECT COUNT(*) FROM alerts WHERE session_id = ? AND kind = 'session'",
                      [session_id]).fetchone()[0] > 0


def alert_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """How many rows are in each status (every status named, zero included)."""
    counts = {status: 0 for status in ("pending", "sending", "sent", "failed")}
    for status, n in db.execute("SELECT status, COUNT(*) FROM alerts GROUP BY status"):
        counts[status] = n
    return counts


def alerts_given_up(db: sqlite_utils.Database) -> list[dict]:
    """The rows that failed for good, with their last error."""
    return list(db.query(f"SELECT {_COLUMNS} FROM alerts WHERE status = 'failed' ORDER BY id"))


def alerts_retrying(db: sqlite_utils.Database) -> list[dict]:
    """The rows still to deliver after at least one attempt."""
    return list(db.query(f"SELECT {_COLUMNS} FROM alerts WHERE status IN ('pending', 'sending') "
                         "AND attempts > 0 ORDER BY id"))
