"""What the web view and the CLI's ``--json`` read: sessions on timelines, a session's
mentions and alerts, search pages, an article with its aliases, cluster and versions,
source health, the outbox; and the one action the web view writes (resend an alert).

Every function takes the :class:`sqlite_utils.Database` first and answers one question
in plain dicts; the shaping for people (labels, highlights, diffs) is
:mod:`monitor.views` and :mod:`web`. Search pages are **keyset** paged on the article
id (newest stored first): FTS5 walks its index in rowid order and stops at the page's
end, so page 500 costs what page 1 does, where ``OFFSET`` would re-read every row
before it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlite_utils

from storage.schema import transaction

__all__ = ["session_timeline", "upcoming_previews", "session_years", "session_row",
           "session_mentions", "session_alerts", "search_page", "published_id_range", "article_row",
           "article_cluster", "article_sessions", "host_delays", "articles_per_day",
           "outbox_rows", "resend_alert"]


# --- sessions ------------------------------------------------------------------------------


def session_timeline(db: sqlite_utils.Database, *, body: str | None = None,
                     year: int | None = None) -> list[dict]:
    """Sessions, newest meeting first, each with its outlets, reports, first report
    (time, url, article id) and that report's evidence sentence."""
    where, params = [], []
    if body:
        where.append("s.body = ?")
        params.append(body)
    if year:
        where.append("substr(s.date, 1, 4) = ?")
        params.append(f"{year:04d}")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    # the first report of every session, ranked once and materialised: joined as a plain
    # sub-query it was re-scanned for each session (27-60 ms for 200 sessions on a
    # 100k-article archive; 2-3 ms materialised, with SQLite's automatic index on it)
    return list(db.query(
        f"""WITH ranked AS (
              SELECT sa.session_id, sa.article_id, a.url, a.published_at, sa.evidence,
                     ROW_NUMBER() OVER (PARTITION BY sa.session_id
                                        ORDER BY a.first_seen, a.id) AS n
              FROM session_articles sa JOIN articles a ON a.id = sa.article_id
              WHERE sa.role = 'report'),
            firsts AS MATERIALIZED (SELECT * FROM ranked WHERE n = 1)
            SELECT s.id, s.body, s.number, s.period, s.date, s.title, s.first_seen,
               s.alertable,
               (SELECT COUNT(*) FROM session_articles sa WHERE sa.session_id = s.id
                 AND sa.role = 'report') AS reports,
               (SELECT COUNT(DISTINCT a.source) FROM session_articles sa
                 JOIN articles a ON a.id = sa.article_id
                 WHERE sa.session_id = s.id AND sa.role = 'report') AS outlets,
               f.article_id AS first_article_id, f.url AS first_report_url,
               f.published_at AS first_report_at, f.evidence AS evidence
            FROM sessions s LEFT JOIN firsts f ON f.session_id = s.id
            {clause}
            ORDER BY s.date DESC NULLS LAST, s.id DESC""", params))


def session_years(db: sqlite_utils.Database) -> list[int]:
    """The years sessions were held in, newest first (the year filter's choices)."""
    return [int(r[0]) for r in db.execute(
        "SELECT DISTINCT substr(date, 1, 4) FROM sessions WHERE date IS NOT NULL "
        "ORDER BY 1 DESC")]


# A preview that names no date announces a meeting within days ("tuần tới", "sắp tới"):
# after this many days without a report it is no longer shown as upcoming
UNDATED_PREVIEW_DAYS = 14


def upcoming_previews(db: sqlite_utils.Database, today: str, *,
                      body: str | None = None) -> list[dict]:
    """Sessions announced by a preview ("sẽ chủ trì") and not (yet) reported: one row per
    (body, number, period, date) with its expected date, the first preview's article
    and evidence. Only those expected ``today`` or later, or undated ones published in
    the last :data:`UNDATED_PREVIEW_DAYS` days."""
    recent = (date.fromisoformat(today) - timedelta(days=UNDATED_PREVIEW_DAYS)).isoformat()
    params: list = [today, recent]
    extra = ""
    if body:
        extra = "AND m.body = ?"
        params.append(body)
    return list(db.query(
        f"""SELECT g.body, g.number, g.period, g.date, g.article_id, g.previews,
               (SELECT evidence FROM mentions m2 WHERE m2.article_id = g.article_id
                 AND m2.body = g.body AND m2.role = 'preview' LIMIT 1) AS evidence
            FROM (SELECT m.body, m.number, m.period, m.date, MIN(m.article_id) AS article_id,
                         COUNT(DISTINCT m.article_id) AS previews
                  FROM mentions m JOIN articles a ON a.id = m.article_id
                  WHERE m.role = 'preview' AND (m.date >= ? OR (m.date IS NULL
                    AND COALESCE(a.published_at, a.first_seen) >= ?)) {extra}
                    AND NOT EXISTS (
                      SELECT 1 FROM sessions s WHERE s.body = m.body AND (
                        (m.number IS NOT NULL AND s.number = m.number
                         AND COALESCE(s.period, '') = COALESCE(m.period, ''))
                        OR (m.date IS NOT NULL AND s.date = m.date)))
                  GROUP BY m.body, m.number, m.period, m.date) g
            ORDER BY g.date NULLS LAST, g.number""", params))


