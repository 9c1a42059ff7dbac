"""The near-duplicate test set: syndicated copies and distinct stories.

Base stories are the articles we wrote for the test portals and the detection
corpus. Each is republished the ways portals republish each other (another byline
and source line, a reworded and shortened lead, a dropped closing paragraph, extra
captions); every pair of different base stories is a distinct pair, including
different outlets' own reports of the same session, which must NOT be clustered.
Used by tests/test_neardup.py (the floor) and benchmarks/neardup.py (the figures).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.text import normalize

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "testsupport" / "articles.json", *sorted((ROOT / "tests" / "corpus").glob("*.json"))]

# Lead rewording the way a second desk rewrites it: synonyms and a shorter sentence.
_REWORDS = [
    (r"^Sáng nay", "Sáng cùng ngày"), (r"^Sáng ", "Vào sáng "), (r"^Chiều ", "Vào chiều "),
    (r"^Ngày ", "Trong ngày "), ("Thủ tướng Chính phủ", "Thủ tướng"), ("chủ trì", "đã chủ trì"),
    ("tổ chức", "đã tổ chức"), ("nhấn mạnh", "khẳng định"), ("cho biết", "thông tin"),
    ("tham dự", "cùng dự"), ("trực tuyến", "trực tuyến toàn quốc"),
]


@dataclass(frozen=True)
class Story:
    key: str
    text: str


def load_stories(min_words: int = 60) -> list[Story]:
    stories, seen = [], set()
    for path in SOURCES:
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data if isinstance(data, list) else data.get("articles", [])
        for item in items:
            paragraphs = [p for p in item.get("paragraphs", []) if p.strip()]
            text = normalize("\n".join(paragraphs))
            if len(text.split()) < min_words or text in seen:
                continue
            seen.add(text)
            stories.append(Story(f"{path.stem}:{item.get('slug')}", text))
    return stories


def reword_lead(text: str) -> str:
    lead, *rest = text.split("\n")
    for pattern, replacement in _REWORDS:
        lead = re.sub(pattern, replacement, lead, count=1)
    sentences = re.split(r"(?<=[.!?])\s+", lead)
    if len(sentences) > 1:
        lead = " ".join(sentences[:-1])  # the second desk drops the lead's last sentence
    return "\n".join([lead, *rest])


def syndicated_copies(story: Story) -> list[str]:
    """The ways another portal republishes a story (after extraction)."""
    paragraphs = story.text.split("\n")
    return [
        "\n".join(["Theo Báo Điện tử Chính phủ", *paragraphs, "PV tổng hợp"]),
        reword_lead(story.text),
        "\n".join(paragraphs[:-1] + ["Ảnh: Cổng TTĐT tỉnh"]) if len(paragraphs) > 2
        else reword_lead(story.text) + "\nNguồn: TTXVN",
        "\n".join(["Minh Anh – Quốc Huy", reword_lead(story.text), "Nguồn: TTXVN"]),
    ]


def pairs(stories: list[Story]):
    """(text_a, text_b, same_story) pairs: every copy with its original, every distinct pair."""
    for story in stories:
        for copy in syndicated_copies(story):
            yield story.text, copy, True
    for i, a in enumerate(stories):
        for b in stories[i + 1:]:
            yield a.text, b.text, False
