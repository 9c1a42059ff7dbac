"""The session feeds: Atom 1.0 (feedgen) and iCalendar (icalendar), one entry or event per
session of every watched body, newest first.

- A *held* session is one a report made (``sessions``); an *upcoming* one is a preview
  of a meeting no stored session matches yet (:func:`monitor.grouping.match_session`),
  shown as the preview announced it: tentative, at its expected date.
- Identity: both feeds name a session by ``urn:uuid`` / UID made from its ``uid``
  (:mod:`storage.schema`, migration ``0006_session_revisions``). The uid is fixed when
  the session is first stored and taken from the preview that announced it, if any, so
  a feed reader or calendar updates one item through preview → held → corrected
  instead of showing a duplicate.
- Change: the Atom ``updated`` and the iCalendar ``DTSTAMP``/``LAST-MODIFIED`` are the
  latest of the session's first sight, its last correction (``updated_at``) and the
  last report attached to it; ``SEQUENCE`` is 0 for a preview, 1 + the number of
  corrections for a held session (RFC 5545: it grows when date or status change).

Rendered feeds are kept (:func:`_cached`) until the archive's feed fingerprint changes
(:func:`storage.feeds.feed_fingerprint`): icalendar folds every line character by
character, ~1.3 ms an event, so 300 sessions cost ~0.4 s to render, while readers and
calendars poll a feed that changes a few times a day.

Nothing is escaped here: the libraries do it. Characters XML and iCalendar text cannot
carry at all (C0/C1 controls from a hostile page) are dropped, nothing else.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlite_utils
from feedgen.feed import FeedGenerator
from icalendar import Calendar, Event

from core.config import DEFAULT_WATCH
from core.models import VN_TZ, Mention
from monitor.grouping import match_session, session_key
from storage.feeds import feed_fingerprint, feed_previews, feed_reports, feed_sessions

__all__ = ["atom_feed", "ics_feed", "FeedItem", "feed_items", "entry_uuid"]

ATOM_PATH = "/feeds/sessions.atom"
ICS_PATH = "/feeds/sessions.ics"

# uuid5 namespace of dxmon's session identifiers: the same session key gives the same id
# on every install and every run (and a calendar's UID must never change)
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "dxmon:session")

# XML 1.0 and iCalendar TEXT cannot hold these (tab and newline excepted), nor a
# non-character; lxml refuses a string holding one, so one hostile title would cost
# the whole feed. U+FEFF (a byte-order mark inside text) is invisible, and iCalendar
# parsers drop it where a value begins: kept, the two feeds would disagree.
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff\ud800-\udfff]")

_LABELS = {
    "vi": {"feed": "dxmon — các phiên họp", "session": "phiên họp thứ {n}",
           "period": " năm {p}", "unnumbered": "phiên họp không số",
           "upcoming": "Sắp diễn ra — ", "reported": "Đưa tin: ", "announced": "Báo trước: ",
           "subtitle": "Các phiên họp của những cơ quan được theo dõi"},
    "en": {"feed": "dxmon — sessions", "session": "session {n}", "period": " of {p}",
           "unnumbered": "unnumbered session", "upcoming": "Upcoming — ",
           "reported": "Reported by: ", "announced": "Announced by: ",
           "subtitle": "Sessions of the watched bodies"},
}


@dataclass(frozen=True)
class FeedItem:
    """One session as both feeds show it."""

    uid: str
    held: bool  # False: an upcoming session known from its previews only
    body: str
    number: int | None
    period: str | None
    day: date  # the meeting's date (or the first report's, when the text gave none)
    link_path: str  # /sessions/N, or the preview's /articles/N
    evidence: str
    outlets: tuple[str, ...]
    created: datetime
    updated: datetime
    sequence: int

    @property
    def uuid(self) -> str:
        return entry_uuid(self.uid)


def entry_uuid(uid: str) -> str:
    """The UUID both feeds give the session whose uid is ``uid``."""
    return str(uuid.uuid5(_NAMESPACE, uid))


def _clean(text: str | None) -> str:
    return _UNWRITABLE.sub("", text or "")


def _lines(text: str) -> str:
    """iCalendar TEXT has one line break, written ``\\n``: CR LF and a lone CR become it."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _moment(value: str | None) -> datetime | None:
    """A stored time (ISO, with offset or ``Z``) as an aware datetime; naive is UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def feed_items(db: sqlite_utils.Database) -> list[FeedItem]:
    """Held and upcoming sessions, newest meeting first."""
    sessions = feed_sessions(db)
    reports: dict[int, list[dict]] = {}
    for row in feed_reports(db):
        reports.setdefault(row["session_id"], []).append(row)
    items = [_held(s, reports.get(s["id"], [])) for s in sessions]
    items += _upcoming(feed_previews(db), sessions)
    return sorted(items, key=lambda i: (i.day, i.updated, i.uid), reverse=True)


def _held(s: dict, reports: list[dict]) -> FeedItem:
    first_seen = _moment(s["first_seen"])
    first = reports[0] if reports else None
    day = (_day(s["date"]) or (_moment(first["published_at"]) if first and first["published_at"]
                               else first_seen).astimezone(VN_TZ).date())
    changes = [first_seen, _moment(s["updated_at"]), *(_moment(r["attached_at"]) for r in reports)]
    return FeedItem(uid=s["uid"] or s["key"], held=True, body=s["body"], number=s["number"],
                    period=s["period"], day=day, link_path=f"/sessions/{s['id']}",
                    evidence=first["evidence"] if first else (s["title"] or ""),
                    outlets=tuple(dict.fromkeys(r["source"] for r in reports)),
                    created=first_seen, updated=max(c for c in changes if c),
                    sequence=1 + (s["revision"] or 0))


def _upcoming(previews: list[dict], sessions: list[dict]) -> list[FeedItem]:
    """The previews no held session matches, one item per announced meeting (its key);
    the latest preview gives the date and evidence."""
    taken = {s["uid"] for s in sessions} | {s["key"] for s in sessions}
    groups: dict[str, list[dict]] = {}
    for p in previews:
        if p["number"] is None and p["date"] is None:
            continue  # nothing to place it by
        m = Mention(body=p["body"], role="preview", evidence=p["evidence"], number=p["number"],
                    period=p["period"], date=_day(p["date"]))
        key = session_key(m.body, m.number, m.period, m.date)
        if key in taken or match_session(sessions, m) is not None:
            continue
        groups.setdefault(key, []).append(p)
    items = []
    for key, group in groups.items():
        latest = group[-1]
        dated = [p for p in group if p["date"]]
        day = (_day(dated[-1]["date"]) if dated else
               _moment(latest["first_seen"]).astimezone(VN_TZ).date())
        items.append(FeedItem(
            uid=key, held=False, body=latest["body"], number=latest["number"],
            period=latest["period"], day=day, link_path=f"/articles/{latest['article_id']}",
            evidence=latest["evidence"], outlets=tuple(dict.fromkeys(p["source"] for p in group)),
            created=_moment(group[0]["first_seen"]), updated=_moment(latest["first_seen"]),
            sequence=0))
    return items


def _title(item: FeedItem, names: Mapping[str, str], labels: dict) -> str:
    what = (labels["session"].format(n=item.number) if item.number is not None
            else labels["unnumbered"])
    if item.period:
        what += labels["period"].format(p=item.period)
    when = f"{item.day.day}/{item.day.month}/{item.day.year}"
    prefix = "" if item.held else labels["upcoming"]
    return _clean(f"{prefix}{names.get(item.body, item.body)}: {what} ({when})")


def _summary(item: FeedItem, labels: dict) -> str:
    """The evidence sentence, then who reported (or announced) it. Surrounding spaces
    are dropped: feed readers strip them, and a sentence has none that mean anything."""
    who = labels["reported" if item.held else "announced"] + ", ".join(item.outlets)
    parts = (_clean(item.evidence).strip(), who if item.outlets else "")
    return "\n\n".join(p for p in parts if p)


def _names(bodies: Mapping[str, str] | None) -> dict[str, str]:
    """Display names of watched bodies: the default watch's, overridden by ``bodies``."""
    return {**{w.id: w.name for w in DEFAULT_WATCH}, **(bodies or {})}


