"""The schema of ``dxmon.toml``, declared once: each key's type, default and doc.

Every table of the file is a :class:`msgspec.Struct` that refuses unknown keys;
``[[notify]]`` entries are a tagged union on ``kind`` (one Struct per channel kind),
so an unknown kind is refused when the file is loaded, before any crawl. Each field
carries, in its :func:`key` metadata, the text a person reads (``doc``), what an
error says it must be (``what``) and, where the type alone is not enough, a
``check`` that validates (and may convert) the value: :mod:`core.config` runs them,
maps every failure to ``file, line N, key 'x.y': message``, and ``dxmon init``'s
reference block is written from the same docs (:func:`reference`).
"""

from __future__ import annotations

import fnmatch
import functools
import textwrap
import typing
from datetime import date
from typing import Annotated, Any, ClassVar

import msgspec
import msgspec.inspect
from msgspec import Meta, Struct

__all__ = ["key", "FileSchema", "StorageTable", "MonitorTable", "WebTable", "MaintenanceTable",
           "ClusterTable", "SourceEntry",
           "WatchEntry", "TopicEntry", "DigestEntry",
           "ChannelConfig", "WebhookConfig", "EmailConfig", "ConsoleConfig",
           "AppriseConfig", "CHANNEL_CONFIGS", "EVENT_NAMES", "DEFAULT_EVENTS",
           "events_accept", "fields_of", "reference"]

# Every table: fields by keyword only (defaults may precede required keys), values
# frozen once loaded, unknown keys refused
_TABLE = {"kw_only": True, "frozen": True, "forbid_unknown_fields": True}


def key(doc: str, what: str, check: tuple | None = None) -> Meta:
    """A key's metadata: ``doc`` for people, ``what`` for errors (``must be {what}``)
    and an optional ``check``: a tuple of the name of a check :mod:`core.config` runs
    (``check_<name>``) and its arguments."""
    return Meta(description=doc, extra={"what": what, "check": check})


class StorageTable(Struct, **_TABLE):
    """``[storage]``"""

    path: Annotated[str, key("SQLite archive, relative to the config file",
                             "a string")] = "dxmon.db"


class MonitorTable(Struct, **_TABLE):
    """``[monitor]``"""

    fresh_days: Annotated[int, key(
        "a session older than this (days) when first seen never alerts", "an integer",
        ("days",))] = 7
    crawl_timeout: Annotated[str | int | float, key(
        "a crawl running longer is stopped", "a duration such as \"30m\"",
        ("duration",))] = "20m"
    revisit_days: Annotated[int, key(
        "articles published within this many days are re-requested (conditionally) "
        "to catch edits", "an integer", ("days",))] = 7
    full_sweep: Annotated[str | int | float, key(
        "how often a crawl follows every listing to its end", "a duration such as \"30m\"",
        ("duration",))] = "24h"


class WebTable(Struct, **_TABLE):
    """``[web]``: the web view (``dxmon web``, ``dxmon serve --web``)."""

    host: Annotated[str, key(
        "address to listen on; anything but 127.0.0.1, localhost or ::1 needs token_env "
        "or trusted_proxy", "a string", ("required_text",))] = "127.0.0.1"
    port: Annotated[int, key("port to listen on", "a port number from 1 to 65535",
                             ("port",))] = 8765
    token_env: Annotated[str | None, key(
        "environment variable holding the access token (visit once with ?token=, then a "
        "cookie); when set, every request needs it",
        "the name of an environment variable (letters, digits, _)", ("env_name",))] = None
    lang: Annotated[str, key("the pages' language: \"vi\" or \"en\" (?lang= overrides)",
                             "a string", ("choice", ("vi", "en")))] = "vi"
    trusted_proxy: Annotated[str | None, key(
        "address of a reverse proxy in front that authenticates users (its "
        "X-Forwarded-For/-Proto are trusted)", "a string")] = None


