"""Typed value objects passed between dxmon's packages.

All are frozen: a value is validated where it enters (config file, extractor,
detector) and never changes afterwards. Text fields hold the publisher's text in
NFC (:func:`core.text.published`); datetimes are timezone-aware (Asia/Ho_Chi_Minh
unless the source said otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core import schema as _schema

__all__ = ["VN_TZ", "Source", "Watch", "Topic", "Digest", "ChannelConfig", "Channel", "Extracted", "Mention", "ROLES"]

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# A mention's role: what the article says about the session.
#   report    - the article's story is that session (it met)
#   preview   - the session is announced ("sẽ chủ trì", "dự kiến")
#   reference - an earlier session is mentioned in passing, or in a conclusion notice
# "meeting": the watched body's meeting told without "phiên họp" (a conference it holds);
# it only joins a session already known for that day (monitor.sessions), never makes one
ROLES = ("report", "preview", "reference", "meeting")


@dataclass(frozen=True)
class Source:
    """One portal to crawl: ``[[sources]]`` in the config."""

    name: str
    start_urls: tuple[str, ...]
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    interval: timedelta = timedelta(minutes=30)
    delay: float = 1.0
    # optional regex that article URLs must match (refines the generic recogniser)
    article_pattern: str | None = None
    # extra hosts that belong to the source (e.g. a media or mobile host)
    allowed_domains: tuple[str, ...] = ()
    max_pages: int = 2000
    max_depth: int = 4
    enabled: bool = True

    @property
    def all_urls(self) -> tuple[str, ...]:
        return self.start_urls + self.feeds + self.sitemaps


@dataclass(frozen=True)
class Watch:
    """A body whose sessions are watched: ``[[watch]]`` in the config.

    ``aliases`` are the names the press uses for it; ``exclude`` are names of other
    bodies that contain an alias (the Party's central steering committee, say) and
    must never be attributed to this one.
    """

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    active_from: date | None = None
    active_until: date | None = None
    # "yearly": the body restarts its numbering each year, so an unqualified
    # "phiên họp thứ nhất" is the first of the session's year
    numbering: str = "continuous"


@dataclass(frozen=True)
class Topic:
    """A subject whose new articles alert: ``[[topic]]`` in the config.

    ``query`` is taken as ``dxmon search`` takes it (:func:`storage.articles.search_match`).
    """

    id: str
    name: str
    query: str
    sources: tuple[str, ...] = ()  # empty: every source
    min_chars: int = 0


@dataclass(frozen=True)
class Digest:
    """A periodic summary: ``[[digest]]`` in the config."""

    id: str
    every: str = "daily"  # "daily" or "weekly"
    at: time = time(7, 30)
    day: int = 0  # the weekday of a weekly digest, Monday = 0
    tz: ZoneInfo = VN_TZ
    channels: tuple[str, ...] = ()  # empty: every channel


# A ``[[notify]]`` entry is a typed config Struct per kind (core.schema: WebhookConfig,
# EmailConfig, ConsoleConfig); the sender built from it is a notifier.base.Notifier.
# ``Channel`` is the entry's former name, kept for code not yet moved to the new one.
ChannelConfig = _schema.ChannelConfig
Channel = ChannelConfig


@dataclass(frozen=True)
class Extracted:
    """What extraction makes of one article page."""

    url: str
    canonical_url: str
    title: str
    text: str
    published_at: datetime | None = None
    author: str | None = None
    site_name: str | None = None
    # the related-article lists, kept apart from the text: detection ignores them
    related: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mention:
    """One session of a watched body that an article mentions."""

    body: str  # Watch.id
    role: str  # one of ROLES
    evidence: str  # the sentence of the main text that says it
    number: int | None = None
    period: str | None = None  # numbering period when stated: "2026" in "lần thứ nhất năm 2026"
    date: date | None = None
    confidence: float = 1.0
