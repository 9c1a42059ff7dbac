"""Sessions, the mentions detection found, and which articles report which session.

Tables: ``sessions``, ``mentions``, ``session_articles``. The grouping rules that decide
what goes where are pure functions in :mod:`monitor.grouping`; these functions only
read and write rows. Times are UTC ISO text (:func:`storage.schema.utcnow_iso`).
"""

from __future__ import annotations

import sqlite_utils

from core.models import Mention

__all__ = ["replace_mentions", "add_mention", "reported_sessions", "sessions_of_body",
           "sessions_of_body_or_key", "create_session", "update_session", "mark_alertable",
           "fold_session", "attach_article", "count_other_reports", "session_holding_key",
           "list_sessions", "session_for_alert", "reporting_articles"]

# the columns of a session that grouping may change (update_session refuses others)
_MUTABLE = ("key", "number", "period", "date")


def replace_mentions(db: sqlite_utils.Database, article_id: int) -> None:
    """Forget the article's mentions (its content is being detected again)."""
    db.execute("DELETE FROM mentions WHERE article_id = ?", [article_id])


def add_mention(db: sqlite_utils.Database, article_id: int, m: Mention) -> None:
    """Store one mention detection found in the article."""
    db.execute(
        "INSERT INTO mentions (article_id, body, number, period, date, role, evidence, "
        "confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [article_id, m.body, m.number, m.period, m.date.isoformat() if m.date else None,
         m.role, m.evidence, m.confidence])


def reported_sessions(db: sqlite_utils.Database, article_id: int) -> list[dict]:
    """The sessions the article is attached to as a report."""
    return list(db.query(
        "SELECT s.* FROM sessions s JOIN session_articles sa ON sa.session_id = s.id "
        "WHERE sa.article_id = ? AND sa.role = 'report'", [article_id]))


def sessions_of_body(db: sqlite_utils.Database, body: str) -> list[dict]:
    """Every session of the watched body ``body``."""
    return list(db.query("SELECT * FROM sessions WHERE body = ?", [body]))


def sessions_of_body_or_key(db: sqlite_utils.Database, body: str, key: str | None) -> list[dict]:
    """Every session of ``body``, and the one holding ``key`` (whatever its body)."""
    return list(db.query("SELECT * FROM sessions WHERE body = ? OR key = ?", [body, key]))


def create_session(db: sqlite_utils.Database, *, key: str, body: str, number: int | None,
                   period: str | None, day: str | None, title: str | None,
                   first_seen: str) -> int:
    """A new session row; its id."""
    cursor = db.execute(
        "INSERT INTO sessions (key, body, number, period, date, title, first_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", [key, body, number, period, day, title, first_seen])
    return cursor.lastrowid


def update_session(db: sqlite_utils.Database, session_id: int, updates: dict) -> None:
    """Set the session's ``key``, ``number``, ``period`` and/or ``date``."""
    unknown = set(updates) - set(_MUTABLE)
    if unknown:
        raise ValueError(f"not a session column grouping may change: {sorted(unknown)}")
    if updates:
        sets = ", ".join(f"{column} = ?" for column in updates)
        db.execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*updates.values(), session_id])


def mark_alertable(db: sqlite_utils.Database, session_id: int) -> None:
    """The session is news: it alerts (its alert rows are written beside)."""
    db.execute("UPDATE sessions SET alertable = 1 WHERE id = ?", [session_id])


def fold_session(db: sqlite_utils.Database, keep_id: int, other_id: int) -> None:
    """Move ``other_id``'s articles over to ``keep_id``, then delete it and its (unsent)
    alert rows."""
    db.execute("INSERT OR IGNORE INTO session_articles (session_id, article_id, role, "
               "evidence, confidence, attached_at) SELECT ?, article_id, role, evidence, "
               "confidence, attached_at FROM session_articles WHERE session_id = ?",
               [keep_id, other_id])
    db.execute("DELETE FROM alerts WHERE session_id = ?", [other_id])
    db.execute("DELETE FROM sessions WHERE id = ?", [other_id])


def attach_article(db: sqlite_utils.Database, session_id: int, article_id: int, m: Mention,
                   attached_at: str) -> int:
    """Attach the article to the session by mention ``m``; 1 if a row was written or
    changed. A report never becomes a mere preview or reference again, and keeps its
    evidence against theirs."""
    cursor = db.execute(
        "INSERT INTO session_articles (session_id, article_id, role, evidence, confidence, "
        "attached_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id, article_id) DO UPDATE "
        "SET role = CASE WHEN excluded.role = 'report' THEN 'report' ELSE role END, "
        "evidence = CASE WHEN excluded.role = 'report' OR role != 'report' "
        "THEN excluded.evidence ELSE evidence END",
        [session_id, article_id, m.role, m.evidence, m.confidence, attached_at])
    return cursor.rowcount


def count_other_reports(db: sqlite_utils.Database, session_id: int, article_id: int) -> int:
    """How many articles other than ``article_id`` report the session."""
    return db.execute("SELECT COUNT(*) FROM session_articles WHERE session_id = ? "
                      "AND article_id != ? AND role = 'report'",
                      [session_id, article_id]).fetchone()[0]


def session_holding_key(db: sqlite_utils.Database, key: str, *,
                        other_than: int | None = None) -> int | None:
    """The id of the session whose key is ``key`` (other than ``other_than``), or None."""
    row = db.execute("SELECT id FROM sessions WHERE key = ? AND id IS NOT ?",
                     [key, other_than]).fetchone()
    return row[0] if row else None


# --- read by the CLI and the notifier -----------------------------------------------------


def list_sessions(db: sqlite_utils.Database, *, body: str | None = None) -> list[dict]:
    """Sessions with their outlets and first report, newest meeting first."""
    where, params = ("WHERE s.body = ?", [body]) if body else ("", [])
    return list(db.query(
        f"""SELECT s.id, s.body, s.number, s.period, s.date, s.title, s.first_seen, s.alertable,
               COUNT(DISTINCT sa.article_id) AS articles,
               COUNT(DISTINCT a.source) AS outlets,
               (SELECT a2.url FROM session_articles sa2 JOIN articles a2 ON a2.id = sa2.article_id
                 WHERE sa2.session_id = s.id AND sa2.role = 'report'
                 ORDER BY a2.first_seen, a2.id LIMIT 1) AS first_report
            FROM sessions s
            LEFT JOIN session_articles sa ON sa.session_id = s.id AND sa.role = 'report'
            LEFT JOIN articles a ON a.id = sa.article_id
            {where}
            GROUP BY s.id
            ORDER BY s.date DESC NULLS LAST, s.id DESC""", params))


def session_for_alert(db: sqlite_utils.Database, session_id: int) -> dict | None:
    """The session facts an alert shows: id, body, number, period, date, title, first_seen."""
    return next(db.query("SELECT id, body, number, period, date, title, first_seen "
                         "FROM sessions WHERE id = ?", [session_id]), None)


def reporting_articles(db: sqlite_utils.Database, session_id: int) -> list[dict]:
    """The articles that report the session (url, source, title, published_at, evidence),
    first seen first."""
    return list(db.query(
        "SELECT a.url, a.source, a.title, a.published_at, sa.evidence FROM session_articles sa "
        "JOIN articles a ON a.id = sa.article_id WHERE sa.session_id = ? AND sa.role = 'report' "
        "ORDER BY a.first_seen, a.id", [session_id]))
