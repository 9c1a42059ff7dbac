"""Costs against archive size: one archive grown through dxmon's real store path to
10k, 100k and 1M articles, measured at each size next to plain SQLite + FTS5.

The articles come from :mod:`benchmarks.scale_corpus` (deterministic for ``--seed``:
Vietnamese news stories, ~10 % syndicated copies, ~2 % edits, AMP/mobile spellings).
They are written as a crawl writes them:

* ``storage.articles.prepare`` (the CPU work: normalise, hash, fold, MinHash) runs in a
  process pool beside the writer (``--prep-workers``, default 1: on a 2-core machine
  the writer and one worker fill the CPU, as the crawl's extraction workers do);
* the writer is the crawl's own store pipeline (``crawler/pipelines.py``
  ``StorePipeline``, its ``_flush``: batches of 50 in one transaction, each article's
  ``store_article(db, source, prepared, now=, urls=, hint=)``, revisit schedule and
  validators), fed directly with the stream's clock as its ``now``; then the articles
  are marked processed (detection has run on them, as after a crawl; not timed).

The baseline grows alongside with the same articles: a sqlite-utils table
``articles(url primary key, title, text, published)`` with sqlite-utils' own FTS5 index
over title and text (``enable_fts``, triggers), same pragmas (WAL, synchronous=NORMAL),
same batches; an edit is an upsert of the row.

At each size (``--sizes``), the table gets, dxmon / plain:

* store ms/article: the writer's wall time over the last ``--window`` articles before
  the size (marginal cost, not an average since 0);
* bytes/article: file + WAL after a checkpoint, over the articles stored;
* crawl: an unchanged re-crawl of a one-page test portal (another source than the
  archive's, its one article already known), a real ``scrapy crawl news`` process, its
  wall time and peak RSS (``wait4``); the plain column is the same crawl against an
  archive holding only that article;
* search p50/p95 over a fixed query set (:data:`benchmarks.scale_corpus.QUERIES`:
  common, mid and rare words, with and without diacritics) through
  ``storage.articles.search_articles`` vs plain ``MATCH ... ORDER BY rank LIMIT 20``;
* CLI whole-process times (``dxmon search``, ``sessions``, ``status``, ``articles``),
  next to ``python -c pass`` (and a plain search script for ``search``);
* build time and rate of the step.

The archive is kept in ``--dir`` (and can be grown further by a later run: it continues
from the size it holds); results in ``DIR/results.json``; ``--plot cost.png`` draws
every cost against size with a projection to 10M (a fit of each cost against log size).

    python benchmarks/scale.py --dir /tmp/scale --sizes 10000,100000,1000000 --plot s.png
    python benchmarks/scale.py --workers 1,2,3    # cluster throughput (scrapy-redis)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 50  # the pipeline's DXMON_STORE_BATCH default
CHUNK = 500  # items per task of the preparing pool (pickled as one result)
IN_FLIGHT = 3  # chunks prepared ahead of the writer: memory stays constant
PROJECT_TO = 10_000_000
CRAWL_SITE = "thanhhoa-tv"


# --- preparing (in the pool) -------------------------------------------------------------


def prepare_chunk(seed: int, start: int, end: int) -> list[tuple[dict, tuple]]:
    """Items ``start``..``end`` of the stream, each as the pipeline's item (with its
    :class:`storage.articles.Prepared`) and the baseline's row."""
    from benchmarks.scale_corpus import item
    from storage.articles import prepare

    out = []
    for i in range(start, end):
        it = item(seed, i)
        prepared = prepare(it.extracted)
        ext = it.extracted
        out.append(({"source": it.source, "prepared": prepared, "url": ext.url,
                     "requested_url": ext.url, "variants": it.variants,
                     "canonical_hint": None, "etag": it.etag,
                     "last_modified": None, "stored_at": it.stored_at, "kind": it.kind},
                    (ext.canonical_url, prepared.title, prepared.text,
                     ext.published_at.isoformat(timespec="seconds"))))
    return out


# --- writing -----------------------------------------------------------------------------


