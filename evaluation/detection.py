"""Scoring detection on a labelled corpus: the one module the test gate and the benchmark share.

A corpus is JSON files of articles (``tests/corpus/*.json``; the test portals'
``testsupport/articles.json`` is labelled the same way). Each article is rendered
through its outlet's portal template — headline, lead, byline, related lists that
mention other sessions, comment prompts — extracted as a crawl would extract it, and
given to :func:`monitor.detect.detect`. A predicted report counts as correct only when
body, number and date are all exactly the labelled ones.

Besides report precision and recall, three accuracies:

- **number** and **date**: of the labelled reports that were detected (a predicted
  report of the same body in the same article), the share with the labelled number
  (and numbering period, when the label states one) and the share with the labelled date;
- **grouping**: the detected reports (and ``meeting`` mentions, which join a known
  session of their day and never create one; such a join counts as a report of that
  session) are grouped into sessions by the real rules of
  :func:`monitor.grouping.group_reports`, in publication order, and compared with the
  sessions the labels imply (one per body, number and period, or per body and date when
  unnumbered; an unnumbered report belongs to the numbered session of its body and date).
  Over every pair of articles that report a session (labelled or detected), the share of
  pairs put correctly in the same or in different sessions.
"""

from __future__ import annotations

import dataclasses
import json
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from core.models import Mention
from crawler.extract import extract_article
from monitor.detect import detect
from monitor.grouping import group_sessions
from testsupport.content import article_from_json
from testsupport.templates import TEMPLATES, render_article

__all__ = ["CorpusItem", "load_corpus", "DetectionScores", "score", "label_sessions",
           "CORPUS_DIR"]

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "tests" / "corpus"


@dataclass(frozen=True)
class CorpusItem:
    key: str
    html: str
    labels: tuple[dict, ...]
    published: object


class _Ctx:
    most_read = [("Giá lúa tăng nhẹ sau thu hoạch", "gia-lua-tang"),
                 ("Ban Chỉ đạo quốc gia về IUU họp phiên thứ 26", "iuu-26")]
    amp = False

    def __init__(self, site):
        self.site = site

    def article_href(self, slug):
        return f"/tin-tuc/{slug}-123456.htm"

    related_href = article_href

    def amp_href(self, slug):
        return "/amp" + self.article_href(slug)

    def absolute(self, path):
        return "http://127.0.0.1" + path


def load_corpus(paths: list[Path] | None = None) -> list[CorpusItem]:
    items = []
    for path in paths or sorted(CORPUS_DIR.glob("*.json")):
        for raw in json.loads(path.read_text(encoding="utf-8"))["articles"]:
            article = article_from_json(raw)
            if article.site not in TEMPLATES:
                article = article.edited(site="chinhphu-news")
            html = render_article(article, _Ctx(article.site))
            if raw.get("unicode") == "nfd":
                html = unicodedata.normalize("NFD", html)
            items.append(CorpusItem(f"{path.stem}:{article.slug}", html, article.labels,
                                    article.published))
    return items


def _key(body, number, day) -> tuple:
    return (body, number, str(day) if day else None)


@dataclass
class DetectionScores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    date_errors: int = 0
    articles: int = 0
    seconds: float = 0.0
    matched: int = 0  # labelled reports with a detected report of the same body
    numbers_right: int = 0
    dates_right: int = 0
    pairs: int = 0  # pairs of articles that report a session
    pairs_right: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def number_accuracy(self) -> float:
        return self.numbers_right / self.matched if self.matched else 1.0

    @property
    def date_accuracy(self) -> float:
        return self.dates_right / self.matched if self.matched else 1.0

    @property
    def grouping_accuracy(self) -> float:
        return self.pairs_right / self.pairs if self.pairs else 1.0

    @property
    def ms_per_article(self) -> float:
        return 1000 * self.seconds / self.articles if self.articles else 0.0

    def line(self, label: str) -> str:
        return (f"{label:28} precision {self.precision:.3f}  recall {self.recall:.3f}  "
                f"(tp {self.tp}, fp {self.fp}, fn {self.fn}, wrong dates {self.date_errors}; "
                f"{self.articles} articles, {self.ms_per_article:.2f} ms/article detection)")

    def accuracy_line(self, label: str) -> str:
        return (f"{label:28} number accuracy {self.number_accuracy:.3f}  date accuracy "
                f"{self.date_accuracy:.3f}  (of {self.matched} detected reports)  grouping "
                f"accuracy {self.grouping_accuracy:.3f} ({self.pairs_right}/{self.pairs} pairs)")


