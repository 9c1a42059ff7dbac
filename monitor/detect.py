"""Detection: an article's text in, the sessions of watched bodies it mentions out.

Pure (no I/O): ``detect(text, published, watch)`` → ``list[Mention]``. The rules follow
DESIGN.md, "What new session means":

1. **Session phrases**: "phiên họp thứ 8", "Phiên họp lần thứ tám", "họp phiên lần thứ
   2", "Phiên họp thứ VIII" (Roman numerals: upper case, a whole word, after "thứ"),
   "phiên họp thứ nhất năm 2026" (number 1, period 2026), and unnumbered ones that
   name the meeting: "phiên họp (trực tuyến) tổng kết hoạt động năm 2023", or a bare
   "phiên họp" of a watched body with the day it was held. A weekday name is not a
   number: "phiên họp thứ Năm, 28/12/2023" is a Thursday's meeting when 28/12/2023 is
   a Thursday (and the fifth session otherwise).
2. **Which body**: each watched name and alias is read through a small grammar of
   the press's variants (:func:`name_pattern`: "của", "phát triển", "về" may be left
   out, listed items joined by a comma, a space or "và"; case, tone placement, a line
   break and the abbreviations "CĐS", "KHCN", "ĐMST" are handled by the matching form),
   so "Trưởng Ban Chỉ đạo Chính phủ về … khoa học công nghệ, …" is the Government's
   committee; a user's ``[[watch]]`` gets the same. A short name ("(Ban Chỉ đạo)", "Ủy
   ban") refers to the committee named last.
3. **Whose session**: the body named in the phrase's own noun phrase ("… thứ sáu của
   Ban Chỉ đạo | vào sáng 5-3, với 63 tỉnh …": the phrase stops at a verb, a date, a
   preposition such as "với", or a comma that closes the name), else the nearest body
   before it in the same clause. Other bodies — the Party's central steering committee,
   the IUU committee, a provincial committee (the place word inside its own noun phrase:
   "Ban Chỉ đạo chuyển đổi số tỉnh Hà Giang"), the National Assembly, the Government's
   own meetings — are recognised as such, so their sessions never count.
4. **Conferences** ("hội nghị"): the body's own ("Hội nghị tổng kết … của Ủy ban …") is
   an unnumbered session like a bare "phiên họp"; one the body holds or organises, or
   that its chair chairs as chair ("…, Chủ tịch Ủy ban …, chủ trì Hội nghị trực tuyến
   toàn quốc …"), is a ``meeting`` mention: it joins the known session of its day and
   never creates one (monitor/sessions.py). Another host's conference (the Government's,
   a province's) is nothing.
5. **Role**: ``preview`` when the sentence announces it ("sẽ", "dự kiến", "ngày mai"),
   ``reference`` when it looks back ("từ sau", "theo kết luận", "thông báo kết luận",
   "so với"), ``report`` when the article tells the meeting: the phrase is in the
   headline or lead, or its sentence gives the day or a meeting verb. The chair's
   conclusion ("khi kết luận Phiên họp thứ 7 … sáng 20/8") is the meeting when told
   within two days of it, a reference later. A report only the headline makes, over a
   body that announces the meeting ("sẽ chủ trì", "dự kiến", "theo chương trình công
   tác"), is a preview.
6. **Date**: "Sáng 24/4", "Chiều ngày 28/12", "Sáng 27.4", "Chiều qua (10/7)", "sáng
   nay", "hôm qua", with the year from the publication date, across the new year.

Rules match each sentence's normalised form (core.text.normalize: NFC, one tone
placement, "Uỷ"/"Ủy"); the evidence returned is the publisher's own sentence in NFC
("Uỷ ban", "hoà", "hoặc" as printed). Related-article lists never reach this function:
extraction keeps them apart (``Extracted.related``), and :func:`detect_html` uses the
main text only.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from core.config import DEFAULT_WATCH
from core.models import VN_TZ, Mention, Watch
from core.text import normalize

__all__ = ["detect", "detect_html", "main_text", "parse_number", "name_pattern"]

_NUMBERS = {"nhất": 1, "một": 1, "hai": 2, "ba": 3, "tư": 4, "bốn": 4, "năm": 5,
            "sáu": 6, "bảy": 7, "bẩy": 7, "tám": 8, "chín": 9, "mười": 10, "mười một": 11,
            "mười hai": 12, "mười ba": 13, "mười bốn": 14, "mười lăm": 15}
_NUM_WORDS = "|".join(sorted(_NUMBERS, key=len, reverse=True))
# Roman numerals (I to XXXIX), upper case only and a whole word: "thứ VIII", "lần thứ IX".
# The pattern is matched case-insensitively, so case sensitivity is switched back on here.
_ROMAN = r"(?-i:(?=[IVX])X{0,3}(?:IX|IV|V?I{0,3}))"
_ROMAN_WORD = re.compile(rf"{_ROMAN}")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
_NUMBER = rf"thứ\s+(?P<num>\d{{1,2}}|{_NUM_WORDS}|{_ROMAN})(?!\w)"
# weekday names that are also ordinals: "thứ Năm, 28/12/2023" is a Thursday, not session 5
_WEEKDAYS = {"hai": 0, "ba": 1, "tư": 2, "năm": 3, "sáu": 4, "bảy": 5, "bẩy": 5}
_WEEKDAY_DATE = re.compile(r"\s*(?:,|\(|-|–)?\s*(?:ngày\s+)?(?P<d>\d{1,2})\s*[/.]\s*(?P<m>\d{1,2})"
                           r"(?:\s*[/.]\s*(?P<y>20\d\d))?(?!\d)")
_YEAR = r"(?:\s+(?:năm|của\s+năm)\s+(?P<year>20\d\d))?"

_SESSION = re.compile(
    r"(?:phiên\s+họp|họp\s+phiên|phiên)"
    r"(?:\s+(?:trực\s+tuyến|toàn\s+thể|chuyên\s+đề|định\s+kỳ|mở\s+rộng))?"
    rf"\s+(?:lần\s+)?{_NUMBER}{_YEAR}"
    r"|(?P<review>(?:phiên\s+họp|họp\s+phiên|họp)(?:\s+(?:trực\s+tuyến|trực\s+tiếp))?"
    r"\s+tổng\s+kết(?:\s+(?:hoạt\s+động|công\s+tác))?(?:\s+năm\s+(?P<ryear>20\d\d))?)"
    r"|(?P<bare>phiên\s+họp)(?!\s+(?:chính\s+phủ|thường\s+kỳ|của\s+chính\s+phủ))"
    r"|(?P<conf>hội\s+nghị)",
    re.IGNORECASE)

# bodies whose sessions are never the watched ones
_OTHER_BODIES = re.compile(
    r"ban\s+chỉ\s+đạo\s+trung\s+ương|ban\s+chỉ\s+đạo\s+quốc\s+gia|"
    r"ban\s+chỉ\s+đạo\s+(?:cải\s+cách|phòng|389|iuu|thi\s+đua|công\s+tác|chương\s+trình)|"
    r"ban\s+chỉ\s+đạo\s+(?:nhà\s+nước\s+)?(?:các\s+)?(?:công\s+trình|dự\s+án)|"
    r"quốc\s+hội|hội\s+đồng\s+nhân\s+dân|hđnd|tỉnh\s+ủy|thành\s+ủy|huyện\s+ủy|bộ\s+chính\s+trị|"
    r"ban\s+bí\s+thư|ban\s+thường\s+vụ|ủy\s+ban\s+thường\s+vụ|ủy\s+ban\s+nhân\s+dân|ubnd|"
    r"ủy\s+ban\s+(?:kiểm\s+tra|mặt\s+trận|an\s+toàn|dân\s+tộc|chứng\s+khoán|quản\s+lý)|"
    r"chính\s+phủ\s+(?:họp|thường\s+kỳ)|phiên\s+họp\s+chính\s+phủ|hội\s+đồng\s+(?!quốc\s+gia\s+về\s+chuyển)",
    re.IGNORECASE)
_BARE_COMMITTEE = re.compile(r"(?:ủy\s+ban|ban\s+chỉ\s+đạo)(?![\w\s]{0,3}(?:nhân|quốc|trung|"
                             r"chuyển|thường|cải|của|về|tỉnh|thành|kiểm|mặt|an\s+toàn))",
                             re.IGNORECASE)

_PREVIEW = re.compile(
    r"\b(?:sẽ|dự\s+kiến|chuẩn\s+bị|sắp|ngày\s+mai|sáng\s+mai|chiều\s+mai|tuần\s+tới|tháng\s+tới|"
    r"tới\s+đây|kế\s+hoạch\s+tổ\s+chức|lịch\s+công\s+tác|chương\s+trình\s+công\s+tác|"
    r"được\s+tổ\s+chức\s+vào|trước\s+thềm)\b", re.IGNORECASE)
_PREVIEW_AFTER = re.compile(r"^[^.;]{0,120}?\b(?:dự\s+kiến|sẽ\s+(?:diễn\s+ra|được\s+tổ\s+chức|"
                            r"họp|khai\s+mạc))\b", re.IGNORECASE)
_REFERENCE = re.compile(
    r"\b(?:từ\s+sau|sau\s+phiên|kể\s+từ|thông\s+báo\s+kết\s+luận|theo\s+kết\s+luận|"
    r"truyền\s+đạt|các\s+kết\s+luận|theo\s+chỉ\s+đạo|thực\s+hiện|triển\s+khai|"
    r"so\s+với|trước\s+đó|đã\s+đề\s+ra|đã\s+giao|như\s+đã|hồi\s+tháng|tiếp\s+theo|"
    r"cuối\s+cùng|kế\s+thừa|trước\s+đây|tháng\s+trước|năm\s+ngoái)\b", re.IGNORECASE)
_REFERENCE_AFTER = re.compile(r"^[^.;]{0,60}?\b(?:trước\s+đó|trước\s+đây|hồi\s+tháng|"
                              r"năm\s+ngoái|đã\s+giao|đã\s+đề\s+ra|đã\s+thống\s+nhất)\b", re.IGNORECASE)
_MET = re.compile(r"\b(?:chủ\s+trì|tổ\s+chức|diễn\s+ra|họp|dự|tham\s+dự|phát\s+biểu|khai\s+mạc|"
                  r"kết\s+nối|trình\s+bày|báo\s+cáo|thảo\s+luận|đánh\s+giá)\b", re.IGNORECASE)

_DAY = re.compile(
    r"(?P<when>(?:sáng|chiều|tối|trưa|đêm)(?:\s+(?:nay|qua|hôm\s+qua|hôm\s+nay))?(?:\s+ngày)?|"
    r"(?:hôm\s+qua|hôm\s+nay|ngày|vào\s+ngày|vào)|\()\s*\(?\s*"
    r"(?P<d>\d{1,2})\s*[/.-]\s*(?P<m>\d{1,2})(?:\s*[/.-]\s*(?P<y>20\d\d))?(?![\d.,]*\d{3})",
    re.IGNORECASE)
_RELATIVE = re.compile(r"\b(?P<rel>(?:sáng|chiều|tối|trưa)\s+(?:nay|qua|mai)|hôm\s+nay|hôm\s+qua|"
                       r"ngày\s+mai)\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[;:]")
_CONCLUSION = re.compile(r"\bkết\s+luận\b", re.IGNORECASE)
_LAST_YEAR = re.compile(r"^[^.;]{0,200}?\bnăm\s+(?:ngoái|trước)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[\"“(]?[A-ZĐÀ-Ỹ0-9])")
# a line that does not end its sentence: a comma, a dash or a linking word at its end
_CONTINUED = re.compile(r"(?:[,–-]|\b(?:của|về|và|với|tại))$", re.IGNORECASE)
# Abbreviations the press uses inside names, read as the words (upper case only:
# "CĐS", "KHCN", "KH&CN", "ĐMST", "BCĐ", "UBQG"); the name grammar then applies to them.
_ABBREVIATIONS = {"CĐS": "chuyển đổi số", "KHCN": "khoa học, công nghệ",
                  "KH&CN": "khoa học và công nghệ", "ĐMST": "đổi mới sáng tạo",
                  "BCĐ": "Ban Chỉ đạo", "UBQG": "Ủy ban Quốc gia"}
_CDS = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, _ABBREVIATIONS)) + r")(?!\w)")


@dataclass
class _Body:
    start: int
    end: int
    watch: Watch | None  # None: another body
    bare: bool = False
    committee: bool = True  # an "Ủy ban" / "Ban Chỉ đạo" a later bare name can refer to


def parse_number(word: str) -> int | None:
    """A session number written as digits, in words ("tám", "mười hai") or in Roman numerals.

    Roman numerals count only in upper case ("VIII" → 8; "viii" and "I'm" are not numbers).
    """
    word = " ".join(word.split())
    if _ROMAN_WORD.fullmatch(word):
        return _roman(word)
    word = word.lower()
    if word.isdigit():
        return int(word)
    return _NUMBERS.get(word)


def _roman(word: str) -> int:
    total = 0
    for i, ch in enumerate(word):
        value = _ROMAN_VALUES[ch]
        if i + 1 < len(word) and _ROMAN_VALUES[word[i + 1]] > value:
            total -= value
        else:
            total += value
    return total


def main_text(html: bytes | str, url: str = "") -> tuple[str, datetime | None]:
    """Headline and main text of an article page (related lists removed), and its date."""
    from crawler.extract import extract_article

    article = extract_article(html, url or "http://localhost/")
    if article is None:
        return "", None
    return f"{article.title}\n{article.text}", article.published_at


def detect_html(html: bytes | str, *, url: str = "", published: datetime | None = None,
                watch: tuple[Watch, ...] = DEFAULT_WATCH) -> list[Mention]:
    text, found = main_text(html, url)
    return detect(text, published or found, watch)


def detect(text: str, published: datetime | None = None,
           watch: tuple[Watch, ...] = DEFAULT_WATCH) -> list[Mention]:
    """The mentions of watched bodies' sessions in ``text`` (headline first, then body).

    Rules match the normalised form of each sentence; the evidence quoted is the
    publisher's own sentence (NFC only: its tone placement, "Uỷ", "hoặc" kept).
    """
    pairs = _sentences(text, watch)
    if not pairs:
        return []
    pub = published.astimezone(VN_TZ).date() if published else None
    sentences = [m for _, m in pairs]
    main_body = _main_body("\n".join(sentences), watch)
    found: dict[tuple, Mention] = {}
    where: dict[tuple, int] = {}
    announced: dict[tuple, Mention] = {}  # sessions a body sentence announces
    lead_date = _first_date(sentences[:4], pub)
    named: Watch | None | bool = main_body  # the committee a bare "Ủy ban" refers to
    for index, (original, sentence) in enumerate(pairs):
        low = sentence.lower()
        bodies = _bodies(sentence, low, watch, named)
        full = [b for b in bodies if not b.bare and b.committee]
        if full:
            named = full[-1].watch
        if not any(b.watch for b in bodies):
            continue
        # matched on the sentence itself: case matters for Roman numerals ("thứ VIII")
        for m in _SESSION.finditer(sentence if len(sentence) == len(low) else low):
            if m.group("conf"):
                body, host = _conference_owner(m, bodies, sentence, low)
            else:
                body, host = _owner(m, bodies, sentence, low), False
            if body is None or body.watch is None:
                continue
            mention = _mention(m, sentence, low, body, index, pub, lead_date, original, host)
            if mention is None:
                continue
            key = (mention.body, mention.number, mention.period,
                   mention.date if mention.number is None else None)
            if mention.role == "preview" and index > 0:
                announced.setdefault(key, mention)
            old = found.get(key)
            # evidence: a sentence rather than the headline, one that gives the day
            better = old is None or _RANK[mention.role] > _RANK[old.role] or (
                mention.role == old.role and (where[key] == 0 or (
                    old.date is None and mention.date is not None)))
            if better:
                found[key] = mention
                where[key] = index
    _headline_previews(found, where, announced, sentences, pub)
    return _merge_unnumbered(list(found.values()))


def _expand(m: re.Match) -> str:
    return _ABBREVIATIONS[m.group(0)]


def _sentences(text: str, watch: tuple[Watch, ...] = ()) -> list[tuple[str, str]]:
    """The sentences of ``text``: (the publisher's sentence in NFC, its matching form).

    A line break does not end a sentence inside a watched name ("… Ban Chỉ đạo⏎Chính
    phủ về …"), after a comma or a linking word ("… công nghệ,⏎đổi mới …"), or before a
    line that starts in lower case.
    """
    if not text:
        return []
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines: list[str] = []
    for line in (x.strip() for x in text.split("\n")):
        if not line:
            continue
        if lines and (_CONTINUED.search(lines[-1]) or line[0].islower()
                      or _name_across(lines[-1], line, watch)):
            lines[-1] += " " + line
        else:
            lines.append(line)
    out = []
    for line in lines:
        for original in _SENTENCE.split(line):
            original = original.strip()
            matching = _matching(original)
            if matching:
                out.append((original, matching))
    return out


def _matching(text: str) -> str:
    """The form rules match: normalised (tone placement, "Uỷ", spaces), abbreviations read."""
    return _CDS.sub(_expand, normalize(text))


def _name_across(line: str, following: str, watch: tuple[Watch, ...]) -> bool:
    """Whether a watched (or excluded) name runs from the end of ``line`` into ``following``."""
    if line.endswith((".", "!", "?", "…", ":")) or not watch:
        return False  # the line ends its sentence (most do): no name runs on
    head, tail = _matching(line).lower(), _matching(following).lower()
    joined = f"{head} {tail}"
    for w in watch:
        for pattern in _names(w):
            if pattern is not None and any(m.start() < len(head) < m.end()
                                           for m in pattern.finditer(joined)):
                return True
    return False


# "meeting": the body's meeting told without "phiên họp" (joins a known session only)
_RANK = {"preview": 0, "reference": 1, "meeting": 1.5, "report": 2}


# The small grammar of how the press varies a body's official name: these words may be
# left out ("Ban Chỉ đạo Chính phủ về khoa học …" for "Ban Chỉ đạo của Chính phủ về
# phát triển khoa học …"), and the items of a listed name may be joined by a comma, a
# space or "và" ("khoa học công nghệ", "khoa học, công nghệ", "khoa học và công nghệ").
_OPTIONAL_WORDS = (("của",), ("phát", "triển"), ("về",))
_JOINS = {
    "space": r"\s+",
    "list": r"(?:\s*,\s*|\s+và\s+|\s+)",  # after a comma of the official name
    "and": r"(?:\s*,?\s+và\s+|\s*,\s*)",  # for its "và"
    "tight": r"\s*",  # around other punctuation
}
_NAME_TOKEN = re.compile(r"\w+|[^\w\s]")


def name_pattern(name: str) -> str:
    """A regular expression for ``name`` and its press variants (see ``_OPTIONAL_WORDS``).

    Case, tone placement, "CĐS" for "chuyển đổi số" and line breaks are taken care of by
    the matching form of the text; this adds the words the press leaves out or joins
    differently. Every other word of the name must be there, in order.
    """
    tokens = _NAME_TOKEN.findall(_matching(name).lower())
    words: list[tuple[str, list[str], str]] = []  # (join before, optional words, word)
    join, optional, i = "space", [], 0
    while i < len(tokens):
        token = tokens[i]
        if token == "," and words:
            join, i = "list", i + 1
            continue
        if token == "và" and words and i + 1 < len(tokens):
            join, i = "and", i + 1
            continue
        skip = next((o for o in _OPTIONAL_WORDS if tuple(tokens[i:i + len(o)]) == o), None)
        if skip and words and i + len(skip) < len(tokens):
            optional.append(r"\s+".join(skip))
            i += len(skip)
            continue
        punct = not token[0].isalnum()
        words.append(("tight" if punct else join, optional, re.escape(token)))
        join, optional, i = ("tight" if punct else "space"), [], i + 1
    if not words:
        return r"(?!)"
    out = words[0][2]
    for join, optional, word in words[1:]:
        out += _JOINS[join] + "".join(rf"(?:{o}\s+)?" for o in optional) + word
    # whole words: "\b" only next to a letter or digit (a name may end in punctuation)
    start = r"\b" if words[0][2][:1].isalnum() else ""
    end = r"\b" if words[-1][2][-1:].isalnum() else ""
    return f"{start}{out}{end}"


@lru_cache(maxsize=64)
def _names(w: Watch) -> tuple[re.Pattern, re.Pattern | None]:
    """One pattern for the body's names, one for the names it must not be confused with.

    Both are built by :func:`name_pattern` from the configured name and aliases (a
    user's ``[[watch]]`` gets the same tolerance as the defaults).
    """
    parts = dict.fromkeys(name_pattern(a) for a in (w.name, *w.aliases))
    excludes = "|".join(dict.fromkeys(name_pattern(e) for e in w.exclude))
    return re.compile("|".join(parts)), re.compile(excludes) if excludes else None


def _main_body(text: str, watch: tuple[Watch, ...]) -> Watch | None:
    """The watched body the article names in full first (what "của Ủy ban" refers to)."""
    low = text.lower()
    best = None
    for w in watch:
        names, excludes = _names(w)
        for m in names.finditer(low):
            inside = excludes and any(e.start() <= m.start() < e.end()
                                      for e in excludes.finditer(low))
            if not inside:
                if best is None or m.start() < best[0]:
                    best = (m.start(), w)
                break
    return best[1] if best else None


def _bodies(sentence: str, low: str, watch: tuple[Watch, ...], main_body) -> list[_Body]:
    spans: list[_Body] = []
    for w in watch:
        names, excludes = _names(w)
        spans += [_Body(m.start(), m.end(), w) for m in names.finditer(low)]
        if excludes:
            spans += [_Body(m.start(), m.end(), None) for m in excludes.finditer(low)]
    others = [(m.start(), m.end()) for m in _OTHER_BODIES.finditer(low)]
    others += _local_committees(sentence, low)
    for start, end in sorted(others):
        if not any(s.start <= start < s.end for s in spans if s.watch):
            text = low[start:end]
            spans.append(_Body(start, end, None,
                               committee=text.startswith(("ban chỉ đạo", "ủy ban"))))
    spans.sort(key=lambda s: s.start)
    for m in _BARE_COMMITTEE.finditer(low):
        if any(s.start <= m.start() < s.end for s in spans):
            continue
        # the committee named last before it, in this sentence or earlier ones
        earlier = [s for s in spans if s.end <= m.start() and s.committee and not s.bare]
        target = earlier[-1].watch if earlier else main_body
        if target is None:
            spans.append(_Body(m.start(), m.end(), None, bare=True, committee=False))
            continue
        fits = ("ủy ban" in m.group(0).lower()) == any("ủy ban" in a.lower()
                                                        for a in target.aliases)
        if fits:
            spans.append(_Body(m.start(), m.end(), target, bare=True, committee=False))
    spans.sort(key=lambda s: s.start)
    # a watched name inside an excluded one (the Party's committee) is not the watched body
    return [s for s in spans if s.watch is None or
            not any(o.watch is None and o.start <= s.start and s.end <= o.end + 2 for o in spans)]


# Where a noun phrase ends ("Ban Chỉ đạo chuyển đổi số tỉnh Hà Giang | họp …", "phiên họp
# thứ sáu của Ban Chỉ đạo | vào sáng 5-3, với 63 tỉnh …"): at a verb, a preposition that
# opens an adjunct, a time word or a date, or punctuation other than a comma that lists
# the name's items.
_STOP_WORDS = frozenset(
    "với vào tại do đã sẽ vừa đang là được bị cho trong từ khi nhằm để theo sau trước "
    "họp dự bàn giao hôm lúc nhưng thì mà".split())
# time words stop a phrase only as times ("sáng 5/3", "chiều nay", "ngày 20/8"), not inside
# a name ("đổi mới sáng tạo", "Ngày Chuyển đổi số quốc gia")
_TIME_WORDS = frozenset("sáng chiều tối trưa đêm ngày".split())
_TIME_NEXT = re.compile(r"\d|(?:nay|qua|mai|hôm|ngày|thứ|cùng)$", re.IGNORECASE)
# (not "tổng kết", "đánh giá", "triển khai", "thực hiện", "báo cáo": they name events too,
# as in "Hội nghị tổng kết năm 2024 và triển khai nhiệm vụ năm 2025 của Ủy ban")
_STOP_PAIRS = frozenset((
    "chủ trì", "tổ chức", "diễn ra", "tham dự", "khai mạc", "kết nối", "kết luận", "phát biểu",
    "nhấn mạnh", "yêu cầu", "thảo luận", "ban hành", "làm việc", "trình bày", "thông qua",
    "đề nghị", "chỉ đạo", "quyết định"))
_PHRASE_TOKEN = re.compile(r"\d+(?:[/.-]\d+)*|\w+|\S")
# the longest name a phrase carries: the watched committee's official name is 18 words
_PHRASE_WORDS = 30
_LOCALITY = re.compile(r"\b(?:tỉnh|thành\s+phố|huyện|xã|quận|thị\s+xã|phường)\b")


def _stops(tokens: list[str], i: int) -> bool:
    word = tokens[i].lower()
    following = tokens[i + 1] if i + 1 < len(tokens) else ""
    if word in _TIME_WORDS:
        return bool(_TIME_NEXT.match(following))
    pair = f"{word} {following.lower()}"
    return (word in _STOP_WORDS or pair in _STOP_PAIRS or not tokens[i][0].isalnum()
            or bool(re.fullmatch(r"\d+[/.-]\d+(?:[/.-]\d+)*", word)))


def _phrase_end(sentence: str, start: int) -> int:
    """Where the noun phrase that continues at ``start`` ends (an index into ``sentence``).

    A comma continues the phrase only when a listed item follows it (a lower-case word
    that does not stop the phrase, or "Đề án").
    """
    found = list(_PHRASE_TOKEN.finditer(sentence, start))
    tokens = [m.group(0) for m in found]
    end, i, words = start, 0, 0
    while i < len(tokens) and words < _PHRASE_WORDS:
        if tokens[i] == ",":
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            listed = following[:1].islower() and not _stops(tokens, i + 1)
            if listed or following == "Đề":
                i += 1
                continue
            break
        if _stops(tokens, i):
            break
        end, i, words = found[i].end(), i + 1, words + 1
    return end


def _local_committees(sentence: str, low: str) -> list[tuple[int, int]]:
    """Steering committees of a province, city or district: "Ban Chỉ đạo chuyển đổi số
    tỉnh Hà Giang", "Ban Chỉ đạo cải cách hành chính, chuyển đổi số, Đề án 06 thành phố".

    The place word must be inside the committee's own noun phrase: in "… của Ban Chỉ đạo
    vào sáng 5-3, với 63 tỉnh, thành dự trực tuyến" the provinces are not its name.
    """
    out = []
    for m in re.finditer(r"ban\s+chỉ\s+đạo", low):
        end = _phrase_end(sentence, m.end())
        if _LOCALITY.search(low, m.end(), end):
            out.append((m.start(), end))
    return out


def _owner(m: re.Match, bodies: list[_Body], sentence: str, low: str) -> _Body | None:
    """The body whose session the phrase is: one named in the phrase's own noun phrase
    ("… thứ sáu của Ban Chỉ đạo", "… thứ 8 Ủy ban Quốc gia …"), else the nearest before.
    """
    end = m.end()
    phrase_end = _phrase_end(sentence, end)
    after = [b for b in bodies if end <= b.start < phrase_end]
    if after:
        return None if _foreign_first(low, end, after[0].start, bodies) else after[0]
    if _foreign_first(low, end, phrase_end, bodies):
        return None  # "phiên họp thứ 5 của Bộ …": another organisation's
    # else the nearest body before it in the same clause ("Ủy ban … tổ chức phiên họp thứ
    # 2"), or failing that the first after it in the same clause ("Tại phiên họp thứ 10,
    # Thủ tướng, Chủ tịch Ủy ban …, nhấn mạnh")
    before = [b for b in bodies if b.end <= m.start()
              and not _CLAUSE_BREAK.search(low, b.end, m.start())]
    if before:
        return before[-1]
    later = [b for b in bodies if b.start >= end and not _CLAUSE_BREAK.search(low, end, b.start)]
    return later[0] if later else None


# the owner of a conference that is not a watched body: "Hội nghị Thường trực Chính phủ
# với …", "Hội nghị Trung ương 11", a province's conference
_OTHER_HOSTS = re.compile(r"\b(?:chính\s+phủ|trung\s+ương|quốc\s+hội|tỉnh|thành\s+phố|bộ|ngành|"
                          r"đảng|ban\s+chấp\s+hành)\b")
_HOLDS = r"(?:đã\s+)?(?:tổ\s+chức|chủ\s+trì)"
# the body and its co-organisers hold it: "… do Ủy ban … và Bộ … phối hợp tổ chức", "Ủy ban
# … phối hợp với Bộ … tổ chức Hội nghị" (the partners end at punctuation)
_HOLDS_WITH = (r"(?:\s+(?:và|cùng(?:\s+với)?|phối\s+hợp\s+với)\s+[^,.;:()]+?)?"
               rf"\s*(?:phối\s+hợp\s+|cùng\s+)?{_HOLDS}")
_BY = re.compile(r"\s*do\s+")  # "Hội nghị … do Ủy ban … tổ chức"
_CHAIR_TITLE = re.compile(r"(?:chủ\s+tịch|trưởng\s+ban|trưởng)\s*$")


def _foreign_first(low: str, start: int, end: int, bodies: list[_Body]) -> bool:
    """Whether another organisation is named between ``start`` and ``end`` outside every
    body's name ("phiên họp của Bộ Thông tin và Truyền thông, cơ quan thường trực của Ủy
    ban …")."""
    return any(not any(b.start <= o.start() < b.end for b in bodies)
               for o in _OTHER_HOSTS.finditer(low, start, end))


def _conference_owner(m: re.Match, bodies: list[_Body], sentence: str,
                      low: str) -> tuple[_Body | None, bool]:
    """Whose meeting a "hội nghị" is, and whether the body only hosts it.

    ``(body, False)``: the conference is the body's own ("Hội nghị tổng kết … của Ủy ban
    Quốc gia về chuyển đổi số"). ``(body, True)``: the body holds or organises it ("Ủy
    ban … tổ chức Hội nghị", "Hội nghị … do Ủy ban … tổ chức") or its chair chairs it as
    chair ("…, Chủ tịch Ủy ban …, chủ trì Hội nghị"). Otherwise ``(None, False)``.
    """
    phrase_end = _phrase_end(sentence, m.end())
    inside = [b for b in bodies if m.end() <= b.start < phrase_end]
    if inside:
        return (None if _foreign_first(low, m.end(), inside[0].start, bodies)
                else inside[0]), False
    if _OTHER_HOSTS.search(low, m.end(), phrase_end):
        return None, False
    by = _BY.match(low, phrase_end)
    if by:
        host = next((b for b in bodies if b.start == by.end()), None)
        if host and re.match(rf"{_HOLDS_WITH}\b", low[host.end:]):
            return host, True
    before = [b for b in bodies if b.end <= m.start()]
    if before:
        host = before[-1]
        between = low[host.end:m.start()]
        if re.fullmatch(rf"\s*,?{_HOLDS_WITH}\s+", between) and (
                not between.lstrip().startswith(",") or _CHAIR_TITLE.search(low[:host.start])):
            return host, True
    return None, False


def _mention(m: re.Match, sentence: str, low: str, body: _Body, index: int,
             pub: date | None, lead_date: date | None, original: str,
             host: bool = False) -> Mention | None:
    """The mention the phrase ``m`` makes, or None; ``host``: a conference the body only
    holds or whose chair chairs it (role ``meeting``: it joins a known session, never
    creates one)."""
    w = body.watch
    number = period = weekday = None
    bare = bool(m.group("bare") or m.group("conf"))
    if m.group("num"):
        number = parse_number(m.group("num"))
        period = m.group("year")
        weekday = _weekday(m.group("num"), low[m.end():], pub)
        if weekday is not None:  # "phiên họp thứ Năm, 28/12/2023": a day, not a number
            number = period = None
            bare = True
    elif m.group("review"):
        period = None
    prefix, suffix = low[:m.start()], low[m.end():]
    role = "report"
    if _PREVIEW.search(prefix) or _PREVIEW_AFTER.search(suffix) or \
            re.search(r"\b(?:sáng|chiều|tối)\s+mai\b|\bngày\s+mai\b", low):
        role = "preview"
    elif _REFERENCE.search(prefix) or _REFERENCE_AFTER.search(suffix):
        role = "reference"
    day = weekday or _date_in(sentence, pub)
    if role == "report":
        lead = index <= 2
        if not lead and day is None and not re.search(r"\b(?:vừa|hôm nay|sáng nay|chiều nay)\b", low):
            role = "reference"
        elif not _MET.search(low) and not lead:
            role = "reference"
    if role == "report" and _CONCLUSION.search(low):
        # the chair's conclusion is the meeting when told on its day; weeks later, the
        # written conclusion only refers to it
        told = day or lead_date
        if told is None or pub is None or not 0 <= (pub - told).days <= 2:
            role = "reference"
    if bare and (role != "report" or day is None or body.bare and index > 2):
        return None  # an unnumbered session must be told as a meeting with its day
    if role == "report" and day is not None and pub is not None and day > pub:
        role = "preview"  # a schedule: the day has not come yet
    if role == "report" and index > 2 and day and lead_date and abs((day - lead_date).days) > 2:
        role = "reference"  # an earlier meeting recalled in a story about another one
    if role == "report" and day is None and number is not None:
        day = lead_date
    if role == "report" and day is None and m.group("review") and index <= 2:
        day = lead_date
    if w.numbering == "yearly" and number is not None and period is None:
        year = day.year if day else (pub.year if pub else None)
        if day is None and year and _LAST_YEAR.search(suffix):
            year -= 1  # "phiên họp thứ 2 … hồi tháng 5 năm ngoái"
        period = str(year) if year else None
    if period is not None:
        period = str(period)
    if w.active_until and day and day > w.active_until + timedelta(days=31):
        return None
    if host and role == "report":
        role = "meeting"
    evidence = original.strip()
    confidence = 0.8 if body.bare else 1.0
    return Mention(body=w.id, role=role, evidence=evidence, number=number, period=period,
                   date=day, confidence=confidence)


# a sentence that announces the meeting: a future marker with a meeting word
_ANNOUNCES = re.compile(r"\b(?:sẽ|dự\s+kiến|theo\s+chương\s+trình(?:\s+công\s+tác)?|lịch\s+công\s+tác)"
                        r"\b", re.IGNORECASE)
_MEETING_WORD = re.compile(r"\b(?:phiên\s+họp|họp|chủ\s+trì|hội\s+nghị)\b", re.IGNORECASE)
# … about another meeting than the headline's
_ANOTHER = re.compile(r"\b(?:phiên\s+họp|phiên|lần|kỳ\s+họp|hội\s+nghị)\s+(?:tới|tiếp\s+theo|kế\s+tiếp|"
                      r"sau)\b", re.IGNORECASE)


def _headline_previews(found: dict[tuple, Mention], where: dict[tuple, int],
                       announced: dict[tuple, Mention], sentences: list[str],
                       pub: date | None) -> None:
    """The article's body outranks its headline's tense.

    A report that only the headline makes ("Chiều nay, Thủ tướng chủ trì phiên họp thứ
    9 …") over a lead that announces the meeting ("… sẽ chủ trì", "dự kiến", "theo
    chương trình công tác") is a preview, dated by the lead when it gives the day —
    unless a body sentence tells a meeting as held (a meeting word, a day that has come,
    no future marker).
    """
    for key, m in list(found.items()):
        if m.role != "report" or where[key] != 0:
            continue
        if any(_tells_held(s, pub) for s in sentences[1:]):
            continue
        if key in announced:  # the body announces this very session
            found[key] = dataclasses.replace(m, role="preview",
                                             date=announced[key].date or m.date)
            continue
        for sentence in sentences[1:_LEAD_SENTENCES + 1]:
            if not (_ANNOUNCES.search(sentence) and _MEETING_WORD.search(sentence)):
                continue
            if _ANOTHER.search(sentence) or any(
                    p.group("num") and parse_number(p.group("num")) != m.number
                    for p in _SESSION.finditer(sentence)):
                continue  # about another meeting than the headline's
            day = _date_in(sentence, pub)
            if day is not None and pub is not None and day < pub:
                continue  # told as past
            found[key] = dataclasses.replace(m, role="preview", date=day or m.date)
            break


_HELD_WORD = re.compile(r"\b(?:phiên\s+họp|hội\s+nghị|chủ\s+trì)\b", re.IGNORECASE)
# the lead: the sentences after the headline that announce or tell the news
_LEAD_SENTENCES = 3


def _tells_held(sentence: str, pub: date | None) -> bool:
    """A sentence that tells a meeting as held: "Chiều 10/7, Thủ tướng đã chủ trì phiên họp"."""
    if _ANNOUNCES.search(sentence) or not _HELD_WORD.search(sentence):
        return False
    if re.search(r"\b(?:đã|vừa)\b", sentence, re.IGNORECASE):
        return True
    day = _date_in(sentence, pub)
    return day is not None and pub is not None and day <= pub


def _weekday(word: str, after: str, pub: date | None) -> date | None:
    """The day when ``word`` is a weekday name followed by a date that falls on it."""
    wanted = _WEEKDAYS.get(word.lower())
    m = _WEEKDAY_DATE.match(after) if wanted is not None else None
    if m is None:
        return None
    day = _build(int(m["d"]), int(m["m"]), int(m["y"]) if m["y"] else None, pub)
    return day if day is not None and day.weekday() == wanted else None


def _date_in(sentence: str, pub: date | None) -> date | None:
    for m in _DAY.finditer(sentence):
        day = _build(int(m["d"]), int(m["m"]), int(m["y"]) if m["y"] else None, pub)
        if day:
            return day
    if pub:
        rel = _RELATIVE.search(sentence)
        if rel:
            word = rel.group("rel").lower()
            if word.endswith("qua"):
                return pub - timedelta(days=1)
            if word.endswith("mai"):
                return pub + timedelta(days=1)
            return pub
    return None


def _first_date(sentences: list[str], pub: date | None) -> date | None:
    for s in sentences:
        day = _date_in(s, pub)
        if day:
            return day
    return None


def _build(d: int, m: int, y: int | None, pub: date | None) -> date | None:
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return None
    if y is None:
        if pub is None:
            return None
        y = pub.year
        if m - pub.month > 6:
            y -= 1  # published in January about a meeting on 30 December
        elif pub.month - m > 6:
            y += 1  # published in December about January
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _merge_unnumbered(mentions: list[Mention]) -> list[Mention]:
    """An unnumbered mention of a day that a numbered one of the same body has is the same."""
    numbered = {(m.body, m.date) for m in mentions if m.number is not None and m.date}
    out = [m for m in mentions if not (m.number is None and (m.body, m.date) in numbered)]
    return sorted(out, key=lambda m: (-_RANK[m.role], m.body, m.number or 0))
