"""The email channel: one message per alert over SMTP (ssl, starttls or none).

Credentials come from the environment variables the config names (``username_env``,
``password_env``). The message has a Vietnamese subject, a text and an HTML part with
the evidence sentence and a link to every report, and a ``Message-ID`` derived from
the delivery id, so a resend after a crash is recognisably the same message.
SMTP 4xx answers and network failures are transient; 5xx answers are permanent.

``timeout`` (default 30 s) is the total deadline of one send — the name lookups,
connecting, the whole SMTP conversation up to the server's acceptance of the message —
enforced by a watchdog that shuts the socket down (:mod:`notifier.deadline`), so a
server that trickles its replies cannot hold the dispatcher or outlive the outbox lease.
"""

from __future__ import annotations

import html
import ipaddress
import os
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate

from core.errors import PermanentDeliveryError, TransientDeliveryError
from core.schema import EmailConfig
from notifier.base import RetryPolicy
from notifier.deadline import Watchdog
from notifier.message import Alert

__all__ = ["EmailNotifier"]

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


class EmailNotifier:
    """A :class:`~notifier.base.Notifier` that mails each alert over SMTP."""

    kind = "email"
    config_type = EmailConfig

    def __init__(self, config: EmailConfig, *, policy: RetryPolicy | None = None):
        self.name = config.name or self.kind
        self.policy = policy or RetryPolicy()
        self.events = tuple(config.events)  # the events it gets (the outbox filters)
        self.host = config.host
        self.security = config.security
        self.port = config.port or DEFAULT_PORTS[config.security]
        self.sender = config.sender
        self.to = [config.to] if isinstance(config.to, str) else list(config.to)
        self.username_env = config.username_env
        self.password_env = config.password_env
        self.timeout: float | None = float(config.timeout)

    def missing_environment(self) -> list[tuple[str, str]]:
        """The credential variables named but not set, as (option, message)."""
        return [(opt, f"environment variable {var} is not set")
                for opt, var in (("username_env", self.username_env),
                                 ("password_env", self.password_env))
                if var is not None and not os.environ.get(var)]

    def compose(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.subject()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{alert.delivery_id}@dxmon>"
        msg["X-Dxmon-Delivery"] = alert.delivery_id
        msg["X-Dxmon-Event"] = alert.event
        msg.set_content(alert.text())
        msg.add_alternative(_html(alert), subtype="html")
        return msg

    def send(self, alert: Alert, *, stop: threading.Event | None = None) -> str:
        """Send within the total deadline ``timeout``; ``stop`` cuts the exchange short.

        The server's 250 to the message is the delivery: what happens after it (QUIT,
        the connection closing, the deadline) no longer matters.
        """
        msg = self.compose(alert)
        accepted = None
        with Watchdog(self.timeout, stop) as watchdog:
            try:
                smtp = self._connect(watchdog)
                try:
                    if self.username_env:
                        smtp.login(os.environ.get(self.username_env, ""),
                                   os.environ.get(self.password_env or "", ""))
                    accepted = smtp.send_message(msg)
                    _quit(smtp)
                finally:
                    smtp.close()
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                error = f"all recipients refused: {_codes(exc.recipients)}"
                if any(400 <= c < 500 for c in codes):
                    raise TransientDeliveryError(error) from None
                raise PermanentDeliveryError(error) from None
            except smtplib.SMTPResponseException as exc:
                if accepted is not None:
                    return self._sent(accepted)
                error = f"SMTP {exc.smtp_code}: {_decode(exc.smtp_error)}"
                if 400 <= exc.smtp_code < 500:
                    raise TransientDeliveryError(error) from None
                raise PermanentDeliveryError(error) from None
            except smtplib.SMTPNotSupportedError as exc:
                raise PermanentDeliveryError(f"SMTP server: {exc}") from None
            except (smtplib.SMTPException, OSError) as exc:
                if accepted is not None:
                    return self._sent(accepted)
                if watchdog.fired == "deadline":
                    reason = f"no answer within the {self.timeout:g}s deadline"
                elif watchdog.fired == "stop":
                    reason = "interrupted: dxmon is stopping"
                else:
                    reason = f"{type(exc).__name__}: {exc}"
                raise TransientDeliveryError(
                    f"SMTP {self.host}:{self.port}: {reason}") from None
        return self._sent(accepted)

    def _sent(self, refused: dict) -> str:
        if refused:
            return f"sent; refused by some recipients: {_codes(refused)}"
        return f"sent to {len(self.to)} recipient(s) via {self.host}:{self.port}"

    def _connect(self, watchdog: Watchdog) -> smtplib.SMTP:
        """A connected (and, for starttls, encrypted) session whose socket ``watchdog`` cuts."""
        timeout = max(watchdog.remaining(), 0.001)  # a connect never outlives the deadline
        if self.security == "ssl":
            smtp = _GuardedSMTPSSL(watchdog, timeout=timeout,
                                   context=ssl.create_default_context())
        else:
            smtp = _GuardedSMTP(watchdog, timeout=timeout)
        try:
            smtp.connect(self.host, self.port)
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                watchdog.guard(smtp.sock)  # the TLS socket replaced the plain one
        except BaseException:
            smtp.close()
            raise
        return smtp


class _Guarded:
    """Mixed into an SMTP class: its socket is handed to a watchdog as soon as it exists,
    and the two name lookups smtplib makes before there is a socket to cut (this host's
    own name for EHLO, the server's address) are bounded by the same deadline."""

    def __init__(self, watchdog: Watchdog, **kwargs):
        self.watchdog = watchdog
        super().__init__(local_hostname=_local_name(watchdog.remaining()), **kwargs)

    def _get_socket(self, host, port, timeout):
        error: OSError | None = None
        for address in _resolve(host, port, self.watchdog.remaining()):  # each in turn,
            try:  # as socket.create_connection tries them (TLS still checks the name)
                sock = super()._get_socket(address, port, timeout)
            except OSError as exc:
                error = exc
                continue
            self.watchdog.guard(sock)
            return sock
        raise error or OSError(f"no address for {host}")


def _in_thread(call, name: str) -> tuple[threading.Thread, list]:
    """``call()`` in a daemon thread: the thread, and a list that gets its result or the
    OSError it raised (empty while it runs): a lookup nobody has to wait for."""
    out: list = []

    def run() -> None:
        try:
            out.append(call())
        except OSError as exc:
            out.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, out


def _plain_name() -> str:
    return socket.gethostname() or "localhost"


# This host's name for EHLO: smtplib asks socket.getfqdn(), a reverse lookup that waits
# for the resolver's timeouts on a host whose DNS is broken (seconds to minutes, before
# any deadline could apply). Looked up once per process in a thread of its own; a send
# waits for it at most LOCAL_NAME_WAIT_S (and half its time left), then says the plain
# host name, as smtplib does when the answer has no dot.
LOCAL_NAME_WAIT_S = 2.0
_local_name_lock = threading.Lock()
_local_name_lookup: tuple[threading.Thread, list] | None = None


def _local_name(remaining: float) -> str:
    global _local_name_lookup
    with _local_name_lock:
        if _local_name_lookup is None:
            _local_name_lookup = _in_thread(socket.getfqdn, "dxmon-ehlo-name")
        thread, found = _local_name_lookup
    thread.join(max(0.0, min(remaining / 2, LOCAL_NAME_WAIT_S)))
    name = found[0] if found else ""
    return name if isinstance(name, str) and "." in name else _plain_name()


def _resolve(host: str, port: int, remaining: float) -> list[str]:
    """``host``'s addresses, looked up within ``remaining`` seconds (an address is
    itself); a lookup that takes longer is a TimeoutError, the send's deadline passed."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    thread, found = _in_thread(
        lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), "dxmon-smtp-lookup")
    thread.join(max(remaining, 0.0))
    if not found:
        raise TimeoutError(f"looking up {host} took longer than the send's deadline")
    if isinstance(found[0], OSError):
        raise found[0]
    return list(dict.fromkeys(info[4][0] for info in found[0]))


class _GuardedSMTP(_Guarded, smtplib.SMTP):
    pass


class _GuardedSMTPSSL(_Guarded, smtplib.SMTP_SSL):
    pass


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; the message is delivered already, so a failure here is nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass


def _codes(recipients: dict) -> str:
    return "; ".join(f"{addr} {code} {_decode(text)}" for addr, (code, text) in recipients.items())


def _decode(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _html(alert: Alert) -> str:
    e = html.escape
    if not alert.is_session:  # another event: its rendered text, line by line
        body = "<br>".join(e(line) for line in alert.render().text.splitlines()[1:])
        return (f"<!doctype html><html><body><h2>{e(alert.subject())}</h2><p>{body}</p>"
                f"<p style=\"color:#888\">dxmon delivery {e(alert.delivery_id)}</p>"
                "</body></html>")
    items = "".join(
        f'<li><a href="{e(a["url"], quote=True)}">{e(a["title"] or a["url"])}</a> '
        f'— {e(a["outlet"])}, {e(a.get("published") or "")}</li>' for a in alert.articles)
    correction = ""
    if alert.detail:
        before, after = alert.detail.get("before", {}), alert.detail.get("after", {})
        correction = (f"<p><strong>Đính chính:</strong> số {e(str(before.get('number')))}, "
                      f"ngày {e(str(before.get('date')))} → số {e(str(after.get('number')))}, "
                      f"ngày {e(str(after.get('date')))}</p>")
    return (f"<!doctype html><html><body><h2>{e(alert.subject())}</h2>{correction}"
            f"<blockquote>{e(alert.evidence)}</blockquote>"
            f"<p>Bài báo ({len(alert.articles)}):</p><ul>{items}</ul>"
            f"<p style=\"color:#888\">dxmon delivery {e(alert.delivery_id)}</p></body></html>")
