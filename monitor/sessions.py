"""Grouping applied to the database: the pure rules of :mod:`monitor.grouping` over the
stored sessions, through :mod:`storage.sessions`.

A report finds or creates its session (an unnumbered session gets the number a later
report gives, folding a duplicate the two had made); a preview, reference or meeting
only attaches to a session that exists.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from core.config import Config
from core.models import Mention
from monitor.grouping import duplicate_sessions, match_session, session_key, session_updates
from storage import outbox as alerts
from storage import sessions
from storage.schema import utcnow_iso

__all__ = ["stored_session", "find_or_create_session", "attach", "watched_name"]


def stored_session(db: sqlite_utils.Database, m: Mention) -> dict | None:
    """The stored session ``m`` is about, if any (see :func:`monitor.grouping.match_session`)."""
    return match_session(sessions.sessions_of_body(db, m.body), m)


def find_or_create_session(db: sqlite_utils.Database, m: Mention, title: str | None,
                           now: datetime) -> tuple[int, bool]:
    """The session a report belongs to, and whether it was created now (titled
    ``title``); a session it joins gets the number or date it lacked."""
    day = m.date.isoformat() if m.date else None
    row = stored_session(db, m)
    if row is not None:
        updates = session_updates(row, m)
        if updates:
            _fold_duplicates(db, row["id"], m.body, updates.get("key"), day)
            sessions.update_session(db, row["id"], updates)
        return row["id"], False
    if m.number is None and day is None:
        raise ValueError("detection returned a report with neither number nor date")
    return sessions.create_session(db, key=session_key(m.body, m.number, m.period, day),
                                   body=m.body, number=m.number, period=m.period, day=day,
                                   title=title, first_seen=utcnow_iso(now)), True


def _fold_duplicates(db, keep_id: int, body: str, new_key: str | None, day: str | None) -> None:
    """Fold another session of the same meeting into ``keep_id`` before its key changes.

    Happens when a numbered report without a date and an unnumbered report of the same
    day were stored as two sessions, and a third report links them. The other session's
    articles move over; it is deleted only if no alert for it was ever sent.
    """
    candidates = duplicate_sessions(sessions.sessions_of_body_or_key(db, body, new_key),
                                    keep_id, body, new_key, day)
    for other in candidates:
        if not alerts.has_sent_alerts(db, other["id"]):
            sessions.fold_session(db, keep_id, other["id"])


def attach(db: sqlite_utils.Database, session_id: int, article_id: int, m: Mention,
           now: datetime) -> int:
    """Attach the article to the session by ``m``; 1 if a row was written or changed."""
    return sessions.attach_article(db, session_id, article_id, m, utcnow_iso(now))


def watched_name(config: Config, body: str) -> str:
    """The display name of a watched body id."""
    for w in config.watch:
        if w.id == body:
            return w.name
    return body
