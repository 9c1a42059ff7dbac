"""Corrections: an edited article changed the number or date of the session it reported.

When the article reported one session before and reports one of the same body now,
with a different number or date, and no other article reports the old values, the
session itself is corrected (not a new session, not a new alert); if it had alerts,
one correction notice per channel is queued.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from core.config import Config
from core.models import Mention
from monitor.alerting import enqueue
from monitor.grouping import session_key
from storage import outbox as alerts
from storage import sessions

__all__ = ["apply_corrections"]


def apply_corrections(db: sqlite_utils.Database, config: Config, article: dict,
                      previous: list[dict], reports: list[Mention], now: datetime
                      ) -> int | None:
    """Correct the session the edited ``article`` reported (``previous``) by its new
    ``reports``, if the module's rule applies; the id of the corrected session, or None."""
    if len(previous) != 1 or len(reports) != 1 or previous[0]["body"] != reports[0].body:
        return None
    old, m = previous[0], reports[0]
    day = m.date.isoformat() if m.date else old["date"]
    number = m.number if m.number is not None else old["number"]
    period = m.period if m.number is not None else old["period"]
    if (number, day, period) == (old["number"], old["date"], old["period"]):
        return None
    if sessions.count_other_reports(db, old["id"], article["id"]):
        return None  # other outlets still report the old values: just regroup this one
    key = session_key(m.body, number, period, day)
    if sessions.session_holding_key(db, key, other_than=old["id"]) is not None:
        return None
    sessions.update_session(db, old["id"], {"number": number, "period": period, "date": day,
                                            "key": key})
    if alerts.has_session_alerts(db, old["id"]):
        detail = {"before": {"number": old["number"], "date": old["date"]},
                  "after": {"number": number, "date": day}, "article": article["url"]}
        enqueue(db, config, old["id"], now, kind="correction", detail=detail)
    return old["id"]