class _StreamClock(datetime):
    """Stands in for ``crawler.pipelines``' ``datetime``: its ``now()`` (the batch's one
    clock reading) is the stream's clock, so first_seen and last checks are spread over
    the months the archive covers, as a real archive's are."""

    at: datetime = datetime(2025, 1, 1, tzinfo=UTC)

    @classmethod
    def now(cls, tz=None):
        return cls.at


class _Stats:
    """Scrapy's stats collector, as far as the store pipeline uses it."""

    def __init__(self):
        self.values: dict = {}

    def inc_value(self, key, count=1, start=0, spider=None):
        self.values[key] = self.values.get(key, start) + count

    def set_value(self, key, value, spider=None):
        self.values[key] = value

    def get_value(self, key, default=None, spider=None):
        return self.values.get(key, default)


class Writer:
    """The crawl's writer: ``crawler.pipelines.StorePipeline`` itself, fed batch by batch
    (its ``_flush``: every item's ``store_article``, revisit schedule and validators in
    one transaction, one by one if that fails), with the stream's clock. If the pipeline
    cannot be built here (its constructor changed), the same writes are made by
    :meth:`_mimic` and ``path`` says so."""

    def __init__(self, db, config_path: Path):
        self.db = db
        try:
            from core.config import load_config
            from crawler import pipelines
            from crawler.addon import CrawlContext

            context = CrawlContext(config=load_config(config_path), sources=[], db=db)
            self.stats = _Stats()
            crawler = type("Crawler", (), {"stats": self.stats})()
            self.pipeline = pipelines.StorePipeline(crawler, context, size=BATCH, wait=3600)
            pipelines.datetime = _StreamClock  # the batch's clock reading: the stream's
            self.loop = asyncio.new_event_loop()  # never run: the futures only hold results
            self.path = "crawler.pipelines.StorePipeline._flush"
        except Exception as exc:  # noqa: BLE001 - said in the output and results.json
            print(f"warning: the store pipeline cannot be built here ({type(exc).__name__}: "
                  f"{exc}); writing as it did on main (store_article + validators)",
                  file=sys.stderr)
            self.pipeline = None
            self.path = "mimic of StorePipeline._flush (store_article, record_validators)"

    def write(self, items: list[dict], now: datetime) -> tuple[list[int], int]:
        """One batch; (the stored article ids, how many items failed)."""
        if self.pipeline is None:
            return self._mimic(items, now)
        _StreamClock.at = now
        futures = [self.loop.create_future() for _ in items]
        self.pipeline.batch = list(zip(items, futures, strict=True))
        self.pipeline._flush()
        ids, failed = [], 0
        for future in futures:
            if not future.done() or future.exception() is not None:
                failed += 1
                print(f"warning: an item failed: {future.exception() if future.done() else '?'}",
                      file=sys.stderr)
            else:
                ids.append(future.result()["article_id"])
        return ids, failed

    def _mimic(self, items: list[dict], now: datetime) -> tuple[list[int], int]:
        from storage import articles
        from storage.schema import transaction

        batch = getattr(articles, "store_batch", None) or transaction
        try:
            with batch(self.db):
                return [self._store_one(item, now) for item in items], 0
        except Exception as exc:  # noqa: BLE001 - retried one by one, as the pipeline does
            print(f"warning: a batch failed ({type(exc).__name__}: {exc}); one by one",
                  file=sys.stderr)
        ids, failed = [], 0
        for item in items:
            try:
                with batch(self.db):
                    ids.append(self._store_one(item, now))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failed += 1
                print(f"warning: an item failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ids, failed

    def _store_one(self, item: dict, now: datetime) -> int:
        from storage.articles import store_article
        from storage.crawl_state import record_validators
        from storage.schema import utcnow_iso

        stored = store_article(self.db, item["source"], item["prepared"], now=now,
                               urls=item.get("variants", ()), hint=item.get("canonical_hint"))
        seen = utcnow_iso(now)
        for url in {item["url"], item.get("requested_url") or item["url"]}:
            record_validators(self.db, url, item.get("etag"), item.get("last_modified"), seen)
        return stored.article_id


def mark_processed(db, article_ids) -> None:
    """Detection has run on these articles (as after a crawl): not part of the store cost."""
    from storage.articles import mark_processed as mark
    from storage.schema import transaction

    with transaction(db):
        for article_id in set(article_ids):
            mark(db, article_id)


def open_plain(path: Path):
    """The baseline: plain sqlite-utils + FTS5, the pragmas dxmon uses."""
    import sqlite_utils

    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    db = sqlite_utils.Database(conn)
    if "articles" not in db.table_names():
        db["articles"].create({"url": str, "title": str, "text": str, "published": str},
                              pk="url")
        db["articles"].enable_fts(["title", "text"], create_triggers=True,
                                  tokenize="unicode61 remove_diacritics 2")
        # the bench's own bookkeeping (one row): the stream position both files hold
        conn.execute("CREATE TABLE bench_progress (id INTEGER PRIMARY KEY, position INTEGER)")
        conn.execute("INSERT INTO bench_progress VALUES (1, 0)")
    return db


def plain_batch(plain, rows: list[tuple], position: int) -> None:
    """The same articles into the baseline (an edit replaces its row), with the stream
    position, in one transaction."""
    conn = plain.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT INTO articles (url, title, text, published) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(url) DO UPDATE SET title = excluded.title, text = excluded.text, "
            "published = excluded.published", rows)
        conn.execute("UPDATE bench_progress SET position = ? WHERE id = 1", [position])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def position(plain) -> int:
    return plain.conn.execute("SELECT position FROM bench_progress WHERE id = 1").fetchone()[0]


