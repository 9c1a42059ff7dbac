"""The dxmon database: opening it, and its schema as named migrations.

SQLite is the one system of record. Every connection runs in WAL mode with foreign
keys on and a 30 s busy timeout, so a manual ``scrapy crawl`` and ``dxmon serve``
can write to the same file without "database is locked" failures: writers queue
on ``BEGIN IMMEDIATE`` (:func:`transaction`) instead of failing on lock upgrade.

The schema only changes through :data:`MIGRATIONS`: each is a named function run
once, inside a transaction, and recorded in ``_migrations``. Add a new one at the
end; never edit one that has shipped.

Times are ISO 8601 strings with their offset. Internal times (``first_seen``,
``next_attempt_at``, ...) are UTC so they sort as text; ``published_at`` keeps the
portal's own offset (+07:00).
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from core.errors import StorageError
from storage import lite

__all__ = ["open_db", "transaction", "migrate", "MIGRATIONS", "utcnow_iso", "storage_failure",
           "abandon_dead_runs"]

# How long a writer waits for another process's write transaction before failing.
# A crawl's longest write is one article batch (milliseconds); 30 s covers a
# checkpoint on a slow disk with a wide margin.
BUSY_TIMEOUT_S = 30


# Page cache of a writing connection, in KiB (SQLite's default is 2 MiB). Each stored
# article inserts 32 random keys into minhash_bands (storage.neardup) and a few into
# the URL and content-hash indexes: once those indexes outgrow the cache, every insert
# first fetches its leaf. benchmarks/store_cost.py --bands-only, LSH lookup + insert
# per article: 0.41 -> 0.52 CPU ms from 100k to 300k articles with 64 MiB, 0.39 ->
# 0.44 with 256 MiB. 128 MiB holds the buckets of ~200k articles, and the memory map
# below serves the rest without a system call. Pages are allocated as they are used.
CACHE_KIB = 128 * 1024
# Clean pages are read straight from the OS's page cache through a memory map instead
# of being copied into SQLite's cache (writes still go through write(), WAL included):
# readers and the writer alike. 1 GiB of address space (file-backed: the OS reclaims
# it as it needs), the hot indexes of an archive of millions of articles.
MMAP_BYTES = 1024 * 1024 * 1024
# Pages written to the WAL before a checkpoint copies them into the database (SQLite's
# default: 1000). At 4 KiB pages this is 32 MiB: a page rewritten by many batches (an
# index's root and current leaves, the FTS tail) is copied back once per checkpoint
# instead of every few batches; readers' WAL lookups stay cheap at that length.
WAL_AUTOCHECKPOINT_PAGES = 8192
# After a checkpoint the WAL file is cut back to this size (without it, it keeps the
# largest size it ever reached, e.g. after a migration).
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# Page size of a new database file (an existing one keeps its own). 4 KiB, SQLite's
# default and the OS page size: a larger page makes every random index insert (URLs,
# content hashes, LSH buckets: see storage.neardup) write more bytes to the WAL.
PAGE_SIZE = 4096


def _tune(conn: sqlite3.Connection) -> None:
    """The PRAGMAs of a writing connection (each is justified where it is defined)."""
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")


def utcnow_iso(now: datetime | None = None, timespec: str = "seconds") -> str:
    """``now`` (default: the current time) as a UTC ISO 8601 string, to the second."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).isoformat(timespec=timespec)


