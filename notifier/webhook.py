"""The webhook channel: the DESIGN.md JSON payload, POSTed with httpx and signed.

Headers: ``X-Dxmon-Event`` (``session.new``, ``session.corrected``, ``dxmon.test``, or
another event of the outbox: ``source.unhealthy``, ``topic.match``, ``digest``, ...),
``X-Dxmon-Delivery`` (the outbox idempotency key: the same on every retry) and, when
``secret_env`` names a set variable, ``X-Dxmon-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body under that secret.

Deadline: ``timeout`` (default 10 s) bounds the whole send — connecting, sending the
request and receiving the status line — not each read, so a receiver that trickles
bytes cannot stretch it (:mod:`notifier.deadline`). A 2xx status line *is* delivery:
once it has arrived the send has succeeded, whatever the headers and body do next; the
body is read for at most :data:`BODY_CAP` bytes and :data:`BODY_GRACE_S` (for the log
and error messages, never more) and the connection is closed.

Answers: 2xx is success; 408, 425, 429, 5xx, a missed deadline and connection errors
are transient (``Retry-After`` is honoured); any other 4xx is permanent (410 Gone: the
receiver is gone). Redirects, decided deliberately because a POST is not a GET:

* 301, 308 (moved for good) and 307 (moved for now, method kept) are followed **once**,
  within the same deadline, when the new location has the same scheme; the POST keeps
  its body, signature and delivery id (the configured ``headers`` and ``headers_env`` only
  if the host and port are the same: they may hold credentials meant for the old host). A 301/308 is logged with a request to update
  ``url``. A second redirect, or one to another scheme (https → http would leak the
  alert in clear; http → https is a different endpoint to confirm by hand), is a
  permanent error naming the location.
* 302 and 303 are permanent errors naming the location: clients turn them into a GET,
  which a webhook receiver cannot take, so the URL must be fixed in the config.

The notifier takes its typed config (:class:`core.schema.WebhookConfig`), its retry
policy and an optional httpx ``transport`` (an ``httpx.AsyncBaseTransport``,
e.g. ``httpx.MockTransport``): the seam for tests and for proxies. Without one it uses
httpx's own transport, with a network backend that notes the status line as soon as
its bytes arrive.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import threading
from dataclasses import dataclass

import httpcore
import httpx

from core.errors import PermanentDeliveryError, TransientDeliveryError
from core.retry_after import parse_retry_after
from core.schema import WebhookConfig
from notifier.base import RetryPolicy
from notifier.deadline import Interrupted, run_async, until_stopped
from notifier.message import Alert

__all__ = ["WebhookNotifier", "sign", "verify", "BODY_CAP", "BODY_GRACE_S"]

log = logging.getLogger("dxmon.webhook")

TRANSIENT_4XX = (408, 425, 429)
FOLLOWED = (301, 307, 308)
MOVED_FOR_GOOD = (301, 308)
REFUSED_REDIRECTS = (302, 303)
# A receiver's body is only quoted in an error message (200 characters of it), so a
# few KiB is plenty; a receiver answering with a gigabyte costs us these bytes only.
BODY_CAP = 4096
# After the status line, how long the body may take to reach BODY_CAP or its end
# before the connection is closed anyway: the outcome is known, the body is courtesy.
BODY_GRACE_S = 1.0

_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})[ \r]")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


class WebhookNotifier:
    """A :class:`~notifier.base.Notifier` that POSTs each alert (see the module doc)."""

    kind = "webhook"
    config_type = WebhookConfig

    def __init__(self, config: WebhookConfig, *, policy: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.name = config.name or self.kind
        self.policy = policy or RetryPolicy()
        self.events = tuple(config.events)  # the events it gets (the outbox filters)
        self.url = config.url
        self.secret_env = config.secret_env
        # the total deadline of one send, in seconds (see the module docstring)
        self.timeout: float | None = float(config.timeout)
        self.headers = dict(config.headers)
        # header name -> environment variable holding its value (Authorization, ...)
        self.headers_env = dict(config.headers_env)
        self.transport = transport

    def missing_environment(self) -> list[tuple[str, str]]:
        """The signing-key and header variables named but not set, as (option, message)."""
        problems = []
        if self.secret_env is not None and not os.environ.get(self.secret_env):
            problems.append(("secret_env", f"environment variable {self.secret_env} is "
                                           "not set"))
        for header, env in self.headers_env.items():
            if not os.environ.get(env):
                problems.append(("headers_env", f"environment variable {env} (for the "
                                                f"{header} header) is not set"))
        return problems

    def request(self, alert: Alert) -> tuple[bytes, dict]:
        body = alert.body_bytes()
        secrets = {name: os.environ.get(env, "") for name, env in self.headers_env.items()}
        headers = {**self.headers, **secrets, "Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "dxmon-webhook/1", "X-Dxmon-Event": alert.event,
                   "X-Dxmon-Delivery": alert.delivery_id,
                   # the body is read raw and capped: no decompression of a receiver's bytes
                   "Accept-Encoding": "identity"}
        secret = os.environ.get(self.secret_env) if self.secret_env else None
        if secret:
            headers["X-Dxmon-Signature"] = sign(secret, body)
        return body, headers

    def send(self, alert: Alert, *, stop: threading.Event | None = None) -> str:
        """POST the alert within the deadline; raise Transient/PermanentDeliveryError.

        ``stop`` (the service's stop event) cuts the send short: the connection is
        closed and the alert stays due for a later attempt, unless a 2xx status line
        had already arrived (then it was delivered).
        """
        body, headers = self.request(alert)
        return run_async(lambda: self._send(body, headers, stop))

    async def _send(self, body: bytes, headers: dict, stop: threading.Event | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        url = httpx.URL(self.url)
        followed = False
        while True:
            seen = StatusLine()
            try:
                reply = await until_stopped(self._exchange(url, body, headers, seen, deadline),
                                            stop)
            except (TimeoutError, Interrupted, httpx.HTTPError, httpcore.ProtocolError,
                    OSError) as exc:
                if seen.delivered:  # the 2xx status line is the delivery; the rest is noise
                    return f"HTTP {seen.status} (then {_describe(exc, self.timeout)})"
                # no URL in the message: a webhook URL often carries a token
                raise TransientDeliveryError(f"webhook: {_describe(exc, self.timeout)}"
                                             ) from None
            status = reply.status
            if 200 <= status < 300:
                return f"HTTP {status} (redirected to {url})" if followed else f"HTTP {status}"
            if status in FOLLOWED or status in REFUSED_REDIRECTS:
                target = self._follow(url, reply, followed)
                if (target.host, target.port) != (url.host, url.port):
                    # the configured headers may carry credentials meant for the old host
                    headers = {k: v for k, v in headers.items()
                               if k not in self.headers and k not in self.headers_env}
                url, followed = target, True
                continue
            error = f"HTTP {status}: {reply.text[:200].strip()}".rstrip(": ")
            if status >= 500 or status in TRANSIENT_4XX:
                raise TransientDeliveryError(error, retry_after=retry_after(reply.headers))
            raise PermanentDeliveryError(error)

    def _follow(self, url: httpx.URL, reply: Reply, followed: bool) -> httpx.URL:
        """The URL a redirect may be followed to; PermanentDeliveryError when it may not."""
        status = reply.status
        location = reply.headers.get("location")
        if not location:
            raise PermanentDeliveryError(f"HTTP {status} without a Location header")
        try:
            target = url.join(location)
        except httpx.InvalidURL:
            raise PermanentDeliveryError(f"HTTP {status} to an invalid location "
                                         f"{location[:200]!r}") from None
        where = f"HTTP {status} to {target}"
        if status in REFUSED_REDIRECTS:
            raise PermanentDeliveryError(f"{where}: a POST cannot follow a {status} (it "
                                         f"would become a GET); set url = \"{target}\"")
        if followed:
            raise PermanentDeliveryError(f"{where}, after a first redirect: only one is "
                                         f"followed; set url to the final address")
        if target.scheme != url.scheme:
            raise PermanentDeliveryError(f"{where}: not followed to another scheme; if the "
                                         f"new address is right, set url = \"{target}\"")
        if status in MOVED_FOR_GOOD:
            log.warning("webhook %s moved for good (%s): set url = \"%s\" in the config",
                        self.name, status, target)
        return target

    async def _exchange(self, url: httpx.URL, body: bytes, headers: dict, seen: StatusLine,
                        deadline: float) -> Reply:
        """One POST, bounded by ``deadline`` (loop time) up to the status line and headers."""
        # the transport itself, not a Client: nothing between us and the wire follows,
        # retries or interprets redirects (a bad Location is our error to word)
        transport = self.transport or _status_line_transport(seen)
        try:
            async with asyncio.timeout_at(deadline):
                response = await transport.handle_async_request(
                    httpx.Request("POST", url, content=body, headers=headers))
            try:
                seen.status = response.status_code
                return Reply(response.status_code, response.headers,
                             await _read_capped(response, deadline))
            finally:
                await response.aclose()
        finally:
            if self.transport is None:  # ours: close its connection; an injected one is the
                await transport.aclose()  # caller's to close


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    text: str


class StatusLine:
    """The status of a response, known as soon as its status line has arrived."""

    def __init__(self):
        self.head = bytearray()
        self.status: int | None = None

    def feed(self, data: bytes) -> None:
        if self.status is None and len(self.head) < 64:
            self.head += data[:64]
            match = _STATUS_LINE.match(bytes(self.head))
            if match:
                self.status = int(match.group(1))

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def _read_capped(response: httpx.Response, deadline: float) -> str:
    """Up to BODY_CAP bytes of the body, within BODY_GRACE_S and the deadline."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    try:
        async with asyncio.timeout_at(min(deadline, loop.time() + BODY_GRACE_S)):
            async for chunk in response.aiter_raw():
                data += chunk
                if len(data) >= BODY_CAP:
                    break
    except httpx.StreamConsumed:  # a transport that answered with a body already read
        data = bytearray(response.content[:BODY_CAP])
    except (TimeoutError, httpx.HTTPError, httpcore.ProtocolError, OSError):
        pass  # the status decides the outcome; the body only colours the message
    return bytes(data[:BODY_CAP]).decode("utf-8", "replace")


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within the {timeout:g}s deadline"
    if isinstance(exc, Interrupted):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def _status_line_transport(seen: StatusLine) -> httpx.AsyncHTTPTransport:
    """httpx's transport, its connections made by a backend that feeds ``seen``."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx builds its httpcore pool without a network-backend option; this replaces it
    # with the same pool on a recording backend (tests/hostile/test_delivery.py pins it)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), max_connections=1,
        network_backend=_RecordingBackend(seen))
    return transport


class _RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, seen: StatusLine):
        self.inner = httpcore.AnyIOBackend()
        self.seen = seen

    async def connect_tcp(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        return _RecordingStream(await self.inner.connect_tcp(*args, **kwargs), self.seen)

    async def connect_unix_socket(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        return _RecordingStream(await self.inner.connect_unix_socket(*args, **kwargs),
                                self.seen)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _RecordingStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, seen: StatusLine):
        self.inner = inner
        self.seen = seen

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self.inner.read(max_bytes, timeout)
        self.seen.feed(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        return _RecordingStream(await self.inner.start_tls(*args, **kwargs), self.seen)

    def get_extra_info(self, info: str):
        return self.inner.get_extra_info(info)


def retry_after(headers) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    return parse_retry_after(headers.get("retry-after"))
