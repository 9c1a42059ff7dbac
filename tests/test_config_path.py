"""One config path: `scrapy crawl news -a config=X.toml` crawls with X, all of X.

The config named on the command line gives the sources *and* their per-host delays,
whatever ``$DXMON_CONFIG`` says; a bad config is one clear error before any request;
a crawl whose post-crawl processing failed does not exit 0. Real `scrapy crawl`
processes against the test portal; spacing is read on the portal's own clock.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testsupport.portals import PortalWeb

ROOT = Path(__file__).resolve().parent.parent
SLOW, FAST = "thanhhoa-tv", "hagiang-tv"


@pytest.fixture(scope="module")
def web():
    portal = PortalWeb(articles=[], sites=[SLOW, FAST], traps=False, page_size=5)
    for site in (SLOW, FAST):
        portal.add_synthetic(site, 4, words=120)  # a home page, a section, 4 stories
    with portal:
        yield portal


def source_block(web, site: str, delay: float) -> str:
    urls = ", ".join(f'"{u}"' for u in web.start_urls(site))
    return f'[[sources]]\nname = "{site}"\nstart_urls = [{urls}]\ndelay = {delay}\n'


def write_config(path: Path, web, db: Path, delays: dict[str, float], extra: str = "") -> Path:
    path.write_text(f'[storage]\npath = "{db}"\n\n' +
                    "\n".join(source_block(web, s, d) for s, d in delays.items()) + extra,
                    encoding="utf-8")
    return path


def scrapy_crawl(*args: str, env_config: Path | None, cwd: Path = ROOT,
                 process: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DXMON_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    if env_config is not None:
        env["DXMON_CONFIG"] = str(env_config)
    cmd = [sys.executable, "-m", "scrapy", "crawl", "news", *args]
    if not process:
        cmd += ["-s", "DXMON_PROCESS_AFTER_CRAWL=False"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def page_gaps(web, mark: int, site: str) -> list[float]:
    """Seconds between consecutive page requests to ``site``, on the server's clock."""
    times = [r.at for r in web.requests[mark:] if r.site == site and r.path != "/robots.txt"]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


@pytest.mark.parametrize("other", ["no other config", "another config in $DXMON_CONFIG"])
def test_the_config_given_with_dash_a_sets_the_per_host_delays(web, tmp_path, other):
    """X says 1 s for one host and 0 for the other; the environment's config (if any)
    says 0 for both. The crawl keeps 1 s to the slow host (±50% jitter: every gap
    >= 0.45 s, their mean >= 0.8 s) and none to the other: two of its requests go out
    back to back (a gap under 0.2 s, where 1 s ±50% would leave at least 0.5 s; its
    other gaps are the time its pages take to read, not a delay)."""
    x = write_config(tmp_path / "x.toml", web, tmp_path / "x.db", {SLOW: 1.0, FAST: 0})
    env_config = None
    if other != "no other config":
        env_config = write_config(tmp_path / "default.toml", web, tmp_path / "default.db",
                                  {SLOW: 0, FAST: 0})
    mark = len(web.requests)
    result = scrapy_crawl("-a", f"config={x}", env_config=env_config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "x.db").exists() and not (tmp_path / "default.db").exists()
    slow, fast = page_gaps(web, mark, SLOW), page_gaps(web, mark, FAST)
    assert len(slow) >= 4 and len(fast) >= 4
    assert min(slow) >= 0.45 and sum(slow) / len(slow) >= 0.8, slow
    assert min(fast) < 0.2, fast


def test_dxmon_config_setting_is_the_same_path(web, tmp_path):
    """``-s DXMON_CONFIG=X`` (what ``dxmon crawl --config`` passes) is the same path."""
    x = write_config(tmp_path / "x.toml", web, tmp_path / "x.db", {SLOW: 1.0})
    mark = len(web.requests)
    result = scrapy_crawl("-s", f"DXMON_CONFIG={x}", env_config=None)
    assert result.returncode == 0, result.stderr[-3000:]
    slow = page_gaps(web, mark, SLOW)
    assert len(slow) >= 4 and sum(slow) / len(slow) >= 0.8, slow


