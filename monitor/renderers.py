"""The messages of monitor/'s own events, registered with :mod:`notifier.message` on import.

notifier/ renders a session alert itself; the events of source health, topic watches
and digests are rendered by the modules that raise them. Whatever sends alerts or
shows their subjects (the delivery run, ``dxmon status``, the web view's Alerts page)
imports this module first, so every process renders every event the same way.
"""

from __future__ import annotations

import monitor.digest  # noqa: F401  ("digest")
import monitor.health  # noqa: F401  ("source.")
import monitor.topics  # noqa: F401  ("topic.")
