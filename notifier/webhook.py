"""The webhook channel: the DESIGN.md JSON payload, POSTed with httpx and signed.

Headers: ``X-Dxmon-Event`` (``session.new``, ``session.corrected``, ``dxmon.test``),
``X-Dxmon-Delivery`` (the outbox idempotency key: the same on every retry) and, when
``secret_env`` names a set variable, ``X-Dxmon-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body under that secret. 2xx is success; 408, 429, 5xx, timeouts
and connection errors are transient (``Retry-After`` is honoured); any other 4xx is
permanent (410 Gone: the receiver is gone).
"""

from __future__ import annotations

import hashlib
import hmac
import os

import httpx

from core.errors import PermanentDeliveryError, TransientDeliveryError
from core.http import parse_retry_after
from notifier.message import Alert

__all__ = ["WebhookChannel", "sign", "verify"]

TRANSIENT_4XX = (408, 425, 429)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


class WebhookChannel:
    kind = "webhook"
    required = ("url",)
    optional = ("secret_env", "timeout", "retry_base", "max_attempts", "headers", "headers_env")

    def __init__(self, name: str, options: dict):
        self.name = name
        self.url = options["url"]
        self.secret_env = options.get("secret_env")
        self.timeout = float(options.get("timeout", 10))
        self.headers = dict(options.get("headers", {}))
        # header name -> environment variable holding its value (Authorization, ...)
        self.headers_env = dict(options.get("headers_env", {}))

    @staticmethod
    def check(options: dict) -> list[tuple[str, str]]:
        problems = []
        url = options.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(("url", "must be an http:// or https:// URL"))
        var = options.get("secret_env")
        if var is not None and not os.environ.get(var):
            problems.append(("secret_env", f"environment variable {var} is not set"))
        for header, env in dict(options.get("headers_env") or {}).items():
            if not os.environ.get(env):
                problems.append(("headers_env", f"environment variable {env} (for the "
                                                f"{header} header) is not set"))
        if not isinstance(options.get("headers", {}), dict):
            problems.append(("headers", "must be a table of header names to values"))
        return problems

    def request(self, alert: Alert) -> tuple[bytes, dict]:
        body = alert.body_bytes()
        secrets = {name: os.environ.get(env, "") for name, env in self.headers_env.items()}
        headers = {**self.headers, **secrets, "Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "dxmon-webhook/1", "X-Dxmon-Event": alert.event,
                   "X-Dxmon-Delivery": alert.delivery_id}
        secret = os.environ.get(self.secret_env) if self.secret_env else None
        if secret:
            headers["X-Dxmon-Signature"] = sign(secret, body)
        return body, headers

    def send(self, alert: Alert) -> str:
        body, headers = self.request(alert)
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout,
                                  follow_redirects=False)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"webhook timed out after {self.timeout:g}s: "
                                         f"{type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"webhook: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        error = f"HTTP {status}: {response.text[:200].strip()}".rstrip(": ")
        if status >= 500 or status in TRANSIENT_4XX:
            raise TransientDeliveryError(error, retry_after=retry_after(response.headers))
        raise PermanentDeliveryError(error)


def retry_after(headers) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    return parse_retry_after(headers.get("retry-after"))