class MaintenanceTable(Struct, **_TABLE):
    """``[maintenance]``: what ``dxmon maintenance`` keeps (it backs up, checks and
    optimizes every time; it prunes only what these keys allow)."""

    backup_dir: Annotated[str | None, key(
        "folder for dxmon maintenance's dated backups, relative to the config file "
        "(unset: no backup unless --backup is given)", "a string")] = None
    keep_versions: Annotated[int, key(
        "text versions kept per article besides its first and those holding a "
        "session's evidence (0: keep every version)", "an integer of at least 0",
        ("at_least", 0))] = 0
    keep_runs_days: Annotated[int, key(
        "crawl runs older than this many days are deleted, except each source's latest "
        "(0: keep every run)", "an integer of at least 0", ("days",))] = 0


class ClusterTable(Struct, **_TABLE):
    """``[cluster]``: crawling spread over machines through Redis (crawler.cluster)."""

    redis_url_env: Annotated[str | None, key(
        "environment variable holding the Redis URL (redis://[:password@]host:port/db); "
        "when set, crawls go through Redis: `dxmon worker` processes fetch, the process "
        "owning the archive seeds and writes", "the name of an environment variable "
        "(letters, digits, _)", ("env_name",))] = None
    prefix: Annotated[str, key("prefix of every Redis key dxmon uses (one Redis may "
                               "serve several archives)", "a string",
                               ("required_text",))] = "dxmon"


class SourceEntry(Struct, **_TABLE):
    """``[[sources]]``: one portal to crawl."""

    name: Annotated[str, key("a short unique name: letters, digits, '.', '_', '-'",
                             "a string", ("name",))]
    start_urls: Annotated[list[str], key(
        "section or listing pages to start from (at least one)", "an array of strings",
        ("urls", True))]
    feeds: Annotated[list[str], key("RSS/Atom feeds, an extra discovery path",
                                    "an array of strings", ("urls", False))] = []
    sitemaps: Annotated[list[str], key("sitemaps, an extra discovery path",
                                       "an array of strings", ("urls", False))] = []
    interval: Annotated[str | int | float, key(
        "how often `dxmon serve` crawls it", "a duration such as \"30m\"",
        ("duration",))] = "30m"
    delay: Annotated[int | float, key("seconds between requests to its hosts", "a number",
                                      ("delay",))] = 1.0
    article_pattern: Annotated[str | None, key(
        "a regex article URLs must match (refines the generic recogniser)", "a string",
        ("regex",))] = None
    allowed_domains: Annotated[list[str], key(
        "extra hosts that belong to the source (a media or mobile host)",
        "an array of strings", ("strings",))] = []
    max_pages: Annotated[int, key("pages one crawl of it fetches at most", "an integer",
                                  ("at_least", 1))] = 2000
    max_depth: Annotated[int, key("links followed from a start page at most", "an integer",
                                  ("at_least", 0))] = 4
    enabled: Annotated[bool, key("false: never crawled", "true or false")] = True


class WatchEntry(Struct, **_TABLE):
    """``[[watch]]``: a body whose sessions are watched."""

    id: Annotated[str, key("a short unique id: letters, digits, '.', '_', '-'", "a string",
                           ("name",))]
    name: Annotated[str, key("the body's full name", "a string", ("required_text",))]
    aliases: Annotated[list[str], key("the names the press uses for it (default: name)",
                                      "an array of strings", ("strings",))] = []
    exclude: Annotated[list[str], key(
        "names of other bodies that contain an alias, never attributed to this one",
        "an array of strings", ("strings",))] = []
    active_from: Annotated[date | None, key("first day the body existed",
                                            "a date (YYYY-MM-DD)")] = None
    active_until: Annotated[date | None, key("last day the body existed",
                                             "a date (YYYY-MM-DD)")] = None
    numbering: Annotated[str, key(
        "\"continuous\", or \"yearly\" for a body that restarts its numbering each year",
        "a string", ("choice", ("continuous", "yearly")))] = "continuous"


