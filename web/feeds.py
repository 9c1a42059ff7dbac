"""Placeholder for the sessions feeds (helper W2 writes the real module: Atom with
feedgen, iCalendar with icalendar). The web app mounts these two functions at
``/feeds/sessions.atom`` and ``/feeds/sessions.ics``."""

from __future__ import annotations

import sqlite_utils

__all__ = ["atom_feed", "ics_feed"]


def atom_feed(db: sqlite_utils.Database, base_url: str, lang: str) -> bytes:
    """The sessions as an Atom 1.0 feed (not written yet: W2's module replaces this)."""
    raise NotImplementedError("the Atom feed comes with web/feeds.py of the feeds work")


def ics_feed(db: sqlite_utils.Database, base_url: str) -> bytes:
    """The sessions as an iCalendar file (not written yet: W2's module replaces this)."""
    raise NotImplementedError("the iCalendar feed comes with web/feeds.py of the feeds work")
