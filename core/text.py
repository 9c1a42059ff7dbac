"""Vietnamese text in two forms: as published (stored) and as matched (compared).

Portals publish the same words in different byte forms: NFC or decomposed (NFD)
Unicode, the tone mark on either vowel of "oa", "oe", "uy" ("hòa"/"hoà",
"Ủy"/"Uỷ"), non-breaking and zero-width spaces, and half a dozen dash characters.
An archive keeps the words as the publisher wrote them, so there are two forms:

* :func:`published` — what is **stored** (``articles.text``, titles, authors): the
  publisher's text in NFC, nothing else rewritten. Line endings are unified to
  ``\\n``, each line is trimmed, runs of ASCII spaces and tabs become one space (as a
  browser shows them), and blank lines are dropped. Invisible characters are handled
  deliberately: zero-width spaces, word joiners, byte-order marks, soft hyphens,
  directional marks and bidi embeddings/overrides/isolates (U+202A-202E, U+2066-2069:
  the "Trojan source" characters), and C0/C1 control characters are dropped — they
  are not text a reader sees, and the bidi ones can make a stored line display as
  something else. ZWJ and ZWNJ are kept in text (they join emoji and shape other
  scripts) and dropped from titles (:func:`published_title`, which also makes the
  title one line and caps it at :data:`TITLE_MAX` characters).
* :func:`normalize` — the **matching** form, used only for comparison: detection
  input, the content hash used for dedup, alias matching. On top of NFC it moves the
  tone of an open "oa"/"oe"/"uy" syllable to the first vowel ("hoà" → "hòa", "Uỷ" →
  "Ủy"), unifies spaces and dashes and drops every invisible character (ZWJ/ZWNJ
  included), so that the variants above compare equal. :func:`fold` goes further (no
  diacritics, "đ" → "d", lower case) for search and near-duplicate shingles.

``normalize(published(x)) == normalize(x)``: storing the published form loses nothing
matching needs.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["published", "published_title", "normalize", "normalize_line", "fold", "TONE_MARKS",
           "TITLE_MAX"]

# grave, acute, tilde, hook above, dot below (combining forms, as found after NFD)
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"

# A stored title is at most this long: real headlines are under 250 characters; a longer
# one is a broken or hostile page (a 100 KB title made an 814 KB alert email).
TITLE_MAX = 500

# In NFD, an open syllable ending in "oa", "oe" or "uy" with the tone on the second vowel
# ("hoà" = h o a ◌̀) gets the tone moved to the first vowel ("hòa" = h o ◌̀ a).
# Not after "q": in "quý" the "u" belongs to the consonant and "y" carries the tone in
# both styles. Not before another letter: with a final consonant ("hoàng", "quyết")
# both styles already agree. Not before another combining mark either: that vowel is
# not a plain "a"/"e" but "ă"/"ê" carrying a dot below, which NFD writes first
# ("hoặc" = h o a ◌̣ ◌̆ c), and "oă" always has a final consonant anyway.
_NEW_STYLE_TONE = re.compile(
    rf"(?<![qQ])([oO])([aAeE])([{TONE_MARKS}])(?![\w\u0300-\u036f])"
    rf"|(?<![qQ])([uU])([yY])([{TONE_MARKS}])(?![\w\u0300-\u036f])"
)

# Every dash-like character portals use between words or numbers.
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SPACED_DASH = re.compile(r"\s+-+\s+")
_JOINED_DASH = re.compile(rf"[{_DASHES}]")
# NBSP, narrow NBSP, figure space, ideographic space, the en/em spaces, tabs...
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# Dropped from stored text: zero-width space, word joiner and invisible operators, BOM,
# soft hyphen, directional marks, bidi embeddings, overrides and isolates, and control
# characters other than tab and newline (line breaks are unified before this runs).
_STORED_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Dropped from matching forms: all of the above, and ZWNJ/ZWJ.
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_TITLE_INVISIBLE = _INVISIBLE
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\u0085\u000b\u000c]")
_ASCII_SPACES = re.compile(r"[ \t]+")
# What published() rewrites besides spaces: line breaks and invisible characters
_ODD_CHARACTERS = re.compile(f"{_LINE_BREAKS.pattern}|{_STORED_INVISIBLE.pattern}")


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
    # trimmed first: a dash the trim leaves alone ("  –  ") is then unified like any other
    line = _INVISIBLE.sub("", line).strip()
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
    """The matching form of a text: each line via :func:`normalize_line`, empty lines
    dropped, paragraphs separated by a single ``\\n``.

    This is what is hashed for dedup and handed to detection; it is never stored.
    """
    if not text:
        return ""
    lines = (normalize_line(line) for line in _LINE_BREAKS.sub("\n", text).split("\n"))
    return "\n".join(line for line in lines if line)


def published(text: str | None) -> str:
    """The stored form of a text: the publisher's words in NFC (see the module's doc).

    Idempotent, and ``normalize(published(x)) == normalize(x)``.
    """
    if not text:
        return ""
    if _ODD_CHARACTERS.search(text) or not unicodedata.is_normalized("NFC", text):
        text = _STORED_INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))
        # after the invisibles are gone: one between a letter and its mark blocks composing
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
    # (most text has neither: then only its spaces are looked at, a line at a time)
    lines = (_ASCII_SPACES.sub(" ", line).strip() if "  " in line or "\t" in line
             else line.strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def published_title(text: str | None, limit: int = TITLE_MAX) -> str:
    """A headline as stored: :func:`published`, on one line, without zero-width joiners,
    whitespace runs as one space, and at most ``limit`` characters (cut at a word when
    one ends in the last tenth, marked with "…")."""
    if text and not _TITLE_INVISIBLE.search(text) and unicodedata.is_normalized("NFC", text):
        # (every line break is a space to str.split: the one line is the same)
        text = " ".join(text.split())
    else:
        text = " ".join(_TITLE_INVISIBLE.sub("", published(text)).split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 9 // 10:
        cut = cut[:space]
    return cut.rstrip() + "…"


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
