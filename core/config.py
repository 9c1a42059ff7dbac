"""Load ``dxmon.toml`` into a validated :class:`Config`.

The file is found by ``--config``, else ``$DXMON_CONFIG``, else ``./dxmon.toml``.
Its schema is declared once, in :mod:`core.schema`: msgspec converts the parsed TOML
into those Structs (types, defaults, unknown keys, the channel ``kind``), then each
key's ``check`` runs here (:class:`_Checks`). A bad value raises :class:`ConfigError`
naming the dotted key (``sources[1].interval``) and its line in the file — msgspec's
``$.sources[1].interval`` mapped through :func:`line_of` — so no crawl starts on a
config that would fail later. Unknown keys are errors too: a misspelt ``intervall``
would otherwise be silently ignored; so are an unknown channel kind and an option
of another kind.

Secrets never live in the file: a notifier names the environment variable that
holds its password or key (``password_env``), and that variable is read only
when a message is sent. So a webhook URL may not carry ``user:password@``, and a
literal ``Authorization`` (or cookie, or API key) header is refused: name its
variable in ``headers_env = { Authorization = "HOOK_AUTH" }`` instead.

Numbers are finite and within sense (``delay = nan`` or ``inf`` is refused, as is a
duration of more than a year); ports are whole numbers 1-65535; no string may hold
a control character (a CR/LF in an address would inject mail headers).
"""

from __future__ import annotations

import functools
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import msgspec

from core.errors import ConfigError
from core.models import Digest, Source, Topic, Watch
from core.schema import (
    CHANNEL_CONFIGS,
    EVENT_NAMES,
    ChannelConfig,
    ClusterTable,
    DigestEntry,
    EmailConfig,
    FileSchema,
    MaintenanceTable,
    SourceEntry,
    TopicEntry,
    WatchEntry,
    WebTable,
    events_accept,
    fields_of,
)
from core.text import fold, normalize

__all__ = ["Config", "load_config", "config_path", "parse_duration", "DEFAULT_WATCH"]

DEFAULT_CONFIG_NAME = "dxmon.toml"

# The default watch list (DESIGN.md, "What new session means"): the National Committee
# on Digital Transformation (2021 - Feb 2025) and the Government steering committee
# that succeeded it in March 2025. The Party's central steering committee has a
# near-identical name and is excluded by name.
DEFAULT_WATCH = (
    Watch(
        id="ubqg-cds",
        name="Ủy ban Quốc gia về chuyển đổi số",
        aliases=(
            "Ủy ban Quốc gia về chuyển đổi số",
            "Ủy ban Quốc gia về CĐS",
            "Ủy ban Chuyển đổi số quốc gia",
            "UBQG về CĐS",
            "UBQG về chuyển đổi số",
            "Ủy ban Quốc gia chuyển đổi số",
        ),
        active_from=date(2021, 4, 1),
        active_until=date(2025, 3, 31),
    ),
    Watch(
        id="bcd-khcn-cds-da06",
        name=(
            "Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, "
            "đổi mới sáng tạo, chuyển đổi số và Đề án 06"
        ),
        aliases=(
            "Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, "
            "đổi mới sáng tạo, chuyển đổi số và Đề án 06",
            "Ban Chỉ đạo của Chính phủ về khoa học, công nghệ, đổi mới sáng tạo, "
            "chuyển đổi số và Đề án 06",
            "Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, "
            "đổi mới sáng tạo, CĐS và Đề án 06",
        ),
        exclude=(
            "Ban Chỉ đạo Trung ương về phát triển khoa học, công nghệ, "
            "đổi mới sáng tạo và chuyển đổi số",
        ),
        active_from=date(2025, 3, 1),
        numbering="yearly",
    ),
)

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# C0 controls (CR, LF, NUL, ...), DEL and C1: never meant in a config value, and CR/LF
# in an address or header value would inject headers into a mail or a request
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# A duration above this is refused: no schedule, timeout or backoff of dxmon means
# more than a year, and bounding it keeps every datetime sum in range
MAX_DURATION = timedelta(days=366)
# The longest politeness delay accepted, in seconds: even the slowest portal asks for
# seconds; an hour between requests would stall a crawl as `inf` did
MAX_DELAY_S = 3600
# Day counts (fresh_days, revisit_days) above this are refused: ten years covers any
# archive's horizon, and a huge one would overflow date arithmetic
MAX_DAYS = 3650