@pytest.mark.parametrize(("text", "says"), [
    ("[[sources]]\nname = 1\n", "name"),
    ("[storage]\npath = \n", "x.toml"),
    ("[[sources]]\nname = \"a\"\nstart_urls = [\"http://127.0.0.1:9/\"]\ndelay = -1\n",
     "delay"),
])
def test_a_bad_config_is_one_clear_error_and_no_request(web, tmp_path, text, says):
    bad = tmp_path / "x.toml"
    bad.write_text(text, encoding="utf-8")
    mark = len(web.requests)
    result = scrapy_crawl("-a", f"config={bad}", env_config=None)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("dxmon: ")]
    assert len(errors) == 1 and says in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert web.requests[mark:] == []


def test_an_unknown_source_is_one_clear_error(web, tmp_path):
    x = write_config(tmp_path / "x.toml", web, tmp_path / "x.db", {SLOW: 0})
    result = scrapy_crawl("-a", f"config={x}", "-a", "source=nowhere", env_config=None)
    assert result.returncode != 0 and "nowhere" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_crawl_whose_processing_failed_does_not_exit_0(web, tmp_path):
    """A manual crawl in a shell that lacks the webhook's secret: the crawl itself goes
    well (its run row is ``ok``), then delivery cannot sign the alert: the process
    says so and exits non-zero, where it used to exit 0 with a log line."""
    hook = ('\n[[notify]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
            'secret_env = "DXMON_A2_UNSET_SECRET"\n')
    x = write_config(tmp_path / "x.toml", web, tmp_path / "x.db", {FAST: 0}, extra=hook)
    result = scrapy_crawl("-a", f"config={x}", env_config=None, process=True)
    assert result.returncode != 0, result.stderr[-3000:]
    assert "DXMON_A2_UNSET_SECRET" in result.stderr
    ok = subprocess.run([sys.executable, "-c", (
        "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
        "'SELECT status FROM crawl_runs').fetchall())"), str(tmp_path / "x.db")],
        capture_output=True, text=True, check=True)
    assert "'ok'" in ok.stdout


# Runs `scrapy crawl` with an audit hook that counts the opens of one file (Python's
# "open" audit event): the evidence that the file is read once, whoever asks for it.
COUNT_OPENS = """
import atexit, sys
watched, opened = sys.argv[1], []
sys.addaudithook(lambda event, args: opened.append(1) if event == "open"
                 and str(args[0]) == watched else None)
atexit.register(lambda: print(f"config opened {len(opened)} times", file=sys.stderr))
sys.argv = ["scrapy", *sys.argv[2:]]
from scrapy.cmdline import execute
execute()
"""


@pytest.mark.parametrize(("given", "process"), [
    ("env", False), ("env", True), ("-a", False), ("-s", True)])
def test_the_config_file_is_read_once_per_crawl(web, tmp_path, given, process):
    """However the path is given ($DXMON_CONFIG, -a config=, -s DXMON_CONFIG=), the
    file is opened once: by the add-on, not again by the spider, the middlewares or
    the post-crawl processing (it used to be read twice with $DXMON_CONFIG)."""
    x = write_config(tmp_path / "x.toml", web, tmp_path / "x.db", {FAST: 0})
    env = {k: v for k, v in os.environ.items() if k != "DXMON_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-c", COUNT_OPENS, str(x), "crawl", "news"]
    if given == "env":
        env["DXMON_CONFIG"] = str(x)
    else:
        cmd += ["-a", f"config={x}"] if given == "-a" else ["-s", f"DXMON_CONFIG={x}"]
    if not process:
        cmd += ["-s", "DXMON_PROCESS_AFTER_CRAWL=False"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "config opened 1 times" in result.stderr, result.stderr[-1500:]
    if process:
        assert "dxmon: processed" in result.stderr
