"""The held-out corpus stays out of the gates, stays consistent, and the real-world
benchmark counts what it says it counts (issue 11 §4).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from evaluation.detection import CORPUS_DIR, load_corpus

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = CORPUS_DIR / "heldout" / "heldout.json"
BODIES = {"ubqg-cds", "bcd-khcn-cds-da06"}
# The Committee until February 2025, its successor from March 2025 (DESIGN.md).
SUCCESSOR_FROM = date(2025, 3, 1)


def test_the_gates_never_load_the_heldout_corpus():
    keys = [item.key for item in load_corpus()]
    assert keys and not any(k.startswith("heldout:") for k in keys)
    from testsupport.neardup_cases import SOURCES

    assert HELDOUT not in SOURCES


def test_heldout_is_marked_and_every_label_is_consistent_with_the_timeline():
    doc = json.loads(HELDOUT.read_text(encoding="utf-8"))
    assert "HELD-OUT" in doc["note"]
    arts = doc["articles"]
    assert len(arts) >= 40 and len({a["slug"] for a in arts}) == len(arts)
    assert len(load_corpus([HELDOUT])) == len(arts)
    reports = 0
    for a in arts:
        text = "\n".join([a["sapo"], *a["paragraphs"]])
        published = datetime.fromisoformat(a["published"]).date()
        for lab in a["labels"]:
            assert set(lab) == {"body", "role", "number", "period", "date", "evidence"}
            assert lab["body"] in BODIES and lab["role"] in {"report", "preview", "reference"}
            assert lab["evidence"] in text, a["slug"]
            reports += lab["role"] == "report"
            if lab["date"] is None:
                continue
            day = date.fromisoformat(lab["date"])
            if lab["role"] == "report":  # reported the same day or within days, not before
                assert 0 <= (published - day).days <= 7, a["slug"]
            assert (day >= SUCCESSOR_FROM) == (lab["body"] == "bcd-khcn-cds-da06"), a["slug"]
            if lab["body"] == "bcd-khcn-cds-da06" and lab["number"] is not None:
                assert lab["period"] == str(day.year), a["slug"]
    assert reports >= 20


def test_collect_refuses_a_folder_inside_the_repository(tmp_path):
    inside = ROOT / "realworld-material"
    run = subprocess.run([sys.executable, "benchmarks/realworld_collect.py", str(inside),
                          "--mirrors", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "outside the repository" in run.stderr
    assert not inside.exists()


@pytest.fixture
def material(tmp_path):
    """A tiny folder in the collector's format: our own sentences, not real text."""
    report = ("Chiều 24/4, Thủ tướng chủ trì phiên họp thứ 8 của Ủy ban Quốc gia về chuyển đổi "
              "số, kết nối trực tuyến với các địa phương.")
    texts = [{"id": "1", "text": "Giá lúa tăng\nGiá lúa tăng nhẹ sau thu hoạch.",
              "before": "2018-06-26"},
             {"id": "2", "text": "Phiên họp của Ủy ban\n" + report, "before": "2018-06-26"}]
    rss = [{"id": "a", "title": "Thời tiết", "summary": "Trời nắng.", "link": "x",
            "source": "T", "published": "2024-04-24T20:00:00+07:00"},
           {"id": "b", "title": "Phiên họp thứ 8", "summary": report, "link": "y",
            "source": "T", "published": "2024-04-24T20:00:00+07:00"}]
    for name, rows in (("texts.jsonl", texts), ("rss.jsonl", rss)):
        (tmp_path / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in rows), encoding="utf-8")
    return tmp_path


def test_realworld_counts_scans_mentions_and_flags(material):
    run = subprocess.run([sys.executable, "benchmarks/realworld.py", str(material)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    texts, rss = run.stdout.split("== texts")[1].split("== RSS")
    assert 'articles scanned 2; mention "phiên họp" 1; flagged as reports 1 (all false' in texts
    assert 'articles scanned 2; mention "phiên họp" 1; flagged as reports 1;' in rss
    assert "ubqg-cds number 8" in rss and "date 2024-04-24" in rss