# The events an outbox row can announce (DESIGN.md "Events"): the webhook's
# X-Dxmon-Event and every channel's subject. A channel's ``events`` filter names them,
# or matches them with a shell-style pattern ("source.*").
EVENT_NAMES = ("session.new", "session.corrected", "topic.match", "digest",
               "source.unhealthy", "source.recovered", "dxmon.test")
# what every channel got before ``events`` existed
DEFAULT_EVENTS = ("session.new", "session.corrected", "dxmon.test")


def events_accept(patterns, event: str) -> bool:
    """Whether an ``events`` filter (names or patterns such as "source.*") takes ``event``."""
    return any(fnmatch.fnmatchcase(event, pattern) for pattern in patterns)


class ChannelConfig(Struct, tag_field="kind", **_TABLE):
    """``[[notify]]``: one notification channel; ``kind`` picks the subclass."""

    kind: ClassVar[str] = ""
    name: Annotated[str, key("tells two channels of a kind apart (default: the kind)",
                             "a string", ("channel_name",))] = ""
    retry_base: Annotated[str | int | float, key(
        "the first retry's delay, doubled each time up to an hour (±25% jitter)",
        "a duration such as \"30m\"", ("duration",))] = "30s"
    max_attempts: Annotated[int, key(
        "attempts after which a transiently failing alert is given up (kept visible)",
        "a whole number of at least 1", ("at_least", 1))] = 12
    events: Annotated[list[str], key(
        "the events this channel gets: " + ", ".join(EVENT_NAMES) + "; a pattern such "
        "as \"source.*\" matches several",
        "an array of event names or patterns", ("events",))] = msgspec.field(
        default_factory=lambda: list(DEFAULT_EVENTS))

    def accepts(self, event: str) -> bool:
        """Whether this channel gets ``event`` (its ``events`` filter)."""
        return events_accept(self.events, event)


_TIMEOUT = ("a number of seconds above 0 and at most 600", ("timeout",))
_ENV = ("the name of an environment variable (letters, digits, _)", ("env_name",))


class WebhookConfig(ChannelConfig, tag="webhook"):
    """``kind = "webhook"``: the alert as signed JSON, POSTed."""

    kind: ClassVar[str] = "webhook"
    url: Annotated[str, key("where the alert is POSTed (http or https)", "a string",
                            ("hook_url",))]
    secret_env: Annotated[str | None, key(
        "environment variable holding the HMAC-SHA256 signing key", *_ENV)] = None
    timeout: Annotated[float, key("the total deadline of one send, in seconds",
                                  *_TIMEOUT)] = 10.0
    headers: Annotated[dict[str, str], key(
        "extra headers sent with each POST (no secrets: see headers_env)",
        "a table of header names to values", ("headers",))] = {}
    headers_env: Annotated[dict[str, str], key(
        "headers whose value is read from an environment variable "
        "(headers_env = { Authorization = \"HOOK_AUTH\" })",
        "a table of header names to environment variable names", ("headers_env",))] = {}


class EmailConfig(ChannelConfig, tag="email"):
    """``kind = "email"``: one message per alert over SMTP."""

    kind: ClassVar[str] = "email"
    host: Annotated[str, key("the SMTP server", "a string", ("required_text",))]
    sender: Annotated[str, key("the From address", "an email address", ("address",))]
    to: Annotated[list[str] | str, key("the recipients", "a list of email addresses",
                                       ("addresses",))]
    port: Annotated[int | None, key(
        "the SMTP port (default 465 for ssl, 587 for starttls, 25 for none)",
        "a port number from 1 to 65535", ("port",))] = None
    security: Annotated[str, key("\"ssl\", \"starttls\" or \"none\"", "a string",
                                 ("choice", ("ssl", "starttls", "none")))] = "starttls"
    username_env: Annotated[str | None, key(
        "environment variable holding the SMTP user name", *_ENV)] = None
    password_env: Annotated[str | None, key(
        "environment variable holding the SMTP password", *_ENV)] = None
    timeout: Annotated[float, key("the total deadline of one send, in seconds",
                                  *_TIMEOUT)] = 30.0


