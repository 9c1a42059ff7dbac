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
  wall time and peak RSS (its own ``VmHWM``, polled: see :func:`run_process`); the plain
  column is the same crawl against an archive holding only that article;
* search p50/p95 over a fixed query set (:data:`benchmarks.scale_corpus.QUERIES`:
  common, mid and rare words, with and without diacritics) through
  ``storage.articles.search_articles`` vs plain ``MATCH ... ORDER BY rank LIMIT 20``;
* CLI whole-process times (``dxmon search``, ``sessions``, ``status``, ``articles``),
  next to ``python -c pass`` (and a plain search script for ``search``);
* build time and rate of the step.

``--fill-above N`` (for the big steps): growth beyond N items is written by a bulk
filler, all but the last ``--window`` items before each size, which go through the store
path as above, so store ms/article is still the store path's on an archive of that size.
The filler writes the store path's rows (see "filling" below for its two differences:
random MinHash values but in the last two weeks before a size, word-cached folding); the output and results.json say which
items of which size were filled.

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
        # the search index's merge after each batch (a crawl's after-crawl step: FTS5's
        # automerge no longer runs in the store path's commits; plain's still does)
        self.merge_cpu_s = 0.0
        # the whole step's time the writer waited for prepared articles: high, the
        # preparing workers are the bottleneck (--prep-workers); low, the writer is
        self.waited_s = 0.0


def grow(db, writer: Writer, plain, seed: int, target: int, window_start: int,
         workers: int, log=print) -> tuple[Window, float, int]:
    """Store items position..``target`` through the store path and the baseline; time
    the writer over items from ``window_start``. Returns (window, wall s, failures)."""
    from storage.maintenance import merge_search_index

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
                # the writer thread's CPU: the pool's result thread (unpickling chunks
                # of prepared items, in this process) is not the store path's work
                c0, t0 = time.thread_time(), time.perf_counter()
                results, failed = writer.write(items, now)
                c1, t1 = time.thread_time(), time.perf_counter()
                failures += failed
                mark_processed(db, results)  # before the position moves on; not timed
                m0 = time.thread_time()
                merge_search_index(db, full=False)  # what after_crawl does, timed apart
                m1 = time.thread_time()
                end = first + b + len(part)
                c2, t2 = time.thread_time(), time.perf_counter()
                plain_batch(plain, [p[1] for p in part], end)
                c3, t3 = time.thread_time(), time.perf_counter()
                if first + b >= window_start:
                    window.items += len(part)
                    window.dxmon_s += t1 - t0
                    window.plain_s += t3 - t2
                    window.dxmon_cpu_s += c1 - c0
                    window.plain_cpu_s += c3 - c2
                    window.merge_cpu_s += m1 - m0
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                done = end - start
                rate = done / (last_log - began)
                log(f"  ... {end:,} items ({rate:,.0f}/s, {(target - end) / rate / 60:.1f} min "
                    f"to {target:,})")
    return window, time.perf_counter() - began, failures


# --- filling (the big steps' bulk) --------------------------------------------------------
#
# With --fill-above N, growth beyond N items is written by this bulk filler, and only the
# last --window items before each size go through the store path (timed as above): a
# crawl-built 1M archive takes hours on 2 cores (100-250 articles/s). The filler's rate,
# measured on this 2-core machine (shared, 30-60k archives): 800-1,300 items/s, under
# the 2,000/s aimed at; it is CPU-bound, ~1.3 ms of CPU an item (generating the item and
# its forms 0.6 ms in the pool, dxmon's rows 0.43 ms and plain's 0.29 ms in the writer,
# mostly FTS5 tokenising), so two cores cannot give more than ~1,500/s.
# The filler writes what the store path writes for the same items, in the same tables
# and shapes (storage.articles._insert_article, storage.neardup.add_bands,
# storage.crawl_state.schedule_revisit / record_validators), with executemany in one
# transaction a chunk; edits (~2 %) go through the store path itself (they update an
# earlier article: versions, search 'delete', bands). Two differences, said in the
# output and results.json:
# * a filled article's MinHash is random uint32 values of the right shape (the real
#   signature costs ~2.5 ms an article); its band keys are made from them by
#   storage.neardup.band_keys_of, so they are as random as real ones, but no filled
#   copy is found near its original: every filled article is its own cluster. Except
#   the last FILL_REAL_DAYS before each size: those get their real MinHash, so the
#   near-duplicate window the measured store path looks in (storage.neardup: the
#   article's week and the weeks either side) holds the buckets a store-path archive
#   would (stock phrases shared by hundreds of stories), not random ones;
# * the folded search text is built word by word through a cache of core.text's own
#   normalize_line and fold (exact for this generator's text: checked on a sample of
#   every chunk against normalize + fold of the whole text, which stops the run if not).