def open_db(path: str | Path, *, migrate_schema: bool = True,
            readonly: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) the database at ``path``, migrated to the current schema.

    ``readonly`` (for commands that only read: status, search, sessions, articles,
    history) opens an existing file without ever writing to it, so they work on a
    database in a folder the user cannot write to or on a read-only filesystem. A
    file that does not exist yet is created as usual. A read-only database is a
    :class:`storage.lite.Database`, the reading subset of sqlite-utils' class (whose
    import costs more than a whole ``dxmon search`` may). A problem that is not the
    user's to fix in code (damaged file, unwritable folder) raises
    :class:`StorageError` naming the file and what to do.
    """
    path = Path(path)
    if readonly and path.exists() and (db := _open_readonly(path)) is not None:
        return db
    try:  # (a read-only open of a database whose schema is behind lands here: migrate)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a no-op on an existing file
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _tune(conn)
        db = sqlite_utils.Database(conn)
        if migrate_schema:
            migrate(db)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise StorageError(storage_failure(exc, path) or f"cannot open database {path}: {exc}"
                           ) from exc
    return db


def _open_readonly(path: Path) -> sqlite_utils.Database | None:
    """``path`` opened for reading only (``mode=ro``); None if its schema is behind (a
    read-only connection cannot migrate it).

    SQLite needs the ``-shm`` file of a WAL database to read it, and cannot create one
    on a read-only filesystem or in a folder it may not write to: then the file is
    opened ``immutable`` (no locks, no WAL index). Nothing can write there either, so
    nothing changes under the reader; only a ``-wal`` left beside it by a writer that
    crashed would go unread.
    """
    uri = path.resolve().as_uri()
    conn = None
    try:
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
        except sqlite3.OperationalError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in (sqlite3.SQLITE_CANTOPEN,
                                                                     sqlite3.SQLITE_READONLY):
                raise
            if conn is not None:
                conn.close()
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None,
                                   check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")  # (SQLite's small cache is enough)
        if _pending_migrations(conn):
            conn.close()
            return None
    except (sqlite3.DatabaseError, OSError) as exc:
        if conn is not None:
            conn.close()
        raise StorageError(storage_failure(exc, path) or f"cannot read database {path}: {exc}"
                           ) from exc
    return lite.Database(conn)  # reading needs no sqlite-utils (storage.lite)


def _pending_migrations(conn: sqlite3.Connection) -> list[str]:
    """The migrations not yet applied to the database of ``conn``."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    done = ({r[0] for r in conn.execute("SELECT name FROM _migrations")}
            if "_migrations" in names else set())
    return [name for name, _ in MIGRATIONS if name not in done]


# SQLite's primary result codes for a database that cannot be used as it is: the
# disk is full, a read or write failed, the file is damaged or is not a database,
# or it cannot be opened or written (folder or filesystem not writable)
_DISK_FULL = {sqlite3.SQLITE_FULL}
_IO_ERROR = {sqlite3.SQLITE_IOERR}
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_NOT_WRITABLE = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM}
_OS_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def storage_failure(exc: BaseException, path: str | Path | None = None) -> str | None:
    """One line saying what is wrong with the database and what to do, if ``exc`` says
    the storage itself failed (full disk, I/O error, damaged file, not writable, a lock
    held past the busy timeout); None for any other error (a bug, a constraint)."""
    where = f"database {path}" if path else "the database"
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _DISK_FULL or (isinstance(exc, OSError) and exc.errno in _OS_FULL):
        return (f"cannot write to {where}: the disk is full ({exc}); free space on it, then "
                "run again (everything stored before is kept)")
    if primary in _IO_ERROR or (isinstance(exc, OSError) and exc.errno == errno.EIO):
        return (f"cannot write to {where}: an I/O error ({exc}); check the disk (dmesg, "
                "free space, quota), then run again (everything committed before is kept)")
    if primary in _DAMAGED:
        return (f"{where} is damaged ({exc}): move it aside and restore a backup, or let "
                "dxmon start a new one (`sqlite3 FILE .recover` may save its rows)")
    if primary in _NOT_WRITABLE or (isinstance(exc, OSError) and exc.errno in (
            errno.EACCES, errno.EPERM, errno.EROFS)):
        return (f"cannot open or write {where} ({exc}): make its folder writable, or point "
                "[storage] path somewhere writable (read-only commands such as status and "
                "search still work on it)")
    if primary == sqlite3.SQLITE_BUSY:
        return (f"{where} stayed locked by another process for over {BUSY_TIMEOUT_S} s "
                f"({exc}); try again when its write is done")
    return None


