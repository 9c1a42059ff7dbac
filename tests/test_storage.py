"""storage/ is the one door to SQL, and its transactions survive a failed COMMIT.

- Every SQL statement of the product lives in storage/: a scan of the product packages
  finds no SQL text in a string literal and no ``execute`` call anywhere else (the scan
  is attacked with planted SQL first, so it cannot pass by seeing nothing).
- :func:`storage.schema.transaction` carries the guards of sqlite-utils' ``atomic()``:
  a COMMIT that fails (a deferred foreign key) is rolled back, so the next transaction
  commits for real (read from a second connection); a savepoint whose transaction an
  error destroyed re-raises that error, not "no such savepoint".
- The verb-named functions answer what their names say (validators, outbox leases).
"""

from __future__ import annotations

import ast
import re
import sqlite3
import tomllib
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import Extracted, Mention
from storage import articles, crawl_state, outbox, sessions
from storage.schema import open_db, transaction

ROOT = Path(__file__).resolve().parent.parent
# the installed product; storage/ is the one package allowed to hold SQL
# the wheel's packages, as pyproject.toml lists them (a new package is scanned too)
PRODUCT = tuple(name for name in tomllib.loads(
    (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
)["tool"]["setuptools"]["packages"]["find"]["include"] if "." not in name)
SQL = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX|VIRTUAL|TRIGGER|VIEW)|DROP\s+(TABLE|INDEX)|ALTER\s+TABLE|"
    r"PRAGMA\s+\w+|BEGIN\s+(IMMEDIATE|DEFERRED|EXCLUSIVE)|SAVEPOINT\s+\w+|"
    r"ROLLBACK|COMMIT\b|json_extract\()")
DB_CALLS = {"execute", "executemany", "executescript"}


