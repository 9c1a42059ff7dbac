"""One cycle of the service: run a crawl as a ``scrapy crawl`` child, then process, then deliver.

The same code path serves ``dxmon crawl`` (one cycle, then exit) and ``dxmon serve``
(a cycle per source on its schedule): the child crawls and stores, the parent then
runs :func:`after_crawl`. A manual ``scrapy crawl news`` runs :func:`after_crawl` in
the crawl process itself, through the post-crawl hook (:mod:`monitor.after_crawl`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from core.config import Config
from core.models import VN_TZ
from monitor.health import judge_sources
from monitor.process import ProcessReport, process_articles
from storage.crawl_state import close_abandoned_runs, crawl_runs_closed
from storage.schema import abandon_dead_runs, open_db

__all__ = ["CrawlOutcome", "CycleReport", "run_crawl", "crawl_cycle", "after_crawl",
           "deliver_due"]

logger = logging.getLogger(__name__)

# Cap on one crawl log file; the log is cut back to nothing past this size so a
# service running for years never fills the disk with Scrapy output.
MAX_LOG_BYTES = 5 * 1024 * 1024
# After SIGTERM, Scrapy closes the spider cleanly (spider_closed, the crawl-run row);
# give it this long before SIGKILL.
STOP_GRACE_S = 15
# The child is told its parent's pid (-s DXMON_PARENT_PID: it exits when that parent is
# gone, see crawler.extensions.CrawlGuard), and the pipe on which it reports why it
# stopped early (-s DXMON_STATUS_FD: a storage failure): a pipe, as the disk holding
# the database and the log may be the one that is full.


@dataclass(frozen=True)
class CrawlOutcome:
    """How a ``scrapy crawl`` child ended."""

    source: str | None
    returncode: int
    seconds: float
    timed_out: bool
    log_path: Path
    pid: int | None = None  # the crawl process: its own run rows carry it
    error: str | None = None  # why the crawl stopped early (the database failed), if so

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.error is None


@dataclass
class CycleReport:
    processed: ProcessReport
    dispatched: object | None  # notifier.outbox.DispatchReport
    merge_steps: int = 0  # the search index's merge steps after the crawl


def log_dir(config: Config) -> Path:
    return config.storage_path.parent / "logs"


def run_crawl(config: Config, source: str | None = None, *, timeout: float | None = None,
              stop: threading.Event | None = None, extra_settings: dict | None = None,
              on_closed: Callable[[], None] | None = None) -> CrawlOutcome:
    """Run ``scrapy crawl news [-a source=NAME]`` as a child process and wait for it.

    The child reads the same config (``-s DXMON_CONFIG``) and writes its own
    ``crawl_runs`` row. ``timeout`` (default: ``[monitor] crawl_timeout``) and ``stop``
    end it with SIGTERM, then SIGKILL after a grace period; a run row the child could
    not close is marked ``interrupted``.

    The child leads a process group of its own (with its page-reading workers and their
    fork server): stopping it ends the whole group, so no worker outlives its crawl,
    and the child itself exits when this process dies (``DXMON_PARENT_PID``). Runs
    that a crawl killed outright left ``running`` are closed as ``abandoned`` first.

    ``on_closed`` is called as soon as the child has closed its run rows — everything
    it stored is committed by then — while the child is still shutting down (Scrapy
    and the interpreter take half a second or more to exit): processing and delivery
    need not wait for that.
    """
    timeout = timeout if timeout is not None else config.crawl_timeout.total_seconds()
    logs = log_dir(config)
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"crawl-{source or 'all'}.log"
    if log_path.exists() and log_path.stat().st_size > MAX_LOG_BYTES:
        log_path.unlink()
    # the parent runs after_crawl itself (its report, its console), so the child's
    # post-crawl hook is off: it is there for manual `scrapy crawl news` runs
    cmd = [sys.executable, "-m", "scrapy", "crawl", "news",
           "-s", "DXMON_PROCESS_AFTER_CRAWL=False"]
    if source:
        cmd += ["-a", f"source={source}"]
    for key, value in (extra_settings or {}).items():
        cmd += ["-s", f"{key}={value}"]
    _abandon_dead_runs(config)
    env = dict(os.environ)
    cmd += ["-s", f"DXMON_PARENT_PID={os.getpid()}"]
    if config.path:  # the crawl's one config path (crawler.addon)
        cmd += ["-s", f"DXMON_CONFIG={Path(config.path).resolve()}"]
    else:  # an in-memory config: the child's is ./dxmon.toml, as the parent's would be
        env.pop("DXMON_CONFIG", None)
    env.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    started = time.monotonic()
    timed_out = False
    # one connection watches for the child's runs to close, polled 20 times a second
    watch = open_db(config.storage_path) if on_closed is not None else None
    status_r, status_w = os.pipe()
    cmd += ["-s", f"DXMON_STATUS_FD={status_w}"]
    with open(log_path, "ab") as log:
        try:
            child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     pass_fds=(status_w,))
        finally:
            os.close(status_w)
        try:
            while child.poll() is None:
                if time.monotonic() - started > timeout:
                    timed_out = True
                    break
                if stop is not None and stop.is_set():
                    break
                if on_closed is not None and crawl_runs_closed(watch, child.pid):
                    on_closed()
                    on_closed = None
                time.sleep(0.05)
        finally:
            if watch is not None:
                watch.close()
            if child.poll() is None:
                _terminate(child)
            _kill_group(child.pid)  # workers left behind by a child that is gone
            error = _read_status(status_r)
    _close_abandoned_run(config, child.pid, timed_out)
    return CrawlOutcome(source, child.returncode, time.monotonic() - started, timed_out,
                        log_path, child.pid, error)


def _read_status(fd: int) -> str | None:
    """What the child wrote on its status pipe (its first line), once it has exited."""
    chunks = []
    try:
        os.set_blocking(fd, False)  # the child is gone; never wait for anyone else
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else None


def crawl_cycle(config: Config, source: str | None = None, *,
                stop: threading.Event | None = None, now: Callable[[], datetime] | None = None,
                deliver: bool = True, extra_settings: dict | None = None
                ) -> tuple[CrawlOutcome, CycleReport | None]:
    """One cycle: crawl, then detect, group and deliver as soon as the crawl has closed.

    The report is None only when ``stop`` was set before processing could run.
    ``deliver=False`` leaves delivery to the caller (``dxmon serve`` has a job for it).
    """
    reports: list[CycleReport] = []

    def process() -> None:
        db = open_db(config.storage_path)
        try:
            reports.append(after_crawl(db, config, now=now() if now else None,
                                       deliver=deliver))
        finally:
            db.close()

    outcome = run_crawl(config, source, stop=stop, on_closed=process,
                        extra_settings=extra_settings)
    if not reports and not (stop is not None and stop.is_set()):
        process()  # the child ended without closing its runs (killed, timed out, failed)
    return outcome, (reports[0] if reports else None)


def _terminate(child: subprocess.Popen) -> None:
    """SIGTERM to the crawl process (Scrapy then closes its runs cleanly), SIGKILL to its
    whole process group if it has not exited after the grace period."""
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _kill_group(child.pid)
        child.wait()


def _kill_group(pgid: int) -> None:
    """SIGKILL whatever is left of the crawl's process group (it was started as the leader
    of a new session, so the group holds only the crawl and its workers)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is empty: everything has exited


