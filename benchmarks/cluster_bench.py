"""Cluster throughput: the test portals crawled by 1, 2, 3 ``dxmon worker`` processes
with one writer (crawler.cluster), against a real ``redis-server`` on 127.0.0.1.

The five test portals serve ``--articles`` synthetic articles between them (light
pages, rendered once then served from memory; delay 0 and no Crawl-delay, so the
hosts' pace is not what is measured). For each worker count, in the same run: a
fresh Redis and archive, the workers started and beating, then the seeding and
writing ``scrapy crawl news`` timed from its start to its exit (the cycle done:
every request crawled, every article committed). The 1-worker figure is the
baseline of the table.

Everything shares this machine's cores: the portals, Redis, the writer, and each
worker with its page-reading processes. So the figure that transfers to one worker
per machine is not the 2- and 3-worker rate here but the projection: each worker's
own rate (the 1-worker run's) times the workers, up to the writer's ceiling (one
article per writer CPU-second-per-article, measured from the writer's own CPU time).

    python benchmarks/cluster_bench.py [--workers 1,2,3] [--articles 600]

benchmarks/scale.py calls :func:`main` for ``--workers``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testsupport.cluster import ENV, RedisServer, Worker  # noqa: E402
from testsupport.portals import SITES, PortalWeb  # noqa: E402

CLUSTER = '\n[cluster]\nredis_url_env = "DXMON_REDIS_URL"\n'


def machine_busy() -> tuple[float, float] | None:
    """(busy, total) clock ticks of the whole machine so far (Linux), or None."""
    try:
        fields = [float(x) for x in
                  Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and its live descendants (Linux /proc): a
    worker, its fork server and its page readers."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        stats[int(path.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    family, grew = {root}, True
    while grew:
        more = {pid for pid, (ppid, _) in stats.items() if ppid in family} - family
        family |= more
        grew = bool(more)
    return sum(stats[pid][1] for pid in family if pid in stats) / ticks


def redis_cpu(client) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def run(n: int, web: PortalWeb, redis_server: RedisServer, folder: Path) -> dict:
    """One cycle crawled by ``n`` workers: seconds, articles stored, the writer's CPU."""
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "dxmon.db"
    config = folder / "dxmon.toml"
    # n = 0: the same crawl on one machine, no Redis (the reference)
    limits = 'interval = "30m"\nmax_pages = 100000\nmax_depth = 1000'  # every article
    config.write_text(web.config_toml(db_path, extra=CLUSTER if n else "").replace(
        'interval = "30m"', limits), encoding="utf-8")
    redis_server.flush()
    workers = [Worker(config, redis_server.url, folder / f"worker-{i}.log",
                      settings=["DXMON_SHAPE_LIMIT=100000", "LOG_LEVEL=WARNING"])
               for i in range(n)]
    client = redis_server.client()
    try:
        deadline = time.monotonic() + 120
        while client.zcard("dxmon:workers") < n:  # every worker up and beating
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        if n:
            time.sleep(1.0)  # their page readers up (they take hosts only then)
        env = {**os.environ, ENV: redis_server.url, "DXMON_CONFIG": str(config),
               "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "scrapy", "crawl", "news",
               "-s", "DXMON_PROCESS_AFTER_CRAWL=False", "-s", "DXMON_SHAPE_LIMIT=100000"]
        before = machine_busy()
        own = [tree_cpu(w.pid) for w in workers], redis_cpu(client), \
            resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        with open(folder / "writer.log", "wb") as log:
            writer = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(writer.pid, 0)
        seconds = time.monotonic() - started
        after = machine_busy()
        workers_cpu = sum(tree_cpu(w.pid) for w in workers) - sum(own[0])
        redis_used = redis_cpu(client) - own[1]
        mine = resource.getrusage(resource.RUSAGE_SELF)
        portal_cpu = mine.ru_utime + mine.ru_stime - own[2].ru_utime - own[2].ru_stime
        if status != 0:
            raise RuntimeError(f"the writer failed; see {folder / 'writer.log'}")
    finally:
        for w in workers:
            w.stop()
    import re
    import sqlite3

    with sqlite3.connect(db_path) as db:
        (stored,) = db.execute("SELECT count(*) FROM articles").fetchone()
    busy = (after[0] - before[0]) / (after[1] - before[1]) if before and after else None
    # the writer's own CPU storing the stream (its log line), not its start-up
    found = re.search(rb"writer stored \d+ stream entries in ([\d.]+) s of CPU",
                      (folder / "writer.log").read_bytes())
    cores = os.cpu_count() or 1
    return {"workers": n, "seconds": seconds, "articles": stored,
            "rate": stored / seconds, "writer_cpu": float(found.group(1)) if found else
            usage.ru_utime + usage.ru_stime,  # (n = 0: the whole local crawl's)
            "busy": busy, "machine_cpu": (busy or 1) * cores * seconds,
            "workers_cpu": workers_cpu, "redis_cpu": redis_used, "portal_cpu": portal_cpu}