class AppriseConfig(ChannelConfig, tag="apprise"):
    """``kind = "apprise"``: a chat or push service through apprise (Telegram, Slack,
    Matrix, ntfy, Discord, Teams, ...), its URL read from an environment variable."""

    kind: ClassVar[str] = "apprise"
    url_env: Annotated[str, key(
        "environment variable holding the apprise URL (e.g. tgram://TOKEN/CHAT): it holds "
        "tokens, so it never goes in this file", *_ENV)]
    format: Annotated[str, key(
        "\"auto\" (Markdown where the service takes it), \"text\" or \"markdown\"",
        "a string", ("choice", ("auto", "text", "markdown")))] = "auto"
    title_max: Annotated[int | None, key(
        "longest title in characters (default: the service's; 0: no title)",
        "a whole number of at least 0", ("optional_at_least", 0))] = None
    body_max: Annotated[int | None, key(
        "longest message in characters (default: the service's, Telegram 4096)",
        "a whole number of at least 200", ("optional_at_least", 200))] = None
    timeout: Annotated[float, key("the total deadline of one send, in seconds",
                                  *_TIMEOUT)] = 30.0


class ConsoleConfig(ChannelConfig, tag="console"):
    """``kind = "console"``: the alert printed on standard output (the demo's)."""

    kind: ClassVar[str] = "console"


CHANNEL_CONFIGS: dict[str, type[ChannelConfig]] = {
    cls.kind: cls for cls in (WebhookConfig, EmailConfig, ConsoleConfig, AppriseConfig)}


# --- topic watches and digests (issue 15) ---------------------------------------------


class TopicEntry(Struct, **_TABLE):
    """``[[topic]]``: alert on new articles about a subject (``topic.match``)."""

    id: Annotated[str, key("a short unique id: letters, digits, '.', '_', '-'", "a string",
                           ("name",))]
    name: Annotated[str, key("what the alert calls it", "a string", ("required_text",))]
    query: Annotated[str, key(
        "words every matching article holds, as `dxmon search` takes them (diacritics "
        "optional; a word ending in * is a prefix)", "a string", ("topic_query",))]
    sources: Annotated[list[str], key("only articles of these sources (default: all)",
                                      "an array of strings", ("strings",))] = []
    min_chars: Annotated[int, key("articles with a shorter text never match",
                                  "an integer", ("at_least", 0))] = 0


class DigestEntry(Struct, **_TABLE):
    """``[[digest]]``: a periodic summary: sessions, upcoming sessions, topic matches."""

    id: Annotated[str, key("a short unique id: letters, digits, '.', '_', '-'", "a string",
                           ("name",))]
    every: Annotated[str, key("\"daily\" or \"weekly\"", "a string",
                              ("choice", ("daily", "weekly")))] = "daily"
    at: Annotated[str, key("the time of day it is sent, HH:MM", "a time such as \"07:30\"",
                           ("time_of_day",))] = "07:30"
    day: Annotated[str, key("the weekday a weekly digest is sent (mon ... sun)", "a string",
                            ("choice", ("mon", "tue", "wed", "thu", "fri", "sat", "sun")))
                   ] = "mon"
    tz: Annotated[str, key("the time zone of `at`", "an IANA time zone name",
                           ("time_zone",))] = "Asia/Ho_Chi_Minh"
    channels: Annotated[list[str], key("names of the [[notify]] channels it goes to "
                                       "(default: all)", "an array of strings",
                                       ("strings",))] = []


