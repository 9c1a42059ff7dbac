"""Digests: a daily or weekly summary, sent once per period through the channels.

A ``[[digest]]`` is sent at ``at`` (HH:MM, in ``tz``) every day, or every week on
``day``. Each send summarises the period that ends then: the sessions that were news
(first seen in the period, ``sessions.alertable``), the sessions announced by previews
and not yet reported (:func:`storage.views.upcoming_previews`, from the period's last
day on), and the topic matches that raised a ``topic.match`` event in the period.

**Once per period.** :func:`send_due` is the whole rule: the latest scheduled time at
or before ``now`` ends the due period; it is sent when ``digests_sent`` has no row for
(digest, period start). The row is written in the transaction that queues the event,
whose key is ``DIGEST+PERIODSTART`` (:func:`notifier.outbox.enqueue_event`: idempotent
per channel too), so a restart, a second ``dxmon serve`` check or a crash between the
two never sends a period twice.

**Catching up.** ``dxmon serve`` runs :func:`send_due` when it starts and then every
:data:`monitor.service.DIGEST_CHECK_S`, with its clock: a period whose time passed
while the service was down is sent once, on start. When several periods were missed,
only the latest is sent: each digest is a summary of what is *new*, and a burst of
stale summaries (seven daily digests after a week's outage) would bury the one that
matters; the sessions and topic matches of the missed periods each had their own
alert, and the web view and ``dxmon search`` hold them all.

The renderer for ``digest`` events is registered with :mod:`notifier.message` when
this module is imported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from core.config import Config
from core.models import Digest
from storage import topics as rows
from storage.schema import transaction, utcnow_iso
from storage.views import upcoming_previews

__all__ = ["due_period", "send_due", "digest_payload", "render_digest", "digest_message"]

EVENT = "digest"
STEP = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def due_period(digest: Digest, now: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the latest period whose send time (its end) is at or before
    ``now``, both in the digest's time zone. A wall-clock time: 07:30 stays 07:30
    across a daylight-saving change."""
    local = now.astimezone(digest.tz)
    day = local.date()
    if digest.every == "weekly":
        day -= timedelta(days=(day.weekday() - digest.day) % 7)
    end = datetime.combine(day, digest.at, tzinfo=digest.tz)
    if end > local:
        end = datetime.combine(day - STEP[digest.every], digest.at, tzinfo=digest.tz)
    start = datetime.combine(end.date() - STEP[digest.every], digest.at, tzinfo=digest.tz)
    return start, end


def period_key(digest: Digest, start: datetime) -> str:
    """The event key of one period: the digest id and the period's first day."""
    return f"{digest.id}+{start.date().isoformat()}"


def digest_payload(db: sqlite_utils.Database, config: Config, digest: Digest,
                   start: datetime, end: datetime) -> dict:
    """What one period's digest says (the webhook's ``payload``)."""
    names = {w.id: w.name for w in config.watch}
    topic_names = {t.id: t.name for t in config.topics}
    sessions = [{**s, "body_name": names.get(s["body"], s["body"])}
                for s in rows.new_sessions(db, utcnow_iso(start), utcnow_iso(end))]
    upcoming = [{"body": u["body"], "body_name": names.get(u["body"], u["body"]),
                 "number": u["number"], "period": u["period"], "date": u["date"],
                 "evidence": u["evidence"]}
                for u in upcoming_previews(db, end.date().isoformat())]
    matches = [{"topic": m["topic"], "topic_name": topic_names.get(m["topic"], m["topic"]),
                "title": m["title"], "url": m["url"], "outlet": m["source"],
                "outlets": m["outlets"], "published": m["published_at"]}
               for m in rows.alerted_matches(db, utcnow_iso(start), utcnow_iso(end))]
    return {"digest": {"id": digest.id, "every": digest.every},
            "period": {"start": start.isoformat(), "end": end.isoformat(),
                       "tz": str(digest.tz)},
            "sessions": sessions, "upcoming": upcoming, "topics": matches}


def send_due(db: sqlite_utils.Database, config: Config, now: datetime) -> list[str]:
    """Queue every digest whose due period has not been sent; the keys queued."""
    sent = []
    for digest in config.digests:
        start, end = due_period(digest, now)
        with transaction(db):
            if not rows.claim_period(db, digest.id, start.isoformat(), end.isoformat(),
                                     utcnow_iso(now)):
                continue  # this period went out before (or is going out)
            payload = digest_payload(db, config, digest, start, end)
            channels = [c for c in config.notify
                        if not digest.channels or c.name in digest.channels]
            if channels:
                from notifier.outbox import enqueue_event  # imports channels: late

                enqueue_event(db, EVENT, period_key(digest, start), payload, channels, now)
        sent.append(period_key(digest, start))
    return sent


# --- rendering -------------------------------------------------------------------------


def _session_line(s: dict) -> str:
    what = f"Phiên họp thứ {s['number']}" if s.get("number") is not None else "Phiên họp"
    if s.get("number") is not None and s.get("period"):
        what += f" năm {s['period']}"
    when = f", {s['date']}" if s.get("date") else ""
    return " ".join(f"{what} — {s.get('body_name') or s['body']}{when}".split())


def digest_message(payload: dict) -> tuple[str, str, str]:
    """(subject, plain text, Markdown) of a ``digest`` payload."""
    # the notifier imports channels: late; md_url keeps a link's destination closed
    from notifier.message import md_escape, md_url

    period = payload["period"]
    start, end = (datetime.fromisoformat(period[k]) for k in ("start", "end"))
    kind = "tuần" if payload["digest"]["every"] == "weekly" else "ngày"
    subject = (f"Bản tin {kind} dxmon: {start:%d/%m %H:%M} – {end:%d/%m/%Y %H:%M} "
               f"({period['tz']})")
    text, md = [subject, ""], [f"**{subject}**", ""]

    def section(title: str, items: list[tuple[str, str | None]]) -> None:
        text.append(f"{title} ({len(items)}):")
        md.append(f"**{title}** ({len(items)})")
        if not items:
            text.append("- (không có)")
            md.append("- (không có)")
        for line, url in items:
            text.append(f"- {line}" + (f"\n  {url}" if url else ""))
            md.append(f"- [{md_escape(line)}]({md_url(url)})" if url
                      else f"- {md_escape(line)}")
        text.append("")
        md.append("")

    section("Phiên họp mới", [(_session_line(s) + f" ({s['outlets']} nguồn)", s.get("url"))
                              for s in payload.get("sessions", [])])
    section("Sắp diễn ra", [(_session_line(u), None) for u in payload.get("upcoming", [])])
    section("Chủ đề theo dõi", [
        (" ".join(f"«{m['topic_name']}»: {m['title']} ({m['outlet']}, {m['outlets']} nguồn)"
                  .split()), m["url"]) for m in payload.get("topics", [])])
    return subject, "\n".join(text).rstrip() + "\n", "\n".join(md).rstrip() + "\n"


def render_digest(alert):
    """The ``digest`` renderer for :func:`notifier.message.register_renderer`."""
    from monitor.topics import render_with

    return render_with(digest_message, alert)


def _register() -> None:
    try:
        from notifier.message import register_renderer
    except ImportError:  # a notifier without per-event renderers
        return
    register_renderer("digest", render_digest)


_register()
