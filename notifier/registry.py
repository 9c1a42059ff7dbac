"""The registry of channel kinds: config ``[[notify]]`` entries → channel objects.

A kind is a class with ``kind``, ``required`` and ``optional`` option names, a static
``check(options)`` returning problems, and ``send(alert) -> str`` that raises
:class:`~core.errors.TransientDeliveryError` or :class:`~core.errors.PermanentDeliveryError`.
Every channel also takes the retry options ``retry_base`` (a duration, default 30s:
the first retry's delay, doubled each time up to an hour) and ``max_attempts``
(default 12, after which a transiently failing alert is given up and kept visible).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.config import Config, parse_duration
from notifier.console import ConsoleChannel
from notifier.email import EmailChannel
from notifier.webhook import WebhookChannel

__all__ = ["KINDS", "RetryPolicy", "channel_kinds", "validate_channels", "build_channels"]

KINDS = {cls.kind: cls for cls in (EmailChannel, WebhookChannel, ConsoleChannel)}


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=30)
    max_attempts: int = 12
    max_delay: timedelta = timedelta(hours=1)

    def delay(self, attempts: int, jitter: float) -> timedelta:
        """The wait before attempt ``attempts + 1``; ``jitter`` in [0, 1) spreads it ±25%."""
        raw = self.base * (2 ** max(0, attempts - 1))
        return min(self.max_delay, raw) * (0.75 + 0.5 * jitter)


def channel_kinds() -> list[str]:
    return sorted(KINDS)


def validate_channels(config: Config) -> None:
    """Raise ConfigError (key and line) for the first unusable ``[[notify]]`` entry."""
    for i, channel in enumerate(config.notify):
        key = f"notify[{i}]"
        cls = KINDS.get(channel.kind)
        if cls is None:
            raise config.error(f"unknown kind {channel.kind!r} (known: "
                               f"{', '.join(channel_kinds())})", f"{key}.kind")
        for opt in cls.required:
            if opt not in channel.options:
                raise config.error(f"a {channel.kind} channel needs {opt!r}", f"{key}.{opt}")
        allowed = set(cls.required) | set(cls.optional)
        for opt in channel.options:
            if opt not in allowed:
                raise config.error(f"unknown option {opt!r} for a {channel.kind} channel "
                                   f"(known: {', '.join(sorted(allowed))})", f"{key}.{opt}")
        for opt, message in cls.check(channel.options):
            raise config.error(message, f"{key}.{opt}")
        try:
            _policy(channel.options)
        except (TypeError, ValueError) as exc:
            opt = "retry_base" if "duration" in str(exc) else "max_attempts"
            raise config.error(str(exc), f"{key}.{opt}") from None


def build_channels(config: Config) -> dict[str, object]:
    """Channel objects by name, each with its ``policy``; validates first."""
    validate_channels(config)
    channels = {}
    for channel in config.notify:
        obj = KINDS[channel.kind](channel.name, channel.options)
        obj.policy = _policy(channel.options)
        channels[channel.name] = obj
    return channels


def _policy(options: dict) -> RetryPolicy:
    base = parse_duration(options.get("retry_base", "30s"))
    attempts = options.get("max_attempts", 12)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise ValueError(f"max_attempts must be a whole number of at least 1, got {attempts!r}")
    return RetryPolicy(base=base, max_attempts=attempts)