# A channel's timeout above this is refused: a send holds its alert's lease for as long
# (notifier.outbox), and no receiver needs ten minutes to answer
MAX_TIMEOUT_S = 600

# An HTTP header name: RFC 9110's token characters
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

# Header names whose value is a credential: refused in `headers`, offered in `headers_env`
_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie")
_SECRET_HEADER_WORDS = ("token", "secret", "key", "auth", "password")


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA zone names this system knows (tzdata)."""
    return frozenset(available_timezones())


def parse_duration(value: object) -> timedelta:
    """``"30m"``, ``"1h30m"``, ``"1d"``, ``"45s"`` or a number of seconds (finite,
    positive, at most :data:`MAX_DURATION`)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"30m\"")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected a duration such as \"30m\", got {value!r}")
        seconds = float(min(value, MAX_DURATION.total_seconds() + 1))
    elif isinstance(value, str) and (m := _DURATION.match(value)) and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    else:
        raise ValueError(f"expected a duration such as \"30m\", \"1h\" or \"45s\", got {value!r}")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"a duration may be at most {MAX_DURATION.days} days, got {value!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Config:
    """The validated configuration. ``notify`` holds the channels' typed config Structs
    (:class:`core.schema.WebhookConfig`, ...); ``lines`` maps dotted keys to line numbers."""

    path: Path | None
    storage_path: Path
    fresh_days: int = 7
    crawl_timeout: timedelta = timedelta(minutes=20)
    revisit_days: int = 7
    full_sweep: timedelta = timedelta(hours=24)
    sources: tuple[Source, ...] = ()
    watch: tuple[Watch, ...] = DEFAULT_WATCH
    notify: tuple[ChannelConfig, ...] = ()
    web: WebTable = WebTable()  # [web]: the web view's host, port, token_env, lang, proxy
    maintenance: MaintenanceTable = MaintenanceTable()  # [maintenance]: backups, pruning
    cluster: ClusterTable = ClusterTable()  # [cluster]: Redis for crawl workers
    topics: tuple[Topic, ...] = ()  # [[topic]]: subjects whose new articles alert
    digests: tuple[Digest, ...] = ()  # [[digest]]: periodic summaries
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} (known: {known})", key="sources",
                          path=str(self.path) if self.path else None)

    def error(self, message: str, key: str) -> ConfigError:
        """A :class:`ConfigError` about ``key``, with its line if the file has it."""
        return ConfigError(message, key=key, line=line_of(self.lines, key),
                           path=str(self.path) if self.path else None)


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """Where the config is: ``--config``, else ``$DXMON_CONFIG``, else ``./dxmon.toml``."""
    return Path(explicit or os.environ.get("DXMON_CONFIG") or DEFAULT_CONFIG_NAME)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and validate the config file; raise :class:`ConfigError` if it is invalid."""
    file = config_path(path)
    try:
        raw_text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found (run `dxmon init` to write a starter config)",
            path=str(file)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8: {exc}", path=str(file)) from None
    except OSError as exc:  # unreadable, a folder, ...
        raise ConfigError(f"cannot read the config file: {exc.strerror or exc}; check its "
                          "path and permissions", path=str(file)) from None
    return parse_config(raw_text, path=file)


def parse_config(text: str, path: Path | None = None) -> Config:
    """Validate config text. Relative paths resolve against the file's folder."""
    where = str(path) if path else None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", line=int(m.group(1)) if m else None,
                          path=where) from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError("not valid TOML: arrays or tables nested too deeply",
                          path=where) from None
    lines = _locate_keys(text)

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(message, key=key, line=line_of(lines, key), path=where)

    try:
        schema = msgspec.convert(data, FileSchema, strict=True)
    except msgspec.ValidationError as exc:
        raise fail(*_explain(exc, data)) from None
    return _build(schema, fail, base=path.parent if path else Path.cwd(),
                  path=path, lines=lines)


