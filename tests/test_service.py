"""The scheduler service's own rules: first runs after a restart, one service per database."""

import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from core.config import parse_config
from core.models import VN_TZ
from monitor.service import Service, ServiceLockedError, first_run_times
from storage.crawl_state import finish_crawl_run, start_crawl_run
from storage.schema import open_db

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=VN_TZ)

CONFIG = """
[storage]
path = "dxmon.db"
[[sources]]
name = "fast"
start_urls = ["http://127.0.0.1:1/"]
interval = "10m"
[[sources]]
name = "slow"
start_urls = ["http://127.0.0.1:2/"]
interval = "2h"
[[sources]]
name = "never"
start_urls = ["http://127.0.0.1:3/"]
[[sources]]
name = "off"
start_urls = ["http://127.0.0.1:4/"]
enabled = false
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "dxmon.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return parse_config(CONFIG, path=path)


def crawled(db, source, ended):
    run = start_crawl_run(db, source, now=ended - timedelta(minutes=1))
    finish_crawl_run(db, run, "ok", {}, now=ended)


def test_overdue_sources_run_first_and_the_others_keep_their_rhythm(config):
    db = open_db(config.storage_path)
    crawled(db, "fast", NOW - timedelta(minutes=30))   # overdue by 20 minutes
    crawled(db, "slow", NOW - timedelta(minutes=30))   # due in 90 minutes
    times = first_run_times(config, db, NOW)
    assert set(times) == {"fast", "slow", "never"}     # a disabled source never runs
    assert times["fast"] == NOW                         # overdue: at once
    assert times["never"] == NOW + timedelta(seconds=3)  # never crawled: at once, staggered
    assert times["slow"] == NOW + timedelta(minutes=90)


def test_a_second_service_on_the_same_database_refuses_to_start(config):
    first = Service(config)
    first.acquire_lock()
    try:
        with pytest.raises(ServiceLockedError, match="already running"):
            Service(config).acquire_lock()
        # and from another process, through the CLI, with the reason on stderr
        result = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "serve", "--config", str(config.path)],
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert "already running" in result.stderr
    finally:
        first.stop()
    again = Service(config)
    again.acquire_lock()  # released on stop: a restart can take it
    again.stop()
