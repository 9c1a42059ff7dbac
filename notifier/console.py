"""The console channel: prints the alert to standard output (the demo uses it)."""

from __future__ import annotations

import sys
import threading

from notifier.message import Alert

__all__ = ["ConsoleChannel"]


class ConsoleChannel:
    kind = "console"
    required = ()
    optional = ("retry_base", "max_attempts")

    def __init__(self, name: str, options: dict):
        self.name = name

    @staticmethod
    def check(options: dict) -> list[tuple[str, str]]:
        return []

    def send(self, alert: Alert, *, stop: threading.Event | None = None) -> str:
        bar = "=" * 72
        sys.stdout.write(f"{bar}\nALERT [{self.name}] {alert.text()}\n{bar}\n")
        sys.stdout.flush()
        return "printed"