def abandon_dead_runs(db: sqlite_utils.Database, *, now: datetime | None = None) -> int:
    """Close as ``abandoned`` the runs still ``running`` whose crawl process is gone.

    A crawl killed outright (SIGKILL, power loss) never closes its run rows, and
    nothing else would: this runs at the start of every crawl. A row whose pid is
    alive is left alone (it may be another crawl running now).
    """
    rows = db.execute("SELECT id, pid FROM crawl_runs WHERE status = 'running'").fetchall()
    dead = [run_id for run_id, pid in rows if not _alive(pid)]
    if dead:
        with transaction(db):
            db.execute(f"UPDATE crawl_runs SET status = 'abandoned', finished_at = ? "
                       f"WHERE status = 'running' AND id IN ({', '.join('?' * len(dead))})",
                       [utcnow_iso(now), *dead])
    return len(dead)


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists (a zombie counts as gone: it is only waiting to be
    reaped). A row without a pid (written by hand) is treated as alive."""
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction taken with ``BEGIN IMMEDIATE``; nested calls use savepoints.

    Everything written inside commits together or not at all, so a crash never
    leaves half an article, or a session without its alert rows.

    The guards of sqlite-utils' ``atomic()``: a savepoint is rolled back only while
    its transaction is still open (some errors, a full disk among them, end the
    whole transaction in SQLite, and ``ROLLBACK TO`` would then hide the real error
    behind "no such savepoint"); a COMMIT that fails (a deferred foreign key, a full
    disk) is rolled back, so the connection never stays inside a transaction that
    every later call would join as a savepoint and that nothing would ever commit.
    (``atomic()`` itself opens with a plain ``BEGIN``: a writer would then take the
    lock only at its first write, and could fail there with "database is locked"
    instead of waiting its turn.)
    """
    if db.conn.in_transaction:  # nested: a savepoint (SQLite resolves a reused name
        # to the innermost one; sqlite-utils' atomic() draws a random name each time)
        db.conn.execute("SAVEPOINT dxmon")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK TO dxmon")
                db.conn.execute("RELEASE dxmon")
            raise
        db.conn.execute("RELEASE dxmon")
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    try:
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:  # the COMMIT failed and left the transaction open
            db.conn.execute("ROLLBACK")
        raise


