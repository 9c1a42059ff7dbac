"""Extraction and detection measured on real public material nobody on the project wrote.

Issue 11 §4. Reads a local folder built by ``benchmarks/realworld_collect.py`` (other
people's text: it lives outside the repository and is never committed):

    python benchmarks/realworld.py [FOLDER]        # or DXMON_REALWORLD=FOLDER
    python benchmarks/realworld.py FOLDER --limit 5000    # a quicker sample of each set
    python benchmarks/realworld.py FOLDER --pages-only    # the pages alone (seconds)

Printed:

1. **Pages** (``FOLDER/pages/*_article*.html``, ``*_list*.html``: real pages of
   Vietnamese outlets). For each article page: extraction F1 over 4-token shingles
   (evaluation.extraction's measure) against the site's own article-body container plus its
   lead (the container and lead XPaths per site are in ``SITES`` below: this is the
   gold, read from each site's markup); title equal, NFC, to the page's ``h1`` or its
   ``og:title`` (so a rewritten "Hoá" counts as wrong);
   publication time equal to the time the page displays; the listing-vs-article verdict
   of ``crawler.extract.classify_page`` (``n/a`` while it does not exist); leaked
   furniture lines (lines of the extracted text of 3+ words that are less than half
   inside the gold). For each listing page: the verdict, and whether ``extract_article``
   makes an article of it. These 17 pages are the development set of ``page_kind``'s
   rule (they were read to decide it); its verdicts print as "DEV verdicts".
   **Held-out pages** (``FOLDER/pages-heldout/``, kinds in its ``MANIFEST.json``): real
   pages nobody read while deciding the rule; verdicts print as "HELD-OUT verdicts".
2. **Texts** (``FOLDER/texts.jsonl``, 2017 articles) and **RSS items**
   (``FOLDER/rss.jsonl``, title + summary, 2025–2026): articles scanned, how many
   mention "phiên họp", how many dxmon flags as reports (``monitor.detect.detect``),
   each flagged one printed for review (title, session date, evidence), and ms/article
   p50/p95, and the hand-checked real reports (``KNOWN_REPORTS``) found with body,
   number and date. A text from before 2021 cannot report a session of the watched bodies (the
   Committee was founded in 2021): every flag there is a false report. For review of
   recall, RSS items that name a watched body and a meeting but are not flagged are
   printed too ("unflagged candidates").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models import VN_TZ  # noqa: E402
from core.text import fold  # noqa: E402
from crawler import extract as ex  # noqa: E402
from evaluation.extraction import shingles, tokenize  # noqa: E402
from monitor.detect import detect  # noqa: E402


@dataclass(frozen=True)
class Gold:
    """Where a site keeps its article body and lead, and the time its page displays."""

    body: str  # XPath of the site's own article-body container
    lead: str | None  # XPath of its lead (sapo), kept outside the body by most sites
    shown: str  # publication time the page shows, "YYYY-MM-DD HH:MM" (read by hand)


# One entry per page of FOLDER/pages (keyed by file stem). The times are what each page
# displays next to its headline (all in Vietnam time).
SITES: dict[str, Gold] = {
    "baochinhphu_article": Gold('//div[contains(@class,"detail-content")]',
                                '//h2[contains(@class,"detail-sapo")]', "2026-03-01 09:51"),
    "baodautu_article": Gold('//div[@id="content_detail_news"]',
                             '//div[contains(@class,"sapo_detail")]', "2026-03-07 08:47"),
    "cafef_article": Gold('//div[contains(@class,"detail-content")]',
                          '//h2[contains(@class,"sapo")]', "2026-03-07 00:01"),
    "cafef_article_batdongsan": Gold('//div[contains(@class,"detail-content")]',
                                     '//h2[contains(@class,"sapo")]', "2026-03-07 09:40"),
    "dantri_article": Gold('//div[@id="desktop-in-article"]',
                           '//div[@id="desktop-in-article"]/preceding::h2[1]',
                           "2026-03-07 08:07"),
    "nld_article": Gold('//div[@itemprop="articleBody"]',
                        '//h2[contains(@class,"detail-sapo")]', "2026-03-07 08:06"),
    "tuoitre_article": Gold('//div[@itemprop="articleBody"]',
                            '//h2[contains(@class,"detail-sapo")]', "2026-03-07 08:01"),
    "vietnamnet_article": Gold('//div[@id="maincontent"]',
                               '//h2[contains(@class,"content-detail-sapo")]',
                               "2026-03-07 08:52"),
    "vnexpress_article": Gold('//article[contains(@class,"fck_detail")]',
                              '//p[contains(@class,"description")]', "2026-03-07 00:05"),
}

_DROP = "script", "style", "noscript", "iframe", "template"
_SPACE = re.compile(r"\s+")


def _text_of(nodes) -> str:
    """Text of the gold nodes, one line per block, without scripts and styles."""
    out = []
    for node in nodes:
        for bad in node.xpath(" | ".join(f".//{t}" for t in _DROP)):
            bad.drop_tree()
        for line in node.itertext():
            line = _SPACE.sub(" ", line).strip()
            if line:
                out.append(line)
    return "\n".join(out)


def _clean(s: str | None) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFC", s or "")).strip()


def _page_url(tree, fallback: str) -> str:
    for xp in ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content'):
        found = [u for u in tree.xpath(xp) if u.startswith("http")]
        if found:
            return found[0]
    return fallback


def _verdict(html: str, url: str) -> str:
    classify = getattr(ex, "classify_page", None)
    return classify(html, url) if classify else "n/a"


def _leaks(extracted: str, gold: str) -> list[str]:
    """Extracted lines of 3+ words that are less than half inside the gold text."""
    gold_sh = shingles(tokenize(gold), 3)
    out = []
    for line in extracted.splitlines():
        toks = tokenize(line)
        if len(toks) < 3:
            continue
        sh = shingles(toks, 3)
        if sum((sh & gold_sh).values()) / sum(sh.values()) < 0.5:
            out.append(line.strip())
    return out


def _f1(gold: str, pred: str | None) -> float:
    t, p = shingles(tokenize(gold)), shingles(tokenize(pred))
    tp = sum((t & p).values())
    return 2 * tp / (sum(t.values()) + sum(p.values())) if t or p else 1.0


def pages(folder: Path) -> None:
    files = sorted(folder.glob("pages/*.html"))
    print(f"== pages: {len(files)} real pages of Vietnamese outlets ({folder / 'pages'})")
    if not hasattr(ex, "classify_page"):
        print("   (crawler.extract.classify_page not present: verdicts print n/a)")
    f1s, titles, dates, verdicts, leaks_total = [], 0, 0, 0, 0
    articles = listings = listing_stored = 0
    verdict_rows: list[tuple[str, str]] = []
    for path in files:
        html = ex.decode_html(path.read_bytes())
        tree = ex.parse_html(html)
        url = _page_url(tree, f"http://localhost/{path.name}")
        kind = "listing" if "_list" in path.stem else "article"
        verdict = _verdict(html, url)
        verdict_rows.append((kind, verdict))
        art = ex.extract_article(html, url)
        if kind == "listing":
            listings += 1
            stored = art is not None and verdict != "listing"
            listing_stored += stored
            verdicts += verdict == "listing"
            got = f"article {len(art.text)} chars, title {art.title[:40]!r}" if art else "None"
            print(f"  {path.stem:26} listing  verdict {verdict:8} extract_article: {got}")
            continue
        articles += 1
        gold = SITES.get(path.stem)
        if gold is None:
            print(f"  {path.stem:26} article  (no gold container defined: skipped)")
            continue
        body = _text_of(tree.xpath(gold.body))
        lead = _text_of(tree.xpath(gold.lead)[:1]) if gold.lead else ""
        truth = f"{lead}\n{body}"
        og = _clean((tree.xpath('//meta[@property="og:title"]/@content') or [""])[0])
        # the headline as displayed (h1) or as the site declares it (og:title): outlets
        # sometimes word the two differently, and either is the publisher's title
        shown_titles = {og, *(_clean(h.text_content()) for h in tree.xpath("//h1"))} - {""}
        pred = art.text if art else None
        f1 = _f1(truth, pred)
        f1s.append(f1)
        title_ok = bool(art) and _clean(art.title) in shown_titles
        when = art.published_at.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M") \
            if art and art.published_at else None
        date_ok = when == gold.shown
        leaked = _leaks(pred or "", f"{og}\n{truth}")
        titles += title_ok
        dates += date_ok
        verdicts += verdict == "article"
        leaks_total += len(leaked)
        print(f"  {path.stem:26} article  verdict {verdict:8} F1 {f1:.3f}  title "
              f"{'ok' if title_ok else 'WRONG ' + repr(art.title[:50] if art else None)}  "
              f"date {'ok' if date_ok else f'WRONG {when} (page shows {gold.shown})'}  "
              f"leaked lines {len(leaked)}")
        for line in leaked[:8]:
            print(f"      leaked: {line[:110]}")
    if f1s:
        print(f"  articles {articles}: mean F1 {statistics.mean(f1s):.3f} (min {min(f1s):.3f}), "
              f"titles right {titles}/{len(f1s)}, dates right {dates}/{len(f1s)}, "
              f"leaked furniture lines {leaks_total}")
    shown = "n/a" if not hasattr(ex, "classify_page") else f"{verdicts}/{articles + listings}"
    print(f"  listing pages {listings}: made into an article {listing_stored}; verdicts right "
          f"{shown}")
    print(f"  DEV verdicts: {_verdict_line(verdict_rows)}")


def _verdict_line(rows: list[tuple[str, str]]) -> str:
    """'articles a/A right, listings l/L right' over (expected, verdict) pairs."""
    arts = [v for want, v in rows if want == "article"]
    lists = [v for want, v in rows if want == "listing"]
    return (f"articles judged article {arts.count('article')}/{len(arts)}, listings judged "
            f"listing {lists.count('listing')}/{len(lists)}")


def heldout(folder: Path) -> None:
    """The held-out pages (``FOLDER/pages-heldout``, expected kinds in its MANIFEST.json,
    taken from each source's naming): the verdict and what ``extract_article`` gives.
    No gold body container: these pages were not read while the rule was decided."""
    dest = folder / "pages-heldout"
    manifest = dest / "MANIFEST.json"
    if not manifest.exists():
        print(f"== held-out pages: none ({dest} has no MANIFEST.json)")
        return
    kinds = json.loads(manifest.read_text())
    print(f"== held-out pages: {len(kinds)} real pages of Vietnamese outlets ({dest})")
    rows = []
    for name in sorted(kinds):
        want = kinds[name]["kind"]
        html = ex.decode_html((dest / name).read_bytes())
        tree = ex.parse_html(html)
        url = _page_url(tree, f"http://localhost/{name}") if tree is not None else name
        verdict = _verdict(html, url)
        art = ex.extract_article(html, url)
        rows.append((want, verdict))
        got = f"article {len(art.text)} chars, title {art.title[:40]!r}" if art else "None"
        mark = "" if verdict == want else "   <-- WRONG"
        print(f"  {Path(name).stem:34} {want:8} verdict {verdict:8} extract_article: {got}{mark}")
    print(f"  HELD-OUT verdicts: {_verdict_line(rows)}")


# Real reports of a watched body in the RSS material, found by reading every item that
# names a meeting and digital transformation (or Đề án 06) and checked by hand: the
# item's link → (body, number, period, session date). Recall on the real material is
# measured against these. (The Party's "phiên họp chuyên đề" of 13/7/2026 chaired by
# the General Secretary is the Central committee's, a different body: not here.)
KNOWN_REPORTS: dict[str, tuple[str, int | None, str | None, str]] = {
    "https://tuoitre.vn/thu-tuong-khong-tai-dien-viec-yeu-cau-nguoi-dan-cung-cap-giay-to-"
    "trung-lap-du-lieu-da-co-20250924200358704.htm": ("bcd-khcn-cds-da06", 4, "2025",
                                                      "2025-09-24"),
    "https://tuoitre.vn/ke-chuyen-gap-nguoi-dan-di-19km-de-xin-giay-thu-tuong-yeu-cau-cat-"
    "bo-thu-tuc-khong-can-thiet-20251115102135291.htm": ("bcd-khcn-cds-da06", 5, "2025",
                                                         "2025-11-15"),
    "https://tuoitre.vn/thu-tuong-hoan-thanh-co-so-du-lieu-thanh-tra-kiem-soat-tai-san-thu-"
    "nhap-cua-can-bo-cong-chuc-20260225183035326.htm": ("bcd-khcn-cds-da06", 1, "2026",
                                                        "2026-02-25"),
}


def _watched_candidate(folded: str) -> bool:
    """A text that names a watched body and a meeting: worth a human look if unflagged."""
    named = ("uy ban quoc gia ve chuyen doi so" in folded
             or ("ban chi dao" in folded and "chuyen doi so" in folded
                 and "trung uong" not in folded))
    return named and ("phien hop" in folded or "hop phien" in folded or "hoi nghi" in folded)


def _scan(label: str, records, pre2021: bool, limit: int | None, review: int) -> None:
    times, flagged, phien, errors, n = [], [], 0, 0, 0
    candidates = []
    known_right, known_seen = 0, 0
    for key, title, text, published in records:
        if limit and n >= limit:
            break
        n += 1
        low = unicodedata.normalize("NFC", text).lower()
        phien += "phiên họp" in low
        start = time.perf_counter()
        try:
            mentions = detect(text, published)
        except Exception as exc:  # a crash on real text is a finding, not a stop
            errors += 1
            print(f"  ERROR {title[:60]!r}: {exc!r}")
            continue
        times.append(time.perf_counter() - start)
        reports = [m for m in mentions if m.role == "report"]
        if key in KNOWN_REPORTS:
            known_seen += 1
            want = KNOWN_REPORTS[key]
            got = {(m.body, m.number, m.period, str(m.date)) for m in reports}
            right = want in got
            known_right += right
            print(f"  known report [{'found' if right else 'MISSED'}] {want}: got "
                  f"{sorted(got, key=str) or 'nothing'} | {title[:70]}")
        if reports:
            flagged.append((title, published, reports))
        elif not pre2021 and _watched_candidate(fold(text)):
            candidates.append((title, published, text))
    ms = sorted(1000 * t for t in times) or [0.0]
    p50 = ms[len(ms) // 2]
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"  articles scanned {n}; mention \"phiên họp\" {phien}; flagged as reports "
          f"{len(flagged)}{' (all false: pre-2021)' if pre2021 and flagged else ''}; "
          f"errors {errors}; detection {p50:.2f} ms/article p50, {p95:.2f} p95")
    if known_seen:
        print(f"  known real reports found with body, number and date: {known_right}/"
              f"{known_seen}")
    for title, published, reports in flagged:
        day = published.date() if published else None
        for m in reports:
            print(f"  FLAG [{day}] {title[:90]}")
            print(f"       {m.body} number {m.number} period {m.period} date {m.date}: "
                  f"{m.evidence[:160]}")
    if candidates:
        print(f"  unflagged candidates (name a watched body and a meeting; review): "
              f"{len(candidates)}")
        for title, published, text in candidates[:review]:
            day = published.date() if published else None
            print(f"  ? [{day}] {title[:90]} | {text[len(title):][:140].strip()}")


def _texts(folder: Path):
    with (folder / "texts.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            text = rec["text"]
            # "before": the newest commit of the corpus, an upper bound of publication
            before = datetime.fromisoformat(rec["before"]).replace(tzinfo=VN_TZ)
            yield rec["id"], text.split("\n", 1)[0], text, before


def _rss(folder: Path):
    with (folder / "rss.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            title, summary = rec.get("title") or "", rec.get("summary") or ""
            try:
                published = datetime.fromisoformat(rec["published"])
            except (TypeError, ValueError):
                published = None
            yield rec.get("link"), title, f"{title}\n{summary}", published


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=os.environ.get("DXMON_REALWORLD"))
    ap.add_argument("--limit", type=int, default=None, help="at most N texts and N RSS items")
    ap.add_argument("--pages-only", action="store_true",
                    help="only the pages (dev and held-out): seconds instead of minutes")
    ap.add_argument("--review", type=int, default=40,
                    help="unflagged candidates printed (default 40)")
    args = ap.parse_args(argv)
    if not args.folder:
        ap.error("give the folder (built by benchmarks/realworld_collect.py) or DXMON_REALWORLD")
    folder = Path(args.folder)
    if not folder.is_dir():
        ap.error(f"{folder} is not a folder")
    manifest = folder / "MANIFEST.json"
    if manifest.exists():
        print("material:", json.dumps(json.loads(manifest.read_text()), ensure_ascii=False))
    pages(folder)
    heldout(folder)
    if args.pages_only:
        return 0
    if (folder / "texts.jsonl").exists():
        print("== texts: vn_news articles of 2017 (pre-2021: any flag is a false report)")
        _scan("texts", _texts(folder), True, args.limit, args.review)
    if (folder / "rss.jsonl").exists():
        print("== RSS items 2025-2026 (title + summary), distinct over the day files' history")
        _scan("rss", _rss(folder), False, args.limit, args.review)
    return 0


if __name__ == "__main__":
    sys.exit(main())
