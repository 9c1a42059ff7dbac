"""Vietnamese text normalisation: one spelling for every way a portal types a word.

Portals publish the same words in different byte forms: NFC or decomposed (NFD)
Unicode, the tone mark on either vowel of "oa", "oe", "uy" ("hòa"/"hoà",
"Ủy"/"Uỷ"), non-breaking and zero-width spaces, and half a dozen dash characters.
Everything stored, hashed or matched goes through :func:`normalize` first, so that
these variants compare equal; :func:`fold` goes further (no diacritics, "đ" → "d",
lower case) for search and for alias matching.

The canonical tone placement is the "old" one (``hòa``, ``Ủy``, ``thủy``): it is
what the government portals mostly print, so stored text reads as published.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["normalize", "normalize_line", "fold", "TONE_MARKS"]

# grave, acute, tilde, hook above, dot below (combining forms, as found after NFD)
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"

# In NFD, a syllable ending in "oa", "oe" or "uy" with the tone on the second vowel
# ("hoà" = h o a ◌̀) gets the tone moved to the first vowel ("hòa" = h o ◌̀ a).
# Not after "q": in "quý" the "u" belongs to the consonant and "y" carries the tone in
# both styles. Not before another letter: with a final consonant ("hoàng", "quyết")
# both styles already agree.
_NEW_STYLE_TONE = re.compile(
    rf"(?<![qQ])([oO])([aAeE])([{TONE_MARKS}])(?!\w)|(?<![qQ])([uU])([yY])([{TONE_MARKS}])(?!\w)"
)

# Every dash-like character portals use between words or numbers.
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SPACED_DASH = re.compile(r"\s+-+\s+")
_JOINED_DASH = re.compile(rf"[{_DASHES}]")
# NBSP, narrow NBSP, figure space, ideographic space, the en/em spaces, tabs...
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


# Precomposed letters whose decomposition starts with a, e or y carrying a tone mark: in
# an NFC line, "o"/"u" followed by one of them is the only way _NEW_STYLE_TONE can match.
_TONED_AEY = "".join(
    ch for ch in map(chr, range(0xC0, 0x1F00))
    if (d := unicodedata.normalize("NFD", ch))[:1] in "aAeEyY" and d[1:2] in TONE_MARKS)
_MAYBE_NEW_STYLE = re.compile(rf"[oO][{_TONED_AEY}]|[uU][{_TONED_AEY}]")
_ODD_SPACING = re.compile(rf"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000{_DASHES}]|\s\s|\s-")


def _move_tone(match: re.Match) -> str:
    if match.group(1):
        return match.group(1) + match.group(3) + match.group(2)
    return match.group(4) + match.group(6) + match.group(5)


@lru_cache(maxsize=8192)  # page furniture repeats on every page of a portal
def normalize_line(line: str) -> str:
    """Normalise one line: NFC, old-style tone placement, spaces and dashes unified."""
    line = _INVISIBLE.sub("", line)
    # most lines are NFC already with no new-style tone: skip the round trip through NFD
    if not unicodedata.is_normalized("NFC", line) or _MAYBE_NEW_STYLE.search(line):
        line = unicodedata.normalize("NFD", line)
        line = _NEW_STYLE_TONE.sub(_move_tone, line)
        line = unicodedata.normalize("NFC", line)
    if _ODD_SPACING.search(line):
        line = _SPACES.sub(" ", line)
        line = _JOINED_DASH.sub("-", line)
        line = _SPACED_DASH.sub(" – ", line)
    return line.strip()


def normalize(text: str | None) -> str:
    """Normalise a text: each line via :func:`normalize_line`, empty lines dropped.

    Paragraphs stay separated by a single ``\\n``; this is the form that is stored,
    hashed and handed to detection.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    lines = (normalize_line(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


class _NoCombining(dict):
    """str.translate table deleting every combining mark, filled as characters are met
    (building it for all of Unicode up front cost every process 0.1-0.4 s)."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_NO_COMBINING = _NoCombining()


def fold(text: str | None) -> str:
    """Fold for matching: no diacritics, "đ" → "d", lower case, single spaces."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFD", _INVISIBLE.sub("", text))
    stripped = decomposed.translate(_NO_COMBINING).replace("đ", "d").replace("Đ", "D")
    return _SPACES.sub(" ", stripped.lower()).strip()
