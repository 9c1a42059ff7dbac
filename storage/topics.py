"""Topic matches and sent digests: the rows behind ``topic.match`` and ``digest`` events.

Tables (migration ``0008_topics_digests``):

- ``topic_matches``: one row per (topic, article) that matched a ``[[topic]]`` query
  when the article was first processed, with the article's near-duplicate cluster,
  whether it was news (after its source's baseline, fresh) and whether it raised the
  cluster's one ``topic.match`` event (``alerted``).
- ``digests_sent``: one row per (digest, period start): the period was summarised and
  queued. The primary key is the "once per period" promise: the row is written in the
  transaction that queues the digest, so a restart never sends it twice.

The rules (what is news, once per cluster, which period is due) live in
:mod:`monitor.topics` and :mod:`monitor.digest`; these functions only read and write.
"""

from __future__ import annotations

import sqlite_utils

__all__ = ["article_matches", "cluster_matched", "record_match", "cluster_articles",
           "refresh_unsent",
           "alerted_matches", "claim_period", "digests_sent", "new_sessions"]


def article_matches(db: sqlite_utils.Database, article_id: int, match: str) -> bool:
    """Whether the article's indexed (folded) title and text match the FTS5 expression
    ``match`` (:func:`storage.articles.search_match`): the same test as ``dxmon search``."""
    return db.execute("SELECT 1 FROM articles_search WHERE articles_search MATCH ? "
                      "AND rowid = ?", [match, article_id]).fetchone() is not None


def cluster_matched(db: sqlite_utils.Database, topic: str, cluster_id: int) -> bool:
    """Whether an article of the cluster already matched ``topic`` (news or history)."""
    return db.execute("SELECT 1 FROM topic_matches WHERE topic = ? AND cluster_id = ? LIMIT 1",
                      [topic, cluster_id]).fetchone() is not None


def record_match(db: sqlite_utils.Database, topic: str, article_id: int, cluster_id: int,
                 matched_at: str, *, news: bool, alerted: bool) -> bool:
    """Store one match; False when the (topic, article) pair was stored before."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO topic_matches (topic, article_id, cluster_id, matched_at, news, "
        "alerted) VALUES (?, ?, ?, ?, ?, ?)",
        [topic, article_id, cluster_id, matched_at, int(news), int(alerted)])
    return bool(cursor.rowcount)


def cluster_articles(db: sqlite_utils.Database, cluster_id: int) -> list[dict]:
    """The articles of a near-duplicate cluster, first seen first: its outlets."""
    return list(db.query(
        "SELECT id, url, source, title, published_at, first_seen FROM articles "
        "WHERE cluster_id = ? ORDER BY first_seen, id", [cluster_id]))


def refresh_unsent(db: sqlite_utils.Database, keys: list[str], payload: str) -> int:
    """Replace the payload of the outbox rows with these delivery ids that no send has
    tried yet (so a retry still sends the bytes its first attempt sent); how many rows
    changed."""
    if not keys:
        return 0
    marks = ",".join("?" * len(keys))
    return db.execute(
        f"UPDATE alerts SET payload = ? WHERE status = 'pending' AND attempts = 0 "
        f"AND idempotency_key IN ({marks})", [payload, *keys]).rowcount


def alerted_matches(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """The topic matches that raised an event in [start, end) (UTC ISO text), oldest
    first, each with its article and how many articles its cluster holds now."""
    return list(db.query(
        "SELECT m.topic, m.cluster_id, m.matched_at, a.id AS article_id, a.url, a.source, "
        "a.title, a.published_at, (SELECT COUNT(DISTINCT b.source) FROM articles b "
        "WHERE b.cluster_id = m.cluster_id) AS outlets "
        "FROM topic_matches m JOIN articles a ON a.id = m.article_id "
        "WHERE m.alerted = 1 AND m.matched_at >= ? AND m.matched_at < ? "
        "ORDER BY m.matched_at, m.id", [start, end]))


def claim_period(db: sqlite_utils.Database, digest: str, period_start: str, period_end: str,
                 sent_at: str) -> bool:
    """Record that ``digest``'s period is being sent; False if it was already (then the
    caller sends nothing). Call inside the transaction that queues the digest."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO digests_sent (digest, period_start, period_end, sent_at) "
        "VALUES (?, ?, ?, ?)", [digest, period_start, period_end, sent_at])
    return bool(cursor.rowcount)


def digests_sent(db: sqlite_utils.Database, digest: str) -> list[dict]:
    """The periods of ``digest`` sent so far, oldest first."""
    return list(db.query("SELECT * FROM digests_sent WHERE digest = ? ORDER BY period_start",
                         [digest]))


def new_sessions(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """Sessions that were news (``alertable``) first seen in [start, end) (UTC ISO text),
    with their first report's link and how many outlets reported them."""
    return list(db.query(
        "SELECT s.id, s.body, s.number, s.period, s.date, s.title, s.first_seen, "
        "(SELECT COUNT(DISTINCT a.source) FROM session_articles sa JOIN articles a "
        " ON a.id = sa.article_id WHERE sa.session_id = s.id AND sa.role = 'report') AS outlets, "
        "(SELECT a.url FROM session_articles sa JOIN articles a ON a.id = sa.article_id "
        " WHERE sa.session_id = s.id AND sa.role = 'report' ORDER BY a.first_seen, a.id "
        " LIMIT 1) AS url "
        "FROM sessions s WHERE s.alertable = 1 AND s.first_seen >= ? AND s.first_seen < ? "
        "ORDER BY s.date, s.id", [start, end]))