def _labels(lang: str) -> dict:
    return _LABELS.get(lang, _LABELS["vi"])


# rendered feeds by (fingerprint, kind, base, lang, names): a few archives and languages
_CACHE: OrderedDict[tuple, bytes] = OrderedDict()
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def _cached(db: sqlite_utils.Database, key: tuple, render: Callable[[], bytes]) -> bytes:
    """``render()``, or what it gave for the same ``key`` while the archive's feed
    fingerprint (and file: a new file at the same path is another archive) is the same."""
    fingerprint = feed_fingerprint(db)
    try:
        stat = os.stat(fingerprint[0]) if fingerprint[0] else None
    except OSError:
        stat = None
    full = (fingerprint, stat and (stat.st_dev, stat.st_ino), *key)
    if not fingerprint[0]:  # an in-memory database: nothing to know it by
        return render()
    with _CACHE_LOCK:
        if full in _CACHE:
            _CACHE.move_to_end(full)
            return _CACHE[full]
    body = render()
    with _CACHE_LOCK:
        _CACHE[full] = body
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return body


def atom_feed(db: sqlite_utils.Database, base_url: str, lang: str, *,
              bodies: Mapping[str, str] | None = None) -> bytes:
    """The Atom 1.0 document of every session, newest first.

    ``base_url`` is the web view's address (links and the feed's own id); ``lang``
    ``vi`` or ``en`` for the labels; ``bodies`` maps watched body ids to their names
    (``{w.id: w.name for w in config.watch}``; without it, the default watch's names,
    else the id, are shown).
    """
    key = ("atom", base_url, lang, tuple(sorted((bodies or {}).items())))
    return _cached(db, key, lambda: _atom(db, base_url, lang, _names(bodies)))