FILL_CHUNK = 5000  # items per task of the filling pool
FILL_TX = 20_000  # items per transaction: each transaction dirties pages all over the
# random-key band table (at 1M, 32M keys on ~160k pages); the more items share it, the
# fewer WAL frames an item costs (5k items dirty ~63 % of those pages, 20k ~98 %)
FILL_REAL_DAYS = 15  # (see above: the candidate window, two weeks back, and a day)
FILL_CACHE_KIB = 1024 * 1024  # the archive's page cache while filling (then restored):
# a transaction's dirty pages stay in it instead of spilling to the WAL twice


class _Forms:
    """``normalize(text)`` and ``fold(normalize(text))`` of a published text, a word at
    a time through caches (a line with odd spacing or dashes goes whole through
    ``normalize_line``: spacing rules look across words)."""

    LIMIT = 400_000  # cached words per table before it is cleared (memory stays bounded)

    def __init__(self):
        from core import text as core_text

        self.t = core_text
        self.norm: dict[str, str] = {}
        self.fold: dict[str, str] = {}

    def _word(self, table: dict, fn, word: str) -> str:
        try:
            return table[word]
        except KeyError:
            if len(table) > self.LIMIT:
                table.clear()
            value = table[word] = fn(word)
            return value

    def __call__(self, published: str) -> tuple[str, str]:
        t = self.t
        lines, folded = [], []
        for line in published.split("\n"):
            if t._ODD_SPACING.search(line) or t._INVISIBLE.search(line):
                line = t.normalize_line(line)
                if not line:
                    continue
                words = line.split(" ")
            else:
                words = [self._word(self.norm, t.normalize_line, w) for w in line.split(" ")]
                line = " ".join(words)
            lines.append(line)
            folded.append(" ".join([self._word(self.fold, t.fold, w) for w in words]))
        return "\n".join(lines), "\n".join(folded)


_FORMS: _Forms | None = None


