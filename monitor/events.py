"""From stored articles to sessions: detection, grouping, and the alert decision.

:func:`process_articles` runs after every crawl (scheduled, ``dxmon crawl`` or a manual
``scrapy crawl news``). For each article whose current content has not been
processed it runs :func:`monitor.detect.detect`, stores the mentions, and groups
reports of all outlets into sessions:

- a session is identified by (body, number, numbering period), or by (body, date)
  when unnumbered; an unnumbered report merges with the numbered report of the same
  body and date, whichever arrives first;
- ``report`` mentions create or join sessions; ``preview`` and ``reference`` mentions
  only attach to sessions that already exist;
- a ``meeting`` mention (the body's meeting told without "phiên họp": a conference it
  holds, or that its chair chairs as chair) joins the known session of its body and
  day as a report (one stored before, or formed by a report later in the same pass),
  and never creates one: no session, no alert of its own;
- a session created from an article first seen *after* its source's baseline crawl,
  and dated within ``[monitor] fresh_days`` of now, is new news: its alert rows (one
  per configured channel) are written in the same transaction that creates it.
  Everything else is history and never alerts;
- when an edit changes the number or date an article reported, the session is
  corrected and one correction notice goes through the outbox.

It is idempotent: an article is marked with the content hash it was processed at,
so running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import sqlite_utils

from core.config import Config
from core.models import VN_TZ, Mention
from storage import queries
from storage.schema import transaction, utcnow_iso

__all__ = ["process_articles", "ProcessReport", "session_key", "list_sessions", "match_session",
           "session_updates", "duplicate_sessions", "group_reports", "group_sessions"]

Detector = Callable[[str, datetime | None], list[Mention]]


@dataclass
class ProcessReport:
    """What one processing pass did."""

    articles: int = 0
    mentions: int = 0
    new_sessions: list[int] = field(default_factory=list)
    alerted_sessions: list[int] = field(default_factory=list)
    attached: int = 0
    corrected_sessions: list[int] = field(default_factory=list)


def session_key(body: str, number: int | None, period: str | None, day: date | str | None) -> str:
    """The unique key of a session: ``body:n:NUMBER[:PERIOD]`` or ``body:d:DATE``."""
    if number is not None:
        return f"{body}:n:{number}" + (f":{period}" if period else "")
    if day is None:
        raise ValueError("an unnumbered session needs a date")
    return f"{body}:d:{day if isinstance(day, str) else day.isoformat()}"


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def process_articles(db: sqlite_utils.Database, config: Config, *, now: datetime | None = None,
                     detector: Detector | None = None) -> ProcessReport:
    """Detect and group every unprocessed article; enqueue alerts for new sessions."""
    now = now or datetime.now(VN_TZ)
    if detector is None:
        from monitor.detect import detect  # imported late: keeps CLI start fast

        def detector(text, published):
            return detect(text, published, config.watch)
    report = ProcessReport()
    waiting: list[tuple[int, Mention]] = []  # meetings whose session no report has formed yet
    for article in queries.unprocessed_articles(db):
        published = _parse_dt(article["published_at"])
        mentions = detector(f"{article['title'] or ''}\n{article['text']}", published)
        with transaction(db):
            waiting += _process_one(db, config, article, mentions, now, report)
        report.articles += 1
        report.mentions += len(mentions)
    if waiting:  # a report later in the same pass may have formed their session
        with transaction(db):
            for article_id, m in waiting:
                _join_meeting(db, article_id, m, now, report)
    return report


def _process_one(db, config: Config, article: dict, mentions: list[Mention], now: datetime,
                 report: ProcessReport) -> list[tuple[int, Mention]]:
    """Store and group one article's mentions; returns its meetings that joined nothing."""
    article_id = article["id"]
    edited = article["processed_hash"] is not None
    previous = _reported_sessions(db, article_id) if edited else []
    db.execute("DELETE FROM mentions WHERE article_id = ?", [article_id])
    meetings = [m for m in mentions if m.role == "meeting"]
    mentions = [m for m in mentions if m.role != "meeting"]
    for m in mentions:
        _store_mention(db, article_id, m)

    reports = [m for m in mentions if m.role == "report"]
    if edited and previous:
        reports = _apply_corrections(db, config, article, previous, reports, now, report)

    for m in reports:
        session_id, created = _find_or_create_session(db, m, article, now)
        _attach(db, session_id, article_id, m, now, report)
        if created:
            report.new_sessions.append(session_id)
            if _is_news(db, config, article, m, now):
                db.execute("UPDATE sessions SET alertable = 1 WHERE id = ?", [session_id])
                _enqueue(db, config, session_id, now)
                report.alerted_sessions.append(session_id)
    for m in mentions:
        if m.role == "report":
            continue
        session = _match_session(db, m)
        if session is not None:
            _attach(db, session["id"], article_id, m, now, report)
    waiting = [(article_id, m) for m in meetings
               if not _join_meeting(db, article_id, m, now, report)]
    db.execute("UPDATE articles SET processed_hash = content_hash WHERE id = ?", [article_id])
    return waiting


