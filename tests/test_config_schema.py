"""The config schema declared once (core/schema.py) and the typed channels built from it.

The schema is attacked through itself: every key of every table is given a value of a
type none accepts, and every table an unknown key, and each refusal must name that key
and its line. Channels are refused when the file loads — ``dxmon crawl`` with an
unknown kind makes no request to a real portal. ``dxmon init``'s file cannot drift from
the schema: its commented examples, uncommented, must load. A channel's own bug fails
its alert at once, with its traceback in the log, where a network error is retried.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import NODEFAULT

from core.config import parse_config
from core.errors import ConfigError
from core.schema import (
    CHANNEL_CONFIGS,
    ChannelConfig,
    MonitorTable,
    SourceEntry,
    StorageTable,
    WatchEntry,
    fields_of,
    reference,
)
from monitor.cli import main
from notifier.base import Notifier
from notifier.outbox import LEASE, Dispatcher, lease_for
from notifier.registry import KINDS, build_channels, build_notifier
from tests.hostile.test_fuzz_config import toml_value
from tests.test_notifier import Clock, a_session, webhook_config
from testsupport.portals import PortalWeb

# One of each table, each header followed by the keys it needs; a test inserts a line
# right after a header, so the line of that key is the header's line + 1.
BASE = """\
[storage]
path = "a.db"
[monitor]
fresh_days = 7
[[sources]]
name = "s"
start_urls = ["http://127.0.0.1:9/"]
[[watch]]
id = "w"
name = "Ban Chỉ đạo"
[[notify]]
kind = "webhook"
url = "http://127.0.0.1:9/hook"
[[notify]]
kind = "email"
name = "mail"
host = "h"
sender = "a@b.vn"
to = ["c@d.vn"]
[[notify]]
kind = "console"
name = "screen"
[[notify]]
kind = "apprise"
name = "chat"
url_env = "DXMON_APPRISE_URL"
"""

# (header line, dotted prefix, Struct) of each table in BASE
TABLES = [("[storage]", "storage", StorageTable), ("[monitor]", "monitor", MonitorTable),
          ("[[sources]]", "sources[0]", SourceEntry), ("[[watch]]", "watch[0]", WatchEntry)]
TABLES += [(f'kind = "{kind}"', f"notify[{i}]", cls)
           for i, (kind, cls) in enumerate(CHANNEL_CONFIGS.items())]


def with_line(header: str, line: str, drop: str | None = None) -> tuple[str, int]:
    """BASE with ``line`` inserted after ``header`` (and the table's own ``drop =`` line
    removed); the inserted line's number."""
    lines = BASE.splitlines()
    at = lines.index(header) + 1
    if drop is not None:
        end = next((i for i in range(at, len(lines)) if lines[i].startswith("[")), len(lines))
        lines[at:end] = [x for x in lines[at:end] if not x.startswith(f"{drop} =")]
    lines.insert(at, line)
    return "\n".join(lines) + "\n", at + 1


