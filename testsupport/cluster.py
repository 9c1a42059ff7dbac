"""A real ``redis-server`` on 127.0.0.1 (Debian's package) and ``dxmon worker`` processes,
for the cluster tests and benchmark (crawler.cluster)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
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