def session_row(db: sqlite_utils.Database, session_id: int) -> dict | None:
    """The session's own row, or None."""
    return next(db.query("SELECT id, body, number, period, date, title, first_seen, alertable "
                         "FROM sessions WHERE id = ?", [session_id]), None)


def session_mentions(db: sqlite_utils.Database, session_id: int) -> list[dict]:
    """Every article attached to the session: its role, outlet, times and evidence;
    reports first, then meetings, previews and references, each by publication time."""
    return list(db.query(
        "SELECT a.id AS article_id, a.url, a.source, a.title, a.published_at, a.first_seen, "
        "sa.role, sa.evidence, sa.attached_at FROM session_articles sa "
        "JOIN articles a ON a.id = sa.article_id WHERE sa.session_id = ? "
        "ORDER BY CASE sa.role WHEN 'report' THEN 0 WHEN 'meeting' THEN 1 "
        "WHEN 'preview' THEN 2 ELSE 3 END, COALESCE(a.published_at, a.first_seen), a.id",
        [session_id]))


def session_alerts(db: sqlite_utils.Database, session_id: int) -> list[dict]:
    """The session's outbox rows (new-session alerts and corrections), oldest first."""
    return list(db.query(
        "SELECT id, channel, kind, status, idempotency_key, attempts, last_error, created_at, "
        "next_attempt_at, sent_at, detail FROM alerts WHERE session_id = ? ORDER BY id",
        [session_id]))


# --- search --------------------------------------------------------------------------------


def search_page(db: sqlite_utils.Database, match: str, *, after: int | None = None,
                limit: int = 20, source: str | None = None, since: str | None = None,
                until: str | None = None, reports_session: bool = False) -> list[dict]:
    """One page of articles matching the FTS5 expression ``match`` (folded terms, see
    :func:`storage.articles.search_match`), newest stored first: ids below ``after``.

    ``since``/``until`` are ``YYYY-MM-DD`` bounds on the publication day (inclusive);
    ``reports_session`` keeps articles attached to a session as a report. Rows carry
    the stored text so the caller can cut a snippet; ``limit + 1`` rows are asked for
    by callers that need to know whether a next page exists.
    """
    where, params = ["articles_search MATCH ?"], [match]
    if after is not None:
        where.append("articles_search.rowid < ?")
        params.append(after)
    if source:
        where.append("a.source = ?")
        params.append(source)
    if since or until:
        # published_at is ISO text with the portal's offset, so its local day sorts as
        # text; the ids of the articles published in the range bound the index walk
        low, high = since or "", _day_after(until) if until else "\uffff"
        where.append("a.published_at >= ? AND a.published_at < ?")
        params += [low, high]
        first, last = published_id_range(db, low, high)
        if first is None:
            return []
        where.append("articles_search.rowid BETWEEN ? AND ?")
        params += [first, last]
    if reports_session:
        where.append("EXISTS (SELECT 1 FROM session_articles sa WHERE sa.article_id = a.id "
                     "AND sa.role = 'report')")
    return list(db.query(
        "SELECT a.id, a.url, a.source, a.title, a.published_at, a.text "
        "FROM articles_search JOIN articles a ON a.id = articles_search.rowid "
        f"WHERE {' AND '.join(where)} ORDER BY articles_search.rowid DESC LIMIT ?",
        [*params, limit]))


