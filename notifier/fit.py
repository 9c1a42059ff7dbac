"""Fitting a message into a service's length limits without losing what matters.

Chat services cap a message (Telegram: 4,096 characters) and some cap a title. A
message that is too long is cut on a line boundary, and a line "…" marks the cut; the
last line (the delivery id, :meth:`notifier.message.Alert.footer`) is always kept,
since it is how a person or a receiver recognises a repeated delivery. Only a line
too long to fit at all is cut inside, at a space when there is one.

Markdown stays balanced because the renderers keep every construct on one line
(:func:`notifier.message.md_escape` folds line breaks out of page text): whole lines
are dropped, never half of one. A Markdown line too long to fit on its own is
dropped too, rather than cut.

Lengths are counted in Python characters (code points): what the services count,
and a cut never splits a character, so the result is always valid UTF-8. Only the
standard library is imported here: the apprise sender process uses it.
"""

from __future__ import annotations

__all__ = ["fit_body", "fit_line", "ELLIPSIS"]

ELLIPSIS = "…"


def _head(text: str, room: int) -> str:
    """The start of ``text`` in at most ``room`` characters, cut at a space when one is
    in the last third of it."""
    head = text[:room]
    if len(text) > room:
        space = head.rfind(" ")
        if space >= room * 2 // 3:
            head = head[:space]
    return head.rstrip()


def fit_line(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters: cut at a space when one is
    in the last third, with "…" at the end of a cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:max(limit, 0)]
    return _head(text, limit - 1) + ELLIPSIS


def fit_body(body: str, footer: str, limit: int, *, markdown: bool = False) -> str:
    """``body`` then a blank line and ``footer``, in at most ``limit`` characters.

    When it is too long, the body keeps its first lines that fit, a line "…" follows
    them, then the footer. The footer is never cut (if it alone is over the limit, it
    is returned alone: a limit that small is a configuration error caught at load).
    """
    body = body.rstrip("\n")
    whole = f"{body}\n\n{footer}" if body else footer
    if len(whole) <= limit:
        return whole
    tail = f"\n{ELLIPSIS}\n\n{footer}"
    room = limit - len(tail)
    if room <= 0:
        return footer
    kept: list[str] = []
    used = 0
    for line in body.split("\n"):
        cost = len(line) + (1 if kept else 0)
        if used + cost <= room:
            kept.append(line)
            used += cost
            continue
        if not kept and not markdown:  # not even the first line fits: cut inside it
            kept.append(_head(line, room))
        break
    while kept and not kept[-1].strip():  # no blank lines before the "…" (a kept line
        kept.pop()                          # stays as rendered: "> " is Markdown)
    text = "\n".join(kept)
    if not text:
        return f"{ELLIPSIS}\n\n{footer}"
    return f"{text}{tail}"
