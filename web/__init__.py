"""The web view of the archive (issue 14): server-rendered pages, their JSON twins and
the sessions feeds, served by uvicorn.

- :mod:`web.app` — ``create_app(db_path, config, lang=...)``: routes and rendering;
- :mod:`web.security` — CSP and other headers, the access token, CSRF;
- :mod:`web.server` — ``run(config, host, port)``: ``dxmon web`` and ``serve --web``;
- :mod:`web.feeds` — Atom and iCalendar feeds of the sessions;
- :mod:`web.i18n` — labels in Vietnamese and English.

What a page shows comes from :mod:`monitor.views`, which the CLI's ``--json`` shares.
"""
