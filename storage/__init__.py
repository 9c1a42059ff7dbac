"""The dxmon database, and the one place with SQL text.

- :mod:`storage.schema` — opening the file, named migrations, :func:`~storage.schema.transaction`;
- :mod:`storage.articles` — articles, URL aliases, versions, hints, conflicts, search;
- :mod:`storage.crawl_state` — sources, crawl runs, fetch validators, host health;
- :mod:`storage.sessions` — sessions, mentions, which articles report which session;
- :mod:`storage.outbox` — alert rows (the delivery rules are :mod:`notifier.outbox`);
- :mod:`storage.neardup` — MinHash near-duplicate clusters;
- :mod:`storage.views` — what the web view and ``--json`` read (keyset search pages,
  timelines, source health), and the web view's one write (resend a given-up alert).

Other packages call these functions and never write SQL (tests/test_storage.py checks).
"""
