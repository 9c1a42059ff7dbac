"""Detection scored on the held-out corpus, exactly as benchmarks/detection.py scores ours.

``tests/corpus/heldout/heldout.json`` was written (issue 11 §4) by someone who had not
read the detection rules nor the other corpus files, to tell how the rules generalise to
phrasings they were not written with. It lives in a sub-folder so that the gates
(``load_corpus()`` reads ``tests/corpus/*.json`` only) never see it: it is scored here,
never tuned on. A miss printed below is fixed by a general rule and a new case in the
main corpus, not by editing the held-out file.

Printed: report precision and recall, number, date and grouping accuracy (see
evaluation/detection.py), the same for detection.py's keyword baseline, then every error of
dxmon's for review.

    python benchmarks/heldout.py [PATH.json ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.detection import naive  # noqa: E402
from evaluation.detection import CORPUS_DIR, load_corpus, score  # noqa: E402

HELDOUT = CORPUS_DIR / "heldout" / "heldout.json"


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or [HELDOUT]
    items = load_corpus(paths)
    s = score(items)
    reports = sum(any(x.get("role") == "report" for x in i.labels) for i in items)
    print(f"held-out corpus: {len(items)} articles ({reports} with a labelled report)")
    print("  " + s.line("dxmon detect"))
    print("  " + s.accuracy_line(""))
    base = score(items, detector=naive)
    print("  " + base.line("naive keyword baseline"))
    print("  " + base.accuracy_line(""))
    for line in s.errors:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
