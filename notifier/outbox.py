"""The outbox: alert rows written with the session, sent by a dispatcher until delivered.

Rows are created by :func:`enqueue_alerts` inside the transaction that creates (or
corrects) the session, one per (session, channel), unique by ``idempotency_key``,
which receivers see as the delivery id. Any other event (a source's health, a topic
match, a digest) is queued by :func:`enqueue_event`, one row per (event, key,
channel). Either writes a row only for the channels whose ``events`` filter takes
the event. :class:`Dispatcher` claims due rows with a
lease (``status='sending'``, ``lease_until``) in a short write transaction, sends
outside it, then records the outcome:

* success → ``sent`` with ``sent_at``;
* :class:`TransientDeliveryError` → back to ``pending`` with ``next_attempt_at`` after
  an exponential, jittered delay (never sooner than the peer's ``Retry-After``), until
  the channel's ``max_attempts``, then ``failed``;
* :class:`PermanentDeliveryError` → ``failed`` at once; the row and its error stay
  visible in ``dxmon status``.

A dispatcher that dies mid-send leaves a lease that expires; the row is then sent
again with the same delivery id (at-least-once, deduplicable by the receiver).

The deadline/lease rule. A channel's ``timeout`` is the *total* deadline of one send
(connect, request, status line; enforced by :mod:`notifier.deadline`, not per read),
and the lease of a claimed row lasts twice that plus :data:`LEASE_MARGIN`. A send is
over — its connection closed — at most its deadline (plus the few milliseconds of
closing) after it starts, and it starts right after the claim, so the lease outlives
it by at least ``timeout + LEASE_MARGIN``: a live send is never taken over by another
dispatcher (``dxmon serve`` and a manual crawl may both dispatch), and a crash delays
an alert by seconds, not minutes. The lease is measured from the moment of the claim
(the dispatcher's clock runs on), and rows are claimed one at a time, so a row never
waits, leased, behind another row's slow send. A ``stop`` event (the service stopping)
ends the send in progress within :data:`~notifier.deadline.STOP_POLL_S` and leaves the
rest due.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlite_utils

from core.errors import PermanentDeliveryError, TransientDeliveryError
from core.models import Channel, Watch
from core.schema import DEFAULT_EVENTS, EVENT_NAMES, events_accept
from notifier.message import SESSION_EVENTS, event_summary, load_alert, sample_alert
from storage import outbox as alert_rows
from storage.schema import transaction

__all__ = ["enqueue_alerts", "enqueue_event", "accepts", "delivery_id", "Dispatcher", "DispatchReport", "outbox_summary",
           "send_test", "summarized", "LEASE", "lease_for"]

log = logging.getLogger("dxmon.outbox")

# What the lease keeps beyond twice the deadline: recording the outcome is one short
# SQLite transaction, and a dispatcher's clock may run a little behind another's.
LEASE_MARGIN = timedelta(seconds=5)
# the lease of a channel that states no timeout
LEASE = timedelta(minutes=2)


def lease_for(channel) -> timedelta:
    """How long a claimed row stays with the dispatcher that claimed it."""
    timeout = channel.timeout  # notifier.base.Notifier: seconds, or None
    if timeout is None:
        return LEASE
    return timedelta(seconds=2 * float(timeout)) + LEASE_MARGIN


def delivery_id(kind: str, session_id: int, channel: str, detail: dict | None = None) -> str:
    """A stable id for one (alert kind, session, channel[, correction])."""
    raw = f"{kind}|{session_id}|{channel}|{json.dumps(detail, sort_keys=True) if detail else ''}"
    return f"dxmon-{kind}-{session_id}-" + hashlib.sha256(raw.encode()).hexdigest()[:16]


def accepts(channel, event: str) -> bool:
    """Whether ``channel`` (a ``[[notify]]`` config, or anything with ``events``) gets
    ``event``; one that states no filter gets what every channel got before filters."""
    return events_accept(getattr(channel, "events", DEFAULT_EVENTS), event)


def enqueue_alerts(db: sqlite_utils.Database, session_id: int, channels: Iterable[Channel], *,
                   kind: str = "session", detail: dict | None = None,
                   now: datetime | None = None) -> list[int]:
    """One pending row per channel that takes the event (``session.new`` for kind
    "session", ``session.corrected`` for "correction"); a row that exists already is
    left alone."""
    now = now or datetime.now(UTC)
    event = {"session": "session.new", "correction": "session.corrected"}.get(kind, kind)
    ids = []
    with transaction(db):
        for channel in channels:
            if not accepts(channel, event):
                continue
            key = delivery_id(kind, session_id, channel.name, detail)
            row_id = alert_rows.enqueue_alert(
                db, session_id, channel.name, kind, key, now,
                json.dumps(detail, ensure_ascii=False) if detail else None)
            if row_id is not None:
                ids.append(row_id)
    return ids


def enqueue_event(db: sqlite_utils.Database, event: str, key: str, payload: dict,
                  channels: Iterable[Channel], now: datetime, *,
                  session_id: int | None = None) -> int:
    """Queue ``event`` once for each channel whose ``events`` filter takes it; return how
    many rows were written.

    ``key`` names this occurrence of the event (a source and the time it went quiet, a
    digest's period): the row's delivery id is ``dxmon-{event}-{key}-{channel}``, so
    enqueuing the same event and key again writes nothing (and returns 0). ``payload``
    (JSON-serialisable) is stored on the row: the renderer registered for the event
    (:func:`notifier.message.register_renderer`) and the webhook body read it. Runs in
    the caller's transaction when there is one.
    """
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown event {event!r} (known: {', '.join(EVENT_NAMES)})")
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    written = 0
    with transaction(db):
        for channel in channels:
            if not accepts(channel, event):
                continue
            name = channel.name or channel.kind
            row_id = alert_rows.enqueue_event_row(db, event, name, f"dxmon-{event}-{key}-{name}",
                                                  body, now, session_id)
            written += row_id is not None
    return written


@dataclass
class DispatchReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unconfigured: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{len(self.sent)} sent, {len(self.retrying)} to retry, "
                f"{len(self.failed)} given up")


class Dispatcher:
    """Sends due outbox rows through ``channels`` (name → channel with ``policy``)."""

    def __init__(self, db: sqlite_utils.Database, channels: dict[str, object], *,
                 clock: Callable[[], datetime] | None = None, watch: tuple[Watch, ...] = (),
                 lease: timedelta | None = None, rng: random.Random | None = None,
                 stop: threading.Event | None = None):
        self.db = db
        self.stop = stop
        self.channels = channels
        self.clock = clock or (lambda: datetime.now(UTC))
        self.watch = watch
        self.lease = lease  # None: each channel's lease_for()
        self.rng = rng or random.Random()

    def claim(self, limit: int = 20, skip: Iterable[str] = ()) -> list[dict]:
        """Lease due rows: pending ones whose time has come, and expired leases.

        Rows of the channels named in ``skip`` are left alone.
        """
        now = self.clock()
        names = [name for name in self.channels if name not in set(skip)]
        return alert_rows.claim_due_alerts(self.db, names, now,
                                        lambda row: now + self._lease(row), limit)

    def _lease(self, row: dict) -> timedelta:
        return self.lease if self.lease is not None else lease_for(self.channels[row["channel"]])

    def run_due(self) -> DispatchReport:
        """Send everything due now, claiming one row at a time, and record each outcome.

        A channel whose send failed transiently is not tried again in this run (its
        other rows stay due for the next): a dead or stuck receiver costs one deadline
        per run, not one per alert waiting for it.
        """
        report = DispatchReport()
        seen: set[int] = set()
        failing: set[str] = set()
        while not (self.stop is not None and self.stop.is_set()):
            rows = [r for r in self.claim(1, skip=failing) if r["id"] not in seen]
            if not rows:
                return report
            for row in rows:
                seen.add(row["id"])
                self._deliver(row, report)
                if row["id"] in report.retrying:
                    failing.add(row["channel"])
        return report

    def _deliver(self, row: dict, report: DispatchReport) -> None:
        channel = self.channels[row["channel"]]
        alert = load_alert(self.db, row, self.watch)
        try:
            result = channel.send(alert, stop=self.stop)
        except TransientDeliveryError as exc:
            self._transient(row, channel, exc, report)
        except PermanentDeliveryError as exc:
            self._finish(row, "failed", str(exc))
            report.failed.append(row["id"])
            log.error("alert %s (%s) given up: %s", row["id"], row["channel"], exc)
        except OSError as exc:  # a network error a channel did not word: retry it
            self._transient(row, channel, TransientDeliveryError(
                f"{type(exc).__name__}: {exc}"), report)
        except Exception as exc:  # a bug in the channel: retrying cannot fix it
            self._finish(row, "failed", f"a bug in the {row['channel']} channel: "
                         f"{type(exc).__name__}: {exc}")
            report.failed.append(row["id"])
            log.exception("alert %s (%s) given up: the channel raised %s, which is a bug "
                          "(not a delivery error)", row["id"], row["channel"],
                          type(exc).__name__)
        else:
            self._finish(row, "sent", None)
            report.sent.append(row["id"])
            log.info("alert %s (%s) delivered: %s", row["id"], row["channel"], result)

    def _transient(self, row, channel, exc: TransientDeliveryError, report) -> None:
        policy = channel.policy
        if row["attempts"] >= policy.max_attempts:
            self._finish(row, "failed", f"{exc} (gave up after {row['attempts']} attempts)")
            report.failed.append(row["id"])
            log.error("alert %s (%s) given up after %s attempts: %s", row["id"],
                      row["channel"], row["attempts"], exc)
            return
        delay = policy.delay(row["attempts"], self.rng.random())
        if exc.retry_after is not None:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        when = self.clock() + delay
        alert_rows.schedule_retry(self.db, row["id"], str(exc), when)
        report.retrying.append(row["id"])
        log.warning("alert %s (%s) attempt %s failed, retry in %.1fs: %s", row["id"],
                    row["channel"], row["attempts"], delay.total_seconds(), exc)

    def _finish(self, row, status: str, error: str | None) -> None:
        alert_rows.close_alert(self.db, row["id"], status, error, self.clock())


def outbox_summary(db: sqlite_utils.Database) -> dict:
    """Counts by status, and the rows given up or being retried, with their last error;
    a non-session row with its event's one-line ``summary`` instead of its payload."""
    return {"counts": alert_rows.alert_counts(db),
            "failed": summarized(alert_rows.alerts_given_up(db)),
            "retrying": summarized(alert_rows.alerts_retrying(db))}


def summarized(rows: list[dict]) -> list[dict]:
    """``rows`` of the outbox, each with ``summary`` (a non-session event's one line,
    None for a session's row) in place of its ``payload``."""
    out = []
    for row in rows:
        row = dict(row)
        payload = row.pop("payload", None)
        session = row.get("session_id") is not None and row.get("event", "session.new") in \
            SESSION_EVENTS
        row["summary"] = None if session else event_summary(row.get("event") or row["kind"],
                                                            payload)
        out.append(row)
    return out


def send_test(channels: dict[str, object]) -> list[tuple[str, bool, str]]:
    """Send a sample alert through each channel now; (name, ok, message) for each."""
    results = []
    for name, channel in channels.items():
        try:
            results.append((name, True, channel.send(sample_alert(name))))
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            results.append((name, False, str(exc)))
    return results