def _initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            first_crawl_at TEXT,
            -- end of the first successful crawl: sessions first seen before it are history
            baseline_at TEXT
        );
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,          -- the canonical URL
            source TEXT NOT NULL REFERENCES sources(name),
            title TEXT,
            author TEXT,
            published_at TEXT,                 -- ISO 8601 with the portal's offset
            text TEXT NOT NULL,                -- normalised main text, paragraphs split by \\n
            content_hash TEXT NOT NULL,        -- sha256 of the normalised text
            site_name TEXT,
            related TEXT,                      -- JSON list of related-article titles (not text)
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            processed_hash TEXT,               -- content_hash that detection last ran on
            cluster_id INTEGER,                -- near-duplicate cluster (MinHash), = an article id
            minhash BLOB
        );
        CREATE INDEX idx_articles_content_hash ON articles(content_hash);
        CREATE INDEX idx_articles_source ON articles(source, first_seen);
        CREATE INDEX idx_articles_cluster ON articles(cluster_id);
        CREATE TABLE article_urls (
            url TEXT PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            first_seen TEXT NOT NULL
        );
        CREATE INDEX idx_article_urls_article ON article_urls(article_id);
        CREATE TABLE article_versions (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            content_hash TEXT NOT NULL,
            title TEXT,
            text TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX idx_article_versions_article ON article_versions(article_id, seen_at);
        CREATE TABLE mentions (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            body TEXT NOT NULL,
            number INTEGER,
            period TEXT,
            date TEXT,
            role TEXT NOT NULL CHECK (role IN ('report', 'preview', 'reference')),
            evidence TEXT NOT NULL,
            confidence REAL NOT NULL
        );
        CREATE INDEX idx_mentions_article ON mentions(article_id);
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,          -- body:n:NUMBER[:PERIOD] or body:d:DATE
            body TEXT NOT NULL,
            number INTEGER,
            period TEXT,
            date TEXT,
            title TEXT,
            first_seen TEXT NOT NULL,
            alertable INTEGER NOT NULL DEFAULT 0  -- 1 if it was new news when first seen
        );
        CREATE INDEX idx_sessions_body ON sessions(body, number, date);
        CREATE TABLE session_articles (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            evidence TEXT NOT NULL,
            confidence REAL NOT NULL DEFAULT 1.0,
            attached_at TEXT NOT NULL,
            PRIMARY KEY (session_id, article_id)
        );
        CREATE INDEX idx_session_articles_article ON session_articles(article_id);
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            channel TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'session',  -- 'session' | 'correction'
            idempotency_key TEXT NOT NULL UNIQUE,  -- also the delivery id receivers see
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,                  -- a dispatcher's claim while sending
            sent_at TEXT,
            detail TEXT                        -- JSON: what a correction changed
        );
        CREATE INDEX idx_alerts_due ON alerts(status, next_attempt_at);
        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,              -- running | ok | failed | interrupted
            stats TEXT,                        -- JSON: Scrapy stats and dxmon counters
            pid INTEGER
        );
        CREATE INDEX idx_crawl_runs_source ON crawl_runs(source, started_at);
        CREATE TABLE fetch_state (
            url TEXT PRIMARY KEY,              -- a listing page, feed or sitemap
            etag TEXT,
            last_modified TEXT,
            content_hash TEXT,
            fetched_at TEXT,                   -- last full (200) fetch
            checked_at TEXT,                   -- last request of any outcome
            unchanged INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE host_state (
            host TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            backoff_until TEXT,
            reason TEXT,
            crawl_delay REAL,
            updated_at TEXT NOT NULL
        );
        -- Search index over folded text (no diacritics, đ -> d), rowid = articles.id,
        -- kept in step by storage.articles so "chuyen doi so" finds "chuyển đổi số".
        CREATE VIRTUAL TABLE articles_search USING fts5(title, text, tokenize = 'unicode61');
        """
    )


def _minhash_bands(db: sqlite_utils.Database) -> None:
    # LSH buckets of each article's MinHash (storage/neardup.py): one row per band
    db.executescript(
        """
        CREATE TABLE minhash_bands (
            band INTEGER NOT NULL,
            bucket TEXT NOT NULL,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            PRIMARY KEY (band, bucket, article_id)
        ) WITHOUT ROWID;
        CREATE INDEX idx_minhash_bands_article ON minhash_bands(article_id);
        """
    )


def _source_boundary(db: sqlite_utils.Database) -> None:
    # issue 12: what a page claimed that is not its source's to claim
    db.executescript(
        """
        CREATE TABLE url_hints (
            url TEXT NOT NULL,                 -- e.g. a canonical link off the source's hosts
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                -- 'canonical'
            first_seen TEXT NOT NULL,
            PRIMARY KEY (url, article_id, kind)
        );
        CREATE INDEX idx_url_hints_article ON url_hints(article_id);
        CREATE TABLE source_conflicts (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,              -- the source whose page made the claim
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            url TEXT NOT NULL,                 -- the URL claimed (another source's article)
            kind TEXT NOT NULL,                -- 'url' (the same URL) | 'canonical'
            first_seen TEXT NOT NULL,
            UNIQUE (source, article_id, url, kind)
        );
        """
    )


# What the text normaliser before issue 11 wrote for "oặ" ("hoặc" → "họăc", issue 11):
# the dot below moved to the "o". No Vietnamese word has "ọ" before "ă".
_BROKEN_OAC = {"ọă": "oặ", "Ọă": "Oặ", "ỌĂ": "OẶ", "ọĂ": "oẶ"}


def _repair(text: str | None) -> str | None:
    for broken, right in _BROKEN_OAC.items():
        if text and broken in text:
            text = text.replace(broken, right)
    return text


def _repair_oac(db: sqlite_utils.Database) -> None:
    """Give back "hoặc", "ngoặc", "ngoặt"... to the rows the old normaliser broke.

    Texts, titles and evidence are repaired; an article's content hash (sha256 of the
    matching form, which the repaired text now is) follows, and so does the hash that
    detection last ran on, so nothing is re-detected or re-versioned for it. The other
    rewriting of those days (one tone placement: "hóa" for "hoá") cannot be undone
    here: a re-crawl that finds the same content restores the page's own spelling
    (storage.articles.store_article).
    """
    def broken(table: str, matched: tuple[str, ...], selected: str) -> list[tuple]:
        cond = " OR ".join(f"instr({col}, '{b}')" for col in matched for b in _BROKEN_OAC)
        return db.execute(f"SELECT {selected} FROM {table} WHERE {cond}").fetchall()

    def digest(text: str) -> str:  # the stored text of those days was the matching form
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    for row_id, text, title, old in broken("articles", ("text", "title"),
                                           "id, text, title, content_hash"):
        text = _repair(text)
        db.execute("UPDATE articles SET text = ?, title = ?, content_hash = ?, processed_hash = "
                   "CASE WHEN processed_hash = ? THEN ? ELSE processed_hash END WHERE id = ?",
                   [text, _repair(title), digest(text), old, digest(text), row_id])
    for row_id, text, title in broken("article_versions", ("text", "title"), "id, text, title"):
        text = _repair(text)
        db.execute("UPDATE article_versions SET text = ?, title = ?, content_hash = ? WHERE id = ?",
                   [text, _repair(title), digest(text), row_id])
    for table, col in (("mentions", "evidence"), ("sessions", "title"),
                       ("session_articles", "evidence")):
        for row_id, value in broken(table, (col,), f"rowid, {col}"):
            db.execute(f"UPDATE {table} SET {col} = ? WHERE rowid = ?", [_repair(value), row_id])


def _published_index(db: sqlite_utils.Database) -> None:
    # issue 14: the web view's search filters by publication day (storage.views)
    db.execute("CREATE INDEX IF NOT EXISTS idx_articles_published ON articles(published_at)")


def _session_revisions(db: sqlite_utils.Database) -> None:
    """Issue 14's feeds: a stable ``uid`` per session, and a ``revision`` and
    ``updated_at`` that move whenever its number, period or date change.

    Triggers keep them, so every writer (grouping giving an unnumbered session its
    number, a correction, a fold) is covered without each remembering to. ``uid`` is
    what calendar clients and feed readers know the session by: it is set once, at
    insert, to the key of the earliest stored preview of the same meeting (so the event
    announced as tentative becomes the held one instead of a second event), else to the
    session's own key; it never follows a correction. Should another session already
    hold that uid (the key was freed by a correction), the new one gets its key plus
    ``#id``. ``updated_at`` is SQLite's clock in UTC, to the millisecond: a correction is
    a write, and the write's own time is when the session changed.
    """
    db.executescript(
        """
        ALTER TABLE sessions ADD COLUMN uid TEXT;
        ALTER TABLE sessions ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sessions ADD COLUMN updated_at TEXT;
        UPDATE sessions SET uid = key;
        CREATE UNIQUE INDEX idx_sessions_uid ON sessions(uid);
        CREATE INDEX idx_mentions_role ON mentions(role, body);
        CREATE TRIGGER sessions_uid AFTER INSERT ON sessions WHEN NEW.uid IS NULL
        BEGIN
            UPDATE sessions SET uid = (
                SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM sessions o WHERE o.uid = c.uid)
                            THEN c.uid ELSE NEW.key || '#' || NEW.id END
                FROM (SELECT COALESCE((
                    SELECT CASE WHEN m.number IS NOT NULL
                                THEN m.body || ':n:' || m.number || COALESCE(':' || m.period, '')
                                ELSE m.body || ':d:' || m.date END
                    FROM mentions m
                    WHERE m.role = 'preview' AND m.body = NEW.body AND (
                        (NEW.number IS NOT NULL AND m.number = NEW.number AND (
                            m.period IS NEW.period
                            OR ((m.period IS NULL OR NEW.period IS NULL) AND m.date = NEW.date)))
                        OR (m.number IS NULL AND m.date = NEW.date)
                        OR (NEW.number IS NULL AND m.date = NEW.date))
                    ORDER BY m.id LIMIT 1), NEW.key) AS uid) c)
            WHERE id = NEW.id;
        END;
        CREATE TRIGGER sessions_revision AFTER UPDATE OF number, period, date ON sessions
        WHEN OLD.number IS NOT NEW.number OR OLD.period IS NOT NEW.period
             OR OLD.date IS NOT NEW.date
        BEGIN
            UPDATE sessions SET revision = OLD.revision + 1,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE id = NEW.id;
        END;
        """
    )


def _topics_digests(db: sqlite_utils.Database) -> None:
    """Issue 15: topic watches (one ``topic.match`` per near-duplicate cluster) and
    digests (once per period): see :mod:`storage.topics`."""
    db.executescript(
        """
        CREATE TABLE topic_matches (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,               -- [[topic]] id
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            cluster_id INTEGER NOT NULL,       -- articles.cluster_id when it matched
            matched_at TEXT NOT NULL,          -- UTC ISO
            news INTEGER NOT NULL,             -- 1: after its source's baseline, fresh
            alerted INTEGER NOT NULL,          -- 1: it raised its cluster's topic.match
            UNIQUE (topic, article_id)
        );
        CREATE INDEX idx_topic_matches_cluster ON topic_matches(topic, cluster_id);
        CREATE INDEX idx_topic_matches_at ON topic_matches(matched_at);
        CREATE TABLE digests_sent (
            digest TEXT NOT NULL,              -- [[digest]] id
            period_start TEXT NOT NULL,        -- ISO, in the digest's time zone
            period_end TEXT NOT NULL,
            sent_at TEXT NOT NULL,             -- when it was queued (UTC ISO)
            PRIMARY KEY (digest, period_start)
        );
        """
    )


def _events_outbox(db: sqlite_utils.Database) -> None:
    """Issue 15: the outbox carries any event, not only a session's alert.

    ``session_id`` becomes nullable (a source's health or a digest has no session),
    ``event`` names what a row announces (``session.new``, ``source.unhealthy``, ...;
    DESIGN.md's list) and ``payload`` holds the event's JSON for rows that are not a
    session's. SQLite cannot drop a NOT NULL in place, so the table is rebuilt: inside
    the migration's transaction, every row copied with its id, delivery id and state,
    the indexes recreated. Nothing references ``alerts``, so no foreign key follows.
    Existing rows get their event from their kind.
    """
    db.executescript(
        """
        CREATE TABLE alerts_events (
            id INTEGER PRIMARY KEY,
            session_id INTEGER REFERENCES sessions(id),  -- NULL for non-session events
            channel TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'session',  -- 'session' | 'correction' | the event
            idempotency_key TEXT NOT NULL UNIQUE,  -- also the delivery id receivers see
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,                  -- a dispatcher's claim while sending
            sent_at TEXT,
            detail TEXT,                       -- JSON: what a correction changed
            event TEXT NOT NULL DEFAULT 'session.new',  -- session.new, source.unhealthy, ...
            payload TEXT                       -- JSON: a non-session event's content
        );
        INSERT INTO alerts_events (id, session_id, channel, kind, idempotency_key, status,
            attempts, last_error, created_at, next_attempt_at, lease_until, sent_at, detail,
            event, payload)
        SELECT id, session_id, channel, kind, idempotency_key, status, attempts, last_error,
            created_at, next_attempt_at, lease_until, sent_at, detail,
            CASE kind WHEN 'correction' THEN 'session.corrected' ELSE 'session.new' END, NULL
        FROM alerts;
        DROP TABLE alerts;
        ALTER TABLE alerts_events RENAME TO alerts;
        CREATE INDEX idx_alerts_due ON alerts(status, next_attempt_at);
        CREATE INDEX idx_alerts_session ON alerts(session_id);
        CREATE INDEX idx_alerts_event ON alerts(event, created_at);
        """
    )


def _health(db: sqlite_utils.Database) -> None:
    """Source health (issue 15): one row per source, its state and the streaks its
    hysteresis counts (monitor.health)."""
    db.execute("""
        CREATE TABLE source_health (
            source TEXT PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'healthy' CHECK (state IN ('healthy', 'unhealthy')),
            symptoms TEXT NOT NULL DEFAULT '[]',
            since TEXT,
            last_good_crawl TEXT,
            bad_streak INTEGER NOT NULL DEFAULT 0,
            good_streak INTEGER NOT NULL DEFAULT 0,
            crawl_bad INTEGER NOT NULL DEFAULT 0,
            streak_symptoms TEXT NOT NULL DEFAULT '[]',
            streak_since TEXT,
            listing_empty INTEGER NOT NULL DEFAULT 0,
            extraction_bad INTEGER NOT NULL DEFAULT 0,
            last_new_at TEXT,
            last_run_id INTEGER,
            judged_at TEXT
        )""")


def _revisits(db: sqlite_utils.Database) -> None:
    """Issue 16: a crawl start reads what is due, not what is known.

    ``articles.next_check_at`` (UTC ISO, NULL = never again) says when a young article
    is to be requested again (storage.crawl_state: :func:`~storage.crawl_state.revisit_interval`
    after each check, while its age is under ``revisit_days``); a partial index holds
    the scheduled rows only, by source, so the due ones of the crawled sources are one
    index range and the archive's old articles cost nothing. A column rather than a
    table of its own: it is written in the same statement that records the check
    (``last_seen``), and the index is as small as such a table would be.

    Existing archives are scheduled in one statement from what crawl starts decided
    by until now: the latest ``fetch_state.checked_at`` of the article's URLs, else
    its ``first_seen``, and its age from ``published_at``, else ``first_seen``; an
    article already old (most of an archive) stays NULL. A
    migration has no config: the window is the default ``revisit_days`` (7). A larger
    configured window applies from each article's next check; a smaller one is
    applied at crawl start (:func:`storage.crawl_state.due_revisits` unschedules what
    it finds old).

    Also indexed here, for the other costs of a crawl and its processing that grew
    with the archive or its history: the articles detection has not run on
    (``unprocessed_articles``, a partial index on exactly its condition), crawl runs by
    process (``crawl_runs_closed``, ``crawl_runs_of``), the runs still marked running
    (``abandon_dead_runs`` at every crawl start) and each source's latest finished run
    (``storage.health.unjudged_runs`` after every crawl).
    """
    from storage.crawl_state import schedule_young_articles  # it imports this module

    db.executescript(
        """
        ALTER TABLE articles ADD COLUMN next_check_at TEXT;
        CREATE INDEX idx_articles_unprocessed ON articles(id)
            WHERE processed_hash IS NULL OR processed_hash != content_hash;
        CREATE INDEX idx_crawl_runs_pid ON crawl_runs(pid);
        CREATE INDEX idx_crawl_runs_running ON crawl_runs(id) WHERE status = 'running';
        CREATE INDEX idx_crawl_runs_finished ON crawl_runs(source, id)
            WHERE finished_at IS NOT NULL;
        """
    )
    schedule_young_articles(db, datetime.now(UTC))
    db.execute("CREATE INDEX idx_articles_next_check ON articles(source, next_check_at) "
               "WHERE next_check_at IS NOT NULL")
def _compact(db: sqlite_utils.Database) -> None:
    """Issue 16: each article's text stored once, and the LSH buckets in a third of the
    bytes. Nothing is lost: every version, search hit and cluster stays as it was.

    - ``articles_search`` becomes a contentless FTS5 table (``content=''``): the index
      only, no copy of the folded text. It is rebuilt here from each article's current
      title and text, folded as the store path folds them (:func:`storage.articles.
      search_forms`), so every entry is exactly what the store path will recompute to
      delete it on an update (FTS5's 'delete' command must be given the indexed values).
      A change to :func:`core.text.fold` or :func:`core.text.normalize` that changes
      the folded form of stored text needs a migration that rebuilds the index this way.
    - ``article_versions`` no longer repeats the current text: the current version's
      row keeps its hash and time but ``text`` and ``title`` are NULL, meaning "the
      articles row's" (:func:`storage.articles.article_versions` fills them in). A row
      whose text or title differs from the article's (a respelled article) keeps them.
    - ``minhash_bands`` becomes ``(key, article_id)`` WITHOUT ROWID, one INTEGER key per
      band and bucket (:func:`storage.neardup.band_keys`), no index by article and no
      foreign key (an article's rows are found again from its stored MinHash; rows of an
      article that no longer exists are dropped by the candidate query's join). The
      table is left empty here: ``0013_band_weeks`` makes every key from each
      article's stored MinHash (``articles.minhash``, the signature the old rows were
      cut from), in the key layout of today's store path.

    Cost: the folding of every stored article (about a millisecond each) and a copy of
    the versions and band rows, once, inside the migration's transaction.
    """

    from storage.articles import search_forms

    db.executescript(
        """
        DROP TABLE articles_search;
        -- Search index over folded text (no diacritics, đ -> d), rowid = articles.id,
        -- contentless: kept in step by storage.articles, which deletes an entry by
        -- giving the folded values it indexed (search_forms of the stored row)
        CREATE VIRTUAL TABLE articles_search USING fts5(
            title, text, content = '', tokenize = 'unicode61');
        """)
    last = 0
    while True:
        rows = db.execute("SELECT id, title, text FROM articles WHERE id > ? ORDER BY id "
                          "LIMIT 1000", [last]).fetchall()
        if not rows:
            break
        db.conn.executemany("INSERT INTO articles_search (rowid, title, text) VALUES (?, ?, ?)",
                            [(row_id, *search_forms(title, text)) for row_id, title, text in rows])
        last = rows[-1][0]
    db.executescript(
        """
        CREATE TABLE article_versions_compact (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            content_hash TEXT NOT NULL,
            title TEXT,                        -- NULL with text: the article's current title
            text TEXT,                         -- NULL: the current version (articles.text)
            seen_at TEXT NOT NULL
        );
        INSERT INTO article_versions_compact (id, article_id, content_hash, title, text, seen_at)
        SELECT v.id, v.article_id, v.content_hash,
               CASE WHEN c.current THEN NULL ELSE v.title END,
               CASE WHEN c.current THEN NULL ELSE v.text END, v.seen_at
        FROM article_versions v JOIN (
            SELECT v2.id, (v2.id = (SELECT MAX(id) FROM article_versions v3
                                    WHERE v3.article_id = v2.article_id)
                           AND v2.text = a.text AND v2.title IS a.title
                           AND v2.content_hash = a.content_hash) AS current
            FROM article_versions v2 JOIN articles a ON a.id = v2.article_id) c ON c.id = v.id
        ORDER BY v.id;
        DROP TABLE article_versions;
        ALTER TABLE article_versions_compact RENAME TO article_versions;
        CREATE INDEX idx_article_versions_article ON article_versions(article_id, seen_at);
        CREATE TABLE minhash_bands_compact (
            key INTEGER NOT NULL,              -- storage.neardup.band_keys: band and bucket
            article_id INTEGER NOT NULL,
            PRIMARY KEY (key, article_id)
        ) WITHOUT ROWID;
        """)
    # (left empty: 0013_band_weeks makes every key again from articles.minhash)
    db.executescript(
        """
        DROP TABLE minhash_bands;
        ALTER TABLE minhash_bands_compact RENAME TO minhash_bands;
        """)


def _query_indexes(db: sqlite_utils.Database) -> None:
    # issue 16: `dxmon articles` and the newest-first listings walk (first_seen, id)
    # and stop after a page, instead of sorting every article (425 ms at 100k)
    db.execute("CREATE INDEX IF NOT EXISTS idx_articles_first_seen ON articles(first_seen)")


def _band_weeks(db: sqlite_utils.Database) -> None:
    """issue 16: ``minhash_bands`` keyed week first (:func:`storage.neardup.band_keys`:
    the week of the article's publication, the band, 30 bits of the bucket's hash), so
    a store inserts into the current week's part of the table and looks candidates up
    in a three-week window (see storage.neardup). Every article's keys are made from
    its stored MinHash and dates (``articles.minhash``, ``published_at``, ``first_seen``),
    as the store path makes them, and written in key order, oldest article first, by
    the store path's statement (a bucket takes at most ``BUCKET_CAP`` articles).

    Cost: one pass over the articles' MinHash (a few seconds per 100k articles) and
    the band rows written again, inside the migration's transaction.
    """
    import numpy as np

    from storage.neardup import ADD_BAND_SQL, band_keys_of, epoch_of

    db.executescript(
        """
        DROP TABLE minhash_bands;
        CREATE TABLE minhash_bands (
            key INTEGER NOT NULL,              -- storage.neardup.band_keys: week, band, bucket
            article_id INTEGER NOT NULL,
            PRIMARY KEY (key, article_id)
        ) WITHOUT ROWID;
        """)
    last = 0
    while True:
        rows = db.execute("SELECT id, minhash, published_at, first_seen FROM articles "
                          "WHERE id > ? AND minhash IS NOT NULL ORDER BY id LIMIT 20000",
                          [last]).fetchall()
        if not rows:
            break
        weeks = np.array([epoch_of(r[2], r[3]) for r in rows], dtype=np.int64)
        keys = band_keys_of(np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint32)
                            .reshape(len(rows), -1), weeks)
        ids = np.repeat(np.array([r[0] for r in rows], dtype=np.int64), keys.shape[1])
        order = np.argsort(keys, axis=None, kind="stable")  # in key order: denser pages
        db.conn.executemany(ADD_BAND_SQL, zip(keys.ravel()[order].tolist(), ids[order].tolist(),
                                              strict=True))
        last = rows[-1][0]


def _search_merge_after_crawl(db: sqlite_utils.Database) -> None:
    """issue 16: the search index's segments are no longer merged inside the store
    path's commits (FTS5 ``automerge`` 0, a setting kept in the index itself) but after
    each crawl, by :func:`storage.maintenance.merge_search_index` (``full=False``),
    which does the same merging. ``crisismerge`` stays FTS5's 16: should nothing merge
    for a long time (crawls run with ``DXMON_PROCESS_AFTER_CRAWL=False``), a level that
    reaches 16 segments is still merged by the commit that makes it so."""
    db.execute("INSERT INTO articles_search(articles_search, rank) VALUES ('automerge', 0)")


# (a string: the read commands defer importing sqlite-utils, see storage.lite)
Migration = tuple[str, Callable[["sqlite_utils.Database"], None]]


MIGRATIONS: list[Migration] = [
    ("0001_initial", _initial),
    ("0002_minhash_bands", _minhash_bands),
    ("0003_source_boundary", _source_boundary),
    ("0004_repair_oac", _repair_oac),
    ("0005_web_published_index", _published_index),
    ("0006_session_revisions", _session_revisions),
    ("0007_health_source_health", _health),
    ("0008_topics_digests", _topics_digests),
    ("0009_events_outbox", _events_outbox),
    ("0010_revisits", _revisits),
    ("0011_compact", _compact),
    ("0012_query_indexes", _query_indexes),
    ("0013_band_weeks", _band_weeks),
    ("0014_search_merge_after_crawl", _search_merge_after_crawl),
]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied = []
    for name, step in MIGRATIONS:
        with transaction(db):
            done = db.execute("SELECT 1 FROM _migrations WHERE name = ?", [name]).fetchone()
            if done:
                continue
            step(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                       [name, utcnow_iso()])
            applied.append(name)
    known = {name for name, _ in MIGRATIONS}
    unknown = [r[0] for r in db.execute("SELECT name FROM _migrations") if r[0] not in known]
    if unknown:
        raise StorageError(f"database has migrations this dxmon does not know: {unknown}; "
                           "it was written by a newer version")
    return applied