def main(workers: list[int], articles: int = 600) -> list[dict]:
    """Crawl the test portals with each number of ``workers``; print the table (the
    first count is the baseline) and the projection; return the rows."""
    per_site = max(1, articles // len(SITES))
    web = PortalWeb(articles=[], traps=False, page_size=50, cache=True)
    web.crawl_delays = {}  # mst-portal's robots.txt Crawl-delay would pace the whole run
    for site in SITES:
        web.add_synthetic(site, per_site, words=200)
    rows = []
    with web, tempfile.TemporaryDirectory(prefix="dxmon-cluster-") as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        try:
            local = run(0, web, redis_server, Path(tmp) / "local")
            for n in workers:
                rows.append(run(n, web, redis_server, Path(tmp) / f"w{n}"))
        finally:
            redis_server.stop()
    base = rows[0]
    cores = os.cpu_count() or 1
    print(f"\nCluster throughput: {base['articles']} articles of the 5 test portals, one "
          f"writer, {cores} cores shared by everything (portals, Redis, writer, workers)")
    print(f"{'workers':>7} {'seconds':>8} {'articles':>8} {'art/s':>7} "
          f"{'vs ' + str(base['workers']):>6} {'machine busy':>12}   CPU ms per article: "
          f"{'workers':>7} {'writer':>6} {'redis':>5} {'portals':>7}")
    for r in rows:
        busy = f"{100 * r['busy']:.0f}%" if r["busy"] is not None else "?"
        per = 1000 / max(r["articles"], 1)
        print(f"{r['workers']:>7} {r['seconds']:>8.1f} {r['articles']:>8} {r['rate']:>7.1f} "
              f"{r['rate'] / base['rate']:>5.2f}x {busy:>12}   {'':>19}"
              f"{per * r['workers_cpu']:>7.1f} {per * r['writer_cpu']:>6.2f} "
              f"{per * r['redis_cpu']:>5.2f} {per * r['portal_cpu']:>7.1f}")
    print(f"(one machine, no cluster: {local['seconds']:.1f} s, {local['rate']:.1f} art/s)")
    writer_ms = min(1000 * r["writer_cpu"] / max(r["articles"], 1) for r in rows)
    ceiling = 1000 / writer_ms if writer_ms else float("inf")
    worker_ms = min(1000 * r["workers_cpu"] / max(r["articles"], 1) for r in rows)
    per_machine = cores * 1000 / worker_ms
    print(f"The ceiling here is this machine's {cores} cores, shared by the portals, Redis, "
          f"the writer, every worker and other programs (busy {100 * max(r['busy'] or 0 for r in rows):.0f}"
          f"% at most): a second or third worker here adds no CPU, so the rate stays ~flat.")
    print(f"Projection, one worker per {cores}-core machine: a worker costs {worker_ms:.0f} ms "
          f"of CPU per article (its page readers included), so ~{per_machine:.0f} articles/s "
          f"per worker machine and N workers ~{per_machine:.0f} x N articles/s, until the one "
          f"writer's ceiling of ~{ceiling:.0f} articles/s ({writer_ms:.2f} ms of writer CPU "
          f"per article, the stream read and acknowledged included): ~"
          f"{max(1, int(ceiling // per_machine))} worker machines. Against real portals the "
          f"per-host delay (one request per host per delay) binds first.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,3",
                        help="worker counts, comma-separated (first: the baseline)")
    parser.add_argument("--articles", type=int, default=600)
    args = parser.parse_args()
    main([int(x) for x in args.workers.split(",")], articles=args.articles)
