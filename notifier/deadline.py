"""Total deadlines for a send: the whole exchange, not each read, is bounded.

A socket timeout bounds one read; a receiver that trickles a byte every few seconds
never trips it and can hold a send for as long as it likes. These helpers bound the
whole send instead, and also end it early when the process is stopping:

* :func:`run_async` runs a coroutine (the webhook's httpx exchange) in a fresh event
  loop; the coroutine enforces its deadline with ``asyncio.timeout`` and
  :func:`until_stopped` cancels it when ``stop`` is set. Cancelling an httpx request
  closes its connection, so when the call returns the attempt is over on our side.
* :class:`Watchdog` does the same for blocking sockets (SMTP): at the deadline, or when
  ``stop`` is set, it shuts the socket down, which wakes the blocked read at once.

The lease of an outbox row (:func:`notifier.outbox.lease_for`) is longer than the
deadline by a margin, so a send still open can never be taken over.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_async", "until_stopped", "Watchdog", "Interrupted", "STOP_POLL_S"]

T = TypeVar("T")

# How often a send looks at the stop event: shutdown waits at most this long for it.
STOP_POLL_S = 0.05


class Interrupted(Exception):
    """The send was cut short because the process is stopping."""


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run ``factory()`` to completion in a fresh event loop and return its result.

    A thread that already runs a loop (the Scrapy process, whose reactor is asyncio)
    cannot start another one, so there the coroutine runs in a helper thread that this
    one joins; the coroutine bounds itself, so the join is bounded too.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_call(factory))
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(_call(factory))
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    helper = threading.Thread(target=target, name="dxmon-send", daemon=True)
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _call(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


async def until_stopped(work: Awaitable[T], stop: threading.Event | None) -> T:
    """Await ``work``; if ``stop`` is set first, cancel it and raise :class:`Interrupted`."""
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    while not task.done():
        if stop.is_set():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                raise Interrupted("interrupted: dxmon is stopping") from None
            break  # the work finished in the meantime: keep its outcome
        await asyncio.wait({task}, timeout=STOP_POLL_S)
    return task.result()


class Watchdog:
    """Shut down a blocking socket at a deadline or when ``stop`` is set.

    Use as a context manager around a blocking exchange; :meth:`guard` names the
    socket to cut (it may be called once the socket exists). ``fired`` says why the
    socket was cut ("deadline" or "stop"), or is None.
    """

    def __init__(self, seconds: float, stop: threading.Event | None = None):
        self.seconds = seconds
        self.stop = stop
        self.fired: str | None = None
        self._sock: socket.socket | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="dxmon-watchdog",
                                        daemon=True)

    def guard(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                self._cut()

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def __enter__(self) -> Watchdog:
        self._end = time.monotonic() + self.seconds
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(STOP_POLL_S):
            reason = ("stop" if self.stop is not None and self.stop.is_set() else
                      "deadline" if time.monotonic() >= self._end else None)
            if reason:
                with self._lock:
                    self.fired = reason
                    self._cut()
                return

    def _cut(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing left to wake
