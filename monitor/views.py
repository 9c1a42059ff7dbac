"""The one serializer of what dxmon shows: sessions, a session, search results, an
article, sources, the outbox, as JSON-ready dicts.

The web view's pages render these dicts, its ``/api/...`` twins return them as they
are, and the CLI's ``--json`` prints them (``dxmon sessions``, ``search``,
``history``, ``status``), so the three never disagree. Text is as stored (the
publisher's words); where a page highlights something (a search term, the session
phrase of an evidence sentence) the dict carries ``marks``: ``[start, end]`` character
ranges into that text, and the HTML layer escapes the text and wraps the ranges in
``<mark>``. Nothing here writes to the database.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import sqlite_utils

from core.config import Config
from core.text import fold, normalize
from storage import articles, crawl_state, views
from storage import health as source_health

__all__ = ["session_json", "sessions_json", "search_json", "search_hit_json", "article_json",
           "sources_json", "alerts_json", "session_phrase_marks", "term_marks", "word_diff",
           "SPARK_DAYS"]

# Above this product of token counts a diff is made line by line: SequenceMatcher can
# approach quadratic time, and 4e6 is two 2,000-word texts (a long article), diffed in
# well under 100 ms here; longer texts still get a readable diff, by paragraph
MAX_WORD_DIFF = 4_000_000

# The Sources page's chart covers this many days (issue 14: "articles per day over 30 days")
SPARK_DAYS = 30

# The session phrase of an evidence sentence, in the folded text: "phiên họp thứ 8",
# "Phiên họp lần thứ tám", "họp phiên thứ 2", "phiên họp ... năm 2026", "phiên thứ 26"
_SESSION_PHRASE = re.compile(
    r"\b(?:phien hop|hop phien|phien)(?:\s+(?:lan\s+)?thu\s+\w+)?(?:\s+nam\s+\d{4})?\b"
    r"|\bhop\s+tong\s+ket(?:\s+hoat\s+dong)?(?:\s+nam\s+\d{4})?\b")


def _folded(text: str) -> str:
    """``text`` folded one character per character, so positions carry over."""
    folded = fold(text)
    if len(folded) == len(text):
        return folded.lower()
    return "".join((fold(ch)[:1] or " ") for ch in text).lower()


def session_phrase_marks(evidence: str | None) -> list[list[int]]:
    """Where the evidence sentence names the session ("phiên họp thứ 8"), as ranges."""
    span = _phrase_span(evidence) if evidence else None
    return [list(span)] if span else []


@functools.lru_cache(maxsize=4096)  # a page shows the same sentences on every visit;
def _phrase_span(evidence: str) -> tuple[int, int] | None:  # folding costs ~0.1 ms each
    found = [m for m in _SESSION_PHRASE.finditer(_folded(evidence)) if m.group().strip()]
    # the longest phrase is the session's; a bare "phiên" only when nothing longer is there
    found.sort(key=lambda m: -(m.end() - m.start()))
    return (found[0].start(), found[0].end()) if found else None


def term_marks(text: str, terms: list[str]) -> list[list[int]]:
    """Where the folded search ``terms`` are words of ``text`` (a term ending in ``*`` is
    a prefix, as in the search: "chuyen*" marks "chuyển" and "chuyên"), as ranges."""
    terms = [t.lower() for t in terms if t.rstrip("*")]
    if not text or not terms:
        return []
    words = [re.escape(t[:-1]) + r"\w*" if t.endswith("*") else re.escape(t) + r"\b"
             for t in sorted(terms, key=len, reverse=True)]
    pattern = re.compile(r"\b(?:" + "|".join(words) + ")")
    return [[m.start(), m.end()] for m in pattern.finditer(_folded(text))]


def _query_words(query: str) -> list[str]:
    """The query's folded words as the search takes them, a prefix ``*`` kept."""
    return [t for t in fold(normalize(query)).replace('"', " ").split() if t.rstrip("*")]


# --- sessions ------------------------------------------------------------------------------


def _watched(config: Config) -> dict[str, str]:
    return {w.id: w.name for w in config.watch}


def _session_fields(row: dict, names: dict[str, str]) -> dict:
    return {"id": row["id"], "body": row["body"], "body_name": names.get(row["body"], row["body"]),
            "number": row["number"], "period": row["period"], "date": row["date"],
            "title": row["title"], "first_seen": row["first_seen"],
            "alertable": bool(row["alertable"])}