def _atom(db: sqlite_utils.Database, base_url: str, lang: str,
          names: Mapping[str, str]) -> bytes:
    base, labels = base_url.rstrip("/"), _labels(lang)
    items = feed_items(db)
    fg = FeedGenerator()
    fg.id(base + ATOM_PATH)
    fg.title(labels["feed"])
    fg.subtitle(labels["subtitle"])
    fg.author({"name": "dxmon"})
    fg.link(href=base + ATOM_PATH, rel="self", type="application/atom+xml")
    fg.link(href=base + "/", rel="alternate", type="text/html")
    fg.language(lang)
    fg.generator("dxmon")
    fg.updated(max((i.updated for i in items), default=datetime.now(UTC)))
    for item in items:
        entry = fg.add_entry(order="append")
        entry.id(f"urn:uuid:{item.uuid}")
        entry.title(_title(item, names, labels))
        entry.link(href=base + item.link_path, rel="alternate", type="text/html")
        entry.published(item.created)
        entry.updated(item.updated)
        entry.summary(_summary(item, labels))
        entry.category(term=item.body, label=_clean(names.get(item.body, item.body)))
    return fg.atom_str(pretty=True)


def ics_feed(db: sqlite_utils.Database, base_url: str, *, lang: str = "vi",
             bodies: Mapping[str, str] | None = None) -> bytes:
    """The iCalendar document of every session: one all-day VEVENT at its date,
    TENTATIVE while only previews announce it, CONFIRMED once a report says it was held.

    UID and SEQUENCE: see the module docstring. ``bodies`` as for :func:`atom_feed`.
    """
    key = ("ics", base_url, lang, tuple(sorted((bodies or {}).items())))
    return _cached(db, key, lambda: _ics(db, base_url, lang, _names(bodies)))


def _ics(db: sqlite_utils.Database, base_url: str, lang: str,
         names: Mapping[str, str]) -> bytes:
    base, labels = base_url.rstrip("/"), _labels(lang)
    cal = Calendar()
    cal.add("prodid", "-//dxmon//sessions//VI")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", labels["feed"])
    # RFC 7986 and its older spelling: a subscribed calendar is fetched again hourly
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    for item in feed_items(db):
        event = Event()
        event.add("uid", item.uuid)
        event.add("dtstamp", item.updated.astimezone(UTC))
        event.add("created", item.created.astimezone(UTC))
        event.add("last-modified", item.updated.astimezone(UTC))
        event.add("dtstart", item.day)
        event.add("dtend", item.day + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        event.add("summary", _lines(_title(item, names, labels)))
        event.add("description", _lines(f"{_summary(item, labels)}\n\n{base}{item.link_path}"))
        event.add("url", base + item.link_path)
        event.add("status", "CONFIRMED" if item.held else "TENTATIVE")
        event.add("sequence", item.sequence)
        event.add("categories", [_clean(names.get(item.body, item.body))])
        cal.add_component(event)
    return cal.to_ical()
