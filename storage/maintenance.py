"""Keeping a large archive healthy while the crawl runs: online backups, checks, the
search index's merge, and pruning by policy (``dxmon maintenance``, ``dxmon backup``).

**Backups never block the crawl.** :func:`backup` runs ``VACUUM INTO`` on a read-only
connection. In WAL mode a reader holds a snapshot and never takes the write lock, so
the crawl's writer goes on committing while the copy is made; the copy is that
snapshot, whole and consistent, written compact (no free pages) to a temporary name
and renamed into place, so a backup path never holds half a file. The cost: the WAL
cannot be checkpointed past the snapshot while the copy runs, so it grows for that
time (and is truncated at the next checkpoint).

Why not the backup API (``sqlite3.Connection.backup``) in steps: each step takes its
own read snapshot, and when another connection writes between steps the copy starts
again from the first page; under a crawl that commits every few seconds a large
archive's stepped backup may never finish. In one step it is a snapshot like
``VACUUM INTO``, but copies free pages and fragmentation as they are. For continuous
replication (a copy seconds behind, on another machine) use Litestream beside dxmon:
it follows the WAL and needs nothing from dxmon (README "Backups").

**Checks**: ``PRAGMA integrity_check`` (or ``quick_check``) on the live file, read-only;
FTS5's own ``integrity-check`` is a write statement, so it runs on the backup, whose
index pages are the live index's as of the snapshot (``VACUUM INTO`` copies the
index's shadow tables row for row), or, with no backup, in one short transaction.

**The search index** is merged with FTS5's ``merge`` command in bounded steps (each
its own transaction, ~:data:`MERGE_PAGES` pages), not one ``optimize``, which would
hold the write lock for the whole rewrite of a large index.

**Pruning** follows ``[maintenance]`` (both off by default) and never deletes what
something refers to: an article's first version, its newest ``keep_versions``
versions and every version whose text holds the evidence of a mention or session
attachment stay; each source's latest run, latest good run, latest full sweep and
the run its health was judged on stay.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.errors import StorageError
from storage.schema import BUSY_TIMEOUT_S, storage_failure, transaction

__all__ = ["backup", "check", "check_search_index", "merge_search_index", "MergeAsYouGo",
           "MERGE_EVERY", "prune_versions", "prune_runs", "MaintenanceReport"]

logger = logging.getLogger(__name__)

# Pages of the search index merged per transaction: FTS5 merges ~this many leaf pages
# (4 KiB each) a step, a few ms to tens of ms, so the crawl's writer waits at most one
# step; the busy timeout (30 s) is three orders of magnitude above it
MERGE_PAGES = 500
# A crawl storing more than this many articles merges the search index as it goes
# (between batches: crawler.pipelines, crawler.cluster's writer), every this many, so
# no level of it reaches FTS5's crisis merge (16 segments of one level merged in one
# commit); fewer are merged by after_crawl
MERGE_EVERY = 500
# ... at most this many steps at a time (the crawl's reactor waits for them): 4,000
# pages, about three times what 500 articles' postings take to merge through every
# level on average, so the merging keeps up; an unfinished merge continues next time
MERGE_STEPS_BETWEEN_BATCHES = 8
# A bound on the merge loop (500 pages x 20,000 steps = 40 GB of index rewritten)
MAX_MERGE_STEPS = 20_000


@dataclass
class MaintenanceReport:
    """What one ``dxmon maintenance`` did and found."""

    backup: str | None = None
    backup_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    merge_steps: int = 0
    versions_pruned: int = 0
    runs_pruned: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to the live database (never takes the write lock)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    return conn


def _damaged(exc: sqlite3.Error, path: Path) -> StorageError:
    return StorageError(storage_failure(exc, path) or f"{path}: {exc}")


def backup(path: str | Path, target: str | Path) -> int:
    """Copy the database at ``path`` to the new file ``target`` from one read snapshot
    (``VACUUM INTO``), without blocking writers; the size of the copy in bytes.
    ``target`` must not exist; its folder is created."""
    path, target = Path(path), Path(target)
    if not path.exists():
        raise StorageError(f"{path}: no such database; check [storage] path")
    if target.exists():
        raise StorageError(f"{target} exists; give a new file name for the backup")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        conn = _reader(path)
        try:
            conn.execute("VACUUM INTO ?", [str(partial)])
        finally:
            conn.close()
        with open(partial, "rb+") as f:  # on disk before it takes the backup's name
            os.fsync(f.fileno())
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise _damaged(exc, path) from exc
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def check(path: str | Path, *, quick: bool = False) -> list[str]:
    """The problems ``PRAGMA integrity_check`` (``quick_check``) finds in the database at
    ``path``, read-only; [] if it is sound. A file SQLite cannot read at all is one
    problem, not an exception."""
    path = Path(path)
    try:
        conn = _reader(path)
        try:
            pragma = "quick_check" if quick else "integrity_check"
            rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [storage_failure(exc, path) or f"{path}: {exc}"]
    return [] if rows == ["ok"] else rows


def check_search_index(path: str | Path) -> list[str]:
    """The problem FTS5's ``integrity-check`` finds in ``articles_search`` of the database
    at ``path`` (a backup, normally: the command writes, see the module doc); []."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute("INSERT INTO articles_search(articles_search) VALUES ('integrity-check')")
    except sqlite3.DatabaseError as exc:
        return [f"search index: {exc}"]
    finally:
        conn.close()
    return []