class Window:
    """Writer time over the last articles before a size (the marginal cost)."""

    def __init__(self):
        self.items = 0
        self.dxmon_s = self.plain_s = 0.0
        # the writer's CPU time too: on a busy machine wall time also counts waiting
        # for a core; CPU time does not count waiting for the disk
        self.dxmon_cpu_s = self.plain_cpu_s = 0.0
        # the whole step's time the writer waited for prepared articles: high, the
        # preparing workers are the bottleneck (--prep-workers); low, the writer is
        self.waited_s = 0.0


def grow(db, writer: Writer, plain, seed: int, target: int, window_start: int,
         workers: int, log=print) -> tuple[Window, float, int]:
    """Store items position..``target`` through the store path and the baseline; time
    the writer over items from ``window_start``. Returns (window, wall s, failures)."""
    start = position(plain)
    window, failures = Window(), 0
    began = time.perf_counter()
    last_log = began
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        chunks = deque()
        next_chunk = start

        def submit():
            nonlocal next_chunk
            while len(chunks) < IN_FLIGHT and next_chunk < target:
                end = min(next_chunk + CHUNK, target)
                chunks.append((next_chunk, pool.submit(prepare_chunk, seed, next_chunk, end)))
                next_chunk = end

        submit()
        while chunks:
            first, future = chunks.popleft()
            waited = time.perf_counter()
            prepared = future.result()
            window.waited_s += time.perf_counter() - waited
            submit()
            for b in range(0, len(prepared), BATCH):
                part = prepared[b:b + BATCH]
                items = [p[0] for p in part]
                now = items[-1]["stored_at"]
                c0, t0 = time.process_time(), time.perf_counter()
                results, failed = writer.write(items, now)
                c1, t1 = time.process_time(), time.perf_counter()
                failures += failed
                mark_processed(db, results)  # before the position moves on; not timed
                end = first + b + len(part)
                c2, t2 = time.process_time(), time.perf_counter()
                plain_batch(plain, [p[1] for p in part], end)
                c3, t3 = time.process_time(), time.perf_counter()
                if first + b >= window_start:
                    window.items += len(part)
                    window.dxmon_s += t1 - t0
                    window.plain_s += t3 - t2
                    window.dxmon_cpu_s += c1 - c0
                    window.plain_cpu_s += c3 - c2
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                done = end - start
                rate = done / (last_log - began)
                log(f"  ... {end:,} items ({rate:,.0f}/s, {(target - end) / rate / 60:.1f} min "
                    f"to {target:,})")
    return window, time.perf_counter() - began, failures


# --- measuring ---------------------------------------------------------------------------


