"""Fuzzing config loading: a mangled ``dxmon.toml`` gets a ConfigError, nothing else.

Every dxmon command starts by loading the config, and ``serve``/``notify-test`` then
build the notification channels from it. Whatever the file holds — a value of the wrong
type, ``nan``, a huge number, a control character, a broken line, deep nesting — the
only exception that may escape is :class:`core.errors.ConfigError` (which the CLI turns
into one line naming the key and line), and loading never hangs.

The mutations start from a valid, realistic config (two sources, a watch entry, an
email and a webhook channel) and change it the way a hand edit or a bad generator
would: a value replaced by any TOML value, characters inserted or deleted, lines
duplicated, swapped or cut, a key renamed.
"""

from __future__ import annotations

import json
import math
import signal
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import load_config, parse_config
from core.errors import ConfigError

VALID = """\
[storage]
path = "archive.db"

[monitor]
fresh_days = 7
crawl_timeout = "20m"
revisit_days = 7
full_sweep = "24h"

[[sources]]
name = "thanhhoa-tv"
start_urls = ["http://127.0.0.1:8001/thoi-su.htm"]
feeds = ["http://127.0.0.1:8001/rss/thoi-su.rss"]
sitemaps = []
interval = "30m"
delay = 1.5
allowed_domains = ["127.0.0.1"]
max_pages = 500
max_depth = 3
article_pattern = "-\\\\d+\\\\.htm$"

[[sources]]
name = "hanoi"
start_urls = ["http://127.0.0.1:8002/tin-tuc"]
enabled = false

[[watch]]
id = "ubqg-cds"
name = "Ủy ban Quốc gia về chuyển đổi số"
aliases = ["UBQG về CĐS"]
active_from = 2021-04-01
numbering = "continuous"

[[notify]]
kind = "email"
name = "office"
host = "127.0.0.1"
port = 2525
security = "none"
sender = "dxmon@example.org"
to = ["desk@example.org"]
timeout = 20

[[notify]]
kind = "webhook"
url = "http://127.0.0.1:9000/hook"
timeout = 5
headers = { X-Source = "dxmon" }
headers_env = { Authorization = "DXMON_FUZZ_HOOK_AUTH" }
retry_base = "1m"
max_attempts = 5
"""

# A generous bound for one load (it takes about a millisecond): reaching it is a hang.
HANG_S = 10


def toml_value(value) -> str:
    """``value`` as TOML text (floats' nan/inf included; strings as basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(value)


scalars = st.one_of(
    st.booleans(),
    st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["30m", "0s", "-5m", "1h30m", "99999999999999d", "soon", "",
                     "http://u:p@127.0.0.1/x", "http://[::1/", "a@b\r\nBcc: x@y",
                     "Bearer abc", "ftp://127.0.0.1/", "(", "[a-"]),
    st.text(max_size=20),
    st.dates(), st.datetimes(),
)
# values known to break naive validation, drawn often so every key meets each of them
hostile = st.sampled_from([
    math.nan, math.inf, -math.inf, 1e308, -1e308, 10**30, -(10**30), 2**63, -1, 0, True,
    "", " ", "99999999999999d", "0s", "soon", "a@b.vn\r\nBcc: x@y.vn", "x\x00y",
    "http://u:p@127.0.0.1/x", "http://[::1/", "http://127.0.0.1:port/", "(", [], {},
    [math.nan], {"Authorization": "Bearer abc"}, date(1, 1, 1), datetime(9999, 12, 31)])
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["Authorization", "X-A", "a", "b"]),
                                            inner, max_size=3)),
    max_leaves=8)


@st.composite
def mutated(draw) -> str:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "value", "value", "insert", "delete",
                                     "duplicate", "swap", "truncate", "rename"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind in ("value", "rename"):  # aim at a line that sets a key
            keyed = [n for n, text in enumerate(lines) if " = " in text] or [i]
            i = draw(st.sampled_from(keyed))
        line = lines[i]
        if kind == "value" and " = " in line:
            value = draw(st.one_of(hostile, hostile, values))
            lines[i] = line.split(" = ", 1)[0] + " = " + toml_value(value)
        elif kind == "insert":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.text(min_size=1, max_size=5)) + line[at:]
        elif kind == "delete" and line:
            at = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:at] + line[at + draw(st.integers(1, 5)):]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "truncate":
            lines = lines[:i]
        elif kind == "rename" and " = " in line:
            lines[i] = draw(st.sampled_from(["intervall", "port", "timeout", "url", "delay",
                                             "password", "headers", "x_env"])) + " = " + \
                line.split(" = ", 1)[1]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@contextmanager
def no_hang(seconds: int = HANG_S):
    """Fail, rather than wait for ever, if the block runs ``seconds`` (SIGALRM)."""
    def hung(signum, frame):
        raise AssertionError(f"config loading still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def load_everything(text: str) -> None:
    """What a command does with the file: validate it, then build its channels."""
    from notifier.registry import build_channels

    config = parse_config(text)
    for source in config.sources:  # what the crawl and the scheduler compute from them
        assert math.isfinite(source.delay) and source.delay >= 0
        assert source.interval > timedelta(0)
        datetime.now() + source.interval  # noqa: B018 - must not overflow
    datetime.now() - timedelta(days=config.fresh_days)  # noqa: B018
    datetime.now() + config.crawl_timeout + config.full_sweep  # noqa: B018
    build_channels(config)


def test_the_unmutated_config_is_valid(monkeypatch):
    """The fuzzer's starting point loads, so mutations start from a working file."""
    monkeypatch.setenv("DXMON_FUZZ_HOOK_AUTH", "Bearer fuzz")
    load_everything(VALID)


# 150 mangled files (~50 ms each: the whole config is loaded and its channels built);
# 400 took ~20 s of the suite
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated())
def test_a_mangled_config_raises_only_config_error(text):
    import os

    os.environ["DXMON_FUZZ_HOOK_AUTH"] = "Bearer fuzz"
    with no_hang():
        try:
            load_everything(text)
        except ConfigError as exc:
            assert str(exc).startswith("config")  # "config[, line N][, key K]: ..."
            assert "\n" not in str(exc).split(": ", 1)[0]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_as_a_config_file_raise_only_config_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "dxmon.toml"
    path.write_bytes(data)
    with no_hang():
        try:
            load_config(path)
        except ConfigError:
            pass
