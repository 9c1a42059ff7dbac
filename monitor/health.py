"""Source health: tell the operator once when a source stops working, and once when it
works again (issue 15, part 3).

After each crawl of a source, :func:`judge_sources` reads that crawl's evidence (its
``crawl_runs`` stats, counted per source by the spider, and ``host_state``) and the
archive, and finds the symptoms:

* ``silent`` — no new article for longer than the source's own cadence: 3x the median
  gap between its articles' arrivals over the 30 days before its newest one, at least
  24 h. No judgement before it has :data:`MIN_GAPS` gaps of history. Time-based: it is
  on as soon as the time has passed and off as soon as a new article arrives.
* ``listing_empty`` — its start pages were fetched but gave no article link (a
  redesign). A start page answering 304 keeps the previous verdict.
* ``extraction`` — most article pages of the crawl gave no text or a short one; a
  crawl that read fewer than 3 article pages keeps the previous verdict (unless those
  it read were all fine).
* ``held_back`` — a host of the source was left by the crawl (a long Retry-After,
  repeated failures), or its start pages all failed with 5xx/429.
* ``robots`` — robots.txt disallows its start pages.
* ``dns`` / ``tls`` — name resolution or the TLS handshake failed.
* ``unreachable`` — every start page failed otherwise.

Hysteresis: the crawl symptoms turn a source unhealthy after :data:`BAD_IN_A_ROW` bad
crawls in a row and healthy after :data:`GOOD_IN_A_ROW` good ones. ``source.unhealthy``
and ``source.recovered`` are enqueued only when the state changes, in the same
transaction that records the change, each with an idempotency key per change.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlite_utils

from core.config import Config
from crawler.urls import host_of
from storage import health as rows
from storage.schema import transaction, utcnow_iso

logger = logging.getLogger(__name__)

__all__ = ["judge_sources", "crawl_symptoms", "cadence", "render", "BAD_IN_A_ROW",
           "GOOD_IN_A_ROW"]

# Two bad crawls in a row make a source unhealthy, two good ones healthy again. One
# bad crawl is a blip (a restart, a deploy, a 503 the next crawl does not see; each
# crawl already retries a failed page twice): it alerts nobody. Two in a row means the
# problem outlived a whole interval (30 min by default), so the operator hears of it
# within about an hour. Two good ones to recover: a source that fails every other crawl
# never gets two in a row either way, so it stays in its state instead of flapping.
BAD_IN_A_ROW = 2
GOOD_IN_A_ROW = 2
# The cadence: 3x the median gap between arrivals, at least a day, learned over the 30
# days before the newest article. A portal that publishes daily is silent after 3 days
# (a quiet weekend passes); one that publishes hourly after a day (the floor: news
# portals have quiet nights and holidays). Fewer than 5 gaps is no cadence to judge by.
CADENCE_FACTOR = 3
CADENCE_FLOOR = timedelta(hours=24)
CADENCE_WINDOW = timedelta(days=30)
MIN_GAPS = 5
# Extraction is judged on crawls that read at least 3 article pages; more than half of
# them empty or short (crawler.spiders.news.SHORT_TEXT_CHARS) is a symptom.
EXTRACTION_MIN_PAGES = 3
EXTRACTION_BAD_SHARE = 0.5
# runs that ended for reasons of ours (stopped, killed, timed out) say nothing of the source
NEUTRAL_RUNS = ("interrupted", "abandoned", "timeout", "running")


@dataclass
class Verdict:
    """What one crawl says of its source."""

    symptoms: list[str] = field(default_factory=list)
    listing_empty: bool = False
    extraction_bad: bool = False
    new_articles: int = 0


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def crawl_symptoms(run: dict, start_urls: tuple[str, ...], hosts: list[dict],
                   listing_was_empty: bool, extraction_was_bad: bool = False) -> Verdict:
    """The symptoms one finished crawl run shows (``hosts``: ``host_state`` rows of the
    source's hosts; ``listing_was_empty``, ``extraction_was_bad``: the last verdicts,
    kept by a crawl that has no evidence either way: its start pages answered 304, it
    read too few article pages — most crawls of a portal find no new article, and
    known ones are not read again)."""
    stats = run["stats"]
    out = Verdict(new_articles=int(stats.get("articles_new", 0)))
    get = lambda key: int(stats.get(key, 0))  # noqa: E731
    read, unchanged, failed = (get("start_pages_read"), get("start_pages_unchanged"),
                               get("start_pages_failed"))
    if get("start_pages_robots"):
        out.symptoms.append(f"robots: robots.txt disallows {get('start_pages_robots')} of "
                            f"{len(start_urls)} start pages")
    if get("dns_errors"):
        out.symptoms.append(f"dns: {get('dns_errors')} requests failed to resolve the host")
    if get("tls_errors"):
        out.symptoms.append(f"tls: {get('tls_errors')} requests failed in the TLS handshake")
    started, finished = _iso(run["started_at"]), _iso(run["finished_at"])
    for host in hosts:
        updated = _iso(host["updated_at"])
        if updated and started and finished and started - timedelta(seconds=1) <= updated <= finished:
            out.symptoms.append(f"held_back: {host['host']} was left by the crawl "
                                f"({host['reason']})")
    if start_urls and failed and not (read or unchanged) and not out.symptoms:
        if get("server_errors"):
            out.symptoms.append(f"held_back: the start pages answered server errors "
                                f"({get('server_errors')} 5xx/429)")
        else:
            out.symptoms.append(f"unreachable: all {failed} start pages failed")
    out.listing_empty = listing_was_empty
    if read:
        out.listing_empty = get("start_article_links") == 0 and (not unchanged or listing_was_empty)
    if out.listing_empty:
        out.symptoms.append("listing_empty: the start pages were fetched but gave no "
                            "article link (a redesign?)")
    pages = get("article_pages")
    bad = get("article_pages_empty") + get("article_pages_short")
    out.extraction_bad = extraction_was_bad
    if pages >= EXTRACTION_MIN_PAGES:
        out.extraction_bad = bad > EXTRACTION_BAD_SHARE * pages
    elif pages and not bad:
        out.extraction_bad = False
    if out.extraction_bad:
        out.symptoms.append(f"extraction: {bad} of {pages} article pages gave no or short "
                            f"text" if pages >= EXTRACTION_MIN_PAGES else
                            "extraction: most article pages of a recent crawl gave no or "
                            "short text, and no crawl since read enough to say otherwise")
    return out


def cadence(db: sqlite_utils.Database, source: str, newest: datetime) -> timedelta | None:
    """How long ``source`` may stay silent: 3x its median gap between arrivals over the
    30 days before ``newest``, at least 24 h; None without enough history.

    An article's arrival is its publication time when that is before it was first seen
    (a first crawl finds a whole backlog at once), else when it was first seen."""
    times = []
    for first_seen, published in rows.article_times(
            db, source, utcnow_iso(newest - CADENCE_WINDOW), utcnow_iso(newest)):
        seen, pub = _iso(first_seen), _iso(published)
        times.append(pub if pub is not None and pub <= seen else seen)
    times = sorted(t for t in times if t >= newest - CADENCE_WINDOW)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    if len(gaps) < MIN_GAPS:
        return None
    return max(CADENCE_FLOOR, CADENCE_FACTOR * timedelta(seconds=statistics.median(gaps)))


def _silence(db: sqlite_utils.Database, source: str, last_new: datetime | None,
             now: datetime) -> str | None:
    """The ``silent`` symptom, if the source has been quiet for longer than its cadence."""
    if last_new is None:
        return None
    allowed = cadence(db, source, last_new)
    if allowed is None or now - last_new <= allowed:
        return None
    return (f"silent: no new article since {utcnow_iso(last_new)} "
            f"(cadence allows {allowed.total_seconds() / 3600:.0f} h)")


def _fresh(source: str) -> dict:
    return {"state": "healthy", "symptoms": [], "since": None, "last_good_crawl": None,
            "bad_streak": 0, "good_streak": 0, "crawl_bad": 0, "streak_symptoms": [],
            "streak_since": None, "listing_empty": 0, "extraction_bad": 0, "last_new_at": None,
            "last_run_id": None, "judged_at": None}


def judge_sources(db: sqlite_utils.Database, config: Config, *,
                  now: datetime | None = None) -> list[tuple[str, str]]:
    """Judge every source whose latest finished crawl was not judged yet; enqueue
    ``source.unhealthy`` / ``source.recovered`` on a change. Returns the changes as
    (source, event)."""
    now = now or datetime.now(UTC)
    known = {s.name: s for s in config.sources}
    changes = []
    for run in rows.unjudged_runs(db):
        source = known.get(run["source"])
        if source is None:
            continue
        try:
            with transaction(db):
                event = _judge(db, config, source, run, now)
        except Exception:  # a health bug must not hold back the session alerts after it
            logger.exception("dxmon: judging the health of %s failed", source.name)
            continue
        if event:
            changes.append((source.name, event))
    return changes


def _judge(db: sqlite_utils.Database, config: Config, source, run: dict,
           now: datetime) -> str | None:
    state = rows.health_of(db, source.name) or _fresh(source.name)
    state["last_run_id"] = run["id"]
    state["judged_at"] = utcnow_iso(now)
    if run["status"] in NEUTRAL_RUNS:
        rows.save_health(db, source.name, state)
        return None
    hosts = rows.host_rows(db, {host_of(url) for url in source.all_urls})
    verdict = crawl_symptoms(run, source.start_urls, hosts, bool(state["listing_empty"]),
                             bool(state["extraction_bad"]))
    state["listing_empty"] = int(verdict.listing_empty)
    state["extraction_bad"] = int(verdict.extraction_bad)
    if verdict.new_articles:
        state["last_new_at"] = utcnow_iso(now)
    if verdict.symptoms:
        if not state["bad_streak"]:
            state["streak_since"] = utcnow_iso(now)
        state["bad_streak"] += 1
        state["good_streak"] = 0
        state["streak_symptoms"] = verdict.symptoms
    else:
        state["good_streak"] += 1
        state["bad_streak"] = 0
        state["last_good_crawl"] = run["finished_at"]
    if state["bad_streak"] >= BAD_IN_A_ROW and not state["crawl_bad"]:
        state["crawl_bad"] = 1
    elif state["good_streak"] >= GOOD_IN_A_ROW:
        state["crawl_bad"] = 0
    last_new = max(filter(None, (_iso(state["last_new_at"]),
                                 _iso(rows.last_first_seen(db, source.name)))), default=None)
    silent = _silence(db, source.name, last_new, now)
    symptoms = (list(state["streak_symptoms"]) if state["crawl_bad"] else []) + \
        ([silent] if silent else [])
    return _change(db, config, source.name, state, symptoms, last_new, now)


def _change(db, config: Config, source: str, state: dict, symptoms: list[str],
            last_new: datetime | None, now: datetime) -> str | None:
    """Record the new state; enqueue the event when it flipped."""
    was = state["state"]
    event = None
    if symptoms and was == "healthy":
        silent_only = not state["crawl_bad"]
        since = utcnow_iso(last_new) if silent_only and last_new else state["streak_since"]
        state.update(state="unhealthy", since=since or utcnow_iso(now), symptoms=symptoms)
        event = "source.unhealthy"
        payload = {"source": source, "state": "unhealthy", "symptoms": symptoms,
                   "since": state["since"], "last_good_crawl": state["last_good_crawl"],
                   "judged_at": utcnow_iso(now)}
        key = f"{source}-{state['since']}"
    elif not symptoms and was == "unhealthy":
        event = "source.recovered"
        payload = {"source": source, "state": "healthy", "symptoms": state["symptoms"],
                   "since": state["since"], "recovered_at": utcnow_iso(now),
                   "last_good_crawl": state["last_good_crawl"]}
        key = f"{source}-{state['since']}"
        state.update(state="healthy", since=utcnow_iso(now), symptoms=[])
    elif symptoms:
        state["symptoms"] = symptoms  # still unhealthy: what it shows now
    rows.save_health(db, source, state)
    if event and config.notify:
        from notifier.outbox import enqueue_event  # the notifier imports channels: late

        enqueue_event(db, event, key, payload, config.notify, now)
    return event


# --- the message -------------------------------------------------------------------------

_SUBJECTS = {"source.unhealthy": "Nguồn {source} gặp sự cố (source unhealthy)",
             "source.recovered": "Nguồn {source} đã hoạt động lại (source recovered)"}


def render(alert):
    """The ``source.*`` message: the source, the symptoms, since when, the last good crawl."""
    from notifier.message import Rendered, md_escape

    p = alert.data or {}
    event = alert.event
    subject = _SUBJECTS.get(event, "Nguồn {source}: " + event).format(
        source=p.get("source", "?"))
    symptoms = [str(s) for s in p.get("symptoms") or []]
    if event == "source.recovered":
        facts = [f"Recovered at {p.get('recovered_at')}; unhealthy since {p.get('since')}.",
                 "It showed:"]
    else:
        facts = [f"Unhealthy since {p.get('since')}.", "Symptoms:"]
    last = f"Last good crawl: {p.get('last_good_crawl') or 'none yet'}"
    text = "\n".join([subject, "", *facts, *(f"- {s}" for s in symptoms), last])
    markdown = "\n".join([f"**{md_escape(subject)}**", "", *map(md_escape, facts),
                          *(f"- {md_escape(s)}" for s in symptoms), md_escape(last)])
    return Rendered(subject=subject, text=text, markdown=markdown)


def register() -> None:
    """Register :func:`render` for every ``source.*`` event (notifier.message)."""
    from notifier.message import register_renderer

    register_renderer("source.", render)


register()
