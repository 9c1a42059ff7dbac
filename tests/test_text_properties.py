"""Properties of the two text forms over generated Vietnamese syllables.

:func:`core.text.published` (stored) must be the input in NFC and nothing else;
:func:`core.text.normalize` (matching) may only move the tone of an open "oa"/"oe"/"uy"
syllable from the second vowel to the first. Syllables are generated from the
orthography: every onset, every nucleus (with its medial "o"/"u"), every coda, the six
tones, the tone on either vowel where usage differs, NFC or NFD, lower, upper or title
case. The seeds' own syllables are checked the same way (they stay in ../shared).
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.text import TITLE_MAX, fold, normalize, published, published_title
from testsupport.shared import require_shared, shared_root

ONSETS = ["", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng",
          "ngh", "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x"]
# nuclei with their medial; the tone's place (index of the vowel) in the one usage
# where both styles agree is computed by _tone_index
NUCLEI = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y",
          "ia", "iê", "ya", "yê", "ua", "uô", "ưa", "ươ",
          "oa", "oă", "oe", "oo", "uy", "uâ", "uê", "uơ", "uya", "uyê"]
CODAS = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t", "i", "o", "u", "y"]
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # ngang huyền sắc hỏi ngã nặng
MODIFIED = set("ăâêôơư")
# the open nuclei whose tone sits on the first vowel in the old style, the second in
# the new one ("hòa"/"hoà", "khỏe"/"khoẻ", "thủy"/"thuỷ")
TWO_STYLES = {"oa", "oe", "uy"}


def _tone_index(nucleus: str, coda: str, onset: str, style: str) -> int:
    """Which vowel of the nucleus carries the tone."""
    if len(nucleus) == 1:
        return 0
    modified = [i for i, ch in enumerate(nucleus) if ch in MODIFIED]
    if modified:
        return modified[-1]  # "ươ" → ơ, "uyê" → ê, "ưa" → ư
    if nucleus in TWO_STYLES and not coda and onset != "qu":
        return 0 if style == "old" else 1
    if nucleus in ("ia", "ua", "ya") and not coda:
        return 0  # "mía", "của"
    return len(nucleus) - 1  # "oo", "uya", and every nucleus before a coda


def syllable(onset: str, nucleus: str, coda: str, tone: str, style: str = "old") -> str:
    """The syllable in NFC, the tone on the vowel the style puts it on."""
    i = _tone_index(nucleus, coda, onset, style)
    toned = nucleus[:i + 1] + tone + nucleus[i + 1:]
    return unicodedata.normalize("NFC", onset + toned + coda)


def _compatible(onset: str, nucleus: str) -> bool:
    """Skip spellings that repeat a letter of the onset ("qu" + "uy", "gi" + "iê")."""
    return not (onset == "qu" and nucleus[0] in "uo" or onset == "gi" and nucleus[0] in "iy")


parts = st.tuples(st.sampled_from(ONSETS), st.sampled_from(NUCLEI), st.sampled_from(CODAS),
                  st.sampled_from(TONES)).filter(lambda p: _compatible(p[0], p[1]))
cases = st.sampled_from([str.lower, str.upper, str.capitalize])
forms = st.sampled_from(["NFC", "NFD"])
# 200 examples a property: each covers the syllable table's combinations between runs
# in well under a second or two, so the file runs in seconds (it took ~30 s at 400)
SETTINGS = settings(max_examples=200, deadline=None)
# sentences of up to 12 syllables cost ~10 x a syllable: fewer of them
SENTENCE_SETTINGS = settings(max_examples=100, deadline=None)


def _letters(text: str) -> list[tuple[str, str, str]]:
    """(base letter, its tone marks, its other marks) for each letter, in order."""
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            base, tone, other = out[-1]
            out[-1] = (base, tone + ch, other) if ch in TONES else (base, tone, other + ch)
        else:
            out.append((ch, "", ""))
    return out


def _is_new_style(onset: str, nucleus: str, coda: str, tone: str) -> bool:
    return bool(tone) and nucleus in TWO_STYLES and not coda and onset != "qu"


@SETTINGS
@given(parts, cases, forms, st.sampled_from(["old", "new"]))
def test_normalize_is_idempotent_and_keeps_every_letter_and_mark(p, case, form, style):
    text = unicodedata.normalize(form, case(syllable(*p, style=style)))
    once = normalize(text)
    assert normalize(once) == once
    before, after = _letters(text), _letters(once)
    assert [b for b, _, _ in before] == [b for b, _, _ in after]  # no base letter changed
    assert [o for _, _, o in before] == [o for _, _, o in after]  # breve, hat, horn stay put
    assert sorted("".join(t for _, t, _ in before)) == sorted("".join(t for _, t, _ in after))


@SETTINGS
@given(parts, cases, forms, st.sampled_from(["old", "new"]))
def test_normalize_moves_a_tone_only_in_a_new_style_open_syllable(p, case, form, style):
    """The matching form is the old style: an old-style syllable, and every syllable
    whose placement is not a matter of style, is left exactly as typed (in NFC). This
    is what "hoặc" → "họăc" broke."""
    text = case(syllable(*p, style=style))
    expected = case(syllable(*p, style="old"))
    assert normalize(unicodedata.normalize(form, text)) == expected
    if style == "old" or not _is_new_style(*p):
        assert normalize(text) == text


@SETTINGS
@given(parts, cases, forms, forms)
def test_both_placements_match_and_fold_agrees(p, case, form_a, form_b):
    old = unicodedata.normalize(form_a, case(syllable(*p, style="old")))
    new = unicodedata.normalize(form_b, case(syllable(*p, style="new")))
    assert normalize(old) == normalize(new)
    assert fold(old) == fold(new) == fold(normalize(old)) == fold(published(new))
    assert fold(old) == fold(old).lower() and not any(unicodedata.combining(c) for c in fold(old))


@SENTENCE_SETTINGS
@given(st.lists(st.tuples(parts, cases, st.sampled_from(["old", "new"])), min_size=1,
                max_size=12), forms)
def test_published_is_the_text_in_nfc_and_round_trips(words, form):
    """What is stored is the input in NFC: each style kept as typed, nothing folded,
    NFD and NFC input stored alike, and the matching form computed from the stored
    text equals the one computed from the input."""
    nfc = " ".join(case(syllable(*p, style=style)) for p, case, style in words)
    text = unicodedata.normalize(form, nfc)
    stored = published(text)
    assert stored == nfc
    assert published(stored) == stored
    assert unicodedata.normalize("NFD", stored) == unicodedata.normalize("NFD", text)
    assert normalize(stored) == normalize(text)


def test_every_nucleus_coda_and_tone_exhaustively():
    """The grammar's whole core, not a sample: each nucleus with each coda and tone,
    both styles, NFC and NFD, lower and upper case (hypothesis above draws onsets and
    cases around it; a sample of 400 can miss one nucleus-tone pair, as "oặ" was)."""
    for onset in ("", "h", "qu", "ngh"):
        for nucleus in NUCLEI:
            if not _compatible(onset, nucleus):
                continue
            for coda in CODAS:
                for tone in TONES:
                    old = syllable(onset, nucleus, coda, tone, "old")
                    for style in ("old", "new"):
                        typed = syllable(onset, nucleus, coda, tone, style)
                        for case in (str.lower, str.upper):
                            for form in ("NFC", "NFD"):
                                text = unicodedata.normalize(form, case(typed))
                                assert normalize(text) == case(old), (typed, form)
                                assert published(text) == case(typed)
                                assert fold(text) == fold(case(old))


# letters, marks, spaces, dashes, line breaks and invisible characters in any order
_MIXED = st.text(st.sampled_from(list(
    "oOuUyYaAeEqQhngcđĐ .,-–—\t\n\r\u00a0\u2028\x0b\x0c\x07\u200b\u200c\u200d\u202e"
    "\u2066\ufeff\u00ad\u0300\u0301\u0303\u0309\u0323\u0306\u0302\u031bỦủòÒặẶ")),
    max_size=40)


@SETTINGS
@given(_MIXED)
def test_both_forms_are_idempotent_and_storing_loses_nothing_matching_needs(text):
    stored = published(text)
    assert published(stored) == stored and normalize(normalize(text)) == normalize(text)
    assert normalize(stored) == normalize(text)
    assert unicodedata.is_normalized("NFC", stored)
    assert not any(ch in stored for ch in "\r\x07\x0b\u200b\u202e\u2066\ufeff")


_INVISIBLE_STORED = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_INVISIBLE_TITLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _published_as_documented(text: str) -> str:
    """core.text's module doc, step by step: line endings unified, invisible and control
    characters dropped, NFC, each line trimmed with its runs of spaces and tabs made one
    space, blank lines dropped."""
    text = re.sub("\r\n|[\r\u2028\u2029\u0085\u000b\u000c]", "\n", text)
    text = unicodedata.normalize("NFC", _INVISIBLE_STORED.sub("", text))
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


_SPACED = st.text(st.sampled_from(list(
    "aAoờỦủ đ.-\t\n\r\u00a0\u2028\u2029\u0085\x0b\x0c\x1c\x1f\x07\u200b\u200c\u200d"
    "\u202e\ufeff\u00ad\u0300\u0323")), max_size=60)


@SETTINGS
@given(st.one_of(_MIXED, _SPACED))
def test_published_forms_are_what_the_module_documents(text):
    # the shortcuts for text with no line break, invisible character or decomposed
    # letter must not change a single character of what the full rewrite gives
    stored = _published_as_documented(text)
    assert published(text) == stored
    title = " ".join(_INVISIBLE_TITLE.sub("", stored).split())
    assert published_title(text) == title[:TITLE_MAX]


@pytest.mark.parametrize("word", ["hoặc", "ngoặc", "ngoặt", "HOẶC", "Hoặc", "loằng", "xoắn",
                                  "hoắt", "khoèo", "thuở", "người", "khuya", "quý", "huệ"])
def test_words_that_have_no_other_spelling_are_left_alone(word):
    assert normalize(word) == word
    assert normalize(unicodedata.normalize("NFD", word)) == word
    assert published(unicodedata.normalize("NFD", word)) == word


def test_the_published_form_keeps_both_styles_and_the_matching_form_unifies_them():
    text = "Uỷ ban hoá đơn thuỷ lợi, hoặc Ủy ban hóa đơn thủy lợi"
    assert published(text) == text
    assert normalize(text) == "Ủy ban hóa đơn thủy lợi, hoặc Ủy ban hóa đơn thủy lợi"


# --- regression: every distinct syllable of the seeds ----------------------------------

_WORD = re.compile(r"[^\W\d_]+")


def _seed_syllables() -> list[str]:
    seeds = require_shared(shared_root() / "seeds", "the seed documents")
    files = sorted(seeds.glob("*.txt"))
    assert files, f"no seed documents (*.txt) in {seeds}"
    words = set()
    for path in files:
        words.update(_WORD.findall(path.read_text(encoding="utf-8")))
    return sorted(words)


def test_every_syllable_of_the_seeds():
    """Each syllable the seeds hold, in NFC and NFD, lower and upper case: normalised
    idempotently, no letter or mark lost, old style left as typed, stored as NFC."""
    syllables = _seed_syllables()
    assert len(syllables) > 500
    moved = []
    for word in syllables:
        for variant in {word, word.lower(), word.upper()}:
            nfc = unicodedata.normalize("NFC", variant)
            for text in (nfc, unicodedata.normalize("NFD", variant)):
                once = normalize(text)
                assert normalize(once) == once, word
                assert [b for b, _, _ in _letters(once)] == [b for b, _, _ in _letters(text)], word
                assert [o for _, _, o in _letters(once)] == [o for _, _, o in _letters(text)], word
                assert published(text) == nfc, word
                assert fold(once) == fold(text), word
            if normalize(nfc) != nfc:
                moved.append(nfc)
    # only new-style open oa/oe/uy syllables get their tone moved
    new_style = re.compile(r"(?i)(?<!q)(o[aàáảãạeèéẻẽẹ]|u[yỳýỷỹỵ])$")
    assert all(new_style.search(w) for w in moved), moved