def _join_meeting(db, article_id: int, m: Mention, now: datetime, report: ProcessReport) -> bool:
    """Attach a meeting mention to the known session of its body and day, as a report.

    A meeting never creates a session by itself: without one, nothing is stored.
    """
    session = _match_session(db, m)
    if session is None:
        return False
    joined = replace(m, role="report")
    _store_mention(db, article_id, joined)
    _attach(db, session["id"], article_id, joined, now, report)
    return True


def _store_mention(db, article_id: int, m: Mention) -> None:
    db.execute(
        "INSERT INTO mentions (article_id, body, number, period, date, role, evidence, "
        "confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [article_id, m.body, m.number, m.period, m.date.isoformat() if m.date else None,
         m.role, m.evidence, m.confidence])


def _reported_sessions(db, article_id: int) -> list[dict]:
    return list(db.query(
        "SELECT s.* FROM sessions s JOIN session_articles sa ON sa.session_id = s.id "
        "WHERE sa.article_id = ? AND sa.role = 'report'", [article_id]))


# --- the grouping rules, pure: the database code below and the scoring share them ------


def match_session(sessions: Iterable[Mapping], m: Mention) -> Mapping | None:
    """Which of the known ``sessions`` the mention ``m`` is about, if any.

    ``sessions`` are rows with ``id``, ``body``, ``number``, ``period`` and ``date`` (ISO
    text); rows of other bodies are ignored. A numbered mention matches the session with
    its number and numbering period; failing that, one whose period (or the mention's) is
    unstated and whose date agrees; failing that, the unnumbered session of its date. An
    unnumbered mention matches the session of its date, a numbered one first.
    """
    day = m.date.isoformat() if m.date else None
    rows = sorted((r for r in sessions if r["body"] == m.body), key=lambda r: r["id"])
    if m.number is not None:
        same = [r for r in rows if r["number"] == m.number]
        for row in same:
            if row["period"] == m.period:
                return row
        for row in same:
            # one side states no numbering period: the same session if the dates agree
            if (row["period"] is None or m.period is None) and day and row["date"] == day:
                return row
        if day:
            return next((r for r in rows if r["number"] is None and r["date"] == day), None)
        return None
    if day is None:
        return None
    dated = [r for r in rows if r["date"] == day]
    return min(dated, key=lambda r: (r["number"] is None, r["id"]), default=None)


def session_updates(row: Mapping, m: Mention) -> dict:
    """What a report ``m`` adds to the session ``row`` it joined: a number, a date."""
    updates: dict = {}
    if m.number is not None and row["number"] is None:
        updates.update(number=m.number, period=m.period,
                       key=session_key(m.body, m.number, m.period, None))
    if row["date"] is None and m.date:
        updates["date"] = m.date.isoformat()
    return updates


def duplicate_sessions(sessions: Iterable[Mapping], keep_id: int, body: str,
                       new_key: str | None, day: str | None) -> list[Mapping]:
    """Other sessions of the same meeting, to fold into ``keep_id`` when its key changes:
    the one already holding ``new_key``, and unnumbered ones of the same body and ``day``."""
    rows = [r for r in sessions if r["id"] != keep_id]
    out = [r for r in rows if new_key and r["key"] == new_key]
    out += [r for r in rows if day and r["body"] == body and r["number"] is None
            and r["date"] == day]
    return out


def group_reports(reports: Iterable[tuple[Hashable, Mention]]) -> dict[Hashable, set[int]]:
    """The sessions the reports form, by the same rules as :func:`process_articles`.

    ``reports`` are (item, report or meeting mention) pairs in the order they are
    processed; the answer maps each item to the ids of the sessions it reports (after
    every merge). In memory, with no alerts: a duplicate session is always folded.
    """
    return group_sessions(reports)[0]


