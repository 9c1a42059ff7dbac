"""Topic watches: one ``topic.match`` event per new story about a ``[[topic]]`` subject.

:func:`match_topics` runs in :func:`monitor.process.process_articles`, in the
transaction that processes an article, the first time an article is processed (an
edit of a stored article is not a new article). For each topic it asks the search
index whether the article matches the topic's query: the very test ``dxmon search``
makes (:func:`storage.articles.search_match`: folded, so diacritics are optional; a
word ending in ``*`` is a prefix), restricted to the topic's ``sources`` and to texts
of at least ``min_chars`` characters.

- **History never alerts.** A match is news by the sessions' rule
  (:func:`monitor.alerting.is_news`, with the article's publication date): first seen
  after its source's baseline crawl, published within ``[monitor] fresh_days``.
  Everything else is recorded and stays silent.
- **Once per story.** The near-duplicate cluster (``articles.cluster_id``, assigned when
  the article was stored, :mod:`storage.neardup`) is the story: the first news match
  of a cluster whose topic has never matched it before raises the event, keyed
  ``TOPIC+CLUSTER``; a copy syndicated by another outlet (now or later) is recorded
  and raises nothing. A cluster first seen as history stays history.
- The message lists the cluster's outlets known when it is sent: a crawl stores every
  article before processing starts, so copies found by the same crawl are listed, and
  a copy found by a later crawl before the first send attempt is added to the queued
  message (never after an attempt: a retry sends the bytes its first attempt sent).

The renderer for ``topic.*`` events (text with title, outlets and links; a Markdown
variant) is registered with :mod:`notifier.message` when this module is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from core.config import Config
from core.models import Mention, Topic
from monitor.alerting import is_news
from storage import topics as rows
from storage.articles import search_match
from storage.schema import utcnow_iso

__all__ = ["match_topics", "TopicMatch", "topic_event", "render_topic"]

EVENT = "topic.match"
# The sessions' news rule with no session date: the article's publication date decides
_UNDATED = Mention(body="", role="report", evidence="")


@dataclass(frozen=True)
class TopicMatch:
    topic: str
    article_id: int
    cluster_id: int
    news: bool
    alerted: bool


def matches(db: sqlite_utils.Database, topic: Topic, article: dict) -> bool:
    """Whether ``article`` is about ``topic`` (query, sources, min_chars)."""
    if topic.sources and article["source"] not in topic.sources:
        return False
    if len(article["text"] or "") < topic.min_chars:
        return False
    match, terms = search_match(topic.query)
    return bool(terms) and rows.article_matches(db, article["id"], match)


def match_topics(db: sqlite_utils.Database, config: Config, article: dict,
                 now: datetime) -> list[TopicMatch]:
    """Record the article's topic matches and queue one event per new story (call
    inside the transaction that processes the article, on its first processing)."""
    out = []
    for topic in config.topics:
        if not matches(db, topic, article):
            continue
        cluster = article["cluster_id"] or article["id"]
        news = is_news(db, config, article, _UNDATED, now)
        alerted = news and not rows.cluster_matched(db, topic.id, cluster)
        if not rows.record_match(db, topic.id, article["id"], cluster, utcnow_iso(now),
                                 news=news, alerted=alerted):
            continue
        if alerted:
            _enqueue(db, config, topic, cluster, now)
        elif news and config.notify:  # a copy of a story already queued: list its outlet
            keys = [f"dxmon-{EVENT}-{_key(topic, cluster)}-{c.name or c.kind}"
                    for c in config.notify]
            rows.refresh_unsent(db, keys, json.dumps(topic_event(db, topic, cluster),
                                                     ensure_ascii=False, sort_keys=True))
        out.append(TopicMatch(topic.id, article["id"], cluster, news, alerted))
    return out


def topic_event(db: sqlite_utils.Database, topic: Topic, cluster_id: int) -> dict:
    """The payload of a ``topic.match``: the topic, and the story's articles (outlets)."""
    articles = [{"url": a["url"], "outlet": a["source"], "title": a["title"],
                 "published": a["published_at"]} for a in rows.cluster_articles(db, cluster_id)]
    return {"topic": {"id": topic.id, "name": topic.name, "query": topic.query},
            "story": cluster_id,
            "title": articles[0]["title"] if articles else "",
            "outlets": list(dict.fromkeys(a["outlet"] for a in articles)),
            "articles": articles}


def _key(topic: Topic, cluster_id: int) -> str:
    """The event key of one story for one topic (the delivery id adds the channel). A
    ``+``, which no id or channel name may hold (and a Message-ID may), keeps every
    (topic, story, channel)'s delivery id distinct."""
    return f"{topic.id}+{cluster_id}"


def _enqueue(db, config: Config, topic: Topic, cluster_id: int, now: datetime) -> int:
    if not config.notify:
        return 0
    from notifier.outbox import enqueue_event  # the notifier imports channels: late

    return enqueue_event(db, EVENT, _key(topic, cluster_id),
                         topic_event(db, topic, cluster_id), config.notify, now)


# --- rendering -------------------------------------------------------------------------


def _oneline(text: str) -> str:
    return " ".join((text or "").split())


def topic_message(payload: dict) -> tuple[str, str, str]:
    """(subject, plain text, Markdown) of a ``topic.match`` payload."""
    # the notifier imports channels: late; md_url keeps a link's destination closed
    from notifier.message import md_escape, md_url

    topic = payload["topic"]
    articles = payload.get("articles") or []
    subject = _oneline(f"Chủ đề «{topic['name']}»: {payload.get('title') or ''}")
    outlets = ", ".join(payload.get("outlets") or [])
    text = [subject, "", f"Đăng trên ({len(payload.get('outlets') or [])}): {outlets}", ""]
    md = [f"**Chủ đề «{md_escape(topic['name'])}»**", "",
          f"**{md_escape(payload.get('title') or '')}**", "",
          f"Đăng trên ({len(payload.get('outlets') or [])}): {md_escape(outlets)}", ""]
    for a in articles:
        when = a.get("published") or "không rõ ngày"
        text += [f"- {_oneline(a['title'])} ({a['outlet']}, {when})", f"  {a['url']}"]
        md.append(f"- [{md_escape(_oneline(a['title']))}]({md_url(a['url'])}) — "
                  f"{md_escape(a['outlet'])}, {md_escape(when)}")
    text += ["", f"Truy vấn: {topic['query']}"]
    md += ["", f"Truy vấn: `{topic['query'].replace('`', '')}`"]
    return subject, "\n".join(text), "\n".join(md)


def render_topic(alert):
    """The ``topic.*`` renderer for :func:`notifier.message.register_renderer`."""
    return render_with(topic_message, alert)


# What a payload not in the shape this module writes raises when read as one
_MISSHAPEN = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def render_with(message, alert):
    """``message(payload)`` as a Rendered; a payload not in its shape (queued by other
    code, or by another version) is listed key by key as the notifier lists an event
    it has no renderer for, instead of failing its alert."""
    from notifier.message import Rendered, render_generic

    try:
        return Rendered(*message(payload_of(alert)))
    except _MISSHAPEN:
        return render_generic(alert)


def payload_of(alert) -> dict:
    """The payload an event was queued with (:attr:`notifier.message.Alert.data`)."""
    data = getattr(alert, "data", None)
    return data if isinstance(data, dict) else {}


def _register() -> None:
    try:
        from notifier.message import register_renderer
    except ImportError:  # a notifier without per-event renderers
        return
    register_renderer("topic.", render_topic)


_register()