def fill_chunk(seed: int, start: int, end: int, real_from: int) -> list[tuple]:
    """Items ``start``..``end`` as the filler writes them: ``("row", fields, plain row)``
    for a new article (a story or a copy), ``("edit", pipeline item, plain row)`` for an
    edit (prepared in full: it goes through the store path). Items from ``real_from``
    on get their real MinHash (the last field; else None: random)."""
    import hashlib

    from benchmarks.scale_corpus import START, STEP_S, item
    from core.text import fold, normalize, published, published_title
    from storage.neardup import signature

    global _FORMS
    if _FORMS is None:
        _FORMS = _Forms()
    out = []
    for i in range(start, end):
        it = item(seed, i)
        ext = it.extracted
        when = ext.published_at.isoformat(timespec="seconds")
        if it.kind == "edit":
            whole = prepare_chunk(seed, i, i + 1)[0]
            out.append(("edit", whole[0], whole[1]))
            continue
        text, title = published(ext.text), published_title(ext.title)
        matching, search_text = _FORMS(text)
        if i % 97 == 0:  # the word-by-word forms are the whole text's (else: stop)
            exact = normalize(text)
            if (matching, search_text) != (exact, fold(exact)):
                raise RuntimeError(f"the filler's folded text of item {i} is not core.text's")
        # the batch's clock, as the store path's: the stored_at of its batch's last item
        seen = START + timedelta(seconds=STEP_S * min(i // BATCH * BATCH + BATCH - 1, end - 1))
        fields = (it.source, ext.canonical_url, ext.url, it.variants, title,
                  published_title(ext.author) or None, when, text,
                  hashlib.sha256(matching.encode("utf-8")).hexdigest(), ext.site_name,
                  fold(normalize(title)), search_text, it.etag, seen.isoformat(),
                  signature(matching).tobytes() if i >= real_from else None)
        out.append(("row", fields, (ext.canonical_url, title, text, when)))
    return out


# record_validators' statement (storage/crawl_state.py), for executemany
_VALIDATORS_SQL = (
    "INSERT INTO fetch_state (url, etag, last_modified, content_hash, fetched_at, "
    "checked_at, unchanged) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT(url) DO UPDATE SET "
    "etag = excluded.etag, last_modified = excluded.last_modified, "
    "content_hash = COALESCE(excluded.content_hash, content_hash), "
    "fetched_at = excluded.fetched_at, checked_at = excluded.checked_at, unchanged = 0")


def fill_write(db, writer: Writer, parts: list[tuple], rng) -> tuple[int, int]:
    """One chunk of :func:`fill_chunk` into the archive: the new articles in one
    transaction, then the edits through the store path. (articles written, edits)."""
    import numpy as np

    from storage.crawl_state import _NEXT_CHECK
    from storage.maintenance import merge_search_index
    from storage.neardup import ADD_BAND_SQL, NUM_PERM, band_keys_of, epoch_of
    from storage.schema import transaction

    rows = [p[1] for p in parts if p[0] == "row"]
    edits = [p[1] for p in parts if p[0] == "edit"]
    window = getattr(writer.pipeline, "window", None) or timedelta(days=30)
    if rows:
        minhash = rng.integers(0, 2**32, size=(len(rows), NUM_PERM), dtype=np.uint32)
        for k, r in enumerate(rows):
            if r[14] is not None:
                minhash[k] = np.frombuffer(r[14], dtype=np.uint32)
        keys = band_keys_of(minhash, np.array([epoch_of(r[6], r[13]) for r in rows])).tolist()
        with transaction(db):
            first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM articles").fetchone()[0]
            ids = range(first, first + len(rows))
            conn = db.conn
            conn.executemany("INSERT OR IGNORE INTO sources (name) VALUES (?)",
                             [(s,) for s in sorted({r[0] for r in rows})])
            conn.executemany(
                "INSERT INTO articles (id, url, source, title, author, published_at, text, "
                "content_hash, site_name, related, first_seen, last_seen, processed_hash, "
                "cluster_id, minhash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?)",
                [(aid, r[1], r[0], r[4], r[5], r[6], r[7], r[8], r[9], r[13], r[13], r[8], aid,
                  minhash[k].tobytes()) for k, (aid, r) in enumerate(zip(ids, rows, strict=True))])
            conn.executemany(  # schedule_revisit's statement
                f"UPDATE articles SET next_check_at = "
                f"{_NEXT_CHECK.format(last='julianday(:at)')} WHERE id = :id",
                [{"at": r[13], "window": window / timedelta(days=1), "id": aid}
                 for aid, r in zip(ids, rows, strict=True)])
            conn.executemany(
                "INSERT OR IGNORE INTO article_urls (url, article_id, first_seen) VALUES (?, ?, ?)",
                [(url, aid, r[13]) for aid, r in zip(ids, rows, strict=True)
                 for url in dict.fromkeys([r[1], r[2], *r[3]])])
            conn.executemany("INSERT INTO article_versions (article_id, content_hash, seen_at) "
                             "VALUES (?, ?, ?)",
                             [(aid, r[8], r[13]) for aid, r in zip(ids, rows, strict=True)])
            conn.executemany("INSERT INTO articles_search (rowid, title, text) VALUES (?, ?, ?)",
                             [(aid, r[10], r[11]) for aid, r in zip(ids, rows, strict=True)])
            conn.executemany(ADD_BAND_SQL,  # (the store path's: a bucket takes 10 at most)
                             sorted((key, aid) for aid, ks in zip(ids, keys, strict=True)
                                    for key in ks))
            conn.executemany(_VALIDATORS_SQL, [(r[2], r[12], None, None, r[13], r[13])
                                               for r in rows])
    for item in edits:  # the store path, one batch each (its clock: the edit's own)
        ids_, failed = writer.write([item], item["stored_at"])
        if failed:
            raise RuntimeError(f"an edit failed to store: {item['url']}")
        mark_processed(db, ids_)
    merge_search_index(db, full=False)  # as after a crawl (not timed: the filler's)
    return len(rows), len(edits)


def fill(db, writer: Writer, plain, seed: int, target: int, workers: int,
         log=print) -> dict:
    """Items position..``target`` through the bulk filler (the archive and the
    baseline); what was filled and how fast."""
    import numpy as np

    start = position(plain)
    began = time.perf_counter()
    last_log = began
    written = edits = 0
    waited = dxmon_s = plain_s = 0.0  # the writer's time: waiting for rows, writing each
    from benchmarks.scale_corpus import STEP_S

    rng = np.random.default_rng([seed, start])
    real_items = FILL_REAL_DAYS * 86400 // STEP_S
    context = multiprocessing.get_context("spawn")
    cache = db.execute("PRAGMA cache_size").fetchone()[0]
    plain_cache = plain.conn.execute("PRAGMA cache_size").fetchone()[0]
    for conn in (db.conn, plain.conn):  # (both archives: the same help)
        conn.execute(f"PRAGMA cache_size = -{FILL_CACHE_KIB}")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        chunks: deque = deque()
        next_chunk = start

        def submit():
            nonlocal next_chunk
            while len(chunks) < workers + 1 and next_chunk < target:
                end = min(next_chunk + FILL_CHUNK, target)
                chunks.append((end, pool.submit(fill_chunk, seed, next_chunk, end,
                                                target - real_items)))
                next_chunk = end

        submit()
        parts: list[tuple] = []
        while chunks:
            end, future = chunks.popleft()
            t0 = time.perf_counter()
            parts += future.result()
            t1 = time.perf_counter()
            submit()
            if len(parts) < FILL_TX and chunks:
                waited += t1 - t0
                continue
            n, e = fill_write(db, writer, parts, rng)
            t2 = time.perf_counter()
            written, edits = written + n, edits + e
            plain_batch(plain, [p[2] for p in parts], end)
            waited, dxmon_s, plain_s = (waited + t1 - t0, dxmon_s + t2 - t1,
                                        plain_s + time.perf_counter() - t2)
            parts = []
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                rate = (end - start) / (last_log - began)
                log(f"  ... filled {end:,} items ({rate:,.0f}/s, "
                    f"{(target - end) / rate / 60:.1f} min to {target:,})")
    db.execute(f"PRAGMA cache_size = {cache}")  # the store path's window: its own cache
    plain.conn.execute(f"PRAGMA cache_size = {plain_cache}")
    for conn in (db.conn, plain.conn):
        conn.execute("PRAGMA shrink_memory")
    wall = time.perf_counter() - began
    return {"from": start, "to": target, "items": target - start, "articles": written,
            "edits_through_store_path": edits, "s": wall,
            "items_per_s": (target - start) / wall if wall else None,
            "writer_waited_s": waited, "dxmon_write_s": dxmon_s, "plain_write_s": plain_s,
            "how": "bulk filler (benchmarks/scale.py fill): same tables and rows as the "
                   "store path, random MinHash (own cluster) but the real one in the last "
                   f"{real_items:,} items, edits through the store path"}


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


def _vm_hwm_kib(pid: int) -> int | None:
    """The process's own peak resident set (``VmHWM`` of /proc/PID/status, KiB), or None
    once it has exited (a zombie has no memory to report) or if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_process(cmd: list[str], env: dict, cwd: Path, timeout: float = 1800
                ) -> tuple[float, float | None, int, str]:
    """(wall s, peak RSS MiB of the process itself, exit code, stderr tail).

    The peak is the child's own ``VmHWM``, read from /proc every ~2 ms while it runs (the
    last value read before it exits). Not ``ru_maxrss`` from ``wait4``: on Linux a child's
    ru_maxrss starts at its parent's RSS at fork, and this benchmark holds ~1 GB of
    mmapped archive after searching, so every child showed ~1 GB. VmHWM belongs to the
    process image (reset by exec), so it is the crawl's own. Its children (the crawl's
    page-reading workers) are not counted. Growth in the last ~2 ms before exit is
    missed; None where /proc cannot be read."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        deadline = start + timeout
        peak = None
        while True:
            hwm = _vm_hwm_kib(proc.pid)
            if hwm is not None:
                peak = hwm
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, _ = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-3000:].decode("utf-8", "replace")
    return wall, None if peak is None else peak / 1024, proc.returncode, tail


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
            "merge_cpu_ms": {"dxmon": window.merge_cpu_s / window.items * 1000
                             if window.items else None, "plain": 0.0},  # in its commits
            "store_merge_cpu_ms": {"dxmon": (window.dxmon_cpu_s + window.merge_cpu_s)
                                   / window.items * 1000 if window.items else None,
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
    ("store_cpu_ms", "  the same, writer thread CPU ms/article", "{:.2f}"),
    ("merge_cpu_ms", "  search-index merge after the crawl, CPU ms/article (plain: in its "
     "commits)", "{:.2f}"),
    ("store_merge_cpu_ms", "  store + merge, CPU ms/article", "{:.2f}"),
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
    if any(s.get("filled") for s in steps):
        cells = [f"{s['filled']['from']:,}–{s['filled']['to']:,} "
                 f"({s['filled']['items_per_s']:,.0f}/s)" if s.get("filled") else "none"
                 for s in steps]
        lines.append("| items written by the bulk filler, not the store path | "
                     + " | ".join(cells) + " | – | – |")
        lines.append("")
        lines.append("Filled sizes: the items in the last row were written by the bulk filler "
                     "(the store path's rows, with executemany; a random MinHash each but "
                     f"the real one in the last {FILL_REAL_DAYS} days' items, so no filled "
                     "copy is clustered with its original; edits through the store path); "
                     "the last window before each size went through the store path and is "
                     "what store ms/article measures.")
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


def parse_size(part: str) -> int:
    part = part.strip().lower()
    mult = {"k": 1000, "m": 1_000_000}.get(part[-1:], 1)
    number = int(float(part[:-1] if mult > 1 else part) * mult)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive: {part}")
    return number


def parse_sizes(text: str) -> list[int]:
    return sorted({parse_size(part) for part in text.split(",")})


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
    parser.add_argument("--fill-above", type=parse_size, default=None, metavar="N",
                        help="growth beyond N items is written by the bulk filler, all but "
                        "the last --window items before each size (see 'filling')")
    parser.add_argument("--fill-workers", type=int, default=2,
                        help="processes making the filler's rows (default 2)")
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
            filled = None
            if args.fill_above is not None and size - args.window > max(at, args.fill_above):
                fill_from = max(at, args.fill_above)
                if fill_from > at:
                    print(f"growing to {fill_from:,} through the store path (before the "
                          "fill)", flush=True)
                    grow(db, writer, plain, args.seed, fill_from, fill_from, args.prep_workers)
                print(f"filling {fill_from:,} to {size - args.window:,} (bulk filler)",
                      flush=True)
                filled = fill(db, writer, plain, args.seed, size - args.window,
                              args.fill_workers)
                print(f"filled {filled['items']:,} items in {filled['s']:.0f} s "
                      f"({filled['items_per_s']:,.0f}/s; the writer waited "
                      f"{filled['writer_waited_s']:.0f} s for rows, wrote dxmon's in "
                      f"{filled['dxmon_write_s']:.0f} s, plain's in "
                      f"{filled['plain_write_s']:.0f} s)", flush=True)
                at = size - args.window
            window_start = max(size - args.window, previous, at)
            print(f"growing to {size:,} (store cost timed from item {window_start:,})",
                  flush=True)
            window, wall, failures = grow(db, writer, plain, args.seed, size, window_start,
                                          args.prep_workers)
            if filled:
                wall += filled["s"]
            at = size
            steps[size] = measure(size, archive, plain_path, db, plain, window, wall,
                                  failures, args)
            steps[size]["filled"] = filled
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
