"""The alert decision: whether a new session is news, and queueing its alerts.

A session created from an article first seen *after* its source's baseline crawl,
and dated within ``[monitor] fresh_days`` of now, is new news: its alert rows (one per
configured channel) are written in the same transaction that creates it. Everything
else is history and never alerts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from core.config import Config
from core.models import VN_TZ, Mention
from storage.crawl_state import source_baseline

__all__ = ["is_news", "enqueue"]


def is_news(db: sqlite_utils.Database, config: Config, article: dict, m: Mention,
            now: datetime) -> bool:
    """Whether a new session reported by ``m`` in ``article`` is news (alert) or history."""
    baseline = source_baseline(db, article["source"])
    if baseline is None or article["first_seen"] <= baseline:
        return False  # found by the source's first (baseline) crawl, or before it finished
    day = m.date
    if day is None and article["published_at"]:
        day = datetime.fromisoformat(article["published_at"]).astimezone(VN_TZ).date()
    if day is None:
        return False  # cannot tell how old it is: precision first
    today = now.astimezone(VN_TZ).date()
    return today - timedelta(days=config.fresh_days) <= day <= today + timedelta(days=1)


def enqueue(db: sqlite_utils.Database, config: Config, session_id: int, now: datetime, *,
            kind: str = "session", detail: dict | None = None) -> None:
    """One alert row per configured channel (none when no channel is configured)."""
    if not config.notify:
        return
    from notifier.outbox import enqueue_alerts  # the notifier imports channels: late

    enqueue_alerts(db, session_id, config.notify, kind=kind, detail=detail, now=now)