def file_bytes(path: Path, conn) -> int:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def plain_match(query: str) -> str:
    """The query as plain FTS5 terms, each quoted (no folding: plain FTS5's unicode61
    removes diacritics itself, but keeps đ apart from d)."""
    return " ".join('"' + w.replace('"', "") + '"' for w in query.split())


PLAIN_SQL = ("SELECT a.url, a.title FROM articles_fts JOIN articles a ON a.rowid = "
             "articles_fts.rowid WHERE articles_fts MATCH ? ORDER BY rank LIMIT 20")


def measure_search(archive: Path, plain_path: Path, runs: int) -> dict:
    """p50/p95 (ms) of every query, ``runs`` times each after one warm-up, both ways;
    hits per query."""
    from benchmarks.scale_corpus import QUERIES
    from storage.articles import search_articles
    from storage.schema import open_db

    db = open_db(archive, readonly=True)
    plain = sqlite3.connect(str(plain_path))
    out: dict = {"queries": {}}
    times: dict[str, dict[str, list[float]]] = {"dxmon": {}, "plain": {}}
    try:
        for label, query in QUERIES:
            hits = {}
            for who, run in (("dxmon", lambda q=query: search_articles(db, q, limit=20)),
                             ("plain", lambda q=query: plain.execute(
                                 PLAIN_SQL, [plain_match(q)]).fetchall())):
                hits[who] = len(run())  # warm-up
                ms = []
                for _ in range(runs):
                    t = time.perf_counter()
                    run()
                    ms.append((time.perf_counter() - t) * 1000)
                times[who][query] = ms
            out["queries"][query] = {"label": label, "hits_dxmon": hits["dxmon"],
                                     "hits_plain": hits["plain"],
                                     "ms_dxmon": statistics.median(times["dxmon"][query]),
                                     "ms_plain": statistics.median(times["plain"][query])}
    finally:
        db.close()
        plain.close()
    for who in ("dxmon", "plain"):
        every = [t for ms in times[who].values() for t in ms]
        out[f"p50_{who}"] = percentile(every, 0.5)
        out[f"p95_{who}"] = percentile(every, 0.95)
        for cls in ("common", "rare"):
            picked = [t for (label, q) in QUERIES if label.startswith(cls)
                      for t in times[who][q]]
            out[f"p95_{cls}_{who}"] = percentile(picked, 0.95)
    return out


def run_process(cmd: list[str], env: dict, cwd: Path, timeout: float = 1800
                ) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MiB of the process and its children, exit code, stderr tail)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-3000:].decode("utf-8", "replace")
    return wall, usage.ru_maxrss / 1024, proc.returncode, tail


def crawl_once(config: Path, db_path: Path) -> dict:
    """One ``scrapy crawl news`` of the test portal: wall, peak RSS, Scrapy's stats."""
    env = {**os.environ, "DXMON_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    wall, rss, code, err = run_process(
        [sys.executable, "-m", "scrapy", "crawl", "news", "-a", f"source={CRAWL_SITE}",
         "-s", "DXMON_PROCESS_AFTER_CRAWL=False", "-s", "LOG_LEVEL=WARNING"], env, ROOT)
    if code != 0:
        raise RuntimeError(f"scrapy crawl failed ({code}):\n{err}")
    conn = sqlite3.connect(str(db_path))
    try:
        row = conn.execute("SELECT stats FROM crawl_runs WHERE source = ? ORDER BY id DESC "
                           "LIMIT 1", [CRAWL_SITE]).fetchone()
    finally:
        conn.close()
    stats = json.loads(row[0] or "{}") if row else {}
    return {"wall_s": wall, "rss_mib": rss, "elapsed_s": stats.get("elapsed_time_seconds"),
            "known_skipped": stats.get("dxmon/known_skipped", 0),
            "stored_new": stats.get("dxmon/articles_new", 0)}