def group_sessions(reports: Iterable[tuple[Hashable, Mention]]
                   ) -> tuple[dict[Hashable, set[int]], dict[int, dict]]:
    """:func:`group_reports`, with the sessions formed (id → row) as well.

    A ``meeting`` mention joins the session :func:`match_session` finds among those
    formed so far, and is dropped when there is none.
    """
    sessions: dict[int, dict] = {}
    members: dict[int, set] = {}
    for item, m in reports:
        row = match_session(sessions.values(), m)
        if m.role == "meeting":
            if row is not None:
                members[row["id"]].add(item)
            continue
        if row is None:
            if m.number is None and m.date is None:
                continue  # detection never returns such a report
            sid = len(members) + 1
            sessions[sid] = {"id": sid, "body": m.body, "number": m.number, "period": m.period,
                             "date": m.date.isoformat() if m.date else None,
                             "key": session_key(m.body, m.number, m.period, m.date)}
            members[sid] = set()
            row = sessions[sid]
        updates = session_updates(row, m)
        if updates:
            day = m.date.isoformat() if m.date else None
            for other in duplicate_sessions(list(sessions.values()), row["id"], m.body,
                                            updates.get("key"), day):
                members[row["id"]] |= members[other["id"]]
                members[other["id"]] = set()
                del sessions[other["id"]]
            row.update(updates)
        members[row["id"]].add(item)
    out: dict[Hashable, set[int]] = {}
    for sid, items in members.items():
        for item in items:
            out.setdefault(item, set()).add(sid)
    return out, sessions


# --- the same rules against the database -------------------------------------------------


def _match_session(db, m: Mention) -> dict | None:
    """The stored session ``m`` is about, if any (see :func:`match_session`)."""
    return match_session(db.query("SELECT * FROM sessions WHERE body = ?", [m.body]), m)