def score(items: list[CorpusItem], detector=detect) -> DetectionScores:
    s = DetectionScores()
    found: list[tuple[CorpusItem, list[Mention]]] = []
    for item in items:
        extracted = extract_article(item.html, "http://127.0.0.1/tin-tuc/x-123456.htm")
        text = f"{extracted.title}\n{extracted.text}" if extracted else ""
        published = item.published
        start = time.perf_counter()
        mentions: list[Mention] = detector(text, published)
        s.seconds += time.perf_counter() - start
        s.articles += 1
        found.append((item, [m for m in mentions if m.role in ("report", "meeting")]))
    predicted, sessions = _group(found)
    for item, mentions in found:
        reports = _resolve(item, mentions, predicted, sessions)
        got = {_key(m.body, m.number, m.date) for m in reports}
        want = {_key(x["body"], x.get("number"), x.get("date")) for x in item.labels
                if x.get("role") == "report"}
        for k in got - want:
            s.fp += 1
            if any(k[:2] == w[:2] for w in want):
                s.date_errors += 1
            s.errors.append(f"FP {item.key}: {k}")
        for k in want - got:
            s.fn += 1
            s.errors.append(f"FN {item.key}: {k}")
        s.tp += len(got & want)
        _score_values(s, item, reports)
    _score_grouping(s, found, predicted)
    return s


def _group(found: list[tuple[CorpusItem, list[Mention]]]):
    """Group the detected reports and meetings into sessions, in publication order."""
    ordered = sorted(found, key=lambda f: (f[0].published, f[0].key))
    return group_sessions((item.key, m) for item, mentions in ordered for m in mentions)


def _resolve(item: CorpusItem, mentions: list[Mention], predicted: dict,
             sessions: dict) -> list[Mention]:
    """The article's reports: its report mentions, and each meeting mention that joined a
    session as a report of that session (its number and numbering period)."""
    out = [m for m in mentions if m.role == "report"]
    for m in mentions:
        if m.role != "meeting":
            continue
        day = m.date.isoformat() if m.date else None
        rows = [sessions[sid] for sid in predicted.get(item.key, ()) if sid in sessions]
        row = next((r for r in rows if r["body"] == m.body and r["date"] == day), None)
        if row is not None:
            out.append(dataclasses.replace(m, role="report", number=row["number"],
                                           period=row["period"]))
    return out


def _score_values(s: DetectionScores, item: CorpusItem, reports: list[Mention]) -> None:
    """Number and date accuracy of one article's detected reports against its labels."""
    for label in item.labels:
        if label.get("role") != "report":
            continue
        same_body = [m for m in reports if m.body == label["body"]]
        if not same_body:
            continue
        want = (label.get("number"), label.get("date"))
        m = max(same_body, key=lambda m: (m.number == want[0],
                                          (str(m.date) if m.date else None) == want[1]))
        s.matched += 1
        period = label.get("period") if label.get("number") is not None else None
        if m.number == label.get("number") and (period is None or m.period == period):
            s.numbers_right += 1
        else:
            s.errors.append(f"NUMBER {item.key}: {m.number}/{m.period} for {label.get('number')}"
                            f"/{period}")
        if (str(m.date) if m.date else None) == label.get("date"):
            s.dates_right += 1
        else:
            s.errors.append(f"DATE {item.key}: {m.date} for {label.get('date')}")


def label_sessions(items: list[CorpusItem]) -> dict[str, set[tuple]]:
    """The sessions the labels imply: item key → the sessions it reports.

    One session per (body, number, period), or per (body, date) when unnumbered; an
    unnumbered report belongs to the numbered session of the same body and date.
    """
    numbered: dict[tuple, tuple] = {}  # (body, date) -> numbered session of that day
    for item in items:
        for x in item.labels:
            if x.get("role") == "report" and x.get("number") is not None and x.get("date"):
                numbered[(x["body"], x["date"])] = (x["body"], x["number"], x.get("period"))
    out: dict[str, set[tuple]] = {}
    for item in items:
        for x in item.labels:
            if x.get("role") != "report":
                continue
            if x.get("number") is not None:
                session = (x["body"], x["number"], x.get("period"))
            else:
                session = numbered.get((x["body"], x.get("date")), (x["body"], x.get("date")))
            out.setdefault(item.key, set()).add(session)
    return out


def _score_grouping(s: DetectionScores, found: list[tuple[CorpusItem, list[Mention]]],
                    predicted: dict) -> None:
    truth = label_sessions([item for item, _ in found])
    keys = sorted(set(truth) | set(predicted))
    wrong = []
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            same = bool(truth.get(a, set()) & truth.get(b, set()))
            said = bool(predicted.get(a, set()) & predicted.get(b, set()))
            s.pairs += 1
            if same == said:
                s.pairs_right += 1
            else:
                wrong.append(f"GROUPING {a} and {b}: {'split' if same else 'joined'}")
    s.errors += wrong[:20]