def portal():
    """The one-page test portal: one section listing one article, published 40 days ago
    (old: a re-crawl should not fetch it again)."""
    from core.models import VN_TZ
    from testsupport.content import PortalArticle
    from testsupport.portals import PortalWeb

    article = PortalArticle(
        slug="hoi-nghi-tong-ket-cong-tac-nam", site=CRAWL_SITE, section="thoi-su",
        title="Hội nghị tổng kết công tác năm của ngành văn hóa tỉnh",
        published=datetime.now(VN_TZ) - timedelta(days=40), author="Thu Trang",
        sapo="Ngành văn hóa tỉnh tổng kết một năm nhiều sự kiện lớn.",
        paragraphs=("Sáng nay, ngành văn hóa tỉnh tổ chức hội nghị tổng kết công tác năm và "
                    "triển khai nhiệm vụ năm tới, với sự tham dự của lãnh đạo các huyện.",
                    "Trong năm, toàn ngành tổ chức hơn ba trăm chương trình biểu diễn phục vụ "
                    "nhân dân vùng sâu, vùng xa, trùng tu bảy di tích cấp tỉnh."))
    return PortalWeb(articles=[article], sites=[CRAWL_SITE], traps=False)


def measure_crawl(archive: Path, folder: Path) -> dict:
    """The unchanged re-crawl of the portal against the archive (a first crawl stores
    its article), and the same two crawls against an archive of that article alone."""
    out = {}
    with portal() as web:
        for who, db_path in (("dxmon", archive), ("plain", folder / "crawl-alone.db")):
            if who == "plain":
                for p in folder.glob("crawl-alone.db*"):
                    p.unlink()
            config = folder / f"crawl-{who}.toml"
            config.write_text(web.config_toml(db_path, delay=0), encoding="utf-8")
            crawl_once(config, db_path)  # the article becomes known
            before = len(web.requests)
            result = crawl_once(config, db_path)
            result["requests"] = len(web.requests) - before
            out[who] = result
    return out


def measure_cli(archive: Path, plain_path: Path, folder: Path, runs: int) -> dict:
    """Median whole-process wall (ms) of dxmon's read commands on the archive."""
    config = folder / "cli.toml"
    config.write_text(f'[storage]\npath = "{archive}"\n', encoding="utf-8")
    dxmon = Path(sys.executable).with_name("dxmon")
    base = [str(dxmon)] if dxmon.exists() else [sys.executable, "-m", "monitor.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    plain_search = (f"import sqlite3; c = sqlite3.connect({str(plain_path)!r}); "
                    f"print(c.execute({PLAIN_SQL!r}, ['\"chuyển\" \"đổi\" \"số\"']).fetchall())")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "plain search script": [sys.executable, "-c", plain_search],
        "dxmon search": [*base, "search", "chuyển", "đổi", "số", "--config", str(config)],
        "dxmon sessions": [*base, "sessions", "--config", str(config)],
        "dxmon status": [*base, "status", "--config", str(config)],
        "dxmon articles": [*base, "articles", "--config", str(config)],
    }
    out = {}
    for name, cmd in commands.items():
        walls = []
        for _ in range(runs):
            wall, _, code, err = run_process(cmd, env, folder, timeout=600)
            if code != 0:
                raise RuntimeError(f"{name} failed ({code}):\n{err}")
            walls.append(wall * 1000)
        out[name] = statistics.median(walls)
    return out


def _crawl_elapsed(step: dict) -> None:
    """The re-crawl's own time (Scrapy's spider open to close, where the known URLs are
    loaded), without the interpreter's start-up."""
    crawl = step.get("crawl")
    if crawl and all(crawl[w].get("elapsed_s") is not None for w in ("dxmon", "plain")):
        step["crawl_elapsed_s"] = {w: crawl[w]["elapsed_s"] for w in ("dxmon", "plain")}


def _count(db, table: str) -> int | None:
    """Rows of a table (None if this schema has no such table)."""
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:
        return None


