"""The exceptions dxmon raises, split by what the caller should do about them.

    DxmonError
     ├── ConfigError              fix the config file: carries the key and the line
     ├── StorageError             the database is unusable (wrong schema, locked by a service)
     └── DeliveryError
          ├── TransientDeliveryError   retry later (timeouts, 5xx, 408/429, SMTP 4xx)
          └── PermanentDeliveryError   give up, keep the row, show it in `dxmon status`
"""

from __future__ import annotations

__all__ = [
    "DxmonError",
    "ConfigError",
    "StorageError",
    "DeliveryError",
    "TransientDeliveryError",
    "PermanentDeliveryError",
]


class DxmonError(Exception):
    """Base of every error dxmon raises on purpose."""


class ConfigError(DxmonError):
    """The config file is invalid. ``key`` is the dotted key, ``line`` 1-based or None."""

    def __init__(self, message: str, *, key: str | None = None, line: int | None = None,
                 path: str | None = None):
        self.key = key
        self.line = line
        self.path = path
        where = path or "config"
        if line is not None:
            where += f", line {line}"
        if key:
            where += f", key {key!r}"
        super().__init__(f"{where}: {message}")


class StorageError(DxmonError):
    """The database cannot be used as asked."""


class DeliveryError(DxmonError):
    """A notification could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Delivery failed for now; retry later. ``retry_after`` in seconds, if the peer said."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


class PermanentDeliveryError(DeliveryError):
    """Delivery can never succeed as configured; give up and keep the row visible."""