def line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of ``key`` (``sources[1].interval``), else of its nearest enclosing key
    that the file names (``sources[1]``, ``sources``): the one key→line resolver."""
    probe = key
    line = lines.get(probe)
    while line is None and ("." in probe or "[" in probe):
        probe = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
        line = lines.get(probe)
    return line


# msgspec's error messages end with the path of the value: "... - at `$.sources[1].delay`"
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_FIELD = re.compile(r"(unknown|missing required) field `([^`]*)`")
_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _explain(exc: msgspec.ValidationError, data: dict) -> tuple[str, str]:
    """A msgspec error as (dotted key, message in dxmon's words)."""
    m = _AT.match(str(exc))
    message, tokens = m.group("message"), _TOKEN.findall(m.group("path") or "")
    # Walk the path through the schema: the key names a table, an entry or a field of
    # one; deeper paths (an item of a list of strings, a header) are reported on the field
    key, node, meta = "", data, None
    table: type | None = FileSchema  # the Struct whose fields the next name names
    entry: type | None = None  # the Struct of the items of the list just named
    for name, index in tokens:
        if name:
            if table is None:
                break
            key = f"{key}.{name}" if key else name
            node = node.get(name) if isinstance(node, dict) else None
            _, meta, _ = fields_of(table).get(name, (None, None, None))
            table, entry = _field_type(table, name)
        else:
            if entry is None:
                break
            key += f"[{index}]"
            node = node[int(index)] if isinstance(node, list) else None
            table, entry, meta = _entry_cls(entry, node), None, None
    if (f := _FIELD.search(message)) is not None:
        return _field_error(key, f.group(1), f.group(2), table)
    if re.fullmatch(r"notify\[\d+\]\.kind", key):  # the tag: not a field of any Struct
        return key, f"unknown kind {node!r} (known: {', '.join(sorted(CHANNEL_CONFIGS))})"
    if meta is None:  # an entry of a list of tables
        return key, "must be a table"
    return key, f"must be {meta.extra['what']}, got {type(node).__name__} {node!r}"


def _field_type(table: type, name: str) -> tuple[type | None, type | None]:
    """(the Struct of field ``name`` of ``table``, the Struct of its items if it is a
    list of tables); None where the schema holds plain values."""
    hint = fields_of(table).get(name, (None, None, None))[0]
    inner = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    if typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner)
        if typing.get_origin(item) in (typing.Union, types.UnionType):
            return None, ChannelConfig  # the [[notify]] union: the kind picks the Struct
        if isinstance(item, type) and issubclass(item, msgspec.Struct):
            return None, item
        return None, None
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        return inner, None
    return None, None


def _entry_cls(cls: type, node) -> type:
    """The Struct that validates ``node``: a channel's by its kind."""
    if cls is ChannelConfig and isinstance(node, dict):
        kind = node.get("kind")
        return CHANNEL_CONFIGS.get(kind, ChannelConfig) if isinstance(kind, str) \
            else ChannelConfig
    return cls


def _field_error(key: str, how: str, name: str, cls: type | None) -> tuple[str, str]:
    field_key = f"{key}.{name}" if key else name
    channel = cls is not None and issubclass(cls, ChannelConfig)
    if how == "missing required":
        if channel and name != "kind":
            return field_key, f"a {cls.kind} channel needs {name!r}"
        return field_key, "is required"
    allowed = ", ".join(sorted(cls.__struct_fields__)) if cls else ""
    if channel:
        if name.endswith(("password", "secret", "token")) or (cls.kind == "apprise"
                                                               and name == "url"):
            return field_key, ("secrets never go in the config file: name an environment "
                               f"variable with {name}_env instead")
        return field_key, (f"unknown option {name!r} for a {cls.kind or 'notify'} channel "
                           f"(known: kind, {allowed})")
    return field_key, f"unknown key (expected one of: {allowed})"