def session_json(db: sqlite_utils.Database, config: Config, session_id: int) -> dict | None:
    """One session: its facts, every attached article (``articles``: role, outlet, time,
    evidence with the session phrase's ``marks``), its alerts and its corrections."""
    row = views.session_row(db, session_id)
    if row is None:
        return None
    out = _session_fields(row, _watched(config))
    mentions = views.session_mentions(db, session_id)
    out["outlets"] = len({m["source"] for m in mentions if m["role"] == "report"})
    out["articles"] = [{"id": m["article_id"], "url": m["url"], "source": m["source"],
                        "title": m["title"], "published_at": m["published_at"],
                        "first_seen": m["first_seen"], "role": m["role"],
                        "evidence": m["evidence"],
                        "marks": session_phrase_marks(m["evidence"])} for m in mentions]
    alerts = views.session_alerts(db, session_id)
    out["alerts"] = [{k: a[k] for k in ("id", "channel", "kind", "status", "idempotency_key",
                                        "attempts", "last_error", "created_at", "sent_at")}
                     for a in alerts]
    out["corrections"] = _corrections(alerts)
    return out


def _corrections(alerts: list[dict]) -> list[dict]:
    """The session's corrections, once each (one correction is queued per channel): when,
    what it was before and after, the article that corrected it, and its channels."""
    out: dict[tuple, dict] = {}
    for a in alerts:
        if a["kind"] != "correction":
            continue
        detail = json.loads(a["detail"] or "{}")
        key = (a["created_at"], a["detail"])
        entry = out.setdefault(key, {"at": a["created_at"], "before": detail.get("before", {}),
                                     "after": detail.get("after", {}),
                                     "article": detail.get("article"), "channels": {}})
        entry["channels"][a["channel"]] = a["status"]
    return list(out.values())


def sessions_json(db: sqlite_utils.Database, config: Config, *, body: str | None = None,
                  year: int | None = None, today: str | None = None) -> dict:
    """The Sessions page: one timeline per watched body (newest first), each session with
    its outlets, first report and evidence; previews of sessions not yet held apart."""
    names = _watched(config)
    today = today or datetime.now(UTC).date().isoformat()
    rows = views.session_timeline(db, body=body, year=year)
    bodies = [w.id for w in config.watch] + sorted({r["body"] for r in rows} - set(names))
    timelines = []
    for b in bodies:
        if body and b != body:
            continue
        sessions = [_session_fields(r, names) | {
            "reports": r["reports"], "outlets": r["outlets"],
            "first_report": {"article_id": r["first_article_id"], "url": r["first_report_url"],
                             "published_at": r["first_report_at"]},
            "evidence": r["evidence"], "marks": session_phrase_marks(r["evidence"])}
            for r in rows if r["body"] == b]
        timelines.append({"body": b, "name": names.get(b, b), "sessions": sessions})
    upcoming = [{"body": u["body"], "body_name": names.get(u["body"], u["body"]),
                 "number": u["number"], "period": u["period"], "expected_date": u["date"],
                 "article_id": u["article_id"], "previews": u["previews"],
                 "evidence": u["evidence"], "marks": session_phrase_marks(u["evidence"])}
                for u in views.upcoming_previews(db, today, body=body)]
    return {"filters": {"body": body, "year": year},
            "bodies": [{"id": b, "name": names.get(b, b)} for b in bodies],
            "years": views.session_years(db), "timelines": timelines, "upcoming": upcoming}


# --- search --------------------------------------------------------------------------------


def search_hit_json(row: dict, query: str) -> dict:
    """One search result for ``query``: the article's facts and a snippet of its stored
    text with the query words' ``marks`` (``row`` holds ``text``, or a cut ``snippet``)."""
    words = _query_words(query)
    snippet = row["snippet"] if "snippet" in row else articles.snippet(
        row["text"], [w.rstrip("*") for w in words])
    return {"id": row["id"], "url": row["url"], "source": row["source"], "title": row["title"],
            "published_at": row["published_at"], "snippet": snippet,
            "marks": term_marks(snippet, words)}