def _abandon_dead_runs(config: Config) -> None:
    db = open_db(config.storage_path)
    try:
        abandon_dead_runs(db)
    finally:
        db.close()


def _close_abandoned_run(config: Config, pid: int, timed_out: bool) -> None:
    db = open_db(config.storage_path)
    try:
        close_abandoned_runs(db, pid, "timeout" if timed_out else "interrupted")
    finally:
        db.close()


def deliver_due(db: sqlite_utils.Database, config: Config, *, now: datetime | None = None,
                stop: threading.Event | None = None):
    """Send every due alert through its channel; None when no channel is configured.

    ``now`` is when the run starts; the dispatcher's clock runs on from it, so each
    row's lease counts from its own claim (rows after a slow send are claimed later).
    ``stop`` ends the send in progress and leaves the remaining rows due.
    """
    if not config.notify:
        return None
    import monitor.renderers  # noqa: F401  every event's message
    from notifier.outbox import Dispatcher
    from notifier.registry import build_channels

    return Dispatcher(db, build_channels(config), clock=_running_from(now), watch=config.watch,
                      stop=stop).run_due()


def _running_from(start: datetime | None) -> Callable[[], datetime]:
    """A clock that reads ``start`` now and advances with real (monotonic) time."""
    if start is None:
        return lambda: datetime.now(VN_TZ)
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def after_crawl(db: sqlite_utils.Database, config: Config, *, now: datetime | None = None,
                deliver: bool = True) -> CycleReport:
    """Detect and group what the crawl stored, judge the crawled sources' health,
    deliver due alerts, then merge the search index's new segments (what FTS5 would
    have merged inside the crawl's commits: see migration 0014)."""
    from storage.maintenance import merge_search_index

    processed = process_articles(db, config, now=now)
    judge_sources(db, config, now=now)
    dispatched = deliver_due(db, config, now=now) if deliver else None
    try:
        merged = merge_search_index(db, full=False)
    except Exception as exc:  # noqa: BLE001 - stored, detected and alerted: merged next time
        logger.warning("could not merge the search index (%s: %s); the next crawl will",
                       type(exc).__name__, exc)
        merged = 0
    return CycleReport(processed, dispatched, merged)