def _find_or_create_session(db, m: Mention, article: dict, now: datetime) -> tuple[int, bool]:
    """The session a report belongs to, created if new; unnumbered sessions get upgraded."""
    day = m.date.isoformat() if m.date else None
    row = _match_session(db, m)
    if row is not None:
        updates = session_updates(row, m)
        if updates:
            _merge_duplicate(db, row["id"], m.body, updates.get("key"), day)
            sets = ", ".join(f"{k} = ?" for k in updates)
            db.execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*updates.values(), row["id"]])
        return row["id"], False
    if m.number is None and day is None:
        raise ValueError("detection returned a report with neither number nor date")
    key = session_key(m.body, m.number, m.period, day)
    cursor = db.execute(
        "INSERT INTO sessions (key, body, number, period, date, title, first_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [key, m.body, m.number, m.period, day, article["title"], utcnow_iso(now)])
    return cursor.lastrowid, True


def _merge_duplicate(db, keep_id: int, body: str, new_key: str | None, day: str | None) -> None:
    """Fold another session of the same meeting into ``keep_id`` before its key changes.

    Happens when a numbered report without a date and an unnumbered report of the same
    day were stored as two sessions, and a third report links them. The other session's
    articles move over; it is deleted only if no alert for it was ever sent.
    """
    candidates = duplicate_sessions(db.query("SELECT * FROM sessions WHERE body = ? OR key = ?",
                                             [body, new_key]), keep_id, body, new_key, day)
    for other in candidates:
        sent = db.execute("SELECT COUNT(*) FROM alerts WHERE session_id = ? AND status != 'pending'",
                          [other["id"]]).fetchone()[0]
        if sent:
            continue
        db.execute("INSERT OR IGNORE INTO session_articles (session_id, article_id, role, "
                   "evidence, confidence, attached_at) SELECT ?, article_id, role, evidence, "
                   "confidence, attached_at FROM session_articles WHERE session_id = ?",
                   [keep_id, other["id"]])
        db.execute("DELETE FROM alerts WHERE session_id = ?", [other["id"]])
        db.execute("DELETE FROM sessions WHERE id = ?", [other["id"]])


def _attach(db, session_id: int, article_id: int, m: Mention, now: datetime,
            report: ProcessReport) -> None:
    cursor = db.execute(
        "INSERT INTO session_articles (session_id, article_id, role, evidence, confidence, "
        "attached_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id, article_id) DO UPDATE "
        "SET role = CASE WHEN excluded.role = 'report' THEN 'report' ELSE role END, "
        "evidence = CASE WHEN excluded.role = 'report' OR role != 'report' "
        "THEN excluded.evidence ELSE evidence END",
        [session_id, article_id, m.role, m.evidence, m.confidence, utcnow_iso(now)])
    report.attached += cursor.rowcount


def _is_news(db, config: Config, article: dict, m: Mention, now: datetime) -> bool:
    """Whether a new session is news (alert) or history (no alert). See module docstring."""
    baseline = queries.source_baseline(db, article["source"])
    if baseline is None or article["first_seen"] <= baseline:
        return False  # found by the source's first (baseline) crawl, or before it finished
    day = m.date
    if day is None and article["published_at"]:
        day = datetime.fromisoformat(article["published_at"]).astimezone(VN_TZ).date()
    if day is None:
        return False  # cannot tell how old it is: precision first
    today = now.astimezone(VN_TZ).date()
    return today - timedelta(days=config.fresh_days) <= day <= today + timedelta(days=1)


def _enqueue(db, config: Config, session_id: int, now: datetime, *, kind: str = "session",
             detail: dict | None = None) -> None:
    if not config.notify:
        return
    from notifier.outbox import enqueue_alerts

    enqueue_alerts(db, session_id, config.notify, kind=kind, detail=detail, now=now)


def _apply_corrections(db, config: Config, article: dict, previous: list[dict],
                       reports: list[Mention], now: datetime, report: ProcessReport
                       ) -> list[Mention]:
    """An edited article changed the number or date of the session it reported.

    When the article reported one session before and reports one of the same body now,
    with a different number or date, and no other article reports the old values, the
    session itself is corrected (not a new session, not a new alert); if it had alerts,
    one correction notice per channel is queued. Returns the reports still to group.
    """
    if len(previous) != 1 or len(reports) != 1 or previous[0]["body"] != reports[0].body:
        return reports
    old, m = previous[0], reports[0]
    day = m.date.isoformat() if m.date else old["date"]
    number = m.number if m.number is not None else old["number"]
    period = m.period if m.number is not None else old["period"]
    if (number, day, period) == (old["number"], old["date"], old["period"]):
        return reports
    others = db.execute("SELECT COUNT(*) FROM session_articles WHERE session_id = ? "
                        "AND article_id != ? AND role = 'report'",
                        [old["id"], article["id"]]).fetchone()[0]
    if others:
        return reports  # other outlets still report the old values: just regroup this one
    key = session_key(m.body, number, period, day)
    clash = db.execute("SELECT id FROM sessions WHERE key = ? AND id != ?",
                       [key, old["id"]]).fetchone()
    if clash:
        return reports
    db.execute("UPDATE sessions SET number = ?, period = ?, date = ?, key = ? WHERE id = ?",
               [number, period, day, key, old["id"]])
    report.corrected_sessions.append(old["id"])
    had_alerts = db.execute("SELECT COUNT(*) FROM alerts WHERE session_id = ? AND kind = 'session'",
                            [old["id"]]).fetchone()[0]
    if had_alerts:
        detail = {"before": {"number": old["number"], "date": old["date"]},
                  "after": {"number": number, "date": day}, "article": article["url"]}
        _enqueue(db, config, old["id"], now, kind="correction", detail=detail)
    return reports


def list_sessions(db: sqlite_utils.Database, *, body: str | None = None) -> list[dict]:
    """Sessions with their outlets and first report, newest meeting first."""
    where, params = ("WHERE s.body = ?", [body]) if body else ("", [])
    rows = list(db.query(
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
    return rows


def session_detail(db: sqlite_utils.Database, session_id: int) -> dict:
    """One session with every attached article (role, evidence)."""
    session = db["sessions"].get(session_id)
    session["articles"] = list(db.query(
        "SELECT a.id, a.url, a.source, a.title, a.published_at, sa.role, sa.evidence "
        "FROM session_articles sa JOIN articles a ON a.id = sa.article_id "
        "WHERE sa.session_id = ? ORDER BY a.first_seen, a.id", [session_id]))
    return session


def watched_name(config: Config, body: str) -> str:
    """The display name of a watched body id."""
    for w in config.watch:
        if w.id == body:
            return w.name
    return body
