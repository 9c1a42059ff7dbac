"""The registry of channel kinds: config ``[[notify]]`` entries → :class:`Notifier` objects.

Each kind is a typed config Struct (:mod:`core.schema`, validated when the file is
loaded: an unknown kind or option never reaches this module) and a notifier class
taking that config and a :class:`RetryPolicy` at construction. Every channel takes the
retry options ``retry_base`` (a duration, default 30s: the first retry's delay,
doubled each time up to an hour) and ``max_attempts`` (default 12, after which a
transiently failing alert is given up and kept visible).

What the file cannot say — whether the environment variables a channel names are
set — is checked by :func:`validate_channels`, just before a command that may send.
"""

from __future__ import annotations

import httpx

from core.config import Config, parse_duration
from core.schema import ChannelConfig
from notifier.apprise_channel import AppriseNotifier
from notifier.base import Notifier, RetryPolicy
from notifier.console import ConsoleNotifier
from notifier.email import EmailNotifier
from notifier.webhook import WebhookNotifier

__all__ = ["KINDS", "Notifier", "RetryPolicy", "channel_kinds", "validate_channels",
           "build_channels", "build_notifier", "policy_of"]

KINDS: dict[str, type] = {cls.kind: cls for cls in (EmailNotifier, WebhookNotifier,
                                                     AppriseNotifier, ConsoleNotifier)}


def channel_kinds() -> list[str]:
    return sorted(KINDS)


def policy_of(config: ChannelConfig) -> RetryPolicy:
    """The retry policy a channel's config states (validated at load)."""
    return RetryPolicy(base=parse_duration(config.retry_base),
                       max_attempts=config.max_attempts)


def build_notifier(config: ChannelConfig, *,
                   transport: httpx.AsyncBaseTransport | None = None) -> Notifier:
    """The notifier of one ``[[notify]]`` entry, its policy given at construction;
    ``transport`` reaches a webhook (the seam for tests and proxies)."""
    cls = KINDS[config.kind]
    if cls is WebhookNotifier:
        return cls(config, policy=policy_of(config), transport=transport)
    return cls(config, policy=policy_of(config))


def validate_channels(config: Config) -> None:
    """Raise ConfigError (key and line) for the first channel whose environment
    variables are not set. Everything else was validated when the file was loaded."""
    for i, channel in enumerate(config.notify):
        for opt, message in build_notifier(channel).missing_environment():
            raise config.error(message, f"notify[{i}].{opt}")


def build_channels(config: Config) -> dict[str, Notifier]:
    """Notifiers by channel name; validates the environment first."""
    validate_channels(config)
    return {channel.name: build_notifier(channel) for channel in config.notify}
