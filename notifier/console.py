"""The console channel: prints the alert to standard output (the demo uses it)."""

from __future__ import annotations

import sys
import threading

from core.schema import ConsoleConfig
from notifier.base import RetryPolicy
from notifier.message import Alert

__all__ = ["ConsoleNotifier"]


class ConsoleNotifier:
    """A :class:`~notifier.base.Notifier` that prints; it states no deadline."""

    kind = "console"
    config_type = ConsoleConfig

    def __init__(self, config: ConsoleConfig, *, policy: RetryPolicy | None = None):
        self.name = config.name or self.kind
        self.policy = policy or RetryPolicy()
        self.events = tuple(config.events)  # the events it gets (the outbox filters)
        self.timeout: float | None = None

    def missing_environment(self) -> list[tuple[str, str]]:
        return []

    def send(self, alert: Alert, *, stop: threading.Event | None = None) -> str:
        bar = "=" * 72
        sys.stdout.write(f"{bar}\nALERT [{self.name}] {alert.text()}\n{bar}\n")
        sys.stdout.flush()
        return "printed"
