#!/usr/bin/env python
"""Where the writer's time goes: N store-path articles (benchmarks/scale_corpus.py items
from START on) stored into an archive built by benchmarks/scale.py, in batches of 50 as
the crawl's pipeline stores them, each SQL statement's CPU time summed by its first words.

    python benchmarks/store_profile.py /tmp/scale/archive.db 1000000 2000
    python benchmarks/store_profile.py /tmp/scale/archive.db 1002000 2000 --in-memory

It does not store into the plain baseline beside the archive (nor move its position in
the stream): measure with benchmarks/store_flat.py before, or on a copy.

``--in-memory``: first read the random-key indexes (URLs, content hashes, revisit
times, LSH buckets) whole into a page cache big enough to hold them (2 GiB, no memory
map), so the statements are timed as if their pages never had to be read back: what is
left of the growth is then the work itself, not the memory hierarchy.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale_corpus import item  # noqa: E402

from storage.articles import prepare, store_article, store_batch  # noqa: E402
from storage.crawl_state import record_validators, schedule_revisit  # noqa: E402
from storage.maintenance import merge_search_index  # noqa: E402
from storage.schema import open_db, utcnow_iso  # noqa: E402

SEED = 16  # benchmarks/scale.py's default


class Timed:
    """A connection whose execute/executemany add their CPU time to ``cost``."""

    def __init__(self, conn, cost: collections.Counter, count: collections.Counter):
        self.conn, self.cost, self.count = conn, cost, count

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def _timed(self, call, label: str, sql: str, *args):
        began = time.process_time()
        result = call(sql, *args)
        key = label + " ".join(sql.split()[:4])
        self.cost[key] += time.process_time() - began
        self.count[key] += 1
        return result

    def execute(self, sql, *args):
        return self._timed(self.conn.execute, "", sql, *args)

    def executemany(self, sql, *args):
        return self._timed(self.conn.executemany, "MANY ", sql, *args)


# the random-key indexes a stored article reads and writes, walked whole by --in-memory
INDEXES = (("article_urls", "sqlite_autoindex_article_urls_1", "url > ''"),
           ("fetch_state", "sqlite_autoindex_fetch_state_1", "url > ''"),
           ("articles", "sqlite_autoindex_articles_1", "url > ''"),
           ("articles", "idx_articles_content_hash", "content_hash > ''"),
           ("articles", "idx_articles_next_check", "source > '' AND next_check_at IS NOT NULL"),
           ("minhash_bands", None, "key >= 0"))


def main(path: str, start: int, n: int, in_memory: bool = False) -> None:
    db = open_db(path)
    if in_memory:
        db.execute(f"PRAGMA cache_size = -{2 * 1024 * 1024}")
        db.execute("PRAGMA mmap_size = 0")
        began = time.perf_counter()
        for table, index, where in INDEXES:
            hint = f" INDEXED BY {index}" if index else ""
            db.execute(f"SELECT COUNT(*) FROM {table}{hint} WHERE {where}").fetchone()
        print(f"indexes read into the cache in {time.perf_counter() - began:.1f} s")
    items = [it for it in (item(SEED, i) for i in range(start, start + n)) if it.kind != "edit"]
    prepared = [(it, prepare(it.extracted)) for it in items]
    cost, count = collections.Counter(), collections.Counter()
    raw = db.conn
    timed = db.conn = Timed(raw, cost, count)
    window = timedelta(days=7)
    began, wall, merged = time.process_time(), time.perf_counter(), 0.0
    for b in range(0, len(prepared), 50):
        with store_batch(db):
            for it, p in prepared[b:b + 50]:
                stored = store_article(db, it.source, p, now=it.stored_at, urls=it.variants)
                schedule_revisit(db, stored.article_id, it.stored_at, window)
                record_validators(db, it.extracted.url, None, None, utcnow_iso(it.stored_at))
        db.conn = raw  # the merge after each batch (after_crawl's), timed apart
        m0 = time.process_time()
        merge_search_index(db, full=False)
        merged += time.process_time() - m0
        db.conn = timed
    total = time.process_time() - began - merged
    print(f"{len(prepared)} articles: {total / len(prepared) * 1000:.2f} ms CPU/article, "
          f"wall {(time.perf_counter() - wall) / len(prepared) * 1000:.2f}; the search "
          f"index's merge after each batch {merged / len(prepared) * 1000:.2f} ms/article")
    for key, spent in cost.most_common(14):
        print(f"{spent / len(prepared) * 1000:7.3f} ms/article  {count[key]:6d}  {key}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db")
    parser.add_argument("start", type=int)
    parser.add_argument("n", type=int)
    parser.add_argument("--in-memory", action="store_true")
    args = parser.parse_args()
    main(args.db, args.start, args.n, args.in_memory)