def search_json(db: sqlite_utils.Database, query: str, *, after: int | None = None,
                limit: int = 20, source: str | None = None, since: str | None = None,
                until: str | None = None, reports_session: bool = False) -> dict:
    """One page of search results, newest stored first; ``next`` is the cursor of the
    next page (``after=``), None on the last one."""
    match, terms = articles.search_match(query)
    results: list[dict] = []
    if terms:
        rows = views.search_page(db, match, after=after, limit=limit + 1, source=source,
                                 since=since, until=until, reports_session=reports_session)
        results = [search_hit_json(r, query) for r in rows[:limit]]
        more = len(rows) > limit
    else:
        more = False
    return {"query": query, "terms": terms,
            "filters": {"source": source, "since": since, "until": until,
                        "reports_session": reports_session},
            "after": after, "results": results,
            "next": results[-1]["id"] if more and results else None}


# --- articles ------------------------------------------------------------------------------


def word_diff(before: str, after: str) -> list[list[str]]:
    """A readable diff of two texts word by word: ``[op, text]`` pieces, op one of
    ``"="`` (kept), ``"-"`` (removed), ``"+"`` (added); line breaks kept in the text."""
    a, b = re.split(r"(\s+)", before), re.split(r"(\s+)", after)
    if len(a) * len(b) > MAX_WORD_DIFF:  # a very long text: diffed line by line instead
        a, b = re.split(r"(\n)", before), re.split(r"(\n)", after)
    out: list[list[str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(["=", "".join(a[i1:i2])])
            continue
        if i2 > i1:
            out.append(["-", "".join(a[i1:i2])])
        if j2 > j1:
            out.append(["+", "".join(b[j1:j2])])
    return _coalesce(out)


def _coalesce(pieces: list[list[str]]) -> list[list[str]]:
    """Changes separated only by a space become one removal and one addition ("tập
    trung hoàn" → "kết nối thêm" rather than three one-word swaps), as a person reads an
    edit; a line break still separates them."""
    out: list[list[str]] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        if removed:
            out.append(["-", "".join(removed)])
        if added:
            out.append(["+", "".join(added)])
        removed.clear()
        added.clear()

    for i, (op, text) in enumerate(pieces):
        if op == "-":
            removed.append(text)
        elif op == "+":
            added.append(text)
        elif ((removed or added) and not text.strip() and "\n" not in text
              and i + 1 < len(pieces) and pieces[i + 1][0] != "="):
            removed.append(text)
            added.append(text)
        else:
            flush()
            out.append([op, text])
    flush()
    return out


def _unified(before: dict, after: dict, i: int) -> str:
    return "\n".join(difflib.unified_diff(
        before["text"].split("\n"), after["text"].split("\n"),
        fromfile=f"v{i} {before['seen_at']}", tofile=f"v{i + 1} {after['seen_at']}",
        lineterm=""))


def article_json(db: sqlite_utils.Database, article_id: int) -> dict | None:
    """An article as archived: text as published, title, byline, dates, every URL alias,
    its near-duplicate cluster, the sessions it is attached to, and its versions with a
    diff between consecutive ones (``diffs``: unified text; ``changes``: word pieces)."""
    row = views.article_row(db, article_id)
    if row is None:
        return None
    versions = articles.article_versions(db, article_id)
    pairs = list(zip(versions, versions[1:], strict=False))
    return {
        "article": {k: row[k] for k in ("id", "url", "source", "title", "author",
                                        "published_at", "first_seen", "last_seen", "site_name",
                                        "content_hash", "text")},
        "urls": articles.article_aliases(db, article_id),
        "cluster": views.article_cluster(db, article_id),
        "sessions": views.article_sessions(db, article_id),
        "versions": [{"seen_at": v["seen_at"], "content_hash": v["content_hash"],
                      "title": v["title"]} for v in versions],
        "diffs": [_unified(b, a, i) for i, (b, a) in enumerate(pairs, 1)],
        "changes": [{"from": i, "to": i + 1, "from_seen": b["seen_at"], "to_seen": a["seen_at"],
                     "title": word_diff(b["title"] or "", a["title"] or "")
                     if b["title"] != a["title"] else None,
                     "text": word_diff(b["text"], a["text"])}
                    for i, (b, a) in enumerate(pairs, 1)],
    }


# --- sources and alerts --------------------------------------------------------------------


def _seconds(run: dict) -> float | None:
    try:
        start = datetime.fromisoformat(run["started_at"])
        end = datetime.fromisoformat(run["finished_at"])
    except (TypeError, ValueError):
        return None
    return round((end - start).total_seconds(), 1)


def _errors(stats: dict) -> int:
    """The source's failed fetches in its crawl run (the spider counts them per source:
    one Scrapy process crawls many sources, and its own counts are the whole crawl's);
    a run written before that has only the whole crawl's figures."""
    if "fetch_errors" in stats:
        return stats["fetch_errors"]
    return stats.get("log_count/ERROR", 0) + stats.get("downloader/exception_count", 0)


def _robots(stats: dict, crawl_delays: dict[str, float]) -> dict:
    """What robots.txt said in the last crawl: fetched (answers by status) and URLs it
    forbade, counted over that crawl run (every source crawled in it: Scrapy keeps
    these per crawl), and the Crawl-delay the source's own hosts asked for."""
    statuses = {k.rsplit("/", 1)[1]: v for k, v in stats.items()
                if k.startswith("robotstxt/response_status_count/")}
    return {"requests": stats.get("robotstxt/request_count", 0), "statuses": statuses,
            "forbidden": stats.get("robotstxt/forbidden", 0), "crawl_delays": crawl_delays}


def _host_owners(config: Config) -> dict[str, str]:
    """Which source each host (``host[:port]``, as ``host_state`` names it) belongs to."""
    owners = {}
    for source in config.sources:
        for url in (*source.start_urls, *source.feeds, *source.sitemaps):
            owners.setdefault(urlsplit(url).netloc.lower(), source.name)
        for host in source.allowed_domains:
            owners.setdefault(host.lower(), source.name)
    return owners


def _health(row: dict | None) -> dict:
    """A source's health (monitor.health) as the Sources page and ``dxmon status`` show
    it: healthy until judged otherwise, the symptoms as the reason."""
    row = row or {}
    return {"health": row.get("state", "healthy"),
            "health_reason": "; ".join(row.get("symptoms") or []),
            "health_since": row.get("since") if row.get("state") == "unhealthy" else None,
            "last_good_crawl": row.get("last_good_crawl")}


def sources_json(db: sqlite_utils.Database, config: Config, *,
                 now: datetime | None = None) -> dict:
    """The Sources page: per source its last crawl (when, how long, pages, new articles,
    errors), articles per day over :data:`SPARK_DAYS` days, robots.txt; hosts held back."""
    now = now or datetime.now(UTC)
    first_day = (now - timedelta(days=SPARK_DAYS - 1)).date()
    days = [(first_day + timedelta(days=i)).isoformat() for i in range(SPARK_DAYS)]
    runs = crawl_state.last_crawl_runs(db)
    names = [s.name for s in config.sources] + sorted(set(runs) - {s.name for s in config.sources})
    per_day = views.articles_per_day(db, names,
                                     datetime.combine(first_day, datetime.min.time(), UTC))
    hosts = crawl_state.host_problems(db)
    delays = {h["host"]: h["crawl_delay"] for h in views.host_delays(db)}
    owners = _host_owners(config)
    hosts = [h | {"source": owners.get(h["host"])} for h in hosts]
    judged = source_health.all_health(db)
    out = []
    for name in names:
        run = runs.get(name) or {}
        stats = json.loads(run.get("stats") or "{}")
        out.append({
            "source": name, "status": run.get("status", "never"),
            "last_crawl": run.get("finished_at") or run.get("started_at"),
            "started_at": run.get("started_at"), "finished_at": run.get("finished_at"),
            "seconds": _seconds(run) if run else None,
            "pages": stats.get("pages_ok", 0), "articles_new": stats.get("articles_new", 0),
            "errors": _errors(stats),
            "articles": articles.count_articles(db, name),
            "baseline": crawl_state.source_baseline(db, name),
            "per_day": [[d, per_day.get(name, {}).get(d, 0)] for d in days],
            "robots": _robots(stats, {h: d for h, d in delays.items()
                                      if owners.get(h) == name}),
            **_health(judged.get(name))})
    return {"sources": out, "hosts": hosts, "days": days}


def alerts_json(db: sqlite_utils.Database) -> dict:
    """The outbox: counts by status, the rows given up or retrying (as ``dxmon status``
    shows them) and the newest rows, each with its session."""
    import monitor.renderers  # noqa: F401  the summaries of health, topic and digest rows
    from notifier.outbox import outbox_summary, summarized

    return outbox_summary(db) | {"alerts": summarized(views.outbox_rows(db))}
