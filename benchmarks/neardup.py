"""Near-duplicate grouping on the test set: similarity ranges, and P/R per threshold.

Prints how far apart syndicated copies and distinct stories are, and the pair
precision/recall at several thresholds, so a change of storage.neardup.THRESHOLD is
made on figures. Run: .venv/bin/python benchmarks/neardup.py
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.neardup import THRESHOLD, estimate, signature  # noqa: E402
from testsupport.neardup_cases import load_stories, pairs  # noqa: E402


def main() -> None:
    stories = load_stories()
    started = time.perf_counter()
    cache = {}

    def mh(text):
        if text not in cache:
            cache[text] = signature(text)
        return cache[text]

    scored = [(estimate(mh(a), mh(b)), same) for a, b, same in pairs(stories)]
    elapsed = time.perf_counter() - started
    copies = [s for s, same in scored if same]
    distinct = [s for s, same in scored if not same]
    print(f"{len(stories)} stories: {len(copies)} copy pairs, {len(distinct)} distinct pairs "
          f"({len(cache)} MinHashes, {1000 * elapsed / max(len(cache), 1):.2f} ms each incl. pairs)")
    print(f"copies:   min {min(copies):.3f}  median {statistics.median(copies):.3f}")
    print(f"distinct: max {max(distinct):.3f}  median {statistics.median(distinct):.3f}")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        tp = sum(s >= threshold for s in copies)
        fp = sum(s >= threshold for s in distinct)
        precision = tp / (tp + fp) if tp + fp else 1.0
        mark = "  <- storage.neardup.THRESHOLD" if threshold == THRESHOLD else ""
        print(f"threshold {threshold:.1f}: precision {precision:.3f} recall "
              f"{tp / len(copies):.3f}{mark}")


if __name__ == "__main__":
    main()
