"""Extraction quality scores: the one module the test gate and the benchmark share.

Two public sets with hand-made ground truth live in ``../shared/benchmarks`` (see
its README; the pages are test data and never copied into this repository):

* **scrapinghub** (Zyte's article-extraction benchmark, 181 English pages, full
  article bodies): ``\\w+`` tokens of NFC text, multisets of 4-token shingles,
  per-document TP/FP/FN normalised to sum to 1, precision and recall as means of
  the per-document values, F1 from those two means, "accuracy" = share of pages
  whose token sequence equals the truth, "±" = bootstrap standard deviation over
  1,000 resamples of the documents (fixed seed, so a run is reproducible).
* **trafilatura-eval** (990 mostly German pages, 1–6 "with" and "without" snippets
  each): whitespace collapsed, substring tests, counts micro-averaged over the set.

A predictor is any top-level (picklable) ``predict(html, url) -> str | None``; pages
are extracted in a process pool (``workers``, default 2 = the CI machine's cores),
which halves the wall time of a gate that is otherwise CPU-bound on lxml.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from evaluation import benchmarks_root, shared_root

__all__ = [
    "Scores",
    "SnippetScores",
    "benchmarks_root",
    "shared_root",
    "tokenize",
    "shingles",
    "document_counts",
    "aggregate",
    "score_scrapinghub",
    "score_trafilatura_eval",
    "snippet_counts",
]

Predict = Callable[[str, str], "str | None"]

SCRAPINGHUB = "scrapinghub-article-extraction-benchmark"
TRAFILATURA_EVAL = "trafilatura-eval"

# Zyte's evaluate.py: 4-token shingles, 1,000 bootstrap resamples.
SHINGLE = 4
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

_WORD = re.compile(r"\w+")
_WS = re.compile(r"\s+")


# ---------------------------------------------------------------- scrapinghub


def tokenize(text: str | None) -> list[str]:
    """``\\w+`` tokens of the NFC form (NFD Vietnamese would split syllables)."""
    return _WORD.findall(unicodedata.normalize("NFC", text or ""))


def shingles(tokens: Sequence[str], n: int = SHINGLE) -> Counter:
    """Multiset of n-token windows; a text shorter than n gives one short shingle."""
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def document_counts(truth: str, prediction: str | None) -> tuple[float, float, float]:
    """Normalised (TP, FP, FN) of one document; they sum to 1 (or are all 0)."""
    t, p = shingles(tokenize(truth)), shingles(tokenize(prediction))
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    if total == 0:
        return 0.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


@dataclass(frozen=True)
class Scores:
    """Zyte-style scores; the ``*_std`` are bootstrap standard deviations."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    precision_std: float
    recall_std: float
    f1_std: float
    accuracy_std: float
    documents: int
    seconds_per_page: float = 0.0

    def line(self, label: str) -> str:
        return (
            f"{label:<26} F1 {self.f1:.3f} ± {self.f1_std:.3f}   "
            f"P {self.precision:.3f} ± {self.precision_std:.3f}   "
            f"R {self.recall:.3f} ± {self.recall_std:.3f}   "
            f"acc {self.accuracy:.3f} ± {self.accuracy_std:.3f}   "
            f"({self.documents} pages, {self.seconds_per_page * 1000:.0f} ms/page)"
        )


