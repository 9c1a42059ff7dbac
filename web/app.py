"""The web view: server-rendered pages of the archive, their JSON twins, the feeds.

``create_app(db_path, config, lang=...)`` builds a Starlette app. Routes (DESIGN.md):

    /                   Sessions: a timeline per watched body, upcoming ones apart
    /sessions/{id}      a session: its mentions, alerts, corrections
    /search?q=          archive search (keyset pages: ?after=ID)
    /articles/{id}      an article: text, aliases, near-duplicates, versions with a diff
    /sources            crawl health per source
    /alerts             the outbox; POST /alerts/{id}/resend for a given-up alert
    POST /sources/{name}/crawl   crawl a source now (a full cycle, in a thread)
    /api/...            each page's data as JSON (monitor.views, shared with --json)
    /feeds/sessions.atom, /feeds/sessions.ics

Pages read the archive through a **read-only** connection (one per worker thread:
Starlette runs these synchronous endpoints in a thread pool, and a sqlite3
connection is not for sharing between threads); the one action (resend) opens a
short-lived writable handle, and "crawl now" runs a crawl cycle as ``dxmon crawl``
does. Both are POST forms with a CSRF token. Labels are Vietnamese by default, English with
``?lang=en``; Jinja2 autoescapes everything, and hostile links (``javascript:``)
are shown as text, never linked.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from core.config import Config
from core.models import VN_TZ
from monitor import views
from storage import views as rows
from storage.schema import open_db
from web import security
from web.i18n import LANGS, labels

__all__ = ["create_app", "MAX_SEARCH_TERMS", "PAGE_SIZE"]

HERE = Path(__file__).parent
logger = logging.getLogger(__name__)
# as `dxmon search` (monitor.cli.MAX_SEARCH_TERMS): a real query has a handful of words
MAX_SEARCH_TERMS = 32
# results per search page: a screenful; each page is one keyset query of PAGE_SIZE + 1 rows
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # ?limit= at most: a page stays one quick keyset query
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- template helpers ----------------------------------------------------------------------


def marked(text: str | None, marks: list[list[int]] | None) -> Markup:
    """``text`` escaped, with the ranges ``marks`` wrapped in ``<mark>``."""
    if not text:
        return Markup("")
    out, at = [], 0
    for start, end in sorted(marks or []):
        if start < at or end > len(text):
            continue
        out += [escape(text[at:start]), Markup("<mark>"), escape(text[start:end]),
                Markup("</mark>")]
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


def safe_href(url: str | None) -> str | None:
    """``url`` if a browser may follow it (http or https), else None: shown, not linked."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def when(value: str | None) -> str:
    """An ISO time as Vietnam's local time, to the minute ("2026-12-06 20:31")."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.isoformat(sep=" ", timespec="minutes")
    return moment.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")


def spark(per_day: list[list]) -> Markup:
    """Articles per day as a small inline SVG bar chart (one bar a day, no script)."""
    width, height, bar = 4, 24, 3  # px: 30 days x 4 px = 120 px wide
    top = max((n for _, n in per_day), default=0) or 1
    bars = []
    for i, (day, n) in enumerate(per_day):
        h = round(n / top * height) if n else 0
        bars.append(f'<rect x="{i * width}" y="{height - h}" width="{bar}" height="{max(h, 1)}"'
                    f' class="{"day" if n else "zero"}"><title>{escape(day)}: {int(n)}</title>'
                    "</rect>")
    total = sum(n for _, n in per_day)
    return Markup(f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" role="img" '
                  f'width="{len(per_day) * width}" height="{height}" '
                  f'viewBox="0 0 {len(per_day) * width} {height}" '
                  f'aria-label="{total}">{"".join(bars)}</svg>')


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             auto_reload=False,  # templates ship with the package
                             undefined=jinja2.StrictUndefined)
    env.filters.update(marked=marked, safe_href=safe_href, when=when, spark=spark)
    return env


# --- the app -------------------------------------------------------------------------------


class _Archive:
    """One read-only connection per thread to the archive, opened on first use."""

    def __init__(self, path: Path):
        self.path = path
        self.local = threading.local()

    def read(self):
        db = getattr(self.local, "db", None)
        if db is None:
            db = self.local.db = open_db(self.path, readonly=True)
        return db


class _Crawls:
    """Crawls asked for from the Sources page ("crawl now"): each a full ``dxmon crawl
    --source`` cycle (crawl, detect, group, deliver) in a thread, one at a time per
    source. Beside ``dxmon serve`` this is one more crawl of the same file, which the
    archive and the outbox's leases are built for (docs/architecture.md)."""

    def __init__(self, config: Config):
        self.config = config
        self.lock = threading.Lock()
        self.threads: dict[str, threading.Thread] = {}

    def running(self, name: str) -> bool:
        thread = self.threads.get(name)
        return thread is not None and thread.is_alive()

    def start(self, name: str) -> bool:
        """Start a crawl of ``name``; False if one started here is still running."""
        with self.lock:
            if self.running(name):
                return False
            thread = threading.Thread(target=self._crawl, args=(name,), daemon=True,
                                      name=f"dxmon-web-crawl-{name}")
            self.threads[name] = thread
            thread.start()
            return True

    def _crawl(self, name: str) -> None:
        from monitor.cycle import crawl_cycle

        try:
            outcome, _ = crawl_cycle(self.config, name)
            logger.info("crawl of %s asked from the web view: %s", name,
                        "ok" if outcome.ok else "failed")
        except Exception:  # noqa: BLE001 - a failed crawl must not take the server down
            logger.exception("crawl of %s asked from the web view failed", name)


