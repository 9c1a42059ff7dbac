"""What an alert says: one :class:`Alert` built from the outbox row and the session.

Every channel renders the same facts: the session (body, number, date, title), the
articles that report it (url, outlet, title, published) and the evidence sentence.
The webhook payload (DESIGN.md, "Webhook payload") is :meth:`Alert.payload`; it is a
pure function of the stored rows, so a retry sends the same delivery id and, unless
more outlets attached in between, the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import sqlite_utils

from core.models import Watch
from storage import sessions

__all__ = ["Alert", "load_alert", "sample_alert", "EVENTS"]

# kind in the outbox -> event type receivers see
EVENTS = {"session": "session.new", "correction": "session.corrected", "test": "dxmon.test"}


@dataclass(frozen=True)
class Alert:
    delivery_id: str
    kind: str
    channel: str
    session: dict
    articles: list[dict] = field(default_factory=list)
    evidence: str = ""
    detail: dict | None = None

    @property
    def event(self) -> str:
        return EVENTS.get(self.kind, self.kind)

    def payload(self) -> dict:
        body = {"event": self.event, "delivery_id": self.delivery_id,
                "session": self.session, "articles": self.articles, "evidence": self.evidence}
        if self.detail:
            body["correction"] = self.detail
        return body

    def body_bytes(self) -> bytes:
        return json.dumps(self.payload(), ensure_ascii=False, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")

    def subject(self) -> str:
        """"Phiên họp thứ 9 — Ủy ban Quốc gia về chuyển đổi số — 10/7/2024"."""
        s = self.session
        number = s.get("number")
        what = f"Phiên họp thứ {number}" if number is not None else "Phiên họp"
        if number is not None and s.get("period"):
            what += f" năm {s['period']}"
        parts = [what, s.get("body_name") or s.get("body") or ""]
        if s.get("date"):
            d = date.fromisoformat(s["date"])
            parts.append(f"{d.day}/{d.month}/{d.year}")
        subject = " — ".join(p for p in parts if p)
        if self.kind == "correction":
            subject = "Đính chính: " + subject
        elif self.kind == "test":
            subject = "[thử nghiệm] " + subject
        # a title can never carry a header break into the message
        return " ".join(subject.split())

    def text(self) -> str:
        lines = [self.subject(), ""]
        if self.detail:
            before, after = self.detail.get("before", {}), self.detail.get("after", {})
            lines += [f"Đính chính: số {before.get('number')} ngày {before.get('date')} → "
                      f"số {after.get('number')} ngày {after.get('date')}", ""]
        if self.evidence:
            lines += [f"«{self.evidence}»", ""]
        lines.append(f"Bài báo ({len(self.articles)}):")
        for a in self.articles:
            lines.append(f"- {a['title']} ({a['outlet']}, {a.get('published') or 'không rõ ngày'})")
            lines.append(f"  {a['url']}")
        lines += ["", f"dxmon delivery {self.delivery_id}"]
        return "\n".join(lines)


def load_alert(db: sqlite_utils.Database, row: dict, watch: tuple[Watch, ...] = ()) -> Alert:
    """The alert for one outbox row, from the session and its reporting articles."""
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
