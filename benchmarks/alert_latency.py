"""Alert latency: how soon after a new session appears does the webhook hear of it?

Two measurements on the local portals with a real webhook receiver on 127.0.0.1:

1. **End of crawl → receipt.** A new session report is published, then one
   ``dxmon crawl --source NAME`` runs (the same child-process path ``dxmon serve``
   uses). The crawl's end is the ``finished_at`` its ``scrapy crawl`` child writes to
   ``crawl_runs`` when the spider closes; the receipt is the receiver's clock. The
   crawl's own duration is printed beside it as the baseline the latency is added to.
2. **Publication → receipt under ``dxmon serve``** with a 5 s interval: the report
   is published at a random point of the schedule; the figure includes waiting for
   the next crawl. The expected wait alone (half an interval) plus a crawl is the
   baseline.

    python benchmarks/alert_latency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.models import VN_TZ  # noqa: E402
from storage.schema import open_db  # noqa: E402
from testsupport.content import next_session_number, recently, session_report  # noqa: E402
from testsupport.portals import PortalWeb  # noqa: E402
from testsupport.receivers import WebhookReceiver  # noqa: E402

BODY = "bcd-khcn-cds-da06"
SITE = "thanhhoa-tv"
SOURCES = ["thanhhoa-tv", "chinhphu-news"]


def write_config(web: PortalWeb, folder: Path, hook: WebhookReceiver, interval: str) -> Path:
    path = folder / "dxmon.toml"
    path.write_text(web.config_toml(folder / "dxmon.db", sites=SOURCES, interval=interval,
                                    extra=f'[[notify]]\nkind = "webhook"\nurl = "{hook.url}"\n'
                                          f'retry_base = "1s"\n'), encoding="utf-8")
    return path


def env(config: Path) -> dict:
    return {**os.environ, "DXMON_CONFIG": str(config), "PYTHONPATH": str(ROOT),
            "DXMON_BENCH_SECRET": "x"}


def dxmon(config: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "monitor.cli", args[0], "--config", str(config),
                    *args[1:]], cwd=config.parent, env=env(config), check=True,
                   capture_output=True)


def publish(web: PortalWeb) -> float:
    now = datetime.now(VN_TZ)
    number = next_session_number(web.all_articles(), BODY)
    published = recently(now, 1)
    web.publish(SITE, session_report(SITE, BODY, number, published.date(), published))
    return time.time()


def last_run(config: Path) -> tuple[float, float]:
    """(started, finished) of the latest crawl of SITE, as epoch seconds."""
    db = open_db(config.parent / "dxmon.db")
    try:
        row = db.execute("SELECT started_at, finished_at FROM crawl_runs WHERE source = ? "
                         "ORDER BY id DESC LIMIT 1", [SITE]).fetchone()
    finally:
        db.close()
    return tuple(datetime.fromisoformat(v).timestamp() for v in row)


def wait_for(hook: WebhookReceiver, count: int, timeout: float = 60) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(hook.delivered) >= count:
            return hook.delivered[count - 1].at
        time.sleep(0.005)
    raise SystemExit(f"no webhook #{count} after {timeout}s")


def after_crawl_latency(rounds: int) -> None:
    web = PortalWeb(sites=SOURCES)
    hook = WebhookReceiver().start()
    with web, tempfile.TemporaryDirectory() as tmp:
        config = write_config(web, Path(tmp), hook, "30m")
        dxmon(config, "crawl")  # the baseline: the history, no alerts
        gaps, crawls = [], []
        for i in range(rounds):
            publish(web)
            dxmon(config, "crawl", "--source", SITE)
            received = wait_for(hook, i + 1)
            started, finished = last_run(config)
            gaps.append(received - finished)
            crawls.append(finished - started)
    hook.stop()
    print(f"1. end of crawl -> webhook receipt, {rounds} new sessions, `dxmon crawl --source`:")
    print(f"   median {statistics.median(gaps):.2f}s, max {max(gaps):.2f}s  (aim: under 1 s)")
    print(f"   baseline, the crawl itself (spider open -> close): median "
          f"{statistics.median(crawls):.2f}s; latency / crawl = "
          f"{statistics.median(gaps) / statistics.median(crawls):.2f}")


def serve_latency(rounds: int, interval: float = 5.0) -> None:
    web = PortalWeb(sites=SOURCES)
    hook = WebhookReceiver().start()
    with web, tempfile.TemporaryDirectory() as tmp:
        config = write_config(web, Path(tmp), hook, f"{interval:g}s")
        dxmon(config, "crawl")  # baseline first, so serve starts on its rhythm
        log = open(Path(tmp) / "serve.log", "wb")
        serve = subprocess.Popen([sys.executable, "-m", "monitor.cli", "serve", "--config",
                                  str(config)], cwd=tmp, env=env(config), stdout=log,
                                 stderr=subprocess.STDOUT)
        rng = random.Random(7)
        gaps, crawls = [], []
        try:
            time.sleep(interval)
            for i in range(rounds):
                time.sleep(rng.uniform(0, interval))  # a random point of the schedule
                at = publish(web)
                received = wait_for(hook, i + 1)
                gaps.append(received - at)
                started, finished = last_run(config)
                crawls.append(finished - started)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
            log.close()
    hook.stop()
    expected = interval / 2 + statistics.median(crawls)
    print(f"2. publication on the portal -> webhook receipt under `dxmon serve`, interval "
          f"{interval:g}s, {rounds} new sessions:")
    print(f"   median {statistics.median(gaps):.2f}s, max {max(gaps):.2f}s")
    print(f"   baseline, half an interval + one crawl: {expected:.2f}s; measured / baseline = "
          f"{statistics.median(gaps) / expected:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    after_crawl_latency(args.rounds)
    serve_latency(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
