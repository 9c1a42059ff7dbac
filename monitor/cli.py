"""The ``dxmon`` command line.

Every command takes ``--config``, before or after the command (else
``$DXMON_CONFIG``, else ``./dxmon.toml``); ``--json`` is offered wherever a person
might pipe the output. Exit codes: 0 done, 1 a command failed (crawl failed, a
channel failed in notify-test), 2 an error the user can fix (usage, config, a file,
the database or its disk): one line on stderr naming the argument, key or file and
what to do, never a traceback (``DXMON_DEBUG=1`` prints one). Commands that only
read (status, sessions, articles, search, history) open the database read-only.

    dxmon demo                 serve the test portals, crawl them, show an alert (checkout)
    dxmon init [PATH]          write a commented starter config
    dxmon crawl [--source S]   one full cycle: crawl, detect, group, deliver due alerts
    dxmon serve [--web]        the same cycle on each source's schedule, until stopped
    dxmon web                  the web view of the archive (http://127.0.0.1:8765/)
    dxmon sessions             sessions found, with their outlets and first report
    dxmon articles             the newest archived articles
    dxmon search QUERY         full-text search, diacritics optional
    dxmon status               crawls, sessions and alerts at a glance
    dxmon detect FILE|-        an article's session mentions as JSON (debug a miss)
    dxmon notify-test          send a sample alert through every channel
    dxmon history URL          an article's versions and what changed
    dxmon backup PATH          copy the archive from a read snapshot, crawl running
    dxmon maintenance          check, back up, merge the search index, prune by policy
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import DxmonError

if TYPE_CHECKING:
    from core.config import Config

# Imports are made where they are needed, so a command pays for its own only: `dxmon
# search` never imports Scrapy, trafilatura or the crawl, and the read commands
# (READERS) defer sqlite-utils and numpy, which only writers use (storage.lite); issue
# 16 asks < 300 ms for a whole `dxmon search`, `sessions`, `status` or `articles`.

__all__ = ["main", "build_parser"]


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _table(rows: list[dict], columns: list[tuple[str, str]], out=None) -> None:
    """Print rows as an aligned text table; columns are (key, heading)."""
    out = out or sys.stdout
    if not rows:
        print("(none)", file=out)
        return
    cells = [[("" if r.get(k) is None else str(r.get(k))) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    widths[-1] = len(columns[-1][1])  # the last column runs free
    print("  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip(),
          file=out)
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip(), file=out)


# Search terms beyond this are refused, not silently dropped. Issue 12 measured 10 s for
# 300 words and 40 s for 600 on a 15-article archive (matching and the snippet's phrase
# search grow faster than the query); on 15 synthetic 300-word articles here, 32 words
# take 9 ms and 300 take 64 ms, so the cap is a bound with a wide margin, not a tuned
# threshold. A real query has a handful of words.
MAX_SEARCH_TERMS = 32


def _config(args) -> Config:
    from core.config import load_config

    config = load_config(args.config)
    args.storage_path = config.storage_path  # named by a storage error's message
    return config


def _db(config: Config, *, readonly: bool = False):
    from storage.schema import open_db

    return open_db(config.storage_path, readonly=readonly)


# --- commands ---------------------------------------------------------------------------


def cmd_init(args) -> int:
    """Write a commented starter config (real sources, default watch list)."""
    target = Path(args.path or args.config or "dxmon.toml")
    if target.exists() and not args.force:
        print(f"{target} exists; use --force to overwrite", file=sys.stderr)
        return 2
    from core.config import load_config
    from core.schema import reference

    # the hand-written starter, then every key's default and doc from the schema
    text = (Path(__file__).parent / "starter.toml").read_text(encoding="utf-8")
    text += "\n" + reference()
    target.write_text(text, encoding="utf-8")
    load_config(target)  # the starter must itself be valid
    print(f"wrote {target}; edit it, then run `dxmon crawl --config {target}`")
    return 0


def cmd_crawl(args) -> int:
    """One cycle: crawl (a source or all), detect, group, deliver due alerts, exit."""
    from monitor.cycle import crawl_cycle
    from storage import crawl_state

    config = _config(args)
    _validate_channels(config)  # a channel's unset variable fails now, not after the crawl
    if args.source:
        config.source(args.source)  # fail early on an unknown name
    outcome, report = crawl_cycle(config, args.source)
    if outcome.error:  # the database failed: say what to do, nothing else
        print(f"dxmon: the crawl stopped: {outcome.error}", file=sys.stderr)
        return 2
    db = _db(config)
    try:  # this crawl's own runs: another crawl may be running beside it
        runs = crawl_state.crawl_runs_of(db, outcome.pid) if outcome.pid else {}
    finally:
        db.close()
    result = {"ok": outcome.ok, "returncode": outcome.returncode,
              "seconds": round(outcome.seconds, 1), "log": str(outcome.log_path),
              "runs": {name: {k: run[k] for k in ("status", "started_at", "finished_at")}
                       | {"stats": json.loads(run["stats"] or "{}")}
                       for name, run in runs.items()
                       if not args.source or name == args.source},
              "processed_articles": report.processed.articles if report else 0,
              "new_sessions": len(report.processed.new_sessions) if report else 0,
              "alerting_sessions": len(report.processed.alerted_sessions) if report else 0,
              "delivery": str(report.dispatched) if report and report.dispatched else None,
              "search_merge_steps": report.merge_steps if report else 0}
    if args.json:
        print(_dumps(result))
    else:
        state = "ok" if outcome.ok else ("timed out" if outcome.timed_out
                                          else f"failed (exit {outcome.returncode})")
        print(f"crawl {args.source or 'all sources'}: {state} in {outcome.seconds:.1f}s "
              f"(log: {outcome.log_path})")
        for name, run in result["runs"].items():
            s = run["stats"]
            print(f"  {name}: {run['status']}, {s.get('articles_new', 0)} new articles, "
                  f"{s.get('articles_alias', 0)} aliases, {s.get('articles_updated', 0)} updated")
        print(f"processed {result['processed_articles']} articles: "
              f"{result['new_sessions']} new sessions, {result['alerting_sessions']} alerting")
        if result["delivery"]:
            print(f"delivery: {result['delivery']}")
    return 0 if outcome.ok else 1


def cmd_worker(args) -> int:
    """Run a cluster crawl worker here: fetch what Redis holds, until SIGTERM/SIGINT.

    Needs only the config and ``[cluster] redis_url_env``'s variable (no archive on
    this machine): the process that owns the archive (``dxmon crawl``/``serve``)
    seeds each cycle and stores what the workers send (crawler.cluster)."""
    config = _config(args)
    env = config.cluster.redis_url_env
    if not env:
        raise DxmonError("dxmon worker needs [cluster] redis_url_env in the config")
    if not os.environ.get(env):
        raise DxmonError(f"[cluster] redis_url_env names ${env}, which is not set")
    cmd = [sys.executable, "-m", "scrapy", "crawl", "news", "-s", "DXMON_CLUSTER_ROLE=worker",
           "-s", "DXMON_PROCESS_AFTER_CRAWL=False"]
    if config.path:
        cmd += ["-s", f"DXMON_CONFIG={Path(config.path).resolve()}"]
    for setting in args.set:  # Scrapy settings for the crawl (-s LOG_LEVEL=DEBUG)
        cmd += ["-s", setting]
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    sys.stdout.flush()
    # this process becomes the crawl (its pid is the worker's: signals reach Scrapy)
    os.execv(sys.executable, cmd)
    return 0  # not reached


def cmd_serve(args) -> int:
    """Crawl each source on its schedule, process, deliver; until SIGTERM/SIGINT."""
    import logging

    from monitor.service import Service

    config = _config(args)
    _validate_channels(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    web = None
    if args.web:  # beside the scheduler, in a thread: see web.server's docstring
        from web.server import start_in_thread, web_url

        host, port = args.host or config.web.host, args.port or config.web.port
        _db(config).close()  # a first start: the archive is created before it is served
        web = start_in_thread(config, host, port)
        print(f"dxmon web: {web_url(host, port)}", flush=True)
    try:
        Service(config).run_forever()
    finally:
        if web:
            web[0].should_exit = True
            web[1].join(10)
    return 0


def cmd_web(args) -> int:
    """The web view of the archive: sessions, search, articles, sources, alerts, feeds."""
    from web.server import run

    config = _config(args)
    run(config, args.host or config.web.host, args.port or config.web.port)
    return 0


def _validate_channels(config: Config) -> None:
    if config.notify:
        from notifier.registry import validate_channels

        validate_channels(config)


def cmd_sessions(args) -> int:
    """Sessions of watched bodies: number, date, body, outlets, first report."""
    from monitor import views
    from monitor.sessions import watched_name
    from storage.sessions import list_sessions

    config = _config(args)
    db = _db(config, readonly=True)
    try:
        rows = list_sessions(db, body=args.body)
        if args.json:  # the web view's /api/sessions/{id}, one per session
            print(_dumps([views.session_json(db, config, r["id"]) for r in rows]))
            return 0
    finally:
        db.close()
    for r in rows:
        r["number"] = r["number"] if r["number"] is not None else "–"
        r["name"] = watched_name(config, r["body"])
        if r["period"]:
            r["number"] = f"{r['number']} ({r['period']})"
    _table(rows, [("number", "No."), ("date", "date"), ("body", "body"), ("outlets", "outlets"),
                  ("articles", "reports"), ("first_report", "first report")])
    return 0


def cmd_articles(args) -> int:
    """The newest archived articles (optionally of one source)."""
    from storage import articles

    config = _config(args)
    db = _db(config, readonly=True)
    try:
        rows = articles.recent_articles(db, source=args.source, limit=args.limit)
    finally:
        db.close()
    if args.json:
        print(_dumps(rows))
    else:
        _table(rows, [("id", "id"), ("source", "source"), ("published_at", "published"),
                      ("urls", "urls"), ("title", "title")])
    return 0


def cmd_search(args) -> int:
    """Full-text search of the archive; "chuyen doi so" finds "chuyển đổi số"."""
    query = " ".join(args.query)
    if not query.strip():
        raise UsageError("search: give the words to search for, e.g. dxmon search chuyen doi so")
    if len(terms := query.split()) > MAX_SEARCH_TERMS:
        raise UsageError(f"search: the query has {len(terms)} words; at most "
                         f"{MAX_SEARCH_TERMS} are allowed: keep the distinctive ones")
    from monitor import views
    from storage import articles

    config = _config(args)
    db = _db(config, readonly=True)
    try:
        rows = articles.search_articles(db, query, limit=args.limit)
    finally:
        db.close()
    if args.json:  # each hit as the web view's /api/search gives it
        print(_dumps([views.search_hit_json(r, query) for r in rows]))
        return 0
    for r in rows:
        print(f"[{r['id']}] {r['title']}\n    {r['url']} ({r['source']}, {r['published_at']})"
              f"\n    {r['snippet']}")
    if not rows:
        print("(no match)")
    return 0


def cmd_status(args) -> int:
    """Per source: last crawl, outcome, articles; sessions; alerts by status."""
    import monitor.renderers  # noqa: F401  the summaries of health, topic and digest rows
    from monitor import views
    from notifier.outbox import outbox_summary
    from storage import articles
    from storage.sessions import list_sessions

    config = _config(args)
    db = _db(config, readonly=True)
    try:
        health = views.sources_json(db, config)  # the web view's /api/sources
        sources, hosts = health["sources"], health["hosts"]
        conflicts = articles.count_source_conflicts(db)
        sessions = list_sessions(db)
        alerts = outbox_summary(db)
    finally:
        db.close()
    status = {"sources": sources, "hosts": hosts, "source_conflicts": conflicts,
              "sessions": len(sessions),
              "latest_sessions": sessions[:5], "alerts": alerts}
    if args.json:
        print(_dumps(status))
        return 0
    print("Sources")
    _table(sources, [("source", "source"), ("status", "last crawl"), ("last_crawl", "at"),
                     ("articles", "articles"), ("health", "health"),
                     ("health_reason", "reason")])
    if hosts:
        print("\nHosts backed off")
        _table(hosts, [("host", "host"), ("backoff_until", "until"), ("reason", "reason")])
    if conflicts:
        print(f"\nSource conflicts: {conflicts} (a page of one source claimed another "
              "source's article; nothing was overwritten)")
    print(f"\nSessions: {len(sessions)}")
    for s in sessions[:5]:
        number = s["number"] if s["number"] is not None else "–"
        print(f"  {s['date']}  No. {number}  {s['body']}  ({s['outlets']} outlets)")
    print("\nAlerts")
    counts = {k: v for k, v in alerts["counts"].items() if v}
    print("  " + (", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"))
    for row in alerts["failed"]:
        print(f"  gave up: alert {row['id']} ({row['channel']}{_event_of(row)}) after "
              f"{row['attempts']} attempts: {row['last_error']}")
    for row in alerts["retrying"]:
        print(f"  retrying: alert {row['id']} ({row['channel']}{_event_of(row)}), attempt "
              f"{row['attempts']}: {row['last_error']}")
    return 0


def _event_of(row: dict) -> str:
    """", source.unhealthy: <one line>" for a non-session outbox row; "" for a session's."""
    return f", {row['event']}: {row['summary']}" if row.get("summary") else ""


