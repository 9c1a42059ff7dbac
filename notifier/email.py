"""The email channel: one message per alert over SMTP (ssl, starttls or none).

Credentials come from the environment variables the config names (``username_env``,
``password_env``). The message has a Vietnamese subject, a text and an HTML part with
the evidence sentence and a link to every report, and a ``Message-ID`` derived from
the delivery id, so a resend after a crash is recognisably the same message.
SMTP 4xx answers and network failures are transient; 5xx answers are permanent.
"""

from __future__ import annotations

import html
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from core.errors import PermanentDeliveryError, TransientDeliveryError
from notifier.message import Alert

__all__ = ["EmailChannel"]

SECURITY = ("ssl", "starttls", "none")


class EmailChannel:
    kind = "email"
    required = ("host", "sender", "to")
    optional = ("port", "security", "username_env", "password_env", "timeout",
                "retry_base", "max_attempts")

    def __init__(self, name: str, options: dict):
        self.name = name
        self.host = options["host"]
        self.security = options.get("security", "starttls")
        default_port = {"ssl": 465, "starttls": 587, "none": 25}[self.security]
        self.port = int(options.get("port", default_port))
        self.sender = options["sender"]
        to = options["to"]
        self.to = [to] if isinstance(to, str) else list(to)
        self.username_env = options.get("username_env")
        self.password_env = options.get("password_env")
        self.timeout = float(options.get("timeout", 30))

    @staticmethod
    def check(options: dict) -> list[tuple[str, str]]:
        """Problems with the options as (option, message); empty when usable."""
        problems = []
        if options.get("security", "starttls") not in SECURITY:
            problems.append(("security", f"must be one of {', '.join(SECURITY)}"))
        to = options.get("to")
        if not to or not all(isinstance(t, str) and "@" in t for t in
                             ([to] if isinstance(to, str) else to)):
            problems.append(("to", "must be a list of email addresses"))
        if not isinstance(options.get("sender"), str) or "@" not in options.get("sender", ""):
            problems.append(("sender", "must be an email address"))
        for opt in ("username_env", "password_env"):
            var = options.get(opt)
            if var is not None and not os.environ.get(var):
                problems.append((opt, f"environment variable {var} is not set"))
        if bool(options.get("username_env")) != bool(options.get("password_env")):
            problems.append(("password_env", "username_env and password_env go together"))
        return problems

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

    def send(self, alert: Alert) -> str:
        msg = self.compose(alert)
        try:
            with self._connect() as smtp:
                if self.username_env:
                    smtp.login(os.environ.get(self.username_env, ""),
                               os.environ.get(self.password_env or "", ""))
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = f"all recipients refused: {_codes(exc.recipients)}"
            if any(400 <= c < 500 for c in codes):
                raise TransientDeliveryError(error) from None
            raise PermanentDeliveryError(error) from None
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {_decode(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(error) from None
            raise PermanentDeliveryError(error) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(f"SMTP server: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(
                f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None
        if refused:
            return f"sent; refused by some recipients: {_codes(refused)}"
        return f"sent to {len(self.to)} recipient(s) via {self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp


def _codes(recipients: dict) -> str:
    return "; ".join(f"{addr} {code} {_decode(text)}" for addr, (code, text) in recipients.items())


def _decode(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _html(alert: Alert) -> str:
    e = html.escape
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
