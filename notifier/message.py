"""What an alert says: one :class:`Alert` built from the outbox row, rendered per event.

A session's alert (``session.new``, ``session.corrected``, ``dxmon.test``) carries the
session (body, number, date, title), the articles that report it (url, outlet, title,
published) and the evidence sentence; its webhook payload (DESIGN.md, "Webhook
payload") is :meth:`Alert.payload`. Any other event (``source.unhealthy``,
``topic.match``, ``digest``, ...) carries the JSON ``payload`` it was enqueued with
(:func:`notifier.outbox.enqueue_event`); its webhook body is ``{"event",
"delivery_id", "subject", "created_at", "payload"}``.

Both are pure functions of the stored rows, so a retry sends the same delivery id and,
unless more outlets attached in between, the same bytes.

What a person reads — a subject, a plain text and a Markdown text — comes from a
*renderer* registered for the event's name prefix (:func:`register_renderer`): this
module registers the session events; the modules that raise other events register
theirs ("source." in monitor/health.py, "topic." and "digest" in monitor/topics.py and
monitor/digest.py). An event without a renderer is still sent, its payload listed
key by key. Every channel appends the delivery id to what the renderer wrote, so a
person can always quote it (:meth:`Alert.text`, :meth:`Alert.markdown`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import sqlite_utils

from core.models import Watch
from storage import sessions

__all__ = ["Alert", "Rendered", "register_renderer", "renderer_for", "render_generic",
           "md_escape", "md_url", "load_alert", "sample_alert", "event_summary", "EVENTS",
           "SESSION_EVENTS"]

# kind in the outbox -> event type receivers see (other rows' kind is their event)
EVENTS = {"session": "session.new", "correction": "session.corrected", "test": "dxmon.test"}
# the events whose alert is a session's (rendered from the session's rows)
SESSION_EVENTS = frozenset(EVENTS.values())


class Rendered(NamedTuple):
    """What a person reads of an alert: ``subject`` (one line), ``text`` (plain, for
    chat services and email) and ``markdown`` (for services that take Markdown; every
    piece of text from a page escaped with :func:`md_escape`). None of them need carry
    the delivery id: the channel appends it."""

    subject: str
    text: str
    markdown: str


Renderer = Callable[["Alert"], Rendered]
_RENDERERS: dict[str, Renderer] = {}


def register_renderer(event_prefix: str, renderer: Renderer) -> None:
    """Render the events whose name starts with ``event_prefix`` ("source.", "digest")
    with ``renderer(alert) -> Rendered``; the longest matching prefix wins."""
    _RENDERERS[event_prefix] = renderer


def renderer_for(event: str) -> Renderer:
    """The renderer of ``event``: the longest registered prefix, else the generic one."""
    matches = [p for p in _RENDERERS if event.startswith(p)]
    return _RENDERERS[max(matches, key=len)] if matches else render_generic


# Markdown's special ASCII punctuation (CommonMark: any of it may be backslash-escaped)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~=])")


def md_escape(text: str) -> str:
    """``text`` (a title, an evidence sentence from a page) safe inside Markdown: every
    special character escaped, line breaks folded, so a hostile page can neither
    format the message nor leave a construct open."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Alert:
    delivery_id: str
    kind: str
    channel: str
    session: dict = field(default_factory=dict)
    articles: list[dict] = field(default_factory=list)
    evidence: str = ""
    detail: dict | None = None
    # a non-session event's content (the JSON it was enqueued with); None for a session's
    data: dict | None = None
    created_at: str | None = None
    session_id: int | None = None

    @property
    def event(self) -> str:
        return EVENTS.get(self.kind, self.kind)

    @property
    def is_session(self) -> bool:
        """Whether this is a session's alert (rendered from the session's rows)."""
        return self.data is None

    def payload(self) -> dict:
        if not self.is_session:
            body = {"event": self.event, "delivery_id": self.delivery_id,
                    "subject": self.subject(), "created_at": self.created_at,
                    "payload": self.data}
            if self.session_id is not None:
                body["session_id"] = self.session_id
            return body
        body = {"event": self.event, "delivery_id": self.delivery_id,
                "session": self.session, "articles": self.articles, "evidence": self.evidence}
        if self.detail:
            body["correction"] = self.detail
        return body

    def body_bytes(self) -> bytes:
        return json.dumps(self.payload(), ensure_ascii=False, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")

    def render(self) -> Rendered:
        return renderer_for(self.event)(self)

    def subject(self) -> str:
        """One line: "Phiên họp thứ 9 — Ủy ban Quốc gia về chuyển đổi số — 10/7/2024"."""
        # a title can never carry a header break into the message
        return _one_line(self.render().subject)

    def footer(self) -> str:
        """The line every message ends with: the delivery id, kept by every cut."""
        return f"dxmon delivery {self.delivery_id}"

    def text(self) -> str:
        return self.render().text.rstrip("\n") + "\n\n" + self.footer()

    def markdown(self) -> str:
        return self.render().markdown.rstrip("\n") + "\n\n" + md_escape(self.footer())


# --- the session events ------------------------------------------------------------------


def _session_subject(alert: Alert) -> str:
    s = alert.session
    number = s.get("number")
    what = f"Phiên họp thứ {number}" if number is not None else "Phiên họp"
    if number is not None and s.get("period"):
        what += f" năm {s['period']}"
    parts = [what, s.get("body_name") or s.get("body") or ""]
    if s.get("date"):
        d = date.fromisoformat(s["date"])
        parts.append(f"{d.day}/{d.month}/{d.year}")
    subject = " — ".join(p for p in parts if p)
    if alert.kind == "correction":
        subject = "Đính chính: " + subject
    elif alert.kind == "test":
        subject = "[thử nghiệm] " + subject
    return _one_line(subject)


def _correction_line(detail: dict) -> str:
    before, after = detail.get("before", {}), detail.get("after", {})
    return (f"Đính chính: số {before.get('number')} ngày {before.get('date')} → "
            f"số {after.get('number')} ngày {after.get('date')}")


def render_session(alert: Alert) -> Rendered:
    """A session's alert: the subject, the correction, the evidence and every report."""
    subject = _session_subject(alert)
    lines = [subject, ""]
    md = [f"**{md_escape(subject)}**", ""]
    if alert.detail:
        lines += [_correction_line(alert.detail), ""]
        md += [md_escape(_correction_line(alert.detail)), ""]
    if alert.evidence:
        lines += [f"«{alert.evidence}»", ""]
        md += [f"> {md_escape(alert.evidence)}", ""]
    lines.append(f"Bài báo ({len(alert.articles)}):")
    md.append(md_escape(f"Bài báo ({len(alert.articles)}):"))
    for a in alert.articles:
        when = a.get("published") or "không rõ ngày"
        lines.append(f"- {a['title']} ({a['outlet']}, {when})")
        lines.append(f"  {a['url']}")
        md.append(f"- [{md_escape(a['title'] or a['url'])}]({md_url(a['url'])}) — "
                  f"{md_escape(a['outlet'])}, {md_escape(when)}")
    return Rendered(subject, "\n".join(lines), "\n".join(md))


def md_url(url: str) -> str:
    """A URL as a link's destination ``(...)``: nothing in it may close the link early
    or escape out of it (CommonMark and Telegram's MarkdownV2 alike)."""
    for char, code in (("\\", "%5C"), ("(", "%28"), (")", "%29"), (" ", "%20"),
                       ("<", "%3C"), (">", "%3E"), ("[", "%5B"), ("]", "%5D"),
                       ("`", "%60"), ("\n", "")):
        url = str(url).replace(char, code)
    return url


def render_generic(alert: Alert) -> Rendered:
    """An event no module rendered: its name and its payload, key by key."""
    subject = f"dxmon: {alert.event}"
    data = alert.data or {}
    summary = data.get("summary") if isinstance(data.get("summary"), str) else None
    if summary:
        subject += f" — {summary}"
    lines = [subject, ""]
    md = [f"**{md_escape(subject)}**", ""]
    for k, v in data.items():
        value = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        lines.append(f"{k}: {value}")
        md.append(f"- {md_escape(k)}: {md_escape(value)}")
    return Rendered(_one_line(subject), "\n".join(lines), "\n".join(md))


for _prefix in ("session.", "dxmon.test"):
    register_renderer(_prefix, render_session)


def event_summary(event: str, payload: str | None) -> str:
    """One line saying what a non-session row announces (``dxmon status``, the Alerts
    page): its renderer's subject. A renderer that fails here costs the line, never
    the page: the event's name stands in."""
    try:
        data = json.loads(payload) if payload else {}
        alert = Alert(delivery_id="", kind=event, channel="",
                      data=data if isinstance(data, dict) else {"value": data})
        return alert.subject()
    except Exception:  # noqa: BLE001 - a display must not fail on one row
        return event


# --- loading -------------------------------------------------------------------------------


def load_alert(db: sqlite_utils.Database, row: dict, watch: tuple[Watch, ...] = ()) -> Alert:
    """The alert for one outbox row: a session's from the session and its reporting
    articles, any other event's from its stored payload."""
    event = row.get("event") or EVENTS.get(row["kind"], row["kind"])
    if event not in SESSION_EVENTS or row.get("session_id") is None:
        data = json.loads(row["payload"]) if row.get("payload") else {}
        return Alert(delivery_id=row["idempotency_key"], kind=event, channel=row["channel"],
                     data=data if isinstance(data, dict) else {"value": data},
                     created_at=row.get("created_at"), session_id=row.get("session_id"))
    s = sessions.session_for_alert(db, row["session_id"])
    names = {w.id: w.name for w in watch}
    session = {"id": s["id"], "body": s["body"], "body_name": names.get(s["body"], s["body"]),
               **{k: s[k] for k in ("number", "period", "date", "title", "first_seen")}}
    rows = sessions.reporting_articles(db, row["session_id"])
    articles = [{"url": r["url"], "outlet": r["source"], "title": r["title"],
                 "published": r["published_at"]} for r in rows]
    evidence = rows[0]["evidence"] if rows else ""
    detail = json.loads(row["detail"]) if row.get("detail") else None
    return Alert(delivery_id=row["idempotency_key"], kind=row["kind"], channel=row["channel"],
                 session=session, articles=articles, evidence=evidence or "", detail=detail)


def sample_alert(channel: str) -> Alert:
    """What `dxmon notify-test` sends: clearly a test, in the real shape."""
    return Alert(
        delivery_id=f"test-{channel}", kind="test", channel=channel,
        session={"id": 0, "body": "ubqg-cds", "body_name": "Ủy ban Quốc gia về chuyển đổi số",
                 "number": 8, "period": None, "date": "2024-04-24",
                 "title": "Phiên họp thứ 8 của Ủy ban Quốc gia về chuyển đổi số",
                 "first_seen": None},
        articles=[{"url": "http://127.0.0.1/dxmon-test", "outlet": "dxmon",
                   "title": "Tin thử nghiệm của dxmon", "published": None}],
        evidence="Đây là tin thử nghiệm: kênh thông báo này đã được cấu hình đúng.")
