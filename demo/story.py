"""``dxmon demo``: the whole story, offline, in under a minute.

1. Start the test portals (testsupport.portals) on free 127.0.0.1 ports and a local SMTP server.
2. Write a config for them (console and email channels) and run a first cycle: the
   baseline crawl archives the sites' history and finds past sessions, silently.
3. Publish a new article reporting a new session on one portal.
4. Run the next cycle: the session is detected, and the alert is printed (console
   channel) and sent as an email, saved under ``<dir>/mail/``.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

from core.config import load_config
from core.models import VN_TZ
from monitor.cycle import crawl_cycle
from monitor.sessions import watched_name
from storage.articles import count_articles
from storage.schema import open_db
from storage.sessions import list_sessions
from testsupport.portals import PortalWeb
from web.server import web_url

__all__ = ["run_demo", "MailSink"]


class MailSink:
    """A local SMTP server (aiosmtpd) that saves every message it receives as .eml."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.controller = None

    def __enter__(self) -> MailSink:
        from aiosmtpd.controller import Controller

        self.folder.mkdir(parents=True, exist_ok=True)
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
                index = len(list(sink.folder.glob("*.eml"))) + 1
                (sink.folder / f"alert-{index}.eml").write_bytes(envelope.original_content)
                return "250 saved"

        import socket

        with socket.socket() as probe:  # aiosmtpd needs a concrete port
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def _say(text: str = "") -> None:
    print(text, flush=True)


def run_demo(folder: Path) -> int:
    folder = folder.resolve()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    db_path = folder / "dxmon.db"
    with PortalWeb.demo() as web, MailSink(folder / "mail") as mail:
        extra = f"""
[[notify]]
kind = "console"

[[notify]]
kind = "email"
host = "127.0.0.1"
port = {mail.port}
security = "none"
sender = "dxmon-demo@localhost"
to = ["team@localhost"]
"""
        config_path = folder / "dxmon.toml"
        config_path.write_text(web.config_toml(db_path, delay=0, extra=extra), encoding="utf-8")
        config = load_config(config_path)
        _say(f"Demo portals: {', '.join(f'{s} {web.base_url(s)}' for s in web.sites)}")
        _say(f"Config: {config_path}\n")

        _say("1. Baseline crawl of every demo portal (history never alerts)")
        outcome, report = crawl_cycle(config)
        db = open_db(db_path)
        try:
            for source in config.sources:
                _say(f"   {source.name:14} {count_articles(db, source.name):3} articles")
            sessions = list_sessions(db)
        finally:
            db.close()
        _say(f"   crawl {'ok' if outcome.ok else 'FAILED'} in {outcome.seconds:.1f}s; "
             f"{len(sessions)} past sessions found, {len(report.processed.alerted_sessions)} "
             f"alerts")
        for s in sessions:
            number = f"No. {s['number']}" if s["number"] is not None else "unnumbered"
            _say(f"     {s['date']}  {number:11} {watched_name(config, s['body'])} "
                 f"({s['outlets']} outlets)")

        now = datetime.now(VN_TZ)
        site, article = web.demo_new_session(now)
        web.publish(site, article)
        _say(f"\n2. {site} publishes: \"{article.title}\"")
        _say("\n3. Next cycle of that source")
        outcome, report = crawl_cycle(config, site)
        _say(f"   crawl {'ok' if outcome.ok else 'FAILED'} in {outcome.seconds:.1f}s; "
             f"{len(report.processed.new_sessions)} new session, "
             f"{len(report.processed.alerted_sessions)} alert(s) sent")
        mails = sorted((folder / "mail").glob("*.eml"))
        for path in mails:
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            _say(f"\n   Email written to {path}\n   Subject: {message['subject']}")
    ok = outcome.ok and bool(report.processed.alerted_sessions) and bool(mails)
    _say(f"\nArchive: {db_path}  (try: dxmon sessions --config {config_path})")
    _say(f"\nWeb view of this archive: run\n   dxmon web --config {config_path}\n"
         f"then open {web_url(config.web.host, config.web.port)} (sessions, search, "
         "sources, alerts; feeds at /feeds/sessions.atom and .ics)")
    if not ok:
        print("demo: the new session did not produce an alert; see the crawl log in "
              f"{folder / 'logs'}", file=sys.stderr)
    return 0 if ok else 1