def measure(size: int, archive: Path, plain_path: Path, db, plain, window: Window,
            wall: float, failures: int, args) -> dict:
    """Every cost at this size."""
    # the generated articles (the crawl measurement adds the test portal's, one a size)
    articles = db.execute("SELECT COUNT(*) FROM articles WHERE source != ?",
                          [CRAWL_SITE]).fetchone()[0]
    plain_rows = plain.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    versions, urls = (_count(db, "article_versions"), _count(db, "article_urls"))
    step = {"size": size, "articles": articles, "plain_rows": plain_rows,
            "version_rows": versions, "article_urls": urls, "store_failures": failures,
            "build_s": wall, "writer_waited_s": window.waited_s, "window_items": window.items,
            "store_ms": {"dxmon": window.dxmon_s / window.items * 1000 if window.items else None,
                         "plain": window.plain_s / window.items * 1000 if window.items else None},
            "store_cpu_ms": {"dxmon": window.dxmon_cpu_s / window.items * 1000
                             if window.items else None,
                             "plain": window.plain_cpu_s / window.items * 1000
                             if window.items else None},
            "bytes_per_article": {"dxmon": file_bytes(archive, db.conn) / max(articles, 1),
                                  "plain": file_bytes(plain_path, plain.conn) / max(plain_rows, 1)}}
    search = measure_search(archive, plain_path, args.search_runs)
    step["search"] = search
    for key in ("p50", "p95", "p95_common", "p95_rare"):
        step[f"search_{key}_ms"] = {"dxmon": search[f"{key}_dxmon"],
                                    "plain": search[f"{key}_plain"]}
    if not args.no_crawl:
        crawl = measure_crawl(archive, args.dir)
        step["crawl"] = crawl
        step["crawl_wall_s"] = {w: crawl[w]["wall_s"] for w in ("dxmon", "plain")}
        step["crawl_rss_mib"] = {w: crawl[w]["rss_mib"] for w in ("dxmon", "plain")}
        _crawl_elapsed(step)
    if not args.no_cli:
        cli = measure_cli(archive, plain_path, args.dir, args.cli_runs)
        step["cli"] = cli
        for name in ("search", "sessions", "status", "articles"):
            baseline = cli["plain search script"] if name == "search" else cli["python -c pass"]
            step[f"cli_{name}_ms"] = {"dxmon": cli[f"dxmon {name}"], "plain": baseline}
    return step


# --- reporting ---------------------------------------------------------------------------

# (key in a step, label, format); every one is {"dxmon": v, "plain": v}
METRICS = (
    ("store_ms", "store ms/article (writer, last window)", "{:.2f}"),
    ("store_cpu_ms", "  the same, writer CPU ms/article", "{:.2f}"),
    ("bytes_per_article", "KiB/article (file+WAL)", "kib"),
    ("crawl_wall_s", "unchanged re-crawl, whole process s (plain: 1 article known)", "{:.2f}"),
    ("crawl_elapsed_s", "  of it the crawl, spider open to close s", "{:.2f}"),
    ("crawl_rss_mib", "re-crawl peak RSS MiB (plain: 1 article known)", "{:.0f}"),
    ("search_p50_ms", "search p50 ms (all queries)", "{:.1f}"),
    ("search_p95_ms", "search p95 ms (all queries)", "{:.1f}"),
    ("search_p95_common_ms", "search p95 ms, common words", "{:.1f}"),
    ("search_p95_rare_ms", "search p95 ms, rare words", "{:.1f}"),
    ("cli_search_ms", "`dxmon search` whole process ms (plain: a sqlite3 script)", "{:.0f}"),
    ("cli_sessions_ms", "`dxmon sessions` ms (plain: python -c pass)", "{:.0f}"),
    ("cli_status_ms", "`dxmon status` ms (plain: python -c pass)", "{:.0f}"),
    ("cli_articles_ms", "`dxmon articles` ms (plain: python -c pass)", "{:.0f}"),
)


def fmt(value, spec: str) -> str:
    if value is None:
        return "–"
    if spec == "kib":
        return f"{value / 1024:.1f}"
    return spec.format(value)


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def project(steps: list[dict], key: str, who: str, at: int = PROJECT_TO) -> float | None:
    """The cost at ``at`` articles from a least-squares line of cost against log size
    (two sizes or more, and a positive value; None otherwise)."""
    points = [(math.log(s["size"]), s[key][who]) for s in steps
              if key in s and s[key].get(who) is not None]
    if len(points) < 2:
        return None
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    value = my + slope * (math.log(at) - mx)
    return value if value > 0 else None  # a line falling below 0 is noise, not a cost


