"""Store cost against archive size: the writer's ms/article and the file's bytes/article,
each next to plain sqlite-utils + FTS5 over the same articles (issue 16).

The archive grows through the real store path (:func:`storage.articles.store_article`
in batches of 50 inside one transaction, as ``crawler/pipelines.py`` ``_flush`` does);
at each size in ``--sizes`` the next ``--window`` articles are timed (CPU time of the
process, which other processes' load disturbs less than wall time, and wall time) and
the file is measured (after a WAL checkpoint). The baseline is a table ``articles(url, title, text)``
with sqlite-utils' ``enable_fts`` (external content, triggers), fed the same articles in
the same batches.

Articles: 3-5 KB of Vietnamese-looking text (testsupport.archive's word list), 15 % of
them syndicated copies of a recent article with a new header line, 4 % edits of an
earlier article (same URL, new text: an update with a version). ``prepare`` costs
milliseconds (normalise, fold, MinHash) and runs in the crawl's extraction workers, not
in the writer, so it is not timed and not run: the :class:`Prepared` is built from
precomputed word forms, and the MinHash signature is simulated (a story's own random
values; a copy keeps ~85 % of them, an edit ~90 %), which is what the store path's band
lookups and inserts see.

    .venv/bin/python -m benchmarks.store_cost --sizes 10000,30000,100000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlite_utils

from core.models import Extracted
from core.text import fold
from storage.articles import Prepared, store_article
from storage.schema import open_db, transaction

try:  # issue 16: the pipeline's batch (no savepoint per article)
    from storage.articles import store_batch
except ImportError:  # before it: a transaction
    store_batch = transaction
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # testsupport/ is not
# installed: `make bench` runs this file by its path, not as benchmarks.store_cost
from testsupport.archive import _Writer  # noqa: E402

BATCH = 50  # the pipeline's DXMON_STORE_BATCH
SOURCES = ("baochinhphu", "thanhhoa-tv", "hanoi-portal", "danang-portal", "nhandan")


class Generator:
    """Prepared articles, fast: text and folded text made word by word."""

    def __init__(self, seed: int = 16):
        self.rng = random.Random(seed)
        self.nprng = np.random.default_rng(seed)
        self.writer = _Writer(self.rng)
        self.recent: list[tuple[str, str, str, str, np.ndarray, str]] = []
        self.n = 0

    def _body(self) -> tuple[str, str]:
        paragraphs, size = [], 0
        target = self.rng.randint(3000, 5000)  # bytes of UTF-8
        while size < target:
            p = self.writer.paragraph()
            paragraphs.append(p)
            size += len(p[0].encode()) + 1
        return "\n".join(p[0] for p in paragraphs), " ".join(p[1] for p in paragraphs)

    def next(self) -> tuple[str, Prepared]:
        """(source, prepared article) of the next page the crawl would hand over."""
        self.n += 1
        r = self.rng.random()
        source = self.rng.choice(SOURCES)
        if self.recent and r < 0.04:  # an edit of an earlier article: same URL, new text
            url, title, text, folded, sig, source = self.rng.choice(self.recent)
            extra, extra_folded = self.writer.paragraph()
            text, folded = text + "\n" + extra, folded + " " + extra_folded
            sig = _perturb(self.nprng, sig, 0.10)
        elif self.recent and r < 0.19:  # a syndicated copy elsewhere, with its own header
            _, title, text, folded, sig, _ = self.rng.choice(self.recent)
            head, head_folded = self.writer.sentence(12)
            text, folded = head + "\n" + text, head_folded + " " + folded
            sig = _perturb(self.nprng, sig, 0.15)
            url = f"https://{source}.example.test/tin/{self.n}.htm"
        else:
            title, title_folded = self.writer.sentence(self.rng.randint(8, 14))
            text, folded = self._body()
            sig = self.nprng.integers(0, 1 << 32, 128, dtype=np.uint32)
            url = f"https://{source}.example.test/tin/{self.n}.htm"
        self.recent.append((url, title, text, folded, sig, source))
        if len(self.recent) > 2000:  # copies and edits are of recent articles
            self.recent.pop(self.rng.randrange(1000))
        article = Extracted(url=url, canonical_url=url, title=title, text=text,
                            published_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
                                minutes=self.n), author="Minh An", site_name=source)
        return source, Prepared(
            article=article, title=title, text=text, author="Minh An",
            digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            search_title=fold(title), search_text=folded, signature=sig.tobytes())


def _perturb(rng: np.random.Generator, sig: np.ndarray, share: float) -> np.ndarray:
    out = sig.copy()
    where = rng.random(out.size) < share
    out[where] = rng.integers(0, 1 << 32, int(where.sum()), dtype=np.uint32)
    return out


def _plain(path: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode = WAL")
    db["articles"].create({"id": int, "url": str, "title": str, "text": str}, pk="id")
    db["articles"].create_index(["url"], unique=True)
    db["articles"].enable_fts(["title", "text"], create_triggers=True)
    return db


def _size(db: sqlite_utils.Database, path: Path) -> int:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def run(sizes: list[int], window: int, folder: Path) -> list[dict]:
    gen = Generator()
    db = open_db(folder / "dxmon.db")
    plain = _plain(folder / "plain.db")
    stored = 0
    rows = []
    now = datetime(2026, 6, 1, tzinfo=UTC)
    checkpoints = sorted(sizes)
    while checkpoints:
        target = checkpoints[0]
        timing = stored >= target
        count = window if timing else target - stored
        spent_dx = spent_plain = cpu_dx = cpu_plain = 0.0
        done = 0
        while done < count:
            batch = [gen.next() for _ in range(min(BATCH, count - done))]
            t0, c0 = time.perf_counter(), time.process_time()
            with store_batch(db):
                for source, p in batch:
                    store_article(db, source, p, now=now)
            t1, c1 = time.perf_counter(), time.process_time()
            with plain.conn:
                plain.conn.executemany(
                    "INSERT INTO articles (url, title, text) VALUES (?, ?, ?) "
                    "ON CONFLICT(url) DO UPDATE SET title = excluded.title, text = excluded.text",
                    [(p.article.url, p.title, p.text) for _, p in batch])
            t2, c2 = time.perf_counter(), time.process_time()
            spent_dx += t1 - t0
            spent_plain += t2 - t1
            cpu_dx += c1 - c0
            cpu_plain += c2 - c1
            done += len(batch)
        stored += count
        if timing:
            checkpoints.pop(0)
            n = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            n_plain = plain.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            row = {"size": target, "articles": n,
                   "ms": 1000 * spent_dx / count, "plain_ms": 1000 * spent_plain / count,
                   "cpu_ms": 1000 * cpu_dx / count, "plain_cpu_ms": 1000 * cpu_plain / count,
                   "kib": _size(db, folder / "dxmon.db") / n / 1024,
                   "plain_kib": _size(plain, folder / "plain.db") / n_plain / 1024}
            rows.append(row)
            print(f"{row['size']:>9,} stored ({n:,} articles): {row['cpu_ms']:.2f} CPU ms/article "
                  f"(plain {row['plain_cpu_ms']:.2f}; wall {row['ms']:.2f}, plain "
                  f"{row['plain_ms']:.2f}), {row['kib']:.1f} KiB/article "
                  f"(plain {row['plain_kib']:.1f}, x{row['kib'] / row['plain_kib']:.2f})",
                  flush=True)
    return rows


def bands_only(sizes: list[int], folder: Path, batches: int = 40) -> None:
    """The near-duplicate lookup and LSH inserts alone, against archives of ``sizes``
    articles (filled in key order, quickly, with random buckets): how the one random-key
    table's cost moves as it outgrows SQLite's page cache (the rest of the store path
    appends, or touches small tables)."""
    from storage.neardup import BANDS, add_bands, closest_cluster

    rng = np.random.default_rng(7)
    for size in sizes:
        path = folder / f"bands-{size}.db"
        db = open_db(path)
        # earlier weeks' buckets (storage.neardup: the week is the key's top bits), at
        # WEEKLY articles a week; the measured batches store into the week after them
        weeks = max(1, size // WEEKLY)
        keys = np.sort(rng.integers(max(0, WEEK - weeks) << 35, WEEK << 35, size * BANDS,
                                    dtype=np.int64))
        ids = rng.integers(1, size + 1, keys.size)
        with transaction(db):
            for start in range(0, keys.size, 1 << 20):
                db.conn.executemany(
                    "INSERT OR IGNORE INTO minhash_bands (key, article_id) VALUES (?, ?)",
                    zip(keys[start:start + (1 << 20)].tolist(),
                        ids[start:start + (1 << 20)].tolist(), strict=True))
        del keys, ids
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cpu = wall = 0.0
        for b in range(batches):
            sigs = [rng.integers(0, 1 << 32, 128, dtype=np.uint32) for _ in range(BATCH)]
            t0, c0 = time.perf_counter(), time.process_time()
            with store_batch(db):
                for n, sig in enumerate(sigs):
                    article_keys = _band_keys(sig)
                    closest_cluster(db, sig, article_keys)
                    add_bands(db, size + 1 + b * BATCH + n, article_keys)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
        n = batches * BATCH
        print(f"{size:>10,} articles' buckets ({path.stat().st_size / 2**20:,.0f} MiB): "
              f"lookup + insert {1000 * cpu / n:.3f} CPU ms/article (wall {1000 * wall / n:.3f})",
              flush=True)
        db.close()
        path.unlink()


WEEK, WEEKLY = 1400, 30_000  # a week of 2026; ~30k articles a week (benchmarks/scale_corpus)


def _band_keys(sig):
    from storage.neardup import band_keys
    return band_keys(sig, WEEK)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000",
                        help="archive sizes (pages stored) at which to measure")
    parser.add_argument("--window", type=int, default=2000, help="pages timed at each size")
    parser.add_argument("--dir", help="folder for the two databases (default: a temporary one)")
    parser.add_argument("--bands-only", action="store_true",
                        help="time only the LSH lookup and inserts, at --sizes articles")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        if args.bands_only:
            bands_only(sizes, Path(folder))
            return 0
        print(f"sqlite {sqlite_utils.Database(memory=True).execute('select sqlite_version()').fetchone()[0]}"
              f", batches of {BATCH}, {args.window} pages timed at each size, pid {os.getpid()}")
        run(sizes, args.window, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
