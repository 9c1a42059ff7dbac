"""The apprise channel (issue 15) against real receivers on 127.0.0.1.

apprise delivers through its own schemes: ``json://`` and ``form://`` to a real HTTP
server (testsupport.receivers.WebhookReceiver), ``mailto://`` to a real aiosmtpd.
Outages are the receiver's: scripted 500/503 answers, an answer held past the send's
deadline, a 401. The dispatcher's clock is injected, so retries are due without
sleeping; the deadline is real (the sender process is killed at it).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from monitor.cli import main as dxmon
from notifier.apprise_channel import AppriseNotifier, redact
from notifier.fit import ELLIPSIS, fit_body, fit_line
from notifier.message import md_escape, render_session, sample_alert
from notifier.outbox import Dispatcher
from notifier.registry import build_channels
from storage.schema import open_db
from tests.test_notifier import EVIDENCE, T0, Clock, a_session, make_config

TOKEN = "7781923344-AAHtokenSECRETxyz"  # what a Telegram bot token looks like
USER_SECRET = "hookuserPW0rd"


def apprise_config(tmp_path, extra: str = "", name: str = "chat"):
    return make_config(tmp_path, f'[[notify]]\nkind = "apprise"\nname = "{name}"\n'
                                 f'url_env = "DXMON_APPRISE_URL"\nretry_base = "10s"\n{extra}')


def json_url(receiver, scheme: str = "json") -> str:
    port = receiver.server.server_address[1]
    return f"{scheme}://bot:{USER_SECRET}@127.0.0.1:{port}/hook/{TOKEN}"


def dispatcher(db, config, clock):
    return Dispatcher(db, build_channels(config), clock=clock, watch=config.watch)


def delivered_ids(receiver) -> list[str]:
    """The delivery ids of the messages the receiver accepted (2xx)."""
    return [re.search(r"dxmon delivery (\S+)", h.json["message"]).group(1)
            for h in receiver.delivered]


# --- delivery through apprise's schemes ------------------------------------------------------


def test_json_delivers_a_session_alert_as_plain_text_with_evidence_links_and_delivery_id(
        tmp_path, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    config = apprise_config(tmp_path)
    db = open_db(config.storage_path)
    a_session(db, config)
    report = dispatcher(db, config, Clock()).run_due()
    assert len(report.sent) == 1, report
    (hit,) = webhook_receiver.hits
    assert hit.path == f"/hook/{TOKEN}"
    body = hit.json
    assert body["title"] == "Phiên họp thứ 9 — Ủy ban Quốc gia về chuyển đổi số — 10/7/2024"
    message = body["message"]
    assert f"«{EVIDENCE}»" in message  # plain text: json:// takes text by default
    assert "http://127.0.0.1/chinhphu-news/phien-hop-9" in message
    assert "http://127.0.0.1/thanhhoa-tv/phien-hop-9" in message
    (key,) = [r["idempotency_key"] for r in db.query("SELECT idempotency_key FROM alerts")]
    assert message.endswith(f"dxmon delivery {key}")
    # delivered once: a later run sends nothing
    assert dispatcher(db, config, Clock(T0 + timedelta(days=1))).run_due().sent == []
    assert len(webhook_receiver.hits) == 1


def test_form_delivers_the_same_message_form_encoded(tmp_path, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver, "form"))
    config = apprise_config(tmp_path)
    db = open_db(config.storage_path)
    a_session(db, config)
    assert len(dispatcher(db, config, Clock()).run_due().sent) == 1
    (hit,) = webhook_receiver.hits
    assert hit.headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = {k: v[0] for k, v in parse_qs(hit.body.decode()).items()}
    assert form["title"].startswith("Phiên họp thứ 9")
    assert EVIDENCE in form["message"] and "dxmon delivery dxmon-session-" in form["message"]


def test_mailto_reaches_a_real_smtp_server(tmp_path, smtp_server, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL",
                       f"mailto://127.0.0.1:{smtp_server.port}?from=dxmon@localhost"
                       "&to=ops@localhost&mode=insecure")
    config = apprise_config(tmp_path)
    db = open_db(config.storage_path)
    a_session(db, config)
    assert len(dispatcher(db, config, Clock()).run_due().sent) == 1
    (mail,) = smtp_server.wait_for(1)
    assert mail["Subject"] == "Phiên họp thứ 9 — Ủy ban Quốc gia về chuyển đổi số — 10/7/2024"
    assert mail["To"] == "ops@localhost"
    html = mail.get_body(("html",)).get_content()
    # email takes HTML: the Markdown message was turned into it, links and all
    assert 'href="http://127.0.0.1/chinhphu-news/phien-hop-9"' in html
    assert "dxmon delivery dxmon-session-" in html


# --- the outbox's promises ---------------------------------------------------------------


def test_telegram_style_receiver_gets_the_alert_exactly_once_through_an_outage(
        tmp_path, webhook_receiver, monkeypatch):
    """500, 503, then an answer held far past the deadline, then recovery: four
    attempts, one delivery, one delivery id, each retry after its backoff."""
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    # the deadline covers starting the sender process (about 0.5 s of CPU, seconds of
    # wall time on a loaded machine): 10 s leaves room, and the receiver hangs 10x that
    timeout = 10.0
    hold = 10 * timeout
    webhook_receiver.script = [(500, {}), (503, {}), (500, {}, hold)]
    config = apprise_config(tmp_path, f'format = "markdown"\nbody_max = 4096\n'
                                      f'timeout = {timeout}\n')
    db = open_db(config.storage_path)
    a_session(db, config)
    clock = Clock()
    d = dispatcher(db, config, clock)
    outcomes, durations = [], []
    for _ in range(6):
        started = time.monotonic()
        report = d.run_due()
        durations.append(time.monotonic() - started)
        outcomes.append((len(report.sent), len(report.retrying), len(report.failed)))
        if report.sent:
            break
        # not due again before its backoff
        assert d.run_due().retrying == [] and len(webhook_receiver.hits) == len(outcomes)
        clock.advance(3600)
    assert outcomes == [(0, 1, 0)] * 3 + [(1, 0, 0)]
    assert durations[2] < hold / 2  # the hung attempt ended at the deadline, not the answer
    ids = {re.search(r"dxmon delivery (\S+)", h.json["message"]).group(1)
           for h in webhook_receiver.hits}
    assert len(ids) == 1 and len(webhook_receiver.hits) == 4
    assert delivered_ids(webhook_receiver) == list(ids)
    (row,) = db.query("SELECT status, attempts, last_error FROM alerts")
    assert row["status"] == "sent" and row["attempts"] == 4
    message = webhook_receiver.delivered[0].json["message"]
    assert "\\." in message and f"> {md_escape(EVIDENCE)}" in message  # Markdown, escaped
    assert len(message) <= 4096


def test_a_401_gives_up_at_once(tmp_path, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    webhook_receiver.script = [(401, {})]
    config = apprise_config(tmp_path)
    db = open_db(config.storage_path)
    a_session(db, config)
    report = dispatcher(db, config, Clock()).run_due()
    assert len(report.failed) == 1 and report.retrying == []
    (row,) = db.query("SELECT status, attempts, last_error FROM alerts")
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "HTTP 401" in row["last_error"]
    assert len(webhook_receiver.hits) == 1


@pytest.mark.parametrize("status, transient", [
    (500, True), (502, True), (503, True), (408, True), (429, True),
    (400, False), (403, False), (404, False), (410, False)])
def test_each_answer_is_classified(tmp_path, webhook_receiver, monkeypatch, status, transient):
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    webhook_receiver.script = [(status, {})]
    (channel,) = build_channels(apprise_config(tmp_path)).values()
    with pytest.raises(TransientDeliveryError if transient else PermanentDeliveryError,
                       match=f"HTTP {status}"):
        channel.send(sample_alert("chat"))


def test_no_listener_is_transient_and_an_unknown_scheme_permanent(tmp_path, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL", f"json://127.0.0.1:9/{TOKEN}")
    (channel,) = build_channels(apprise_config(tmp_path, "timeout = 20")).values()
    with pytest.raises(TransientDeliveryError, match="no connection") as err:
        channel.send(sample_alert("chat"))
    assert TOKEN not in str(err.value)
    monkeypatch.setenv("DXMON_APPRISE_URL", f"nosuchservice://{TOKEN}@host")
    with pytest.raises(PermanentDeliveryError, match="does not recognise") as err:
        channel.send(sample_alert("chat"))
    assert TOKEN not in str(err.value) and "nosuchservice://" in str(err.value)


def test_stop_ends_a_hanging_send_at_once_and_keeps_the_alert_due(
        tmp_path, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    webhook_receiver.script = [(200, {}, 60)]
    stop = threading.Event()
    webhook_receiver.on_hit = lambda hit: stop.set()  # stop as the request arrives
    config = apprise_config(tmp_path, "timeout = 60")
    db = open_db(config.storage_path)
    a_session(db, config)
    d = Dispatcher(db, build_channels(config), clock=Clock(), stop=stop)
    started = time.monotonic()
    report = d.run_due()
    assert time.monotonic() - started < 30  # not the 60 s deadline nor the 60 s hold
    assert report.sent == [] and len(report.retrying) == 1
    (row,) = db.query("SELECT status, last_error FROM alerts")
    assert row["status"] == "pending" and "stopping" in row["last_error"]


def test_a_channel_filtered_to_source_events_gets_no_session_alert(
        tmp_path, webhook_receiver, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    config = apprise_config(tmp_path, 'events = ["source.*"]')
    db = open_db(config.storage_path)
    a_session(db, config)
    assert db["alerts"].count == 0
    assert dispatcher(db, config, Clock()).run_due().sent == []
    assert webhook_receiver.hits == []


def test_a_long_message_fits_the_limit_and_keeps_the_delivery_id(
        tmp_path, webhook_receiver, monkeypatch):
    """Forty outlets report the session: the Telegram-sized message is cut on a line
    boundary, says so, and still ends with the delivery id."""
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    config = apprise_config(tmp_path, 'body_max = 1000\ntitle_max = 40')
    db = open_db(config.storage_path)
    session_id = a_session(db, config)
    from core.models import Extracted
    from storage.articles import store_article
    for i in range(40):
        extracted = Extracted(url=f"http://127.0.0.1/outlet-{i}/bai-{i}",
                              canonical_url=f"http://127.0.0.1/outlet-{i}/bai-{i}",
                              title=f"Bài số {i} về phiên họp thứ 9", text=f"{EVIDENCE} {i}")
        article = store_article(db, "chinhphu-news", extracted, now=T0).article_id
        db["session_articles"].insert({"session_id": session_id, "article_id": article,
                                       "role": "report", "evidence": EVIDENCE,
                                       "attached_at": T0.isoformat()})
    assert len(dispatcher(db, config, Clock()).run_due().sent) == 1
    (hit,) = webhook_receiver.hits
    message, title = hit.json["message"], hit.json["title"]
    assert len(message) <= 1000 and len(title) <= 40 and title.endswith(ELLIPSIS)
    assert f"\n{ELLIPSIS}\n\ndxmon delivery dxmon-session-{session_id}-" in message
    assert all(line.startswith(("- ", "  http://")) or line in ("", ELLIPSIS)
               or line.startswith(("Phiên", "«", "Bài báo", "dxmon delivery"))
               for line in message.splitlines())


# --- the URL's tokens never leak ---------------------------------------------------------


def test_the_urls_tokens_appear_in_no_log_status_database_or_web_page(
        tmp_path, webhook_receiver, monkeypatch, caplog, capsys):
    monkeypatch.setenv("DXMON_APPRISE_URL", json_url(webhook_receiver))
    webhook_receiver.script = [(503, {}), (401, {})]
    config = apprise_config(tmp_path)
    db = open_db(config.storage_path)
    a_session(db, config)
    clock = Clock()
    with caplog.at_level(logging.DEBUG):
        dispatcher(db, config, clock).run_due()  # 503: retrying, its error kept
        clock.advance(3600)
        dispatcher(db, config, clock).run_due()  # 401: given up, its error kept
    errors = [r["last_error"] for r in db.query("SELECT last_error FROM alerts")]
    assert errors and "HTTP 401" in errors[0]
    db.close()
    assert dxmon(["--config", str(config.path), "status"]) == 0
    assert dxmon(["--config", str(config.path), "status", "--json"]) == 0
    from tests.test_web import Served
    served = Served(config)
    try:
        pages = [served.get(p).text for p in ("/alerts", "/api/alerts")]
    finally:
        served.stop()
    out = capsys.readouterr()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("dxmon.db*"))
    assert "HTTP 401" in out.out and "HTTP 401" in pages[0]
    for secret in (TOKEN, USER_SECRET, json_url(webhook_receiver)):
        assert secret not in caplog.text
        assert secret not in out.out and secret not in out.err
        assert secret.encode() not in stored
        assert all(secret not in page for page in pages)


def test_redact_removes_every_piece_of_the_url():
    url = f"tgram://{TOKEN}/-100123456789/?format=markdown&key=abcd%2Fef"
    said = f"error sending to tgram://{TOKEN}/-100123456789 ({TOKEN[:10]}...) key abcd/ef"
    clean = redact(said, url)
    assert TOKEN not in clean and "100123456789" not in clean and "abcd%2Fef" not in clean
    assert clean.startswith("error sending to tgram://***")


# --- the config --------------------------------------------------------------------------


@pytest.mark.parametrize("extra, key, message", [
    ('url = "tgram://123:abc/456"\n', "url", "secrets never go in the config file"),
    ('format = "html"\n', "format", "must be one of"),
    ('body_max = 10\n', "body_max", "at least 200"),
    ('title_max = -1\n', "title_max", "at least 0"),
    ('url_env = "not a name"\n', "url_env", "environment variable"),
])
def test_the_apprise_config_refuses_with_key_and_line(tmp_path, extra, key, message):
    text = ('[[notify]]\nkind = "apprise"\n'
            + ('url_env = "DXMON_APPRISE_URL"\n' if key != "url_env" else "") + extra)
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, text)
    assert f"notify[0].{key}" in str(err.value) and message in str(err.value)
    assert "123:abc" not in str(err.value)


def test_url_env_is_required_and_must_be_set_before_sending(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="needs 'url_env'"):
        make_config(tmp_path, '[[notify]]\nkind = "apprise"\n')
    monkeypatch.delenv("DXMON_APPRISE_URL", raising=False)
    with pytest.raises(ConfigError, match="DXMON_APPRISE_URL"):
        build_channels(apprise_config(tmp_path))


# --- the length limiter (properties) ---------------------------------------------------------

_LINES = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=120),
                  max_size=40)
_FOOTER = st.from_regex(r"dxmon delivery dxmon-[a-z.]{3,20}-[0-9a-f]{16}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(lines=_LINES, footer=_FOOTER, limit=st.integers(80, 5000))
def test_fit_never_exceeds_the_limit_and_always_keeps_the_delivery_id(lines, footer, limit):
    body = "\n".join(line.replace("\n", " ") for line in lines)
    out = fit_body(body, footer, limit)
    assert len(out) <= limit
    assert out.endswith(footer)
    out.encode("utf-8")  # valid UTF-8: no lone surrogate, no split character
    whole = f"{body.rstrip(chr(10))}\n\n{footer}" if body.rstrip("\n") else footer
    if len(whole) <= limit:  # (trailing line breaks are dropped before measuring)
        assert out == whole
    else:
        assert f"\n{ELLIPSIS}\n\n{footer}" in out or out == f"{ELLIPSIS}\n\n{footer}"


_HOSTILE = st.text(st.sampled_from(list("*_[]()`#>|~!\\<-.= aăđ\n")), max_size=60)


def _balanced(markdown_line: str) -> bool:
    """No Markdown construct left open: with escapes removed, emphasis markers and
    brackets pair up (the renderers write ** ** and [..](..) only in pairs)."""
    bare = re.sub(r"\\.", "", markdown_line)
    bare = re.sub(r"\]\([^()\s]*\)", "]", bare)  # a link's destination (percent-encoded)
    return (bare.count("**") % 2 == 0 and bare.count("[") == bare.count("]")
            and bare.count("(") == bare.count(")") and "`" not in bare)


@settings(max_examples=200, deadline=None)
@given(title=_HOSTILE, evidence=_HOSTILE, outlets=st.lists(_HOSTILE, max_size=30),
       limit=st.integers(120, 3000))
def test_markdown_of_hostile_pages_stays_balanced_when_cut(title, evidence, outlets, limit):
    from notifier.message import Alert
    alert = Alert(delivery_id="dxmon-session-1-0123456789abcdef", kind="session",
                  channel="chat", session={"body": title, "number": 3, "date": "2024-07-10"},
                  articles=[{"url": f"http://127.0.0.1/{o}", "outlet": o, "title": title + o,
                             "published": None} for o in outlets], evidence=evidence)
    rendered = render_session(alert)
    out = fit_body(rendered.markdown, md_escape(alert.footer()), limit, markdown=True)
    assert len(out) <= limit and out.endswith(md_escape(alert.footer()))
    original = set(rendered.markdown.split("\n"))
    for line in out.split("\n")[:-1]:
        assert line in original or line in ("", ELLIPSIS)
        assert _balanced(line), line


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), limit=st.integers(1, 300))
def test_fit_line_is_one_line_within_the_limit(text, limit):
    out = fit_line(text, limit)
    assert len(out) <= limit and "\n" not in out
    out.encode("utf-8", "surrogatepass")


def test_notifier_states_its_deadline_for_the_lease(tmp_path, monkeypatch):
    monkeypatch.setenv("DXMON_APPRISE_URL", "json://127.0.0.1:9/x")
    (channel,) = build_channels(apprise_config(tmp_path, "timeout = 7")).values()
    assert isinstance(channel, AppriseNotifier) and channel.timeout == 7.0
    from notifier.outbox import lease_for
    assert lease_for(channel) == timedelta(seconds=19)
    assert channel.request(sample_alert("chat"), "u")["format"] == "auto"


def test_init_writes_a_commented_apprise_example_that_loads(tmp_path):
    target = tmp_path / "dxmon.toml"
    assert dxmon(["init", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    start = text.index('# [[notify]]\n# kind = "apprise"')
    block = text[start:text.index("\n\n", start)]
    config = make_config(tmp_path, "\n".join(line[2:] for line in block.splitlines()) + "\n")
    (channel,) = config.notify
    assert channel.kind == "apprise" and channel.url_env == "DXMON_TELEGRAM_URL"
    assert channel.accepts("source.unhealthy") and not channel.accepts("digest")


def test_a_trickling_receiver_cannot_stretch_the_deadline_and_its_connection_is_closed(
        tmp_path, monkeypatch):
    """The status line arrives a byte every 0.2 s, forever: no read ever times out, yet
    the send ends at its 2 s deadline and the connection is closed when it returns."""
    from testsupport.receivers import HostileReceiver
    receiver = HostileReceiver("trickle-status")
    try:
        monkeypatch.setenv("DXMON_APPRISE_URL",
                           f"json://127.0.0.1:{receiver.port}/hook/{TOKEN}")
        (channel,) = build_channels(apprise_config(tmp_path, "timeout = 2")).values()
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError, match="no answer within the 2s deadline"):
            channel.send(sample_alert("chat"))
        returned = time.time()
        assert time.monotonic() - started < 20
        (post,) = receiver.posts
        assert post.closed.wait(10)
        assert post.closed_at - returned < 1.0
    finally:
        receiver.stop()


_SPECIAL = set("\\`*_{}[]()#+-.!|<>~=")


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_md_escape_leaves_no_markdown_and_keeps_the_words(text):
    out = md_escape(text)
    assert "\n" not in out and "\r" not in out
    bare = re.sub(r"\\(.)", "", out)
    assert not set(bare) & _SPECIAL
    assert re.sub(r"\\(.)", r"\1", out) == " ".join(text.split())