class _Pages:
    """The route handlers, sharing the archive, the config and the templates."""

    def __init__(self, db_path: Path, config: Config, lang: str):
        self.db_path, self.config, self.lang = Path(db_path), config, lang
        self.archive = _Archive(self.db_path)
        self.env = _environment()
        self.crawls = _Crawls(config)

    # --- plumbing ----------------------------------------------------------------

    def lang_of(self, request: Request) -> str:
        asked = request.query_params.get("lang")
        return asked if asked in LANGS else self.lang

    def render(self, request: Request, template: str, status: int = 200, **context) -> Response:
        lang = self.lang_of(request)
        explicit = request.query_params.get("lang") in LANGS and lang != self.lang

        def link(path: str, **params) -> str:
            params = {k: v for k, v in params.items() if v not in (None, "", False)}
            if explicit:
                params["lang"] = lang
            return path + ("?" + urlencode(params) if params else "")

        other = "en" if lang == "vi" else "vi"
        switch = request.url.include_query_params(lang=other)
        here = "/" + switch.path.lstrip("/")  # never "//host/...": a link off this server
        csrf, new_csrf = security.csrf_token(request)
        html = self.env.get_template(template).render(
            L=labels(lang), lang=lang, link=link, lang_switch=f"{here}?{switch.query}",
            csrf=csrf, path=request.url.path, **context)
        response = HTMLResponse(html, status_code=status)
        if new_csrf:
            security.set_csrf_cookie(response, csrf, request)
        return response

    def wants_json(self, request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def answer(self, request: Request, template: str, data: dict, **context) -> Response:
        if self.wants_json(request):
            return JSONResponse(data)
        return self.render(request, template, data=data, **context)

    # --- pages -------------------------------------------------------------------

    def sessions(self, request: Request) -> Response:
        body = request.query_params.get("body") or None
        year = _int(request.query_params.get("year"), "year")
        data = views.sessions_json(self.archive.read(), self.config, body=body, year=year)
        return self.answer(request, "sessions.html", data)

    def session(self, request: Request) -> Response:
        data = views.session_json(self.archive.read(), self.config,
                                  _row_id(request, "session_id"))
        if data is None:
            raise HTTPException(404, "no such session")
        return self.answer(request, "session.html", data)

    def search(self, request: Request) -> Response:
        params = request.query_params
        query = (params.get("q") or "").strip()
        if len(query.split()) > MAX_SEARCH_TERMS:
            raise HTTPException(400, f"at most {MAX_SEARCH_TERMS} words")
        since, until = _day(params.get("from"), "from"), _day(params.get("to"), "to")
        source = params.get("source") or None
        reports = params.get("reports") in ("1", "on", "true")
        limit = _int(params.get("limit"), "limit")
        limit = PAGE_SIZE if limit is None else limit
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise HTTPException(400, f"limit must be from 1 to {MAX_PAGE_SIZE}")
        data = views.search_json(self.archive.read(), query,
                                 after=_int(params.get("after"), "after"), limit=limit,
                                 source=source, since=since, until=until,
                                 reports_session=reports)
        data["sources"] = [s.name for s in self.config.sources]
        data["limit"] = limit if limit != PAGE_SIZE else None
        return self.answer(request, "search.html", data)

    def article(self, request: Request) -> Response:
        data = views.article_json(self.archive.read(), _row_id(request, "article_id"))
        if data is None:
            raise HTTPException(404, "no such article")
        return self.answer(request, "article.html", data)

    def sources(self, request: Request) -> Response:
        data = views.sources_json(self.archive.read(), self.config)
        running = {s.name for s in self.config.sources if self.crawls.running(s.name)}
        crawling = request.query_params.get("crawling")
        return self.answer(request, "sources.html", data, crawling=crawling, running=running)

    async def crawl_now(self, request: Request) -> Response:
        form = await request.form()
        if not security.csrf_ok(request, form.get("csrf")):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and retry")
        name = request.path_params["name"]
        if name not in {s.name for s in self.config.sources}:
            raise HTTPException(404, "no such source in the config")
        if not self.crawls.start(name):
            raise HTTPException(409, "a crawl of this source asked from here is still running")
        target = f"/sources?{urlencode({'crawling': name})}"
        if (lang := self.lang_of(request)) != self.lang:
            target += f"&lang={lang}"
        return RedirectResponse(target, status_code=303)

    def alerts(self, request: Request) -> Response:
        data = views.alerts_json(self.archive.read())
        resent = _int(request.query_params.get("resent"), "resent")
        return self.answer(request, "alerts.html", data, resent=resent)

    async def resend(self, request: Request) -> Response:
        form = await request.form()
        if not security.csrf_ok(request, form.get("csrf")):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and retry")
        alert_id = _row_id(request, "alert_id")
        db = open_db(self.db_path)  # the one writer: short-lived, closed at once
        try:
            done = rows.resend_alert(db, alert_id, _outbox_now())
        finally:
            db.close()
        if not done:
            raise HTTPException(409, "only a given-up alert can be resent")
        target = f"/alerts?resent={alert_id}"
        if (lang := self.lang_of(request)) != self.lang:
            target += f"&lang={lang}"
        return RedirectResponse(target, status_code=303)

    def feed(self, request: Request) -> Response:
        from web import feeds

        base = str(request.base_url).rstrip("/")
        try:
            if request.url.path.endswith(".atom"):
                body = feeds.atom_feed(self.archive.read(), base, self.lang_of(request))
                return Response(body, media_type="application/atom+xml")
            body = feeds.ics_feed(self.archive.read(), base)
            return Response(body, media_type="text/calendar")
        except NotImplementedError:
            raise HTTPException(503, "feeds are not available in this build") from None

    async def error(self, request: Request, exc: HTTPException) -> Response:
        if self.wants_json(request) or request.method != "GET":
            return JSONResponse({"error": exc.detail, "status": exc.status_code},
                                status_code=exc.status_code)
        return self.render(request, "error.html", status=exc.status_code,
                           status_code=exc.status_code, detail=exc.detail)


# SQLite's integers are 64-bit: a larger number in a URL is no row, not a server error
_MAX_ID = 2**63 - 1


def _row_id(request: Request, name: str) -> int:
    """A row id from the path; 404 when no row can have it."""
    value = request.path_params[name]
    if not 0 < value <= _MAX_ID:
        raise HTTPException(404, f"no such {name.removesuffix('_id')}")
    return value


def _int(value: str | None, name: str) -> int | None:
    try:
        number = None if value in (None, "") else int(value)
    except ValueError:
        number = _MAX_ID + 1
    if number is not None and not -_MAX_ID <= number <= _MAX_ID:
        raise HTTPException(400, f"{name} must be a whole number")
    return number


def _day(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        if not _DAY.match(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be a date YYYY-MM-DD") from None
    return value


def _outbox_now() -> str:
    from storage.outbox import alert_time

    return alert_time(datetime.now(UTC))


def create_app(db_path: Path, config: Config, *, lang: str = "vi",
               token: str | None = None, allowed_hosts: list[str] | None = None) -> Starlette:
    """The web view of the archive at ``db_path``.

    ``lang``: the default labels ("vi" or "en"). ``token``: when given, every request
    needs it (:class:`web.security.TokenGate`); :func:`web.server.run` passes the value
    of ``[web] token_env``. ``allowed_hosts``: when given, requests naming another
    ``Host`` are refused (a local-only server is then safe from DNS rebinding).
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
    pages = _Pages(db_path, config, lang)
    routes = [
        Route("/", pages.sessions), Route("/api/sessions", pages.sessions),
        Route("/sessions/{session_id:int}", pages.session),
        Route("/api/sessions/{session_id:int}", pages.session),
        Route("/search", pages.search), Route("/api/search", pages.search),
        Route("/articles/{article_id:int}", pages.article),
        Route("/api/articles/{article_id:int}", pages.article),
        Route("/sources", pages.sources), Route("/api/sources", pages.sources),
        Route("/alerts", pages.alerts), Route("/api/alerts", pages.alerts),
        Route("/alerts/{alert_id:int}/resend", pages.resend, methods=["POST"]),
        Route("/sources/{name}/crawl", pages.crawl_now, methods=["POST"]),
        Route("/feeds/sessions.atom", pages.feed), Route("/feeds/sessions.ics", pages.feed),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = []
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    if token:
        middleware.append(Middleware(security.TokenGate, token=token))
    return _App(routes=routes, middleware=middleware,
                exception_handlers={HTTPException: pages.error})


class _App(Starlette):
    """Starlette with the security headers outside everything, so that even the 500
    page of an unexpected error (Starlette's outermost middleware) carries them."""

    def build_middleware_stack(self):
        return security.SecurityHeaders(super().build_middleware_stack())
