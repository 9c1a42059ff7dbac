"""Load ``dxmon.toml`` into a validated :class:`Config`.

The file is found by ``--config``, else ``$DXMON_CONFIG``, else ``./dxmon.toml``.
Every value is checked here, at start: a bad one raises :class:`ConfigError`
naming the dotted key (``sources[1].interval``) and its line in the file, so no
crawl starts on a config that would fail later. Unknown keys are errors too: a
misspelt ``intervall`` would otherwise be silently ignored.

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

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.models import Channel, Source, Watch
from core.text import normalize

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
    """The validated configuration. ``lines`` maps dotted keys to their line numbers."""

    path: Path | None
    storage_path: Path
    fresh_days: int = 7
    crawl_timeout: timedelta = timedelta(minutes=20)
    revisit_days: int = 7
    full_sweep: timedelta = timedelta(hours=24)
    sources: tuple[Source, ...] = ()
    watch: tuple[Watch, ...] = DEFAULT_WATCH
    notify: tuple[Channel, ...] = ()
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
        line = self.lines.get(key)
        while line is None and "." in key:
            key_parent = key.rsplit(".", 1)[0]
            line = self.lines.get(key_parent)
            if line is not None:
                break
            key = key_parent
        return ConfigError(message, key=key, line=line,
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
    v = _Validator(lines, where)
    base = path.parent if path else Path.cwd()

    v.only(data, "", {"storage", "monitor", "sources", "watch", "notify"})
    storage = v.table(data, "storage")
    v.only(storage, "storage", {"path"})
    storage_path = Path(v.string(storage, "storage.path", default="dxmon.db"))
    if not storage_path.is_absolute():
        storage_path = base / storage_path

    monitor = v.table(data, "monitor")
    v.only(monitor, "monitor", {"fresh_days", "crawl_timeout", "revisit_days", "full_sweep"})
    fresh_days = v.integer(monitor, "monitor.fresh_days", default=7, minimum=0,
                           maximum=MAX_DAYS)
    crawl_timeout = v.duration(monitor, "monitor.crawl_timeout", default="20m")
    revisit_days = v.integer(monitor, "monitor.revisit_days", default=7, minimum=0,
                             maximum=MAX_DAYS)
    full_sweep = v.duration(monitor, "monitor.full_sweep", default="24h")

    sources = tuple(v.source(item, f"sources[{i}]")
                    for i, item in enumerate(v.array(data, "sources")))
    v.unique([s.name for s in sources], "sources", "name")

    watch_items = v.array(data, "watch")
    watch = tuple(v.watch(item, f"watch[{i}]") for i, item in enumerate(watch_items))
    v.unique([w.id for w in watch], "watch", "id")

    notify = tuple(v.channel(item, f"notify[{i}]")
                   for i, item in enumerate(v.array(data, "notify")))
    v.unique([c.name for c in notify], "notify", "name")

    return Config(path=path, storage_path=storage_path, fresh_days=fresh_days,
                  crawl_timeout=crawl_timeout, revisit_days=revisit_days,
                  full_sweep=full_sweep, sources=sources,
                  watch=watch or DEFAULT_WATCH, notify=notify, lines=lines)


class _Validator:
    """Typed getters that raise ConfigError with the key's dotted name and line."""

    def __init__(self, lines: dict[str, int], path: str | None):
        self.lines = lines
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        probe = key
        line = self.lines.get(probe)
        while line is None and ("." in probe or "[" in probe):
            probe = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
            line = self.lines.get(probe)
        return ConfigError(message, key=key, line=line, path=self.path)

    def _get(self, table: dict, key: str, types: tuple, what: str, default):
        name = key.rsplit(".", 1)[-1]
        if name not in table:
            if default is _REQUIRED:
                raise self.fail(key, "is required")
            return default
        value = table[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise self.fail(key, f"must be {what}, got {type(value).__name__} {value!r}")
        return value

    def only(self, table: dict, prefix: str, allowed: set[str]) -> None:
        for name in table:
            if name not in allowed:
                key = f"{prefix}.{name}" if prefix else name
                raise self.fail(key, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def table(self, data: dict, key: str) -> dict:
        return self._get(data, key, (dict,), "a table", {})

    def array(self, data: dict, key: str) -> list:
        items = self._get(data, key, (list,), "an array of tables ([[" + key + "]])", [])
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", "must be a table")
        return items

    def string(self, table: dict, key: str, default: str | None = None,
               required: bool = False) -> str:
        value = self._get(table, key, (str,), "a string", _REQUIRED if required else default)
        if required and not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def choice(self, table: dict, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(table, key, default=default)
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def integer(self, table: dict, key: str, default: int, minimum: int = 0,
                maximum: int | None = None) -> int:
        value = self._get(table, key, (int,), "an integer", default)
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(key, f"must be at most {maximum}, got {value}")
        return value

    def number(self, table: dict, key: str, default: float, minimum: float = 0,
               maximum: float | None = None) -> float:
        value = self._get(table, key, (int, float), "a number", default)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, f"must be a finite number of seconds, got {value}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(key, f"must be at most {maximum:g}, got {value}")
        return float(value)

    def boolean(self, table: dict, key: str, default: bool) -> bool:
        return self._get(table, key, (bool,), "true or false", default)

    def duration(self, table: dict, key: str, default: str) -> timedelta:
        value = self._get(table, key, (str, int, float), "a duration such as \"30m\"", default)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def strings(self, table: dict, key: str, required: bool = False) -> tuple[str, ...]:
        value = self._get(table, key, (list,), "an array of strings",
                          _REQUIRED if required else [])
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(key, f"item {i} must be a non-empty string, got {item!r}")
            self.no_controls(key, item.strip())
        if required and not value:
            raise self.fail(key, "must list at least one entry")
        return tuple(item.strip() for item in value)

    def urls(self, table: dict, key: str, required: bool = False) -> tuple[str, ...]:
        values = self.strings(table, key, required=required)
        for url in values:
            try:
                parts = urlsplit(url)
                ok = parts.scheme in ("http", "https") and parts.hostname and (
                    parts.port or True)
            except ValueError:  # a bracketed host that is not an IPv6 address, a bad port
                ok = False
            if not ok:
                raise self.fail(key, f"{url!r} is not an http(s) URL")
        return values

    def date(self, table: dict, key: str) -> date | None:
        value = self._get(table, key, (date,), "a date (YYYY-MM-DD)", None)
        if isinstance(value, datetime):  # a TOML date-time is a date too, in Python
            raise self.fail(key, f"must be a date (YYYY-MM-DD) without a time, got {value}")
        return value

    def unique(self, names: list[str], key: str, field_name: str) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise self.fail(f"{key}[{i}].{field_name}", f"duplicate {field_name} {name!r}")
            seen.add(name)

    def name(self, table: dict, key: str) -> str:
        value = self.string(table, key, required=True)
        if not _NAME.match(value):
            raise self.fail(key, f"{value!r} may hold only letters, digits, '.', '_' and '-'")
        return value

    def source(self, item: dict, key: str) -> Source:
        self.only(item, key, {"name", "start_urls", "feeds", "sitemaps", "interval", "delay",
                              "article_pattern", "allowed_domains", "max_pages", "max_depth",
                              "enabled"})
        pattern = self.string(item, f"{key}.article_pattern", default=None)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(f"{key}.article_pattern", f"not a valid regex: {exc}") from None
        return Source(
            name=self.name(item, f"{key}.name"),
            start_urls=self.urls(item, f"{key}.start_urls", required=True),
            feeds=self.urls(item, f"{key}.feeds"),
            sitemaps=self.urls(item, f"{key}.sitemaps"),
            interval=self.duration(item, f"{key}.interval", default="30m"),
            delay=self.number(item, f"{key}.delay", default=1.0, maximum=MAX_DELAY_S),
            article_pattern=pattern,
            allowed_domains=self.strings(item, f"{key}.allowed_domains"),
            max_pages=self.integer(item, f"{key}.max_pages", default=2000, minimum=1),
            max_depth=self.integer(item, f"{key}.max_depth", default=4, minimum=0),
            enabled=self.boolean(item, f"{key}.enabled", default=True),
        )

    def watch(self, item: dict, key: str) -> Watch:
        self.only(item, key, {"id", "name", "aliases", "exclude", "active_from", "active_until",
                              "numbering"})
        name = normalize(self.string(item, f"{key}.name", required=True))
        aliases = tuple(normalize(a) for a in self.strings(item, f"{key}.aliases"))
        return Watch(
            id=self.name(item, f"{key}.id"),
            name=name,
            aliases=aliases or (name,),
            exclude=tuple(normalize(a) for a in self.strings(item, f"{key}.exclude")),
            active_from=self.date(item, f"{key}.active_from"),
            active_until=self.date(item, f"{key}.active_until"),
            numbering=self.choice(item, f"{key}.numbering", ("continuous", "yearly"),
                                  default="continuous"),
        )

    def channel(self, item: dict, key: str) -> Channel:
        kind = self.name(item, f"{key}.kind")
        name = self.string(item, f"{key}.name", default=None) or kind
        if not _NAME.match(name):
            raise self.fail(f"{key}.name", f"{name!r} may hold only letters, digits, '.', '_' and '-'")
        for opt, value in item.items():
            if opt.endswith(("password", "secret", "token")) and isinstance(value, str):
                raise self.fail(f"{key}.{opt}", "secrets never go in the config file: name an "
                                f"environment variable with {opt}_env instead")
            self.channel_option(f"{key}.{opt}", opt, value)
        options = {k: v for k, v in item.items() if k not in ("kind", "name")}
        return Channel(name=name, kind=kind, options=options)

    def channel_option(self, key: str, opt: str, value: object) -> None:
        """Checks every channel kind shares: no control characters anywhere, ports,
        timeouts, no credentials in a URL or a literal header, ``*_env`` names."""
        self.no_controls(key, value)
        if opt in ("to", "sender") and not (
                isinstance(value, str) or (isinstance(value, list) and opt == "to"
                                           and all(isinstance(v, str) for v in value))):
            what = "an email address" if opt == "sender" else "a list of email addresses"
            raise self.fail(key, f"must be {what}, got {value!r}")
        if opt == "port" and (not isinstance(value, int) or isinstance(value, bool)
                              or not 1 <= value <= 65535):
            raise self.fail(key, f"must be a port number from 1 to 65535, got {value!r}")
        if opt == "timeout" or opt.endswith("_timeout"):
            # channels take seconds as a number (float(timeout)); bounded like a duration
            if (not isinstance(value, int | float) or isinstance(value, bool)
                    or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_S):
                raise self.fail(key, f"must be a number of seconds above 0 and at most "
                                f"{MAX_TIMEOUT_S}, got {value!r}")
        if opt == "url" and isinstance(value, str):
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - raises ValueError on a port that is not a number
            except ValueError as exc:
                raise self.fail(key, f"{value!r} is not a valid URL: {exc}") from None
            if parts.username is not None or parts.password is not None:
                raise self.fail(key, "credentials never go in the config file: remove "
                                "user:password@ from the URL and send them as a header "
                                "named in headers_env (e.g. headers_env = { Authorization = "
                                "\"HOOK_AUTH\" }, with HOOK_AUTH holding \"Basic ...\")")
        if opt in ("headers", "headers_env") and isinstance(value, dict):
            for header, text in value.items():
                if not _HEADER_NAME.match(header):
                    raise self.fail(key, f"{header!r} is not an HTTP header name (letters, "
                                    "digits and -)")
                if opt == "headers" and (not isinstance(text, str) or not text.isascii()):
                    raise self.fail(key, f"the {header!r} header's value must be ASCII text "
                                    f"(HTTP sends no other), got {text!r}")
        if opt == "headers" and isinstance(value, dict):
            for header in value:
                if header.lower() in _SECRET_HEADERS or any(
                        word in header.lower() for word in _SECRET_HEADER_WORDS):
                    raise self.fail(key, f"the {header!r} header holds a secret, and secrets "
                                    "never go in the config file: name an environment "
                                    f"variable in headers_env = {{ {header} = \"VAR\" }} instead")
        if opt == "headers_env":
            if not isinstance(value, dict):
                raise self.fail(key, "must be a table of header names to environment "
                                "variable names")
            for header, var in value.items():
                if not isinstance(var, str) or not _ENV_NAME.match(var):
                    raise self.fail(key, f"{header!r} must name an environment variable "
                                    f"(letters, digits, _), got {var!r}")
        if opt.endswith("_env") and opt != "headers_env" and value is not None and (
                not isinstance(value, str) or not _ENV_NAME.match(value)):
            raise self.fail(key, f"must name an environment variable (letters, digits, _), "
                            f"got {value!r}")

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


_REQUIRED = object()

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