def _build(schema: FileSchema, fail, *, base: Path, path: Path | None,
           lines: dict[str, int]) -> Config:
    """Run each key's ``check`` and turn the checked tables into the typed Config."""
    c = _Checks(fail)
    storage = c.table(schema.storage, "storage")
    monitor = c.table(schema.monitor, "monitor")
    c.table(schema.web, "web", controls=True)
    c.table(schema.maintenance, "maintenance", controls=True)
    c.table(schema.cluster, "cluster", controls=True)
    storage_path = Path(storage["path"])
    if not storage_path.is_absolute():
        storage_path = base / storage_path
    sources = tuple(c.source(entry, f"sources[{i}]") for i, entry in enumerate(schema.sources))
    c.unique([s.name for s in sources], "sources", "name")
    watch = tuple(c.watch(entry, f"watch[{i}]") for i, entry in enumerate(schema.watch))
    c.unique([w.id for w in watch], "watch", "id")
    notify = tuple(c.channel(entry, f"notify[{i}]") for i, entry in enumerate(schema.notify))
    c.unique([n.name for n in notify], "notify", "name")
    topics = tuple(c.topic(entry, f"topic[{i}]", {s.name for s in sources})
                   for i, entry in enumerate(schema.topic))
    c.unique([t.id for t in topics], "topic", "id")
    digests = tuple(c.digest(entry, f"digest[{i}]", notify)
                    for i, entry in enumerate(schema.digest))
    c.unique([d.id for d in digests], "digest", "id")
    return Config(path=path, storage_path=storage_path, fresh_days=monitor["fresh_days"],
                  crawl_timeout=monitor["crawl_timeout"],
                  revisit_days=monitor["revisit_days"], full_sweep=monitor["full_sweep"],
                  sources=sources, watch=watch or DEFAULT_WATCH, notify=notify,
                  web=schema.web, maintenance=schema.maintenance, cluster=schema.cluster,
                  topics=topics, digests=digests, lines=lines)


