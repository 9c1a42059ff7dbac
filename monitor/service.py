"""``dxmon serve``: crawl every source on its schedule, process, deliver — until stopped.

APScheduler 3.x runs one job per source at its ``interval``:

- ``max_instances=1``: a source's crawl never overlaps itself;
- ``coalesce=True`` and ``misfire_grace_time=None``: after a pause (a laptop asleep,
  a long crawl) a late run still happens, once, instead of being dropped or repeated;
- jitter of up to 10 % of the interval (at most 60 s), so sources that share a
  schedule do not all hit their hosts at the same second;
- on start, a source overdue by its last recorded crawl run runs at once (staggered
  by a few seconds); the others keep their rhythm from that last run.

Each crawl is a ``scrapy crawl news -a source=NAME`` child process with the
``[monitor] crawl_timeout`` limit (:func:`monitor.cycle.crawl_cycle`); as soon as
the child has closed its crawl run, the service runs :func:`monitor.cycle.after_crawl`
(while the child is still exiting) without delivery, and wakes the delivery thread.

Delivery runs in a thread of its own, never in a crawl job: it sends due alerts as soon
as a crawl has made some, and due retries every :data:`DISPATCH_EVERY_S`. Each send is
bounded by its channel's total deadline, so a stuck receiver holds the delivery thread
for at most that long per attempt and never a crawl: crawls keep their schedule.

Digests (``[[digest]]``, :mod:`monitor.digest`) are checked on start (a period whose
time passed while the service was down goes out once) and then every
:data:`DIGEST_CHECK_S`, on the service's clock; each period is sent once.

SIGTERM/SIGINT stop it cleanly: no new jobs, running children get SIGTERM (Scrapy
closes its spider and run row), a send in progress is cut short (its alert stays due,
same delivery id, unless its 2xx status line had arrived), every write is
transactional.

Only one ``dxmon serve`` may run on a database: it holds an exclusive lock on
``<database>.serve.lock`` and a second one refuses to start, saying which pid holds it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.config import Config
from core.errors import DxmonError
from core.models import VN_TZ
from monitor.cycle import crawl_cycle, deliver_due
from storage.crawl_state import last_finished_crawl
from storage.schema import open_db

__all__ = ["Service", "ServiceLockedError", "first_run_times"]

logger = logging.getLogger("dxmon.serve")

# How often due alert retries are looked for. Retry backoff starts at seconds, so a
# 2 s tick keeps a Retry-After of 2 s honest without busy-polling SQLite.
DISPATCH_EVERY_S = 2
# How long stop() waits for the delivery thread: a send notices the stop event within
# notifier.deadline.STOP_POLL_S (0.05 s) and recording its outcome is one transaction.
DELIVERY_STOP_GRACE_S = 10
# Two crawls at once on a 2-core machine: a crawl is mostly waiting on the network,
# extraction uses a process pool of its own.
MAX_PARALLEL_CRAWLS = 2
# How often due digests are looked for: a digest goes out at most this late after its
# time, and a check is one indexed SELECT per [[digest]].
DIGEST_CHECK_S = 30
# Overdue sources started at once are spaced by this much.
STARTUP_STAGGER_S = 3


class ServiceLockedError(DxmonError):
    """Another ``dxmon serve`` holds the database."""


def _jitter(interval: timedelta) -> int:
    return int(min(interval.total_seconds() * 0.1, 60))


def first_run_times(config: Config, db, now: datetime) -> dict[str, datetime]:
    """When each enabled source should first run: overdue ones now (staggered), else on rhythm."""
    times: dict[str, datetime] = {}
    overdue = 0
    for source in config.sources:
        if not source.enabled:
            continue
        last = last_finished_crawl(db, source.name)
        due = datetime.fromisoformat(last) + source.interval if last else None
        if due is None or due <= now:
            times[source.name] = now + timedelta(seconds=STARTUP_STAGGER_S * overdue)
            overdue += 1
        else:
            times[source.name] = due
    return times


class Service:
    """The long-running scheduler. ``clock`` returns an aware datetime (tests freeze it)."""

    def __init__(self, config: Config, *, clock: Callable[[], datetime] | None = None,
                 digest_check_s: float = DIGEST_CHECK_S):
        self.config = config
        self.digest_check_s = digest_check_s
        self.clock = clock or (lambda: datetime.now(VN_TZ))
        self.stop_event = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self._lock_file = None
        self._wake = threading.Event()  # set: deliver now (a crawl made alerts, or stopping)
        self._delivery: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def acquire_lock(self) -> None:
        path = Path(f"{self.config.storage_path}.serve.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ServiceLockedError(
                f"another `dxmon serve` (pid {holder}) is already running on "
                f"{self.config.storage_path}; stop it first (lock: {path})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def start(self) -> None:
        self.acquire_lock()
        db = open_db(self.config.storage_path)
        try:
            firsts = first_run_times(self.config, db, self.clock())
        finally:
            db.close()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(MAX_PARALLEL_CRAWLS)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=VN_TZ)
        for source in self.config.sources:
            if source.name not in firsts:
                continue
            self.scheduler.add_job(
                self.crawl_source, IntervalTrigger(seconds=source.interval.total_seconds(),
                                                   jitter=_jitter(source.interval),
                                                   timezone=VN_TZ),
                args=[source.name], id=f"crawl:{source.name}", name=f"crawl {source.name}",
                next_run_time=firsts[source.name])
            logger.info("source %s: every %s, first run %s", source.name, source.interval,
                        firsts[source.name].isoformat(timespec="seconds"))
        if self.config.digests:
            self.send_digests()  # catch up: a period that came due while we were down
            self.scheduler.add_job(self.send_digests,
                                   IntervalTrigger(seconds=self.digest_check_s, timezone=VN_TZ),
                                   id="digests", name="digests")
        self.scheduler.start()
        self._delivery = threading.Thread(target=self._deliver_forever, name="dxmon-delivery",
                                          daemon=True)
        self._delivery.start()

    def stop(self) -> None:
        """Stop scheduling, end running crawls (SIGTERM, then SIGKILL), wait for jobs."""
        self.stop_event.set()
        self._wake.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self._delivery is not None:
            self._delivery.join(DELIVERY_STOP_GRACE_S)
            if self._delivery.is_alive():
                logger.error("delivery did not stop within %ss; exiting anyway (a send in "
                             "progress is retried after its lease)", DELIVERY_STOP_GRACE_S)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def run_forever(self) -> None:
        """Start, then block until SIGTERM or SIGINT; stop cleanly."""
        def handle(signum, _frame):
            logger.info("received %s: stopping", signal.Signals(signum).name)
            self.stop_event.set()
            self._wake.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        self.start()
        try:
            while not self.stop_event.wait(1):
                pass
        finally:
            self.stop()
            logger.info("stopped")

    # --- jobs ----------------------------------------------------------------------------

    def crawl_source(self, name: str) -> None:
        if self.stop_event.is_set():
            return
        outcome, report = crawl_cycle(self.config, name, stop=self.stop_event, now=self.clock,
                                      deliver=False)
        self._wake.set()  # alerts the crawl made go out now, from the delivery thread
        state = "ok" if outcome.ok else ("timed out" if outcome.timed_out
                                          else f"exit {outcome.returncode}")
        logger.info("crawl %s: %s in %.1fs (log %s)", name, state, outcome.seconds,
                    outcome.log_path)
        if report is None:
            return
        p = report.processed
        if p.articles:
            logger.info("processed %d articles: %d new sessions, %d alerting", p.articles,
                        len(p.new_sessions), len(p.alerted_sessions))

    def send_digests(self) -> None:
        """Queue each digest whose period is due and unsent (monitor.digest), then deliver."""
        from monitor.digest import send_due

        if self.stop_event.is_set():
            return
        try:
            db = open_db(self.config.storage_path)
            try:
                queued = send_due(db, self.config, self.clock())
            finally:
                db.close()
        except Exception:  # a broken database must not end the schedule for good
            logger.exception("digests failed; trying again in %ss", self.digest_check_s)
            return
        if queued:
            logger.info("digests queued: %s", ", ".join(queued))
            self._wake.set()

    def _deliver_forever(self) -> None:
        """The delivery thread: dispatch when woken or every DISPATCH_EVERY_S, until stopped."""
        while not self.stop_event.is_set():
            self._wake.clear()
            try:
                self.dispatch()
            except Exception:  # a broken database or channel must not end delivery for good
                logger.exception("delivery failed; trying again in %ss", DISPATCH_EVERY_S)
            self._wake.wait(DISPATCH_EVERY_S)

    def dispatch(self) -> None:
        """Send every due alert once (bounded per send by its channel's deadline)."""
        if self.stop_event.is_set():
            return
        db = open_db(self.config.storage_path)
        try:
            report = deliver_due(db, self.config, now=self.clock(), stop=self.stop_event)
        finally:
            db.close()
        if report is not None and (report.sent or report.retrying or report.failed):
            logger.info("delivery: %s", report)
