"""The apprise channel: one library for 100+ chat and push services (Telegram, Slack,
Microsoft Teams, Discord, Matrix, ntfy, Mattermost, Signal API, Pushover, email, ...).

The service's URL carries its tokens (``tgram://BOT_TOKEN/CHAT_ID``), so the config
names the environment variable holding it (``url_env``) and the URL is never
written anywhere: not in logs, errors, ``dxmon status``, the database or the web
view. Errors name the channel, the variable and the URL's scheme only, and anything
apprise says is redacted (:func:`redact`) before it is kept.

The outbox's promises hold as for the webhook:

* **Deadline.** ``timeout`` (default 30 s) bounds the whole send. apprise's services
  use blocking clients whose timeouts bound each read, and a thread cannot be
  stopped, so each send runs in a process of its own (:mod:`notifier.apprise_child`,
  which gets the URL on stdin) that is killed at the deadline, or when ``stop`` is
  set: the attempt is then over, its connections closed, and the alert stays due.
* **Retries are the outbox's.** apprise's own are turned off (the service's
  ``retry = 0``), so the backoff, ``max_attempts`` and dead letters are dxmon's.
* **Outcome.** apprise says only yes or no; its log says why, and that decides:
  an HTTP 3xx or 4xx answer is permanent except 408, 425 and 429; 5xx, no connection, a
  missed deadline and an unexplained no are transient; a URL apprise does not know
  is permanent (a config error).

Messages: ``format = "auto"`` (default) sends Markdown to services that take it
and plain text to the others; ``"text"`` or ``"markdown"`` forces one. ``title_max``
and ``body_max`` default to the service's own limits (Telegram: 4,096 characters);
a longer message is cut on a line boundary, the delivery id always kept
(:mod:`notifier.fit`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote

from core.errors import PermanentDeliveryError, TransientDeliveryError
from core.schema import AppriseConfig
from notifier.base import RetryPolicy
from notifier.deadline import STOP_POLL_S
from notifier.message import Alert, md_escape

__all__ = ["AppriseNotifier", "redact", "classify"]

TRANSIENT_4XX = (408, 425, 429)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{0,19})://", re.IGNORECASE)
# a piece of the URL this long or longer may be a token: redacted wherever it appears
SECRET_PIECE = 4


def redact(text: str, url: str) -> str:
    """``text`` with the URL and every piece of it that may be a secret replaced by ***.

    Pieces are what lies between the URL's delimiters (user, password, host, path
    segments, query values), as written and percent-encoded; short ones (``a``,
    ``to``) are left, since they cannot identify a token and would garble the text.
    """
    if not url:
        return text
    rest = _SCHEME.sub("", url)
    pieces = {p for p in re.split(r"[/:@?&=#,;+\s]+", rest) if len(p) >= SECRET_PIECE}
    pieces |= {quote(p, safe="") for p in pieces} | {url, rest}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def classify(result: dict) -> tuple[bool, str]:
    """(transient?, what happened) for the child's result of a failed send."""
    outcome = result.get("outcome")
    if outcome == "http":
        status = int(result["status"])
        transient = status >= 500 or status in TRANSIENT_4XX  # a 3xx or 4xx: fix the URL
        return transient, f"the service answered HTTP {status}"
    if outcome == "bad_url":
        return False, "apprise does not recognise the URL (check its scheme and form)"
    if outcome == "connection":
        return True, "no connection to the service"
    if outcome == "error":
        return False, "apprise failed"
    return True, "apprise reported a failure without a reason"


class AppriseNotifier:
    """A :class:`~notifier.base.Notifier` sending through apprise (see the module doc)."""

    kind = "apprise"
    config_type = AppriseConfig

    def __init__(self, config: AppriseConfig, *, policy: RetryPolicy | None = None):
        self.name = config.name or self.kind
        self.policy = policy or RetryPolicy()
        self.events = tuple(config.events)  # the events it gets (the outbox filters)
        self.url_env = config.url_env
        self.format = config.format
        self.title_max = config.title_max
        self.body_max = config.body_max
        self.timeout: float | None = float(config.timeout)

    def missing_environment(self) -> list[tuple[str, str]]:
        if not os.environ.get(self.url_env):
            return [("url_env", f"environment variable {self.url_env} (the apprise URL) is "
                                "not set")]
        return []

    def _where(self, url: str) -> str:
        m = _SCHEME.match(url)
        scheme = f"{m.group(1).lower()}://" if m else "a URL"
        return f"apprise {scheme} (from ${self.url_env})"

    def request(self, alert: Alert, url: str) -> dict:
        rendered = alert.render()
        return {"url": url, "subject": alert.subject(),
                "subject_md": md_escape(alert.subject()),
                "text": rendered.text, "markdown": rendered.markdown,
                "footer": alert.footer(), "footer_md": md_escape(alert.footer()),
                "format": self.format, "title_max": self.title_max,
                "body_max": self.body_max}

    def send(self, alert: Alert, *, stop: threading.Event | None = None) -> str:
        """Send within the total deadline; raise Transient/PermanentDeliveryError."""
        url = os.environ.get(self.url_env, "")
        if not url:
            raise PermanentDeliveryError(f"environment variable {self.url_env} (the apprise "
                                         "URL) is not set")
        where = self._where(url)
        result = self._run(json.dumps(self.request(alert, url)).encode("utf-8"), where, stop)
        lines = "; ".join(redact(line, url) for line in result.get("lines", []))
        if result.get("ok"):
            return (f"sent via {where} to {result.get('service')} ({result.get('format')}, "
                    f"{result.get('length')} characters)")
        transient, what = classify(result)
        message = f"{where}: {what}" + (f" ({lines[:300]})" if lines else "")
        if transient:
            raise TransientDeliveryError(message)
        raise PermanentDeliveryError(message)

    def _run(self, payload: bytes, where: str, stop: threading.Event | None) -> dict:
        """Run one send in a child process; kill it at the deadline or on ``stop``."""
        end = time.monotonic() + self.timeout
        child = subprocess.Popen(
            [sys.executable, "-m", "notifier.apprise_child"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
            cwd=_ROOT)
        out = bytearray()
        reader = threading.Thread(target=_read_all, args=(child, payload, out), daemon=True)
        reader.start()
        reason = None
        while reader.is_alive():
            if stop is not None and stop.is_set():
                reason = "interrupted: dxmon is stopping"
            elif time.monotonic() >= end:
                reason = f"no answer within the {self.timeout:g}s deadline"
            if reason:
                _kill(child)
                break
            reader.join(STOP_POLL_S)
        reader.join()
        child.wait()
        if reason:
            raise TransientDeliveryError(f"{where}: {reason}")
        try:
            return json.loads(out.decode("utf-8"))
        except ValueError:
            raise TransientDeliveryError(f"{where}: the sender process ended without a "
                                         f"result (exit {child.returncode})") from None


# the folder holding the notifier package: the child imports notifier.apprise_child from it
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read_all(child: subprocess.Popen, payload: bytes, out: bytearray) -> None:
    """Hand the request to the child and read its answer (until it exits or is killed)."""
    try:
        child.stdin.write(payload)
        child.stdin.close()
    except OSError:
        pass  # the child died first: its (missing) answer says so
    out.extend(child.stdout.read())
    child.stdout.close()


def _kill(child: subprocess.Popen) -> None:
    """End the child and anything it started: its sockets close with it."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
