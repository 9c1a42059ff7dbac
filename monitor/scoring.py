"""Scoring detection on a labelled corpus: the one module the test gate and the benchmark share.

A corpus is JSON files of articles (``tests/corpus/*.json``; the demo portals'
``monitor/demo/articles.json`` is labelled the same way). Each article is rendered
through its outlet's portal template — headline, lead, byline, related lists that
mention other sessions, comment prompts — extracted as a crawl would extract it, and
given to :func:`monitor.detect.detect`. A predicted report counts as correct only when
body, number and date are all exactly the labelled ones.
"""

from __future__ import annotations

import json
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from core.models import Mention
from crawler.extract import extract_article
from monitor.demo.content import _article
from monitor.demo.templates import TEMPLATES, render_article
from monitor.detect import detect

__all__ = ["CorpusItem", "load_corpus", "DetectionScores", "score", "CORPUS_DIR"]

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
            article = _article(raw)
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
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def ms_per_article(self) -> float:
        return 1000 * self.seconds / self.articles if self.articles else 0.0

    def line(self, label: str) -> str:
        return (f"{label:28} precision {self.precision:.3f}  recall {self.recall:.3f}  "
                f"(tp {self.tp}, fp {self.fp}, fn {self.fn}, wrong dates {self.date_errors}; "
                f"{self.articles} articles, {self.ms_per_article:.2f} ms/article detection)")


def score(items: list[CorpusItem], detector=detect) -> DetectionScores:
    s = DetectionScores()
    for item in items:
        extracted = extract_article(item.html, "http://127.0.0.1/tin-tuc/x-123456.htm")
        text = f"{extracted.title}\n{extracted.text}" if extracted else ""
        published = item.published
        start = time.perf_counter()
        mentions: list[Mention] = detector(text, published)
        s.seconds += time.perf_counter() - start
        s.articles += 1
        got = {_key(m.body, m.number, m.date) for m in mentions if m.role == "report"}
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
    return s
