#!/usr/bin/env python
"""Store cost at several archive sizes in the same minutes: the machine's speed drifts
(a VM: the same unchanged re-crawl of a one-article archive took 0.93 s in one
benchmarks/scale.py step and 1.64 s in the next), so costs measured at different sizes
minutes apart mix the archive's growth with the machine's.

Given archives built by ``benchmarks/scale.py`` (each ``--dir`` holds archive.db and
plain.db of one size), this stores the next ``--items`` items of the scale stream into
each in turn, round after round, through the crawl's own store pipeline (scale.py's
``Writer``) and into the plain SQLite + FTS5 baseline beside it, timing the writer
thread's CPU per article; and, apart, the search index's merge after each batch (what
a crawl's after-crawl step does: FTS5's automerge no longer runs in dxmon's commits,
while plain's commits still merge). Each round visits every size within a few seconds, so the
ratios between sizes, and against plain, are measured on the same machine speed.

    python benchmarks/store_flat.py /tmp/s10k /tmp/s100k /tmp/s1m --rounds 7 --items 300

The archives grow by rounds x items (keep it small beside the smallest size).
"""

from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import scale  # noqa: E402
import scale_corpus  # noqa: E402

from storage.articles import known_url  # noqa: E402
from storage.maintenance import merge_search_index  # noqa: E402
from storage.schema import open_db  # noqa: E402


class Archive:
    def __init__(self, folder: Path, seed: int):
        self.folder = folder
        self.db = open_db(folder / "archive.db")
        self.plain = scale.open_plain(folder / "plain.db")
        self.writer = scale.Writer(self.db, folder / "archive.toml")
        self.at = scale.position(self.plain)
        self.size = self.at
        self._refuse_known(seed)
        self.dxmon: list[float] = []
        self.baseline: list[float] = []
        self.merges: list[float] = []  # the search index's merge after each batch
        self.faults: list[float] = []  # major page faults a dxmon article
        self.disk: list[float] = []  # KiB read from the disk a dxmon article

    def _refuse_known(self, seed: int) -> None:
        """Stop if the archive already holds the stream's next new article (stored by
        benchmarks/store_profile.py, which does not move the baseline's position):
        storing it again would time the lookup of a known URL, not a new article."""
        first = next(i for i in itertools.count(self.at) if scale_corpus.kind(seed, i) == "new")
        page = scale_corpus.item(seed, first).extracted
        if any(known_url(self.db, url) is not None for url in (page.url, page.canonical_url)):
            raise SystemExit(
                f"{self.folder}: the archive already holds item {first:,} of the stream, past "
                f"the baseline's position ({self.at:,}): it was grown without the baseline "
                f"(by store_profile.py?); measure a copy that was not")

    def round(self, seed: int, items: int) -> None:
        prepared = scale.prepare_chunk(seed, self.at, self.at + items)
        dxmon = plain = merge = 0.0
        faults = blocks = 0
        for b in range(0, len(prepared), scale.BATCH):
            part = prepared[b:b + scale.BATCH]
            batch = [p[0] for p in part]
            u0, c0 = resource.getrusage(resource.RUSAGE_THREAD), time.thread_time()
            results, failed = self.writer.write(batch, batch[-1]["stored_at"])
            c1, u1 = time.thread_time(), resource.getrusage(resource.RUSAGE_THREAD)
            faults += u1.ru_majflt - u0.ru_majflt
            blocks += u1.ru_inblock - u0.ru_inblock
            if failed:
                raise RuntimeError(f"{failed} items failed to store in {self.folder}")
            scale.mark_processed(self.db, results)
            m0 = time.thread_time()
            merge_search_index(self.db, full=False)  # the after-crawl step, timed apart
            merge += time.thread_time() - m0
            c2 = time.thread_time()
            scale.plain_batch(self.plain, [p[1] for p in part], self.at + b + len(part))
            dxmon, plain = dxmon + c1 - c0, plain + time.thread_time() - c2
        self.dxmon.append(dxmon / len(prepared) * 1000)
        self.baseline.append(plain / len(prepared) * 1000)
        self.merges.append(merge / len(prepared) * 1000)
        self.faults.append(faults / len(prepared))
        self.disk.append(blocks * 512 / 1024 / len(prepared))
        self.at += items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    archives = sorted((Archive(d, args.seed) for d in args.dirs), key=lambda a: a.size)
    for n in range(args.rounds):
        for archive in archives if n % 2 == 0 else archives[::-1]:
            archive.round(args.seed, args.items)
        print(f"round {n + 1}: " + ", ".join(
            f"{a.size:,}: {a.dxmon[-1]:.2f} / {a.baseline[-1]:.2f}" for a in archives),
            flush=True)
    small = archives[0]
    print(f"\nwriter thread CPU ms/article, median of {args.rounds} rounds of {args.items} "
          f"items (dxmon / plain SQLite + FTS5, and dxmon against the smallest size):")
    for a in archives:
        d, p = statistics.median(a.dxmon), statistics.median(a.baseline)
        print(f"  {a.size:>10,} items: {d:.2f} / {p:.2f} (dxmon {d / p:.2f}x plain); "
              f"dxmon x{d / statistics.median(small.dxmon):.2f}, "
              f"plain x{p / statistics.median(small.baseline):.2f} of {small.size:,}")
    print("\nthe search index's merge after each batch (what after_crawl does; FTS5's "
          "automerge runs in plain's commits, so plain's figures above include it): CPU "
          "ms/article, and store + merge against the smallest size")
    for a in archives:
        m = statistics.median(a.merges)
        both = [d + x for d, x in zip(a.dxmon, a.merges, strict=True)]
        base = [d + x for d, x in zip(small.dxmon, small.merges, strict=True)]
        print(f"  {a.size:>10,} items: merge {m:.2f}, store + merge "
              f"{statistics.median(both):.2f}, x{statistics.median(both) / statistics.median(base):.2f}"
              f" of {small.size:,}")
    print("\nwhat dxmon's writer waited on the disk for, a stored article (median): major page "
          "faults (a page of the memory map the OS had to read back) and KiB read")
    for a in archives:
        print(f"  {a.size:>10,} items: {statistics.median(a.faults):.1f} faults, "
              f"{statistics.median(a.disk):.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