def growth(steps: list[dict], key: str) -> str:
    """dxmon's cost at the largest size measured over its cost at the smallest, and
    whether that is flat (the issue's bar: within ±20 %; lower is no failure)."""
    values = [(s["size"], s[key]["dxmon"]) for s in steps
              if key in s and s[key].get("dxmon") is not None]
    if len(values) < 2 or not values[0][1]:
        return "–"
    ratio = values[-1][1] / values[0][1]
    verdict = "flat" if 0.8 <= ratio <= 1.2 else "lower" if ratio < 0.8 else "NOT flat"
    return f"×{ratio:.2f} {verdict}"


def table(steps: list[dict]) -> str:
    """The Markdown table: one row per metric, a column per size (dxmon / plain), and
    the projection to 10M."""
    steps = sorted(steps, key=lambda s: s["size"])
    head = ["metric (dxmon / plain SQLite+FTS5)", *(size_label(s["size"]) for s in steps),
            f"{size_label(PROJECT_TO)} (projected)", "dxmon: largest ÷ smallest size"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, spec in METRICS:
        if not any(key in s for s in steps):
            continue
        cells = [f"{fmt(s[key]['dxmon'], spec)} / {fmt(s[key]['plain'], spec)}" if key in s
                 else "–" for s in steps]
        cells.append(f"{fmt(project(steps, key, 'dxmon'), spec)} / "
                     f"{fmt(project(steps, key, 'plain'), spec)}")
        cells.append(growth(steps, key))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    build = [f"{s['build_s']:.0f} s ({(s['size'] - prev) / max(s['build_s'], 1e-9):,.0f}/s"
             + (f", writer idle {s['writer_waited_s'] / s['build_s']:.0%})"
                if s.get("writer_waited_s") is not None and s["build_s"] else ")")
             for prev, s in zip([0, *(t['size'] for t in steps)], steps, strict=False)]
    lines.append("| build time of the step (items/s, both archives) | " + " | ".join(build)
                 + " | – | – |")
    rows = [f"{s['articles']:,} / {s['plain_rows']:,}" for s in steps]
    lines.append("| articles stored (rows) | " + " | ".join(rows) + " | – | – |")
    return "\n".join(lines)


def plot(steps: list[dict], path: Path) -> None:
    """Every cost against archive size (log x): dxmon solid, plain dotted, the
    projection to 10M dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(steps, key=lambda s: s["size"])
    shown = [m for m in METRICS if any(m[0] in s for s in steps)]
    cols = 4
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (key, label, spec) in zip(axes.flat, shown, strict=False):
        scale = 1 / 1024 if spec == "kib" else 1
        for who, style in (("dxmon", "-o"), ("plain", ":s")):
            pts = [(s["size"], s[key][who] * scale) for s in steps
                   if key in s and s[key][who] is not None]
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            line, = ax.plot(xs, ys, style, label=who)
            far = project(steps, key, who)
            if far is not None:
                ax.plot([xs[-1], PROJECT_TO], [ys[-1], far * scale], "--",
                        color=line.get_color(), alpha=0.7)
        ax.set_xscale("log")
        ax.set_title(label.replace("`", ""), fontsize=9)
        ax.set_xlabel("articles")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("dxmon costs against archive size (dashed: projection to 10M)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main --------------------------------------------------------------------------------


def cluster_mode(workers: str) -> int:
    """``--workers 1,2,3``: the cluster throughput benchmark of helper R's
    ``benchmarks/cluster_bench.py`` (scrapy-redis), its ``main(workers)``."""
    counts = [int(w) for w in workers.split(",") if w.strip()]
    import importlib

    try:
        cluster_bench = importlib.import_module("benchmarks.cluster_bench")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks.cluster_bench", "benchmarks"):
            raise
        sys.exit("--workers: benchmarks/cluster_bench.py (the cluster throughput benchmark) "
                 "is not in this checkout")
    cluster_bench.main(counts)  # prints its own table (and returns its rows)
    return 0


def parse_sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = {"k": 1000, "m": 1_000_000}.get(part[-1:], 1)
        number = int(float(part[:-1] if mult > 1 else part) * mult)
        if number <= 0:
            raise argparse.ArgumentTypeError(f"sizes must be positive: {part}")
        out.append(number)
    return sorted(set(out))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("10k,100k,1M"),
                        help="archive sizes to measure at, in items stored (default 10k,100k,1M)")
    parser.add_argument("--dir", type=Path, help="where the archives and results.json are "
                        "kept (a later run continues from there; default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--window", type=int, default=5000,
                        help="store cost measured over the last N items before each size")
    parser.add_argument("--prep-workers", type=int, default=1,
                        help="processes preparing articles beside the writer (default 1)")
    parser.add_argument("--search-runs", type=int, default=7)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--no-crawl", action="store_true", help="skip the crawl measurement")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI measurement")
    parser.add_argument("--plot", type=Path, help="draw the costs to this PNG (matplotlib)")
    parser.add_argument("--workers", help="cluster mode: throughput with 1,2,3 workers")
    args = parser.parse_args(argv)
    # stopped with SIGTERM (kill, a timeout): unwind as for Ctrl-C, so the preparing
    # workers are shut down, not orphaned; the archive continues on the next run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.workers:
        return cluster_mode(args.workers)
    if args.dir is None:
        with tempfile.TemporaryDirectory(prefix="dxmon-scale-") as tmp:
            args.dir = Path(tmp)
            return run(args)
    args.dir = args.dir.resolve()
    args.dir.mkdir(parents=True, exist_ok=True)
    return run(args)


def code_version() -> str:
    """The commit measured (and "+changes" if the checkout has uncommitted ones)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty.strip() else "")


