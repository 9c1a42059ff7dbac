"""Detection quality and speed on the labelled corpus, against a naive baseline.

Printed for each: report precision and recall, number and date accuracy, and grouping
accuracy (pairs of articles correctly in the same or in different sessions, grouped by
the rules of monitor.grouping); see evaluation/detection.py. The corpus is every
tests/corpus/*.json (reports, negatives, mixed, and phrasing: the press's variants of
issue 11 §3), scored together, then each file on its own for dxmon.

The baseline is what a keyword alert (urlwatch/changedetection style) would do: any
article whose text contains a watched name and "phiên họp" reports a session, with
the first number after "thứ" and the first dd/mm in the text. Both run on the same
rendered-and-extracted articles in the same run.

    python benchmarks/detection.py
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import DEFAULT_WATCH  # noqa: E402
from core.models import Mention  # noqa: E402
from evaluation.detection import CORPUS_DIR, load_corpus, score  # noqa: E402
from monitor.detect import parse_number  # noqa: E402
from testsupport.content import ARTICLES_JSON  # noqa: E402


def naive(text: str, published) -> list[Mention]:
    low = text.lower()
    out = []
    for w in DEFAULT_WATCH:
        if "phiên họp" in low and any(a.lower() in low for a in w.aliases):
            n = re.search(r"thứ\s+(\d+|nhất|hai|ba|tư|năm|sáu|bảy|tám|chín)", low)
            d = re.search(r"(\d{1,2})/(\d{1,2})", low)
            day = None
            if d and published and 1 <= int(d[2]) <= 12:
                try:
                    day = date(published.year, int(d[2]), int(d[1]))
                except ValueError:
                    day = None
            out.append(Mention(w.id, "report", "", parse_number(n[1]) if n else None, None, day))
    return out


def main() -> int:
    for label, paths in (("tests/corpus", None), ("demo articles", [ARTICLES_JSON])):
        items = load_corpus(paths)
        ours, base = score(items), score(items, detector=naive)
        print(f"{label}: {len(items)} articles")
        print("  " + ours.line("dxmon detect"))
        print("  " + ours.accuracy_line(""))
        print("  " + base.line("naive keyword baseline"))
        print("  " + base.accuracy_line(""))
        print(f"  speed ratio dxmon/baseline: {ours.ms_per_article / base.ms_per_article:.1f}x "
              f"(aim: under 5 ms/article; dxmon {ours.ms_per_article:.2f} ms)")
        if paths is None:
            for path in sorted(CORPUS_DIR.glob("*.json")):
                part = score(load_corpus([path]))
                print("    " + part.line(f"{path.name} alone"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
