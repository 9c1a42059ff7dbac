"""One apprise send, in a process of its own: ``python -m notifier.apprise_child``.

:mod:`notifier.apprise_channel` starts this for every send and kills it at the
send's deadline: apprise's services use blocking HTTP/SMTP clients whose timeouts
bound each read, not the exchange, and a thread cannot be stopped, so only a process
gives the outbox its promise (the attempt is over, its connections closed by the
kernel, when the deadline passes).

Input on stdin (never argv or the environment of a listed process: the URL carries
tokens), one JSON object: ``url``, ``subject``, ``text``, ``markdown``, ``footer``,
``footer_md``, ``format`` ("auto" | "text" | "markdown"), ``title_max`` and
``body_max`` (None: the service's own limits). Output on stdout, one JSON object:

* ``ok``: whether apprise reported the notification delivered;
* ``outcome``: "sent", "bad_url" (apprise does not know the URL), "http" (with
  ``status``, the HTTP status the service answered), "connection" (no answer), or
  "unknown" (apprise said no without saying why);
* ``lines``: apprise's warnings and errors (the parent redacts them);
* ``service``, ``format``, ``title_max``, ``body_max``, ``length``: what was sent.

apprise's own retries are off (``retry = 0`` on the service, the asset's
``default_service_retry = 0``): the outbox decides when to try again.
"""

from __future__ import annotations

import json
import logging
import re
import sys

from notifier.fit import fit_body, fit_line

# "... error=503." is how apprise's HTTP services report the status of a refusal
_STATUS = re.compile(r"\berror=(\d{3})\b")
_CONNECTION = re.compile(r"connection error|socket exception|timed out|timeout|"
                         r"could not connect|refused|unreachable|name or service",
                         re.IGNORECASE)


def _asset(apprise):
    """An asset with apprise's retries off, sends in this thread, secrets masked."""
    wanted = {"async_mode": False, "default_service_retry": 0, "secure_logging": True}
    return apprise.AppriseAsset(**{k: v for k, v in wanted.items()
                                   if hasattr(apprise.AppriseAsset, k)})


def _formats(plugin) -> list[str]:
    declared = plugin.notify_format
    items = declared if isinstance(declared, list | tuple | set) else [declared]
    return [str(getattr(f, "value", f)).lower() for f in items]


def _message(request: dict, plugin) -> tuple[str, str, str, int, int]:
    """(title, body, format, title_max, body_max) fitted to the service."""
    fmt = request.get("format") or "auto"
    if fmt == "auto":  # Markdown where the service's own default is Markdown or HTML
        # (apprise turns Markdown into HTML for the latter); plain text elsewhere
        formats = _formats(plugin)
        fmt = "markdown" if formats and formats[0] in ("markdown", "html") else "text"
    title_max = request.get("title_max")
    if title_max is None:
        title_max = int(getattr(plugin, "title_maxlen", 250) or 0)
    body_max = request.get("body_max")
    if body_max is None:
        body_max = int(getattr(plugin, "body_maxlen", 32768) or 32768)
    subject = request["subject"]
    body, footer = ((request["markdown"], request["footer_md"]) if fmt == "markdown"
                    else (request["text"], request["footer"]))
    title = fit_line(subject, title_max) if title_max > 0 else ""
    if not title:  # a service without titles: the subject opens the body
        first = f"**{request['subject_md']}**" if fmt == "markdown" else subject
        if not body.startswith(first):
            body = f"{first}\n\n{body}"
    return title, fit_body(body, footer, body_max, markdown=fmt == "markdown"), fmt, \
        title_max, body_max


def send(request: dict) -> dict:
    import apprise

    asset = _asset(apprise)
    plugin = apprise.Apprise.instantiate(request["url"], asset=asset)
    if plugin is None:
        return {"ok": False, "outcome": "bad_url", "lines": []}
    if hasattr(plugin, "retry"):
        plugin.retry = 0
    title, body, fmt, title_max, body_max = _message(request, plugin)
    sender = apprise.Apprise(asset=asset)
    sender.add(plugin)
    body_format = (apprise.NotifyFormat.MARKDOWN if fmt == "markdown"
                   else apprise.NotifyFormat.TEXT)
    with apprise.LogCapture(level=logging.DEBUG,
                            fmt="%(levelname)s %(message)s") as captured:
        ok = bool(sender.notify(body=body, title=title, body_format=body_format))
    log = captured.getvalue().splitlines()
    out = {"ok": ok, "service": getattr(plugin, "service_name", type(plugin).__name__),
           "format": fmt, "title_max": title_max, "body_max": body_max, "length": len(body),
           "lines": [line for line in log if line.startswith(("WARNING", "ERROR"))][-5:]}
    if ok:
        return out | {"outcome": "sent"}
    statuses = [int(m.group(1)) for line in log if (m := _STATUS.search(line))]
    if statuses:
        return out | {"outcome": "http", "status": statuses[-1]}
    if any(_CONNECTION.search(line) for line in log):
        return out | {"outcome": "connection"}
    return out | {"outcome": "unknown"}


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        result = send(request)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        result = {"ok": False, "outcome": "error", "lines": [f"{type(exc).__name__}: {exc}"]}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
