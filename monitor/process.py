"""From stored articles to sessions: the pass that runs after every crawl.

:func:`process_articles` runs after every crawl (scheduled, ``dxmon crawl`` or a manual
``scrapy crawl news``). For each article whose current content has not been
processed it runs :func:`monitor.detect.detect`, stores the mentions, and groups
reports of all outlets into sessions by the rules of :mod:`monitor.grouping`
(applied to the database by :mod:`monitor.sessions`):

- ``report`` mentions create or join sessions; ``preview`` and ``reference`` mentions
  only attach to sessions that already exist;
- a ``meeting`` mention (the body's meeting told without "phiên họp": a conference it
  holds, or that its chair chairs as chair) joins the known session of its body and
  day as a report (one stored before, or formed by a report later in the same pass),
  and never creates one: no session, no alert of its own;
- a new session that is news alerts (:mod:`monitor.alerting`); everything else is
  history and never alerts;
- when an edit changes the number or date an article reported, the session is
  corrected and one correction notice goes through the outbox (:mod:`monitor.corrections`);
- a new article matching a ``[[topic]]`` query is recorded, and the first news match of
  a near-duplicate cluster queues its one ``topic.match`` event (:mod:`monitor.topics`).

It is idempotent: an article is marked with the content hash it was processed at,
so running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlite_utils

from core.config import Config
from core.models import VN_TZ, Mention
from monitor.alerting import enqueue, is_news
from monitor.corrections import apply_corrections
from monitor.sessions import attach, find_or_create_session, stored_session
from monitor.topics import match_topics
from storage import articles, sessions
from storage.schema import transaction

__all__ = ["process_articles", "ProcessReport", "Detector"]

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
    topic_matches: list = field(default_factory=list)  # monitor.topics.TopicMatch


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
    for article in articles.unprocessed_articles(db):
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
    previous = sessions.reported_sessions(db, article_id) if edited else []
    sessions.replace_mentions(db, article_id)
    meetings = [m for m in mentions if m.role == "meeting"]
    mentions = [m for m in mentions if m.role != "meeting"]
    for m in mentions:
        sessions.add_mention(db, article_id, m)

    reports = [m for m in mentions if m.role == "report"]
    if edited and previous:
        corrected = apply_corrections(db, config, article, previous, reports, now)
        if corrected is not None:
            report.corrected_sessions.append(corrected)

    for m in reports:
        session_id, created = find_or_create_session(db, m, article["title"], now)
        report.attached += attach(db, session_id, article_id, m, now)
        if created:
            report.new_sessions.append(session_id)
            if is_news(db, config, article, m, now):
                sessions.mark_alertable(db, session_id)
                enqueue(db, config, session_id, now)
                report.alerted_sessions.append(session_id)
    for m in mentions:
        if m.role == "report":
            continue
        session = stored_session(db, m)
        if session is not None:
            report.attached += attach(db, session["id"], article_id, m, now)
    waiting = [(article_id, m) for m in meetings
               if not _join_meeting(db, article_id, m, now, report)]
    if config.topics and not edited:  # a new article: [[topic]] watches (monitor.topics)
        report.topic_matches += match_topics(db, config, article, now)
    articles.mark_processed(db, article_id)
    return waiting


def _join_meeting(db, article_id: int, m: Mention, now: datetime, report: ProcessReport) -> bool:
    """Attach a meeting mention to the known session of its body and day, as a report.

    A meeting never creates a session by itself: without one, nothing is stored.
    """
    session = stored_session(db, m)
    if session is None:
        return False
    joined = replace(m, role="report")
    sessions.add_mention(db, article_id, joined)
    report.attached += attach(db, session["id"], article_id, joined, now)
    return True