def cmd_detect(args) -> int:
    """An article's HTML or text in (FILE or -), its session mentions out as JSON."""
    from core.config import load_config
    from core.models import VN_TZ
    from monitor.detect import detect, detect_html

    config = load_config(args.config) if (args.config or Path("dxmon.toml").exists()) else None
    watch = config.watch if config else None
    data = sys.stdin.buffer.read() if args.file == "-" else _read_input(args.file)
    published = args.published
    if published and published.tzinfo is None:
        published = published.replace(tzinfo=VN_TZ)
    head = data[:2048].lower()
    kwargs = {"watch": watch} if watch else {}
    if b"<html" in head or b"<!doctype" in head or b"<body" in head:
        mentions = detect_html(data, url=args.url or "", published=published, **kwargs)
    else:
        text = data.decode("utf-8", errors="replace")
        mentions = detect(text, published, **kwargs)
    print(_dumps([{"body": m.body, "role": m.role, "number": m.number, "period": m.period,
                   "date": m.date.isoformat() if m.date else None,
                   "confidence": m.confidence, "evidence": m.evidence} for m in mentions]))
    return 0


def _read_input(name: str) -> bytes:
    """The bytes of the file ``name``, or a UsageError saying what is wrong with it."""
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"detect: {name} is a folder; give one article's HTML or text "
                         "file, or - to read stdin")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"detect: cannot read {name}: {exc.strerror or exc}; give an "
                         "article's HTML or text file, or - to read stdin") from None


