"""The rules that group reports into sessions, pure: no database, no clock.

The driver (:mod:`monitor.process`) applies them to stored sessions through
:mod:`storage.sessions`; the detection scoring applies them in memory
(:func:`group_sessions`). One set of rules, so what is scored is what runs.

- a session is identified by (body, number, numbering period), or by (body, date)
  when unnumbered; an unnumbered report merges with the numbered report of the same
  body and date, whichever arrives first;
- a ``meeting`` mention joins the known session of its body and day, and never
  creates one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import date

from core.models import Mention

__all__ = ["session_key", "match_session", "session_updates", "duplicate_sessions",
           "group_reports", "group_sessions"]


def session_key(body: str, number: int | None, period: str | None, day: date | str | None) -> str:
    """The unique key of a session: ``body:n:NUMBER[:PERIOD]`` or ``body:d:DATE``."""
    if number is not None:
        return f"{body}:n:{number}" + (f":{period}" if period else "")
    if day is None:
        raise ValueError("an unnumbered session needs a date")
    return f"{body}:d:{day if isinstance(day, str) else day.isoformat()}"


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
    """The sessions the reports form, by the rules :func:`monitor.process.process_articles` applies.

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