def refusal(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value


def test_the_base_config_loads():
    config = parse_config(BASE)
    assert [c.kind for c in config.notify] == ["webhook", "email", "console", "apprise"]
    assert [c.name for c in config.notify] == ["webhook", "mail", "screen", "chat"]


KEYS = [(header, prefix, name, meta.extra["what"])
        for header, prefix, cls in TABLES
        for name, (_, meta, _) in fields_of(cls).items()]


@pytest.mark.parametrize("header, prefix, name, what", KEYS,
                         ids=[f"{p}.{n}" for _, p, n, _ in KEYS])
def test_every_key_of_the_wrong_type_is_refused_with_its_key_and_line(header, prefix, name,
                                                                      what):
    """A table of an int fits no key (headers take a table, but of strings)."""
    text, line = with_line(header, f"{name} = {{ x = 1 }}", drop=name)
    error = refusal(text)
    assert (error.key, error.line) == (f"{prefix}.{name}", line), str(error)
    assert f"line {line}, key '{prefix}.{name}': must be {what}" in str(error)


@pytest.mark.parametrize("header, prefix, cls", TABLES, ids=[p for _, p, _ in TABLES])
def test_an_unknown_key_in_any_table_is_refused_with_its_line(header, prefix, cls):
    text, line = with_line(header, "intervall = 3")
    error = refusal(text)
    assert (error.key, error.line) == (f"{prefix}.intervall", line)
    assert "unknown" in str(error) and all(n in str(error) for n in cls.__struct_fields__)


REQUIRED = [(header, prefix, name) for header, prefix, cls in TABLES
            for name, (_, _, default) in fields_of(cls).items() if default is NODEFAULT]


@pytest.mark.parametrize("header, prefix, name", REQUIRED,
                         ids=[f"{p}.{n}" for _, p, n in REQUIRED])
def test_a_missing_required_key_is_named_with_its_tables_line(header, prefix, name):
    text, _ = with_line(header, "", drop=name)
    error = refusal(text)
    assert error.key == f"{prefix}.{name}", str(error)
    assert error.line == BASE.splitlines().index(header) + 1 - (header.startswith("kind"))
    assert "is required" in str(error) or f"channel needs '{name}'" in str(error)


@pytest.mark.parametrize("kind, says", [
    ('"pigeon"', "unknown kind 'pigeon' (known: apprise, console, email, webhook)"),
    ('"Webhook"', "unknown kind 'Webhook'"),
    ("3", "unknown kind 3"),
    ("[]", "unknown kind []"),
])
def test_an_unknown_kind_is_refused_at_load_with_its_line(kind, says):
    text = BASE.replace('kind = "console"', f"kind = {kind}")
    error = refusal(text)
    assert error.key == "notify[2].kind" and error.line == BASE.splitlines().index(
        'kind = "console"') + 1
    assert says in str(error)


def test_an_option_of_another_kind_is_refused_for_this_kind():
    """Each kind is its own Struct: ``host`` is an email option, not a webhook's."""
    text, line = with_line('kind = "webhook"', 'host = "smtp.example.org"')
    error = refusal(text)
    assert (error.key, error.line) == ("notify[0].host", line)
    assert "unknown option 'host' for a webhook channel" in str(error)
    # its negative: the same option in an email channel loads
    parse_config(with_line('kind = "email"', 'port = 2525')[0])


def test_every_kind_the_schema_accepts_has_a_notifier_taking_that_config():
    assert {kind: cls.config_type for kind, cls in KINDS.items()} == CHANNEL_CONFIGS


def test_notifiers_are_built_typed_with_their_policy_at_construction(tmp_path, monkeypatch):
    monkeypatch.setenv("DXMON_TEST_SECRET", "s")
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook", extra="max_attempts = 3\n")
    (notifier,) = build_channels(config).values()
    assert isinstance(notifier, Notifier)
    assert notifier.policy.base == timedelta(seconds=10) and notifier.policy.max_attempts == 3
    assert notifier.timeout == 10.0 and lease_for(notifier) == timedelta(seconds=25)
    screen = build_notifier(parse_config(BASE).notify[2])
    assert isinstance(screen, Notifier) and screen.timeout is None
    assert lease_for(screen) == LEASE
    assert screen.policy.max_attempts == 12


# --- dxmon init: the written file and the schema cannot drift ------------------------


def test_init_writes_every_key_of_the_schema_with_its_doc(tmp_path, capsys):
    target = tmp_path / "dxmon.toml"
    assert main(["init", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.endswith(reference())
    for _, _, cls in [*TABLES, (None, None, ChannelConfig)]:
        for name, (_, meta, _) in fields_of(cls).items():
            assert re.search(rf"^#   {name}\b.*{re.escape(meta.description.split()[0])}",
                             text, re.M), name


def test_the_starter_files_commented_examples_load_when_uncommented(tmp_path, monkeypatch):
    """Each ``# key = value`` line of the starter is a real key: uncommented, the file
    (its watch and notify examples included) is valid."""
    for var in ("DXMON_WEBHOOK_SECRET", "DXMON_SMTP_USER", "DXMON_SMTP_PASSWORD"):
        monkeypatch.setenv(var, "x")
    target = tmp_path / "dxmon.toml"
    assert main(["init", str(target)]) == 0
    starter = target.read_text(encoding="utf-8").split("# --- Every key")[0]
    examples = re.sub(r"^# (\[\[\w+\]\]|\w+ = .*)$", r"\1", starter, flags=re.M)
    assert examples.count("[[notify]]") == 2 and "[[watch]]" in examples.replace(
        "# [[watch]]", "")
    config = parse_config(examples)
    assert [c.kind for c in config.notify] == ["webhook", "email"]
    assert [w.id for w in config.watch] == ["bcd-iuu"]
    build_channels(config)


# --- channels are refused before any crawl ----------------------------------------------


@pytest.fixture
def portal():
    web = PortalWeb([], sites=["thanhhoa-tv"], traps=False, page_size=20)
    web.add_synthetic("thanhhoa-tv", 20, words=60)
    with web:
        yield web


@pytest.mark.parametrize("channel, key", [
    ('[[notify]]\nkind = "pigeon"\n', "notify[0].kind"),
    ('[[notify]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\n'
     'secret_env = "DXMON_UNSET_SECRET"\n', "notify[0].secret_env"),
    ('[[notify]]\nkind = "email"\nhost = "h"\nsender = "a@b.vn"\nto = ["c@d.vn"]\n'
     'pasword_env = "X"\n', "notify[0].pasword_env"),
])
def test_crawl_refuses_a_bad_channel_before_any_request(tmp_path, portal, capsys, monkeypatch,
                                                        channel, key):
    monkeypatch.delenv("DXMON_UNSET_SECRET", raising=False)
    path = tmp_path / "dxmon.toml"
    path.write_text(portal.config_toml("dxmon.db", extra=channel), encoding="utf-8")
    started = time.monotonic()
    code = main(["crawl", "--config", str(path)])
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and f"'{key}'" in err, err
    assert took < 2, took  # the bound; the refusal itself takes milliseconds
    assert portal.requests == [] and not (tmp_path / "dxmon.db").exists()


# --- a channel's bug is a permanent failure, logged with its traceback ----------------------


def buggy_transport(error: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error
    return httpx.MockTransport(handler)


def deliver_once(tmp_path, monkeypatch, error: Exception):
    """One due alert sent through a real webhook notifier whose transport raises ``error``."""
    from storage.schema import open_db

    monkeypatch.setenv("DXMON_TEST_SECRET", "s")
    config = webhook_config(tmp_path, "http://127.0.0.1:9/hook")
    notifier = build_notifier(config.notify[0], transport=buggy_transport(error))
    db = open_db(config.storage_path)
    a_session(db, config)
    report = Dispatcher(db, {"webhook": notifier}, clock=Clock(), watch=config.watch).run_due()
    (row,) = db.query("SELECT status, attempts, last_error FROM alerts")
    return report, row


@pytest.mark.parametrize("bug", [KeyError("recipient"), TypeError("unsupported operand"),
                                 AttributeError("'NoneType' object has no attribute 'x'")])
def test_a_channels_bug_fails_its_alert_at_once_with_a_traceback(tmp_path, monkeypatch,
                                                                 caplog, bug):
    with caplog.at_level(logging.ERROR, logger="dxmon"):
        report, row = deliver_once(tmp_path, monkeypatch, bug)
    assert report.failed and not report.retrying
    assert row["status"] == "failed" and row["attempts"] == 1
    assert type(bug).__name__ in row["last_error"] and "bug" in row["last_error"]
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.exc_info[0] is type(bug) and "Traceback" in caplog.text


@pytest.mark.parametrize("network", [ConnectionResetError("reset by peer"),
                                     httpx.ConnectError("refused")])
def test_a_network_error_is_still_retried(tmp_path, monkeypatch, network):
    report, row = deliver_once(tmp_path, monkeypatch, network)
    assert report.retrying and not report.failed
    assert row["status"] == "pending" and row["attempts"] == 1


# --- bounds: a value is accepted exactly when the rule says so --------------------------

BOUNDED = {
    # (header, key): the rule, as a person reads it in the README
    ('kind = "email"', "port"): lambda v: isinstance(v, int) and 1 <= v <= 65535,
    ('kind = "webhook"', "timeout"): lambda v: math.isfinite(v) and 0 < v <= 600,
    ("[[sources]]", "delay"): lambda v: math.isfinite(v) and 0 <= v <= 3600,
    ("[monitor]", "fresh_days"): lambda v: isinstance(v, int) and 0 <= v <= 3650,
    ("[[sources]]", "max_pages"): lambda v: isinstance(v, int) and v >= 1,
    ('kind = "console"', "max_attempts"): lambda v: isinstance(v, int) and v >= 1,
}
numbers = st.one_of(st.integers(-(2**63), 2**63), st.floats(allow_nan=True),
                    st.sampled_from([0, 1, -1, 65535, 65536, 600, 600.0001, 3600, 3650, 3651,
                                     0.0, -0.0, 1e-9]))


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(sorted(BOUNDED)), value=numbers)
def test_a_number_is_accepted_exactly_within_its_bounds(where, value):
    header, name = where
    text, line = with_line(header, f"{name} = {toml_value(value)}", drop=name)
    if BOUNDED[where](value) and not (isinstance(value, float) and name in (
            "port", "fresh_days", "max_pages", "max_attempts")):
        parse_config(text)
    else:
        error = refusal(text)
        assert error.key.endswith(f".{name}") and error.line == line, str(error)