def merge_search_index(db, *, pages: int = MERGE_PAGES, pause: float = 0.0,
                       full: bool = True, max_steps: int = MAX_MERGE_STEPS) -> int:
    """Merge the search index's segments, ``pages`` at a time, each step its own
    transaction; the number of steps. A step that changes fewer than two rows had
    nothing left to do (FTS5's ``merge`` contract).

    ``full`` (``dxmon maintenance``): toward one segment. A negative ``merge`` starts
    merging every level (an incremental ``optimize``), positive ones continue it.

    Otherwise (after each crawl, :func:`monitor.cycle.after_crawl`): only the merging
    FTS5's ``automerge`` would have done inside the crawl's commits, which migration
    ``0014_search_merge_after_crawl`` turned off: positive steps, which merge a level
    holding ``usermerge`` (4) segments or more, or continue a merge begun. The work is
    the same; it is no longer paid by the store path, whose commits then write only the
    new articles' segment (at 1M articles automerge was a third of a commit's CPU, and
    the pages it read back made the store cost grow with the archive).
    """
    steps = 0
    amount = -pages if full else pages
    while steps < MAX_MERGE_STEPS:
        before = db.conn.total_changes
        with transaction(db):
            db.execute("INSERT INTO articles_search(articles_search, rank) VALUES ('merge', ?)",
                       [amount])
        steps += 1
        if db.conn.total_changes - before < 2:
            break
        amount = pages
        if pause:
            time.sleep(pause)
    return steps


class MergeAsYouGo:
    """A long crawl's (or cluster cycle's) merging of the search index between its
    batches: every ``every`` stored articles, at most MERGE_STEPS_BETWEEN_BATCHES steps
    (an unfinished merge continues next time), so no level waits for FTS5's crisis
    merge inside a commit. A short crawl leaves it all to after_crawl."""

    def __init__(self, db, every: int = MERGE_EVERY):
        self.db = db
        self.every = every
        self.since = 0  # articles stored since the last merge

    def stored(self, n: int) -> bool:
        """``n`` more articles committed; whether the index was merged now. A merge that
        fails is logged: the articles are stored, and the next one merges."""
        self.since += n
        if self.since < self.every:
            return False
        self.since = 0
        try:
            merge_search_index(self.db, full=False, max_steps=MERGE_STEPS_BETWEEN_BATCHES)
        except Exception as exc:  # noqa: BLE001 - stored already; merged later
            logger.warning("could not merge the search index (%s: %s); later",
                           type(exc).__name__, exc)
            return False
        return True


def prune_versions(db, keep: int) -> int:
    """Delete article versions beyond the policy (see the module doc); how many. ``keep``
    0 keeps every version."""
    if keep <= 0:
        return 0
    with transaction(db):
        cursor = db.execute(
            """DELETE FROM article_versions WHERE id IN (
                 SELECT v.id FROM (
                   SELECT id, article_id, text,
                          ROW_NUMBER() OVER (PARTITION BY article_id ORDER BY id) AS first,
                          ROW_NUMBER() OVER (PARTITION BY article_id ORDER BY id DESC) AS newest
                   FROM article_versions
                   WHERE article_id IN (SELECT article_id FROM article_versions
                                        GROUP BY article_id HAVING COUNT(*) > ? + 1)) v
                 WHERE v.first > 1 AND v.newest > ?
                   AND NOT EXISTS (SELECT 1 FROM session_articles sa
                                   WHERE sa.article_id = v.article_id
                                     AND instr(v.text, sa.evidence) > 0)
                   AND NOT EXISTS (SELECT 1 FROM mentions m
                                   WHERE m.article_id = v.article_id
                                     AND instr(v.text, m.evidence) > 0))""", [keep, keep])
    return cursor.rowcount


def prune_runs(db, days: int, *, now: datetime | None = None) -> int:
    """Delete finished crawl runs started more than ``days`` days ago, keeping each
    source's latest run, latest good run, latest full sweep and the run its health was
    judged on; how many. ``days`` 0 keeps every run."""
    if days <= 0:
        return 0
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).astimezone(UTC).isoformat(
        timespec="seconds")
    health = ("UNION SELECT last_run_id FROM source_health WHERE last_run_id IS NOT NULL"
              if "source_health" in db.table_names() else "")
    with transaction(db):
        cursor = db.execute(
            f"""DELETE FROM crawl_runs WHERE started_at < ? AND finished_at IS NOT NULL
                AND status != 'running' AND id NOT IN (
                  SELECT MAX(id) FROM crawl_runs GROUP BY source
                  UNION SELECT MAX(id) FROM crawl_runs WHERE status = 'ok' GROUP BY source
                  UNION SELECT MAX(id) FROM crawl_runs WHERE status = 'ok'
                    AND json_extract(stats, '$.full_sweep') = 1 GROUP BY source
                  {health})""", [cutoff])
    return cursor.rowcount
