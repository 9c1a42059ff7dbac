"""The old home of sessions, kept importable for this round of issue 13.

It was split by what each part does:

- :mod:`monitor.process` — the pass after every crawl (:func:`process_articles`);
- :mod:`monitor.grouping` — the grouping rules, pure (also used by the scoring);
- :mod:`monitor.sessions` — the rules applied to stored sessions;
- :mod:`monitor.alerting` — whether a new session is news, and queueing its alerts;
- :mod:`monitor.corrections` — an edited article correcting its session;
- :mod:`storage.sessions` — every read and write of sessions (``list_sessions``,
  ``session_detail`` for the CLI).

New code imports from those modules; this one only re-exports.
"""

from __future__ import annotations

from monitor.grouping import (
    duplicate_sessions,
    group_reports,
    group_sessions,
    match_session,
    session_key,
    session_updates,
)
from monitor.process import ProcessReport, process_articles
from monitor.sessions import watched_name
from storage.sessions import list_sessions, session_detail

__all__ = ["process_articles", "ProcessReport", "session_key", "list_sessions", "match_session",
           "session_updates", "duplicate_sessions", "group_reports", "group_sessions",
           "session_detail", "watched_name"]