def _day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def published_id_range(db: sqlite_utils.Database, low: str, high: str) -> tuple:
    """(the smallest, the largest) id of the articles published in ``[low, high)`` (ISO
    text bounds), or (None, None): an index range (``idx_articles_published``).

    Keyset search pages walk the search index newest id first; a date filter alone
    would make a page of last year's articles walk every newer match first (385 ms on
    a 100k-article archive). Ids grow with crawling, so the range is usually tight;
    when it is not (a first crawl of old history), the result is the same, only
    slower."""
    return tuple(db.execute("SELECT MIN(id), MAX(id) FROM articles WHERE published_at >= ? "
                            "AND published_at < ?", [low, high]).fetchone())


# --- articles ------------------------------------------------------------------------------


def article_row(db: sqlite_utils.Database, article_id: int) -> dict | None:
    """The article as stored (without its MinHash), or None."""
    return next(db.query(
        "SELECT id, url, source, title, author, published_at, text, content_hash, site_name, "
        "related, first_seen, last_seen, cluster_id FROM articles WHERE id = ?",
        [article_id]), None)


def article_cluster(db: sqlite_utils.Database, article_id: int) -> list[dict]:
    """The other articles of its near-duplicate cluster (other outlets' copies)."""
    return list(db.query(
        "SELECT b.id, b.url, b.source, b.title, b.published_at FROM articles a "
        "JOIN articles b ON b.cluster_id = a.cluster_id AND b.id != a.id "
        "WHERE a.id = ? AND a.cluster_id IS NOT NULL ORDER BY b.first_seen, b.id",
        [article_id]))


def article_sessions(db: sqlite_utils.Database, article_id: int) -> list[dict]:
    """The sessions the article is attached to, with its role and evidence there."""
    return list(db.query(
        "SELECT s.id, s.body, s.number, s.period, s.date, sa.role, sa.evidence "
        "FROM session_articles sa JOIN sessions s ON s.id = sa.session_id "
        "WHERE sa.article_id = ? ORDER BY s.date, s.id", [article_id]))


# --- sources -------------------------------------------------------------------------------


def host_delays(db: sqlite_utils.Database) -> list[dict]:
    """Hosts whose robots.txt asked for a Crawl-delay, with it."""
    return list(db.query("SELECT host, crawl_delay FROM host_state WHERE crawl_delay IS NOT NULL "
                         "ORDER BY host"))


def articles_per_day(db: sqlite_utils.Database, sources: list[str],
                     since: datetime) -> dict[str, dict[str, int]]:
    """New articles per source and day (UTC, ``YYYY-MM-DD``) first seen since ``since``:
    one range of the (source, first_seen) index per source."""
    out: dict[str, dict[str, int]] = {}
    start = since.isoformat(timespec="seconds")
    for source in sources:
        out[source] = {day: n for day, n in db.execute(
            "SELECT substr(first_seen, 1, 10) AS day, COUNT(*) FROM articles "
            "WHERE source = ? AND first_seen >= ? GROUP BY day", [source, start])}
    return out


# --- the outbox ----------------------------------------------------------------------------


# The Alerts page lists this many of the newest rows: an outbox only grows (two rows a
# session and channel at most), rendering is most of a page's cost (400 rows: ~15 ms of
# CPU, which 20 concurrent clients queue behind), and the counts above cover every row
OUTBOX_PAGE = 200


def outbox_rows(db: sqlite_utils.Database, *, limit: int = OUTBOX_PAGE) -> list[dict]:
    """The newest outbox rows with their session's body, number and date."""
    return list(db.query(
        "SELECT al.id, al.session_id, al.channel, al.kind, al.event, al.payload, al.status, "
        "al.idempotency_key, "
        "al.attempts, al.last_error, al.created_at, al.next_attempt_at, al.sent_at, "
        "s.body, s.number, s.period, s.date FROM alerts al "
        "LEFT JOIN sessions s ON s.id = al.session_id ORDER BY al.id DESC LIMIT ?", [limit]))


def resend_alert(db: sqlite_utils.Database, alert_id: int, now: str) -> bool:
    """Put a given-up (``failed``) alert back in the queue, due ``now``, with its attempts
    counted afresh; its delivery id is kept, so a receiver that did get it dedups. True
    if it was failed and is now pending; False otherwise (nothing changes)."""
    with transaction(db):
        cursor = db.execute(
            "UPDATE alerts SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            "lease_until = NULL WHERE id = ? AND status = 'failed'", [now, alert_id])
    return cursor.rowcount == 1
