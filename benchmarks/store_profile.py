#!/usr/bin/env python
"""Where the writer's time goes: N store-path articles (benchmarks/scale_corpus.py items
from START on) stored into an archive built by benchmarks/scale.py, in batches of 50 as
the crawl's pipeline stores them, each SQL statement's CPU time summed by its first words.

    python benchmarks/store_profile.py /tmp/scale/archive.db 1000000 2000
"""

from __future__ import annotations

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


def main(path: str, start: int, n: int) -> None:
    db = open_db(path)
    items = [it for it in (item(SEED, i) for i in range(start, start + n)) if it.kind != "edit"]
    prepared = [(it, prepare(it.extracted)) for it in items]
    cost, count = collections.Counter(), collections.Counter()
    db.conn = Timed(db.conn, cost, count)
    window = timedelta(days=7)
    began, wall = time.process_time(), time.perf_counter()
    for b in range(0, len(prepared), 50):
        with store_batch(db):
            for it, p in prepared[b:b + 50]:
                stored = store_article(db, it.source, p, now=it.stored_at, urls=it.variants)
                schedule_revisit(db, stored.article_id, it.stored_at, window)
                record_validators(db, it.extracted.url, None, None, utcnow_iso(it.stored_at))
    total = time.process_time() - began
    print(f"{len(prepared)} articles: {total / len(prepared) * 1000:.2f} ms CPU/article, "
          f"wall {(time.perf_counter() - wall) / len(prepared) * 1000:.2f}")
    for key, spent in cost.most_common(14):
        print(f"{spent / len(prepared) * 1000:7.3f} ms/article  {count[key]:6d}  {key}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
