"""A real ``redis-server`` on 127.0.0.1 (Debian's package) and ``dxmon worker`` processes,
for the cluster tests and benchmark (crawler.cluster)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# the URL's password: the tests check it never reaches a log
PASSWORD = "s3cret-cluster-pw"
ENV = "DXMON_REDIS_URL"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free port, with a password, nothing saved to disk."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        if not Path(REDIS_SERVER).exists():
            if os.environ.get("CI") == "true":  # CI installs it (.ci/run): missing is a failure
                pytest.fail("redis-server is missing (apt-get install redis-server)")
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)

    def flush(self) -> None:
        self.client().flushall()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Worker:
    """``dxmon worker`` as its own process group (its page readers die with it)."""

    def __init__(self, config_path: Path, redis_url: str, log: Path, *, settings=()):
        env = {**os.environ, ENV: redis_url, "PYTHONPATH": str(ROOT),
               "SCRAPY_SETTINGS_MODULE": "crawler.settings"}
        self.log = log
        cmd = [sys.executable, "-m", "monitor.cli", "worker", "--config", str(config_path)]
        for setting in settings:  # Scrapy settings for the crawl process
            cmd += ["-s", setting]
        self.handle = open(log, "ab")  # noqa: SIM115 - closed in kill()
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.handle,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, to the whole group: nothing of it says goodbye."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self.handle.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


class KillingProxy:
    """A TCP proxy between one worker and Redis that SIGKILLs the worker's process group
    at an exact moment: once Redis has executed the first command naming ``marker`` (its
    reply has come back) and before the worker reads that reply. So a test kills a
    worker between two steps it takes, not at whatever instant a sleep ends."""

    def __init__(self, upstream_port: int, marker: bytes):
        self.upstream_port = upstream_port
        self.marker = marker
        self.pgid: int | None = None  # the worker's process group, set once it started
        self.fired = threading.Event()  # the marked command reached Redis
        self.killed = threading.Event()
        self.command = b""  # what the client sent that carried the marker
        self.armed: socket.socket | None = None
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, redis_url: str) -> str:
        return redis_url.replace(f":{self.upstream_port}/", f":{self.port}/")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        tail = b""
        while chunk := _recv(client):
            with self.lock:  # one connection's command at a time reaches Redis
                if self.fired.is_set():
                    return  # after the marked command, nothing more of the worker's
                seen = tail + chunk
                tail = seen[-len(self.marker):]
                if self.marker in seen:
                    self.command = seen
                    self.armed = upstream  # its reply, when it comes, triggers the kill
                    self.fired.set()
                upstream.sendall(chunk)

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        while chunk := _recv(upstream):
            if self.fired.is_set() and self.armed is upstream:
                os.killpg(self.pgid, signal.SIGKILL)  # executed, its reply never read
                self.killed.set()
                return
            try:
                client.sendall(chunk)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""