def sql_in(source: str) -> list[str]:
    """The SQL-looking string literals and database calls in one Python source."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):  # an f-string: each {field} read as a name
            text = "".join(v.value if isinstance(v, ast.Constant) else " x "
                           for v in node.values)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in DB_CALLS and (node.args or node.keywords)):
            # (a call without arguments is no statement: a Redis pipeline's execute())
            hits.append(f"line {node.lineno}: .{node.func.attr}(...)")
            continue
        else:
            continue
        if SQL.search(text):
            hits.append(f"line {node.lineno}: {text.strip()[:70]!r}")
    return hits


def test_the_scan_sees_sql_in_every_shape_it_is_written():
    planted = [
        'db.execute("SELECT id FROM sessions WHERE key = ?", [k])',
        'x = ("INSERT OR IGNORE INTO alerts (id) "\n     "VALUES (?)")',
        'q = f"UPDATE {table} SET title = ? WHERE id = ?"',
        'rows = cur.executemany(stmt, values)',
        'q = "SELECT MAX(started_at) FROM crawl_runs WHERE json_extract(stats, \'$.x\') = 1"',
        'conn.execute(stmt)',
        's = "DELETE FROM mentions WHERE article_id = ?"',
    ]
    for source in planted:
        assert sql_in(source), source
    prose = [
        '"""Select the sessions from the list; update the set of alerts."""',
        'msg = "select a channel from the config"',
        'db["sessions"].get(1)',
        'x = "the outlet said it will update its page"',
        'flags = pipe.execute()',
    ]
    for source in prose:
        assert not sql_in(source), source


def test_no_sql_outside_storage():
    found = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative.parts[0] == "storage":
                continue
            hits = sql_in(path.read_text(encoding="utf-8"))
            if hits:
                found[str(relative)] = hits
    assert not found, f"SQL outside storage/: {found}"


def test_storage_does_hold_the_sql():
    """The scan would notice SQL: storage/ itself is full of it."""
    for name in ("articles", "crawl_state", "sessions", "outbox", "schema"):
        assert sql_in((ROOT / "storage" / f"{name}.py").read_text(encoding="utf-8")), name


# --- transactions ---------------------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "dxmon.db")
    yield database
    database.close()


def committed(path: Path, sql: str, params=()) -> list:
    """What another connection (another process, say) reads: only committed rows."""
    other = sqlite3.connect(str(path))
    try:
        return other.execute(sql, params).fetchall()
    finally:
        other.close()


def dangling_link(db) -> None:
    """Inside a transaction: a session_articles row whose session does not exist, with
    foreign keys checked only at COMMIT (so the COMMIT itself fails)."""
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.execute("INSERT INTO session_articles (session_id, article_id, role, evidence, "
               "attached_at) VALUES (999, 999, 'report', 'x', '2026-01-01')")


def test_a_failed_commit_is_rolled_back_and_the_next_transaction_commits(db, tmp_path):
    path = tmp_path / "dxmon.db"
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        with transaction(db):
            crawl_state.ensure_source(db, "lost")
            dangling_link(db)
    assert not db.conn.in_transaction  # not left open for every later call to join
    with transaction(db):
        crawl_state.ensure_source(db, "kept")
    # the later write reached the file: another connection reads it, and not the lost one
    assert committed(path, "SELECT name FROM sources ORDER BY name") == [("kept",)]
    assert committed(path, "SELECT COUNT(*) FROM session_articles") == [(0,)]


def test_after_a_failed_commit_an_article_store_commits(db, tmp_path):
    """The store pipeline's path: a batch fails at COMMIT, then articles are stored one
    by one; each must be on disk, not inside a savepoint nobody commits."""
    with pytest.raises(sqlite3.IntegrityError):
        with transaction(db):
            dangling_link(db)
    page = Extracted(url="http://127.0.0.1/a/1", canonical_url="http://127.0.0.1/a/1",
                     title="Phiên họp thứ 9", text="Sáng nay, Ủy ban họp phiên thứ 9.")
    stored = articles.store_article(db, "a", page)
    assert stored.outcome == "new"
    assert committed(tmp_path / "dxmon.db", "SELECT url FROM articles") == [(page.url,)]


def test_a_savepoint_whose_transaction_died_raises_the_real_error(db, tmp_path):
    # RAISE(ROLLBACK) ends the whole transaction, savepoints included (so does a full disk)
    db.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON sources WHEN NEW.name = 'boom' "
               "BEGIN SELECT RAISE(ROLLBACK, 'refused by trigger'); END")
    with pytest.raises(sqlite3.IntegrityError, match="refused by trigger"):
        with transaction(db):
            crawl_state.ensure_source(db, "outer")
            with transaction(db):
                crawl_state.ensure_source(db, "boom")
    assert not db.conn.in_transaction
    with transaction(db):
        crawl_state.ensure_source(db, "after")
    assert committed(tmp_path / "dxmon.db", "SELECT name FROM sources") == [("after",)]


def test_a_failed_savepoint_rolls_back_only_itself(db, tmp_path):
    with transaction(db):
        crawl_state.ensure_source(db, "outer")
        with pytest.raises(RuntimeError):
            with transaction(db):
                crawl_state.ensure_source(db, "inner")
                raise RuntimeError("inner fails")
    assert committed(tmp_path / "dxmon.db", "SELECT name FROM sources") == [("outer",)]


def test_a_commit_on_a_full_disk_leaves_the_database_usable(tmp_path):
    """A database that may not grow (PRAGMA max_page_count: a full disk) refuses a big
    write; the failure is rolled back wherever it happens, and a small write after it,
    once there is room again, commits."""
    path = tmp_path / "full.db"
    db = open_db(path)
    try:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(sqlite3.OperationalError, match="full"):
            with transaction(db):
                for i in range(50):  # ~50 pages of text: more than the file may hold
                    crawl_state.ensure_source(db, f"{i}-" + "x" * 4000)
        assert not db.conn.in_transaction
        db.execute(f"PRAGMA max_page_count = {pages + 1000}")
        with transaction(db):
            crawl_state.ensure_source(db, "room again")
        assert committed(path, "SELECT name FROM sources") == [("room again",)]
    finally:
        db.close()


# --- the verb-named functions -------------------------------------------------------------


def test_validators_for_and_mark_unchanged(db):
    url = "http://127.0.0.1/a/list"
    assert crawl_state.validators_for(db, url) is None
    crawl_state.record_validators(db, url, b'"v1"', None, "2026-01-01T00:00:00+00:00", "h1")
    assert crawl_state.validators_for(db, url) == ('"v1"', None, 0, "h1")
    crawl_state.mark_unchanged(db, url, "2026-01-02T00:00:00+00:00")
    crawl_state.mark_unchanged(db, url, "2026-01-03T00:00:00+00:00")
    assert crawl_state.validators_for(db, url).unchanged == 2
    # a new full fetch resets the streak and keeps the old hash when it has none
    crawl_state.record_validators(db, url, None, "Mon, 01 Jan 2026", "2026-01-04T00:00:00+00:00")
    assert crawl_state.validators_for(db, url) == (None, "Mon, 01 Jan 2026", 0, "h1")


def test_mark_unchanged_moves_an_articles_last_seen(db):
    page = Extracted(url="http://127.0.0.1/a/2", canonical_url="http://127.0.0.1/a/2",
                     title="Tin", text="Nội dung bài báo.")
    stored = articles.store_article(db, "a", page, now=datetime(2026, 1, 1, tzinfo=UTC))
    crawl_state.mark_unchanged(db, page.url, "2026-02-01T00:00:00+00:00", article=True,
                               window=timedelta(days=7))
    assert db["articles"].get(stored.article_id)["last_seen"] == "2026-02-01T00:00:00+00:00"
    crawl_state.mark_unchanged(db, page.url, "2026-03-01T00:00:00+00:00")  # not an article
    assert db["articles"].get(stored.article_id)["last_seen"] == "2026-02-01T00:00:00+00:00"


def test_last_full_sweep_counts_only_ok_runs_that_swept(db):
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert crawl_state.last_full_sweep(db, "a") is None
    swept = crawl_state.start_crawl_run(db, "a", now=t)
    crawl_state.finish_crawl_run(db, swept, "ok", {"full_sweep": 1}, now=t)
    partial = crawl_state.start_crawl_run(db, "a", now=t + timedelta(days=1))
    crawl_state.finish_crawl_run(db, partial, "ok", {"full_sweep": 0}, now=t)
    failed = crawl_state.start_crawl_run(db, "a", now=t + timedelta(days=2))
    crawl_state.finish_crawl_run(db, failed, "error", {"full_sweep": 1}, now=t)
    assert crawl_state.last_full_sweep(db, "a").startswith("2026-01-01T00:00:00")
    assert crawl_state.last_full_sweep(db, "b") is None


def a_session(db) -> int:
    return sessions.create_session(db, key="ubqg-cds:n:9", body="ubqg-cds", number=9,
                                   period=None, day="2026-01-05", title="Phiên họp thứ 9",
                                   first_seen="2026-01-05T00:00:00+00:00")


def test_claim_due_alerts_leases_each_row_once_until_the_lease_ends(db):
    sid = a_session(db)
    t0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    first = outbox.enqueue_alert(db, sid, "hook", "session", "k1", t0)
    assert outbox.enqueue_alert(db, sid, "hook", "session", "k1", t0) is None  # same key
    outbox.enqueue_alert(db, sid, "mail", "session", "k2", t0 + timedelta(hours=1))

    def lease(row):
        return t0 + timedelta(minutes=2)
    (row,) = outbox.claim_due_alerts(db, ["hook", "mail"], t0, lease)
    assert (row["id"], row["attempts"]) == (first, 1)
    assert outbox.claim_due_alerts(db, ["hook", "mail"], t0 + timedelta(minutes=1), lease) == []
    (again,) = outbox.claim_due_alerts(db, ["hook"], t0 + timedelta(minutes=2), lease)
    assert (again["id"], again["attempts"]) == (first, 2)  # the lease ran out
    outbox.close_alert(db, first, "sent", None, t0 + timedelta(minutes=3))
    assert outbox.has_sent_alerts(db, sid) and outbox.has_session_alerts(db, sid)
    assert outbox.alert_counts(db) == {"pending": 1, "sending": 0, "sent": 1, "failed": 0}
    assert outbox.next_due(db) == t0 + timedelta(hours=1)


def test_update_session_refuses_columns_grouping_may_not_change(db):
    sid = a_session(db)
    with pytest.raises(ValueError, match="title"):
        sessions.update_session(db, sid, {"title": "x"})
    sessions.update_session(db, sid, {"date": "2026-01-06"})
    assert db["sessions"].get(sid)["date"] == "2026-01-06"
    assert sessions.session_holding_key(db, "ubqg-cds:n:9") == sid
    assert sessions.session_holding_key(db, "ubqg-cds:n:9", other_than=sid) is None


def test_attach_article_never_demotes_a_report(db):
    sid = a_session(db)
    page = Extracted(url="http://127.0.0.1/a/3", canonical_url="http://127.0.0.1/a/3",
                     title="Tin", text="Phiên họp thứ 9.")
    aid = articles.store_article(db, "a", page).article_id
    report = Mention(body="ubqg-cds", role="report", evidence="họp phiên thứ 9", number=9)
    preview = Mention(body="ubqg-cds", role="preview", evidence="sẽ họp", number=9)
    assert sessions.attach_article(db, sid, aid, report, "2026-01-05T00:00:00+00:00") == 1
    sessions.attach_article(db, sid, aid, preview, "2026-01-05T01:00:00+00:00")
    (row,) = sessions.reporting_articles(db, sid)
    assert row["evidence"] == "họp phiên thứ 9"
    assert [s["id"] for s in sessions.reported_sessions(db, aid)] == [sid]


# a block of work: (fails at its end, the blocks nested in it)
Block = tuple[bool, list]
blocks = st.recursive(st.tuples(st.booleans(), st.just([])),
                      lambda inner: st.tuples(st.booleans(), st.lists(inner, max_size=3)),
                      max_leaves=8)


class Refused(Exception):
    pass


# each example opens two connections and runs up to ~20 nested transactions on a real
# file (~0.25 s): 30 keep the file in seconds
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(top=st.lists(blocks, min_size=1, max_size=3), commit_fails=st.booleans())
def test_nested_transactions_keep_exactly_what_no_failure_undid(tmp_path_factory, top,
                                                                 commit_fails):
    """Any nesting of transactions, each failing or not (a parent carries on past a
    failed child), optionally ending in a failed COMMIT: what another connection reads
    is exactly the blocks that neither failed nor sit inside one that failed; and a
    transaction after it all commits."""
    path = tmp_path_factory.mktemp("tx") / "dxmon.db"
    db = open_db(path)
    names = iter(range(10_000))
    expected: set[str] = set()

    def run(block: Block, kept: bool) -> None:
        fails, children = block
        name = f"s{next(names)}"
        with transaction(db):
            crawl_state.ensure_source(db, name)
            for child in children:
                try:
                    run(child, kept and not fails)
                except Refused:
                    pass
            if kept and not fails:
                expected.add(name)
            if fails:
                raise Refused(name)

    try:
        with pytest.raises(sqlite3.IntegrityError) if commit_fails else _nothing():
            with transaction(db):
                for block in top:
                    try:
                        run(block, not commit_fails)
                    except Refused:
                        pass
                if commit_fails:
                    dangling_link(db)
        assert not db.conn.in_transaction
        got = {r[0] for r in committed(path, "SELECT name FROM sources")}
        assert got == (set() if commit_fails else expected)
        with transaction(db):
            crawl_state.ensure_source(db, "after")
        assert ("after",) in committed(path, "SELECT name FROM sources")
    finally:
        db.close()


@contextmanager
def _nothing():
    yield