def _published(value: str) -> datetime:
    """``--published``: an ISO 8601 date or time (argparse's ``type``)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date or time; use ISO 8601, e.g. 2024-04-24 or "
            "2024-04-24T09:30+07:00") from None


def _positive(value: str) -> int:
    """``--limit``: a whole number of at least 1 (argparse's ``type``)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def _port(value: str) -> int:
    """``--port``: a port number 1-65535 (argparse's ``type``)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number from 1 to 65535")
    return number


def cmd_notify_test(args) -> int:
    """Send a sample alert through every configured channel; report each result."""
    from notifier.outbox import send_test
    from notifier.registry import build_channels

    config = _config(args)
    _validate_channels(config)
    if not config.notify:
        print("no [[notify]] channel configured", file=sys.stderr)
        return 1
    results = []
    for name, channel in build_channels(config).items():
        try:
            results += send_test({name: channel})
        except Exception as exc:  # noqa: BLE001 - one broken channel fails alone, reported
            results.append((name, False, f"{type(exc).__name__}: {exc}"))
    if args.json:
        print(_dumps([{"channel": n, "ok": ok, "message": msg} for n, ok, msg in results]))
    else:
        for name, ok, message in results:
            print(f"{name}: {'ok' if ok else 'FAILED'} — {message}")
    return 0 if all(ok for _, ok, _ in results) else 1


def cmd_history(args) -> int:
    """An article's stored versions and a readable diff between consecutive ones."""
    from monitor import views
    from storage import articles

    config = _config(args)
    db = _db(config, readonly=True)
    try:
        article = articles.article_by_url(db, args.url)
        if article is None:
            print(f"no stored article for {args.url}", file=sys.stderr)
            return 1
        data = views.article_json(db, article["id"])  # the web view's /api/articles/{id}
    finally:
        db.close()
    if args.json:
        print(_dumps(data))
        return 0
    versions, aliases, diffs = data["versions"], data["urls"], data["diffs"]
    print(f"{article['title']}\n{article['url']} ({len(versions)} versions, "
          f"{len(aliases)} URLs)")
    for i, v in enumerate(versions, 1):
        print(f"  v{i}  {v['seen_at']}  {v['content_hash'][:12]}")
    for d in diffs:
        print()
        print(d)
    return 0


def cmd_backup(args) -> int:
    """Copy the archive to a new file from one read snapshot, while the crawl runs."""
    from storage.maintenance import backup, check

    config = _config(args)
    size = backup(config.storage_path, args.path)
    problems = check(args.path, quick=True)
    if problems:
        print(f"dxmon backup: the copy {args.path} fails its check: {problems[0]}",
              file=sys.stderr)
        return 1
    print(f"backed up {config.storage_path} to {args.path} ({size / 2**20:.1f} MiB)")
    return 0


def cmd_maintenance(args) -> int:
    """Check the archive, back it up, merge the search index, prune by [maintenance]."""
    import time

    from storage import maintenance
    from storage.schema import open_db

    config = _config(args)
    path, policy = config.storage_path, config.maintenance
    report = maintenance.MaintenanceReport()
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        report.seconds[name] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()

    report.problems = maintenance.check(path, quick=args.quick)
    lap("check")
    if report.problems:  # nothing is written to a damaged file, no backup is made of it
        return _maintenance_done(args, report, path)
    target = args.backup or _dated_backup(config)
    if target:
        report.backup = str(target)
        report.backup_bytes = maintenance.backup(path, target)
        report.problems = (maintenance.check(target, quick=True)
                           + maintenance.check_search_index(target))
        lap("backup")
        if report.problems:
            return _maintenance_done(args, report, path)
    db = open_db(path)
    try:
        if not target:  # FTS5's check writes: on the live file, one short transaction
            report.problems = maintenance.check_search_index(path)
        if not args.no_merge:
            report.merge_steps = maintenance.merge_search_index(db)
            lap("merge")
        report.versions_pruned = maintenance.prune_versions(db, policy.keep_versions)
        report.runs_pruned = maintenance.prune_runs(db, policy.keep_runs_days)
        lap("prune")
    finally:
        db.close()
    return _maintenance_done(args, report, path)


def _dated_backup(config: Config) -> Path | None:
    """``[maintenance] backup_dir``/dxmon-<UTC time>.db, or None when it is unset."""
    if not config.maintenance.backup_dir:
        return None
    folder = Path(config.maintenance.backup_dir)
    if not folder.is_absolute():
        folder = (config.path.parent if config.path else Path.cwd()) / folder
    return folder / f"dxmon-{datetime.now().astimezone().strftime('%Y%m%dT%H%M%S%z')}.db"


def _maintenance_done(args, report, path: Path) -> int:
    """Print the report; 1 if a check found problems (named, with what to do)."""
    if args.json:
        print(_dumps(report.__dict__))
    elif not report.problems:
        if report.backup:
            print(f"backup: {report.backup} ({report.backup_bytes / 2**20:.1f} MiB), checked")
        print(f"check: ok; search index merged in {report.merge_steps} steps; pruned "
              f"{report.versions_pruned} versions, {report.runs_pruned} crawl runs")
    if report.problems:
        where = report.backup if report.backup and "check" in report.seconds else path
        print(f"dxmon maintenance: {where} is damaged ({len(report.problems)} problems); "
              "nothing was changed. Stop dxmon and restore the latest good backup (dxmon "
              "backup / [maintenance] backup_dir), or try `sqlite3 FILE .recover`. First "
              "problems:", file=sys.stderr)
        for line in report.problems[:5]:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


DEMO_MISSING = ("dxmon demo: the demo is not part of the installed dxmon; it runs from a source "
                "checkout: `make demo` there (installs '.[demo]' and runs it)")
DEMO_EXTRA_MISSING = ("dxmon demo needs the demo extra (aiosmtpd): pip install -e '.[demo]' "
                      "in the checkout, or `make demo`")


def _checkout_root() -> Path | None:
    """The source checkout this monitor package runs from (an editable install), if any:
    demo/ and testsupport/ live there, beside the product, and are never installed."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "demo" / "story.py").is_file() else None


def cmd_demo(args) -> int:
    """Serve the demo portals, crawl them, publish a new session, show the alert."""
    root = _checkout_root()
    if root is not None and str(root) not in sys.path:
        sys.path.append(str(root))
    try:
        from demo.story import run_demo
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in ("demo", "testsupport"):
            raise
        print(DEMO_MISSING, file=sys.stderr)
        return 2
    import importlib.util

    if importlib.util.find_spec("aiosmtpd") is None:
        print(DEMO_EXTRA_MISSING, file=sys.stderr)
        return 2
    return run_demo(Path(args.dir))


# --- parser -----------------------------------------------------------------------------


class UsageError(Exception):
    """A command line that cannot run as given: one line to stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line naming the argument and the way to help.

    ``words_start_with_dash`` (set on ``dxmon search``): a word starting with one '-'
    is a positional word, not an option. That command has no short option but -h, so
    ``dxmon search -word`` searches for the word (there is no exclusion operator);
    ``--limit``, ``--json`` and ``--config`` still work anywhere on the line, and a
    misspelt ``--option`` is still an error.
    """

    words_start_with_dash = False

    def error(self, message: str):
        command = self.prog.removeprefix("dxmon").strip()
        raise UsageError(f"{command + ': ' if command else ''}{message} "
                         f"(see `{self.prog} --help`)")

    def _parse_optional(self, arg_string):
        if (self.words_start_with_dash and arg_string.startswith("-")
                and not arg_string.startswith("--") and len(arg_string) > 1
                and arg_string not in self._option_string_actions):
            return None  # a positional: a search word
        return super()._parse_optional(arg_string)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dxmon", description="Archive Vietnamese government news portals and alert on "
        "new sessions of watched committees.")
    parser.add_argument("--config", help="config file (default: $DXMON_CONFIG or ./dxmon.toml)")
    # the same option after the command; SUPPRESS: when it is not given there, it does
    # not overwrite the value given before the command (argparse's sub-parser defaults
    # would, and `dxmon --config B.toml status` ran on ./dxmon.toml)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="config file (default: $DXMON_CONFIG or ./dxmon.toml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    def add(name, func, **kw):
        p = sub.add_parser(name, parents=[common], help=func.__doc__.splitlines()[0],
                           description=func.__doc__, **kw)
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo)
    p.add_argument("--dir", default="demo-out", help="where the demo writes (default demo-out)")
    p = add("init", cmd_init)
    p.add_argument("path", nargs="?", help="where to write (default: --config or ./dxmon.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("crawl", cmd_crawl)
    p.add_argument("--source", help="crawl only this source")
    p.add_argument("--json", action="store_true")
    p = add("worker", cmd_worker)
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a Scrapy setting for the crawl process (repeatable)")
    p = add("serve", cmd_serve)
    p.add_argument("--web", action="store_true", help="serve the web view beside the scheduler")
    p.add_argument("--host", help="the web view's address (default [web] host, 127.0.0.1)")
    p.add_argument("--port", type=_port, help="the web view's port (default [web] port, 8765)")
    p = add("web", cmd_web)
    p.add_argument("--host", help="address to listen on (default [web] host, 127.0.0.1)")
    p.add_argument("--port", type=_port, help="port to listen on (default [web] port, 8765)")
    p = add("sessions", cmd_sessions)
    p.add_argument("--body", help="only this watched body id")
    p.add_argument("--json", action="store_true")
    p = add("articles", cmd_articles)
    p.add_argument("--source")
    p.add_argument("--limit", type=_positive, default=30)
    p.add_argument("--json", action="store_true")
    p = add("search", cmd_search)
    p.words_start_with_dash = True
    p.add_argument("query", nargs="*", help="words to find, diacritics optional (a word may "
                   f"start with '-'); at most {MAX_SEARCH_TERMS}")
    p.add_argument("--limit", type=_positive, default=20, help="most results (default 20)")
    p.add_argument("--json", action="store_true")
    p = add("status", cmd_status)
    p.add_argument("--json", action="store_true")
    p = add("backup", cmd_backup)
    p.add_argument("path", help="the new backup file (must not exist)")
    p = add("maintenance", cmd_maintenance)
    p.add_argument("--backup", help="back up to this new file (default: a dated file in "
                   "[maintenance] backup_dir, if set)")
    p.add_argument("--quick", action="store_true",
                   help="the quick check (quick_check) instead of the full one")
    p.add_argument("--no-merge", action="store_true", help="leave the search index as it is")
    p.add_argument("--json", action="store_true")
    p = add("detect", cmd_detect)
    p.add_argument("file", help="an article's HTML or plain text, or - for stdin")
    p.add_argument("--published", type=_published,
                   help="publication time (ISO 8601) if the page lacks one")
    p.add_argument("--url", help="the page's URL (resolves its canonical link)")
    p = add("notify-test", cmd_notify_test)
    p.add_argument("--json", action="store_true")
    p = add("history", cmd_history)
    p.add_argument("url")
    p.add_argument("--json", action="store_true")
    return parser


# The commands that only read, run in one thread and exit: sqlite-utils and numpy are
# deferred for them (storage.lite.defer_imports), ~150-200 ms of imports they never use
READERS = ("sessions", "articles", "search", "status", "history")


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        args = build_parser().parse_args(argv)
        if args.command in READERS:
            from storage.lite import defer_imports

            defer_imports("sqlite_utils", "numpy")
        return args.func(args)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:  # Ctrl-C: the user knows; no traceback
        return 130
    except Exception as exc:
        message = _user_error(exc, getattr(args, "storage_path", None))
        if message is None:
            raise  # not the user's doing: a bug, with its traceback
        if os.environ.get("DXMON_DEBUG"):
            traceback.print_exc()
        print(f"dxmon: {message}", file=sys.stderr)
        return 2


def _user_error(exc: Exception, storage_path: Path | None) -> str | None:
    """The one line for an error the user can do something about, else None."""
    if isinstance(exc, UsageError | DxmonError):
        return str(exc)
    from storage.schema import storage_failure

    if isinstance(exc, sqlite3.Error | OSError) and (
            message := storage_failure(exc, storage_path)):
        return message
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