def run(args) -> int:
    from storage.schema import open_db

    archive, plain_path = args.dir / "archive.db", args.dir / "plain.db"
    results_path = args.dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if results and results.get("seed") != args.seed:
        sys.exit(f"{args.dir} was built with seed {results.get('seed')}, not {args.seed}")
    if plain_path.exists() != archive.exists():
        sys.exit(f"{args.dir} holds only one of archive.db and plain.db: start afresh")
    db, plain = open_db(archive), open_plain(plain_path)
    config = args.dir / "archive.toml"
    config.write_text(f'[storage]\npath = "{archive}"\n', encoding="utf-8")
    writer = Writer(db, config)
    print(f"writer: {writer.path}", flush=True)
    steps = {int(k): v for k, v in results.get("steps", {}).items()}
    for step in steps.values():  # (results written before that row was shown)
        _crawl_elapsed(step)
    try:
        at = position(plain)
        print(f"archive {archive}: {at:,} items stored; sizes {args.sizes}", flush=True)
        earlier = {step.get("code") or "an unrecorded commit" for step in steps.values()}
        earlier -= {code_version()}
        if earlier:
            print(f"warning: sizes already in {results_path.name} were measured on "
                  f"{', '.join(sorted(map(str, earlier)))}, not on {code_version()}: "
                  "start a new --dir to compare like with like", flush=True)
        previous = max([s for s in steps if s <= at], default=0)
        for size in args.sizes:
            if size in steps:
                continue
            if size < at:
                print(f"{size:,}: the archive already holds {at:,} items; skipped")
                continue
            window_start = max(size - args.window, previous, at)
            print(f"growing to {size:,} (store cost timed from item {window_start:,})",
                  flush=True)
            window, wall, failures = grow(db, writer, plain, args.seed, size, window_start,
                                          args.prep_workers)
            at = size
            steps[size] = measure(size, archive, plain_path, db, plain, window, wall,
                                  failures, args)
            previous = size
            steps[size]["writer"] = writer.path
            steps[size]["code"] = code_version()
            results = {"seed": args.seed, "steps": {str(k): v for k, v in sorted(steps.items())}}
            results_path.write_text(json.dumps(results, indent=1, ensure_ascii=False))
            print(f"\nat {size:,} items ({steps[size]['articles']:,} articles, "
                  f"{steps[size]['version_rows'] or 0:,} version rows):", flush=True)
            print(table(list(steps.values())), flush=True)
    finally:
        db.close()
        plain.close()
    print("\n" + table(list(steps.values())))
    if args.plot and steps:
        plot(list(steps.values()), args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
