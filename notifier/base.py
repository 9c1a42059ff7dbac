"""What every channel's sender is: the :class:`Notifier` protocol, and its retry policy.

A ``[[notify]]`` entry of the config is a typed :class:`core.schema.ChannelConfig`
(one Struct per kind); the notifier registry builds from it a :class:`Notifier`,
handing it everything at construction — its config, its :class:`RetryPolicy` and,
for the webhook, an optional httpx transport — so nothing is patched on afterwards.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Protocol, runtime_checkable

from notifier.message import Alert

__all__ = ["Notifier", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a transiently failing alert is retried: ``base`` doubled each attempt up to
    ``max_delay``, at most ``max_attempts`` times, then given up (kept visible)."""

    base: timedelta = timedelta(seconds=30)
    max_attempts: int = 12
    max_delay: timedelta = timedelta(hours=1)

    def delay(self, attempts: int, jitter: float) -> timedelta:
        """The wait before attempt ``attempts + 1``; ``jitter`` in [0, 1) spreads it ±25%."""
        raw = self.base * (2 ** max(0, attempts - 1))
        return min(self.max_delay, raw) * (0.75 + 0.5 * jitter)


@runtime_checkable
class Notifier(Protocol):
    """A channel's sender, as the outbox dispatcher uses it.

    ``send`` returns a short description of the delivery, or raises
    :class:`~core.errors.TransientDeliveryError` (retry later, by ``policy``) or
    :class:`~core.errors.PermanentDeliveryError` (give up). Any other exception is a
    bug in the channel: the dispatcher fails the alert at once and logs the traceback.
    ``timeout`` is the total deadline of one send in seconds, None if the channel
    states none; the outbox lease is derived from it.
    """

    kind: ClassVar[str]
    name: str
    policy: RetryPolicy
    timeout: float | None

    def send(self, alert: Alert, *, stop: threading.Event | None = None) -> str: ...

    def missing_environment(self) -> list[tuple[str, str]]:
        """(option, message) for each environment variable the channel needs but is
        not set: checked when a command is about to send, not when the file loads."""
        ...