class _Checks:
    """The ``check`` of each schema key: validate, convert, or raise a keyed error.

    A check is named in the key's metadata (:func:`core.schema.key`) as a tuple of a
    method name and its arguments; the method takes the value and returns it,
    converted where the typed Config holds another type (a duration as timedelta).
    """

    def __init__(self, fail):
        self.fail = fail

    def table(self, entry: msgspec.Struct, key: str, *, controls: bool = False) -> dict:
        """The entry's fields by name, each checked (and converted)."""
        out = {}
        for name, (_, meta, _) in fields_of(type(entry)).items():
            value = getattr(entry, name)
            field_key = f"{key}.{name}"
            if controls:
                self.no_controls(field_key, value)
            check = meta.extra.get("check") if meta is not None else None
            if check:
                try:
                    value = getattr(self, "check_" + check[0])(value, *check[1:])
                except ValueError as exc:
                    raise self.fail(field_key, str(exc)) from None
            out[name] = value
        return out

    def source(self, entry: SourceEntry, key: str) -> Source:
        return Source(**self.table(entry, key, controls=True))

    def watch(self, entry: WatchEntry, key: str) -> Watch:
        v = self.table(entry, key, controls=True)
        v["name"] = normalize(v["name"])
        v["aliases"] = tuple(normalize(a) for a in v["aliases"]) or (v["name"],)
        v["exclude"] = tuple(normalize(a) for a in v["exclude"])
        return Watch(**v)

    def channel(self, entry: ChannelConfig, key: str) -> ChannelConfig:
        """The entry checked, its name defaulted to its kind (durations stay as written:
        the retry policy is built from them by the notifier registry)."""
        self.table(entry, key, controls=True)
        if isinstance(entry, EmailConfig) and (
                bool(entry.username_env) != bool(entry.password_env)):
            raise self.fail(f"{key}.password_env", "username_env and password_env go together")
        named = msgspec.structs.replace(entry, name=entry.name or entry.kind)
        if isinstance(entry, EmailConfig) and isinstance(entry.to, str):
            named = msgspec.structs.replace(named, to=[entry.to])
        return named

    def topic(self, entry: TopicEntry, key: str, sources: set[str]) -> Topic:
        v = self.table(entry, key, controls=True)
        for i, name in enumerate(v["sources"]):
            if name not in sources:
                known = ", ".join(sorted(sources)) or "none"
                raise self.fail(f"{key}.sources", f"item {i}: no source named {name!r} "
                                f"(known: {known})")
        return Topic(**v)

    def digest(self, entry: DigestEntry, key: str, notify: tuple[ChannelConfig, ...]) -> Digest:
        """The entry checked; each channel it names exists and takes ``digest`` events
        (else the digest would be queued for no one, silently)."""
        v = self.table(entry, key, controls=True)
        channels = {n.name: n for n in notify}
        for i, name in enumerate(v["channels"]):
            if name not in channels:
                known = ", ".join(sorted(channels)) or "none"
                raise self.fail(f"{key}.channels", f"item {i}: no [[notify]] channel named "
                                f"{name!r} (known: {known})")
        named = [channels[n] for n in v["channels"]] or list(notify)
        deaf = [n.name for n in named if not n.accepts("digest")]
        if deaf and (v["channels"] or len(deaf) == len(named)):
            raise self.fail(f"{key}.channels", f"channel {deaf[0]!r} does not take digests: "
                            "add \"digest\" to its events")
        v["day"] = _WEEKDAYS.index(v["day"])
        return Digest(**v)

    def unique(self, names: list[str], key: str, field_name: str) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise self.fail(f"{key}[{i}].{field_name}", f"duplicate {field_name} {name!r}")
            seen.add(name)

    def no_controls(self, key: str, value: object) -> None:
        """Refuse a control character (CR, LF, NUL, ...) in any string of ``value``."""
        if isinstance(value, str) and _CONTROL.search(value):
            raise self.fail(key, f"{value!r} holds a control character (a line break?): "
                            "remove it")
        if isinstance(value, list):
            for item in value:
                self.no_controls(key, item)
        if isinstance(value, dict):
            for name, item in value.items():
                self.no_controls(key, name)
                self.no_controls(key, item)

    # --- the checks named in core.schema ---------------------------------------------

    @staticmethod
    def check_days(value: int) -> int:
        return _bounded(value, 0, MAX_DAYS)

    @staticmethod
    def check_at_least(value: int, minimum: int) -> int:
        return _bounded(value, minimum, None)

    @staticmethod
    def check_topic_query(value: str) -> str:
        # storage.articles.search_match takes it: words, folded, quotes and '*' are text
        if not re.search(r"\w", fold(normalize(value))):
            raise ValueError(f"must hold at least one word to search for, got {value!r}")
        return value.strip()

    @staticmethod
    def check_time_of_day(value: str) -> time:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
        if not m:
            raise ValueError(f"must be a time of day as HH:MM (00:00 to 23:59), got {value!r}")
        return time(int(m.group(1)), int(m.group(2)))

    @staticmethod
    def check_time_zone(value: str) -> ZoneInfo:
        # looked up in the list of zones, never opened as a path: "Asia" is a folder of
        # the zone database and a 300-character name is too long for a file name
        if value.strip() not in _zones():
            raise ValueError(f"must be an IANA time zone such as \"Asia/Ho_Chi_Minh\", "
                             f"got {value!r}")
        return ZoneInfo(value.strip())

    @staticmethod
    def check_optional_at_least(value: int | None, minimum: int) -> int | None:
        return None if value is None else _bounded(value, minimum, None)

    @staticmethod
    def check_duration(value) -> timedelta:
        return parse_duration(value)

    @staticmethod
    def check_delay(value: float) -> float:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number of seconds, got {value}")
        return float(_bounded(value, 0, MAX_DELAY_S))

    @staticmethod
    def check_required_text(value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @classmethod
    def check_name(cls, value: str) -> str:
        cls.check_required_text(value)
        if not _NAME.match(value):
            raise ValueError(f"{value!r} may hold only letters, digits, '.', '_' and '-'")
        return value

    @classmethod
    def check_channel_name(cls, value: str) -> str:
        return cls.check_name(value) if value else value

    @staticmethod
    def check_choice(value: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return value

    @staticmethod
    def check_strings(value: list[str], required: bool = False) -> tuple[str, ...]:
        for i, item in enumerate(value):
            if not item.strip():
                raise ValueError(f"item {i} must be a non-empty string, got {item!r}")
        if required and not value:
            raise ValueError("must list at least one entry")
        return tuple(item.strip() for item in value)

    @classmethod
    def check_urls(cls, value: list[str], required: bool) -> tuple[str, ...]:
        values = cls.check_strings(value, required)
        for url in values:
            try:
                parts = urlsplit(url)
                ok = parts.scheme in ("http", "https") and parts.hostname and (
                    parts.port or True)
            except ValueError:  # a bracketed host that is not an IPv6 address, a bad port
                ok = False
            if not ok:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return values

    @staticmethod
    def check_regex(value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regex: {exc}") from None
        return value

    @staticmethod
    def check_port(value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 65535:
            raise ValueError(f"must be a port number from 1 to 65535, got {value!r}")
        return value

    @staticmethod
    def check_timeout(value: float) -> float:
        # a send holds its alert's lease for as long (notifier.outbox): bounded
        if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_S:
            raise ValueError(f"must be a number of seconds above 0 and at most "
                             f"{MAX_TIMEOUT_S}, got {value!r}")
        return value

    @staticmethod
    def check_env_name(value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"must name an environment variable (letters, digits, _), "
                             f"got {value!r}")
        return value

    @staticmethod
    def check_address(value: str) -> str:
        if "@" not in value:
            raise ValueError("must be an email address")
        return value

    @staticmethod
    def check_addresses(value: list[str] | str) -> tuple[str, ...]:
        to = [value] if isinstance(value, str) else value
        if not to or not all("@" in t for t in to):
            raise ValueError("must be a list of email addresses")
        return tuple(to)

    @staticmethod
    def check_hook_url(value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
        if parts.username is not None or parts.password is not None:
            raise ValueError("credentials never go in the config file: remove "
                             "user:password@ from the URL and send them as a header "
                             "named in headers_env (e.g. headers_env = { Authorization = "
                             "\"HOOK_AUTH\" }, with HOOK_AUTH holding \"Basic ...\")")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @staticmethod
    def check_headers(value: dict[str, str]) -> dict[str, str]:
        for header, text in value.items():
            _header_name(header)
            if not text.isascii():
                raise ValueError(f"the {header!r} header's value must be ASCII text "
                                 f"(HTTP sends no other), got {text!r}")
            if header.lower() in _SECRET_HEADERS or any(
                    word in header.lower() for word in _SECRET_HEADER_WORDS):
                raise ValueError(f"the {header!r} header holds a secret, and secrets "
                                 "never go in the config file: name an environment "
                                 f"variable in headers_env = {{ {header} = \"VAR\" }} instead")
        return value

    @staticmethod
    def check_events(value: list[str]) -> list[str]:
        """Each entry names an event or is a pattern matching at least one: a misspelt
        name would silently never match, and the channel would miss what it wanted."""
        for entry in value:
            if not any(events_accept([entry], name) for name in EVENT_NAMES):
                raise ValueError(f"unknown event {entry!r} (known: {', '.join(EVENT_NAMES)}; "
                                 "a pattern such as \"source.*\" matches several)")
        return value

    @staticmethod
    def check_headers_env(value: dict[str, str]) -> dict[str, str]:
        for header, var in value.items():
            _header_name(header)
            if not _ENV_NAME.match(var):
                raise ValueError(f"{header!r} must name an environment variable "
                                 f"(letters, digits, _), got {var!r}")
        return value


def _bounded(value: int | float, minimum: int | float, maximum: int | float | None):
    if value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum:g}, got {value}")
    return value


def _header_name(header: str) -> None:
    if not _HEADER_NAME.match(header):
        raise ValueError(f"{header!r} is not an HTTP header name (letters, digits and -)")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def _locate_keys(text: str) -> dict[str, int]:
    """Map dotted keys (``sources[1].interval``) to the 1-based line that sets them.

    tomllib gives no positions, so this walks the lines: table headers, array-of-table
    headers (counted) and ``key =`` lines. Multi-line values only record their first line.
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    prefix = ""
    depth = 0  # inside a multi-line array or inline table: skip
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
            in_string = not in_string
            if not in_string:
                continue
        if in_string:
            continue
        if depth == 0 and (m := _HEADER.match(line)):
            name = m.group(2).strip().replace('"', "").replace("'", "")
            if m.group(1) == "[[":
                index = counts.get(name, -1) + 1
                counts[name] = index
                prefix = f"{name}[{index}]"
            else:
                prefix = name
            lines.setdefault(prefix, number)
            continue
        if depth == 0 and (m := _KEY.match(line)):
            name = m.group(1).replace('"', "").replace("'", "")
            lines.setdefault(f"{prefix}.{name}" if prefix else name, number)
        stripped = re.sub(r'"(?:\\.|[^"\\])*"|\'[^\']*\'', "", line.split("#", 1)[0])
        depth += stripped.count("[") + stripped.count("{") - stripped.count("]") - stripped.count("}")
        depth = max(depth, 0)
    return lines