def _point(counts: Sequence[tuple[float, float, float]], exact: Sequence[bool]):
    precisions, recalls = [], []
    for tp, fp, fn in counts:
        if fp == 0 and fn == 0:  # nothing missed, nothing extra (an empty truth included)
            precisions.append(1.0)
            recalls.append(1.0)
            continue
        if tp + fp > 0:
            precisions.append(tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(tp / (tp + fn))
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    acc = sum(exact) / len(exact) if exact else 0.0
    return p, r, f1, acc


def aggregate(
    counts: Sequence[tuple[float, float, float]],
    exact: Sequence[bool],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    seconds_per_page: float = 0.0,
) -> Scores:
    """Per-document counts → :class:`Scores` with bootstrap standard deviations."""
    p, r, f1, acc = _point(counts, exact)
    rng = random.Random(seed)
    n = len(counts)
    samples = []
    for _ in range(resamples if n else 0):
        idx = [rng.randrange(n) for _ in range(n)]
        samples.append(_point([counts[i] for i in idx], [exact[i] for i in idx]))

    def std(k: int) -> float:
        if len(samples) < 2:
            return 0.0
        values = [s[k] for s in samples]
        mean = sum(values) / len(values)
        return (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5

    return Scores(p, r, f1, acc, std(0), std(1), std(2), std(3), n, seconds_per_page)


def _run_one(task: tuple[Predict, str, str, str]) -> tuple[str, str | None, float]:
    predict, key, path, url = task
    with gzip.open(path) as handle:
        html = handle.read().decode("utf-8", errors="replace")
    start = time.perf_counter()
    try:
        text = predict(html, url)
    except Exception:  # a crash scores as an empty prediction, as upstream does
        text = None
    return key, text, time.perf_counter() - start


def _run_all(predict: Predict, items: Iterable[tuple[str, Path, str]], workers: int):
    tasks = [(predict, key, str(path), url) for key, path, url in items]
    if workers <= 1:
        results = list(map(_run_one, tasks))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_run_one, tasks, chunksize=4))
    texts = {key: text for key, text, _ in results}
    mean_seconds = sum(sec for _, _, sec in results) / len(results) if results else 0.0
    return texts, mean_seconds


def score_scrapinghub(
    predict: Predict, root: Path, *, workers: int = 2, limit: int | None = None
) -> Scores:
    """Score ``predict`` on Zyte's set at ``root`` (the benchmark folder itself)."""
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)[:limit] if limit else sorted(truth)
    items = [(k, root / "html" / f"{k}.html.gz", truth[k].get("url", "")) for k in keys]
    texts, mean_seconds = _run_all(predict, items, workers)
    counts, exact = [], []
    for key in keys:
        expected, got = truth[key]["articleBody"], texts.get(key)
        counts.append(document_counts(expected, got))
        exact.append(tokenize(expected) == tokenize(got))
    return aggregate(counts, exact, seconds_per_page=mean_seconds)


# ----------------------------------------------------------- trafilatura-eval


@dataclass(frozen=True)
class SnippetScores:
    """Micro-averaged snippet counts and the figures derived from them."""

    tp: int
    fp: int
    tn: int
    fn: int
    documents: int
    seconds_per_page: float = 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fp + self.tn + self.fn
        return (self.tp + self.tn) / total if total else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    def line(self, label: str) -> str:
        return (
            f"{label:<26} F1 {self.f1:.3f}   P {self.precision:.3f}   R {self.recall:.3f}   "
            f"acc {self.accuracy:.3f}   ({self.documents} pages, "
            f"{self.seconds_per_page * 1000:.0f} ms/page)"
        )


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def snippet_counts(
    text: str | None, with_: Iterable[str], without: Iterable[str]
) -> tuple[int, int, int, int]:
    """(TP, FP, TN, FN) of one page; ``None`` (crash/no article) misses every snippet."""
    with_, without = list(with_), list(without)
    if text is None:
        return 0, 0, len(without), len(with_)
    collapsed = _collapse(text)
    tp = sum(_collapse(s) in collapsed for s in with_)
    fp = sum(_collapse(s) in collapsed for s in without)
    return tp, fp, len(without) - fp, len(with_) - tp


def score_trafilatura_eval(
    predict: Predict, root: Path, *, workers: int = 2, limit: int | None = None
) -> SnippetScores:
    """Score ``predict`` on trafilatura's eval set at ``root`` (cache/ first, then eval/)."""
    data = json.loads((root / "evaldata.json").read_text(encoding="utf-8"))
    urls = sorted(data)[:limit] if limit else sorted(data)
    items = []
    for url in urls:
        name = data[url]["file"] + ".gz"
        path = root / "cache" / name
        items.append((url, path if path.exists() else root / "eval" / name, url))
    texts, mean_seconds = _run_all(predict, items, workers)
    total = [0, 0, 0, 0]
    for url in urls:
        counts = snippet_counts(texts.get(url), data[url].get("with", []), data[url].get("without", []))
        total = [a + b for a, b in zip(total, counts, strict=True)]
    return SnippetScores(*total, documents=len(urls), seconds_per_page=mean_seconds)
