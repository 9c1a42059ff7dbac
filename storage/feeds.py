"""What the session feeds show (web/feeds.py): held sessions with their reports, and the
previews of sessions not held yet.

Reads only. The ``uid``, ``revision`` and ``updated_at`` of a session are kept by the
triggers of migration ``0006_session_revisions`` (:mod:`storage.schema`).
"""

from __future__ import annotations

import sqlite_utils

__all__ = ["feed_sessions", "feed_reports", "feed_previews", "feed_fingerprint"]


def feed_sessions(db: sqlite_utils.Database) -> list[dict]:
    """Every session (id, uid, body, number, period, date, title, first_seen, updated_at,
    revision)."""
    return list(db.query(
        "SELECT id, uid, key, body, number, period, date, title, first_seen, updated_at, "
        "revision FROM sessions ORDER BY id"))


def feed_reports(db: sqlite_utils.Database) -> list[dict]:
    """Every article reporting a session (session_id, article_id, url, source, title,
    published_at, evidence, attached_at), first seen first within each session."""
    return list(db.query(
        "SELECT sa.session_id, a.id AS article_id, a.url, a.source, a.title, a.published_at, "
        "sa.evidence, sa.attached_at FROM session_articles sa "
        "JOIN articles a ON a.id = sa.article_id WHERE sa.role = 'report' "
        "ORDER BY sa.session_id, a.first_seen, a.id"))


def feed_previews(db: sqlite_utils.Database) -> list[dict]:
    """Every stored preview of a watched body's session (body, number, period, date,
    evidence, and its article: article_id, url, source, title, published_at, first_seen),
    first seen first. Whether a held session matches it is the caller's question."""
    return list(db.query(
        "SELECT m.body, m.number, m.period, m.date, m.evidence, a.id AS article_id, a.url, "
        "a.source, a.title, a.published_at, a.first_seen FROM mentions m "
        "JOIN articles a ON a.id = m.article_id WHERE m.role = 'preview' "
        "ORDER BY a.first_seen, a.id, m.id"))


def feed_fingerprint(db: sqlite_utils.Database) -> tuple:
    """A value that changes whenever what the feeds show may have changed, read in well
    under a millisecond: the database file, and the count, largest id and revisions of
    sessions, their articles and the mentions.

    Why these are enough: a session created, folded or corrected changes the sessions'
    count, largest id or total revision (the trigger of ``0006_session_revisions``);
    an article attached changes session_articles; and every (re)processing of an
    article that mentions a session replaces its mentions with new ids, which is how an
    edited article's evidence or date reaches the feeds.
    """
    (path,) = db.execute("SELECT file FROM pragma_database_list WHERE name = 'main'").fetchone()
    counts = db.execute(
        "SELECT (SELECT COUNT(*) FROM sessions), (SELECT MAX(id) FROM sessions), "
        "(SELECT TOTAL(revision) FROM sessions), (SELECT COUNT(*) FROM session_articles), "
        "(SELECT MAX(rowid) FROM session_articles), (SELECT COUNT(*) FROM mentions), "
        "(SELECT MAX(id) FROM mentions)").fetchone()
    return (path, *counts)