class FileSchema(Struct, **_TABLE):
    """The whole file."""

    storage: Annotated[StorageTable, key("where the archive lives", "a table")] = \
        StorageTable()
    monitor: Annotated[MonitorTable, key("detection and crawl settings", "a table")] = \
        MonitorTable()
    web: Annotated[WebTable, key("the web view", "a table")] = WebTable()
    maintenance: Annotated[MaintenanceTable, key(
        "backups, checks and pruning (dxmon maintenance)", "a table")] = MaintenanceTable()
    cluster: Annotated[ClusterTable, key("crawling over several machines (Redis)",
                                         "a table")] = ClusterTable()
    sources: Annotated[list[SourceEntry], key(
        "portals to crawl", "an array of tables ([[sources]])")] = []
    watch: Annotated[list[WatchEntry], key(
        "watched bodies (default: the digital-transformation committees)",
        "an array of tables ([[watch]])")] = []
    notify: Annotated[list[WebhookConfig | EmailConfig | ConsoleConfig | AppriseConfig], key(
        "notification channels", "an array of tables ([[notify]])")] = []
    topic: Annotated[list[TopicEntry], key(
        "topic watches: alert on new articles matching a search",
        "an array of tables ([[topic]])")] = []
    digest: Annotated[list[DigestEntry], key(
        "periodic summaries sent through the channels", "an array of tables ([[digest]])")] = []


@functools.cache
def fields_of(cls: type[Struct]) -> dict[str, tuple[Any, Meta | None, Any]]:
    """Each field of ``cls``: name → (type, its :func:`key` Meta, default or NODEFAULT)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in msgspec.inspect.type_info(cls).fields:
        hint = hints[f.name]
        meta = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Meta)),
                    None)
        default = f.default_factory() if f.default_factory is not msgspec.NODEFAULT \
            else f.default
        out[f.name] = (hint, meta, default)
    return out


def _default_text(value: Any) -> str:
    if value is msgspec.NODEFAULT:
        return "(required)"
    if isinstance(value, bool):
        return "= " + ("true" if value else "false")
    if isinstance(value, str):
        return f'= "{value}"' if value else ""
    if value is None or value == [] or value == {}:
        return ""
    if isinstance(value, list):  # as TOML writes it
        return "= [" + ", ".join(f'"{v}"' for v in value) + "]"
    return f"= {value}"


def _described(name: str, default: Any, meta: Meta | None) -> list[str]:
    """One key as comment lines: ``name = default`` and its doc, wrapped."""
    head = f"{name} {_default_text(default)}".rstrip()
    doc = textwrap.wrap(meta.description if meta else "", 56) or [""]
    lines = [f"#   {head:<26} {doc[0]}".rstrip()]
    return lines + [f"#   {'':<26} {more}" for more in doc[1:]]


def reference() -> str:
    """Every key with its default and doc, as TOML comments (``dxmon init`` appends it)."""
    tables = [("[storage]", StorageTable), ("[monitor]", MonitorTable), ("[web]", WebTable),
              ("[maintenance]", MaintenanceTable), ("[cluster]", ClusterTable),
              ("[[sources]]", SourceEntry), ("[[watch]]", WatchEntry),
              ("[[topic]]", TopicEntry), ("[[digest]]", DigestEntry)]
    tables += [(f'[[notify]] kind = "{kind}"', cls) for kind, cls in CHANNEL_CONFIGS.items()]
    out = ["# --- Every key: its default and what it does (from core/schema.py) " + "-" * 8]
    for title, cls in tables:
        out.append(f"# {title}")
        for name, (_, meta, default) in fields_of(cls).items():
            if issubclass(cls, ChannelConfig) and name in ChannelConfig.__struct_fields__:
                continue  # the keys every channel shares are listed once, below
            out += _described(name, default, meta)
    out.append("# and every [[notify]] entry:")
    for name, (_, meta, default) in fields_of(ChannelConfig).items():
        out += _described(name, default, meta)
    return "\n".join(out) + "\n"
