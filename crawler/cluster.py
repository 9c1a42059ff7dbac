"""Crawling spread over machines: scrapy-redis's scheduler and dupefilter, with hosts
leased to one worker at a time, and a Redis stream to the one process that writes.

Switched on by ``[cluster] redis_url_env`` (the Redis URL is a secret: read from that
environment variable, never put in Scrapy's settings, never logged). Two roles of the
same ``scrapy crawl news``:

``seeder`` (``dxmon crawl`` / ``dxmon serve`` / ``scrapy crawl news``: the process that
owns SQLite)
    Its spider computes the cycle's start requests as always (listings, feeds,
    sitemaps, due revisits, each with the validators a local crawl would send: the
    conditional-GET middleware fills them in before the push) and its scheduler
    pushes them into Redis instead of crawling them. It is then the **writer**: it
    reads the stream, stores each batch in one transaction, and only then XACKs
    (:class:`ClusterWriter`). When the cycle's outstanding request count is 0 and the
    stream is drained, it closes the spider: run rows, detection, grouping and alerts
    follow exactly as after a local crawl.

``worker`` (``dxmon worker``, on any machine: only the config and Redis)
    Fetches, reads and prepares pages (``storage.articles.prepare`` runs here); each
    article goes to the stream (:class:`StreamPipeline`), with the validators, 304s,
    failed listings and stats the writer needs.

What holds, and how:

* **Politeness across machines**: requests wait in one queue per host
  (``<prefix>:q:<host>``, a sorted set by priority). A worker crawls a host only while
  it holds that host's lease (``SET NX PX``, renewed by its heartbeat), so each host is
  fetched by one worker at a time and that worker's download slot applies the
  source's delay, robots.txt Crawl-delay and Retry-After as on one machine. A worker
  lets a host go only with nothing of it in flight, leaving the lease to expire after
  the host's current delay: whoever takes it next cannot come sooner. A worker holds
  at most its share of the hosts with work (hosts / live workers, rounded up).
* **Nothing lost when a worker dies**: a request taken from a queue moves, in the same
  Lua script, into the worker's in-flight hash; it leaves it only once its callback
  and its articles' delivery to the stream are done (or it is re-queued by a
  redirect/retry). A worker whose heartbeat is older than the lease time is reaped
  by any live process: its in-flight requests go back to their queues (a reliable
  queue: crawled again by others, stored once because storing is idempotent). A
  link is marked seen for the cycle in the same script that queues it, so a worker
  dying between the two cannot leave a link marked and unqueued; a worker presumed
  dead that was only stalled finds the requests it held queued again and leaves them
  to whoever takes them (its retries of them are dropped, its acknowledgements do not
  count twice).
* **One writer, exactly once**: one seeder at a time writes a stream (a lock,
  ``<prefix>:writer``, renewed while its cycle runs; a second seeder on the same stream,
  such as two ``dxmon serve`` crawls at once, waits for it), so a cycle's articles,
  validators, withheld listings and stats all reach the process that owns its run
  rows. Stream entries are acknowledged after their batch commits; a writer that
  restarts first re-reads its pending entries. An entry stored twice (committed, then
  the writer died before XACK) stores as "unchanged".
* **Known articles without SQLite**: the writer adds a 64-bit hash of each stored
  article's URLs (canonical form) to ``<prefix>:known`` after commit (filled once from
  SQLite when missing); workers ask for a listing's article links in one SMISMEMBER
  and skip the known ones: a known article is requested again only as a revisit,
  which the seeder computes from SQLite (``[monitor] revisit_days``).

Per cycle (``<prefix>:cycle``, an increasing id carried in every request's meta):
its dupefilter set and outstanding count (incremented per new request, decremented
per acknowledged one). Pickle is the serializer, as scrapy-redis's default: the Redis
must be trusted like the archive itself (use a password, ``redis://:PASSWORD@host``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import random
import socket
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import redis
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.utils.defer import deferred_from_coro
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import Base
from scrapy_redis.scheduler import Scheduler
from twisted.internet import defer, task

from crawler import meta as meta_keys
from crawler.middlewares import PolitenessMiddleware
from crawler.urls import canonical_url, fetch_url, host_of

logger = logging.getLogger(__name__)

__all__ = ["ClusterScheduler", "CycleDupeFilter", "HostLeaseQueue", "StreamPipeline",
           "ClusterWorker", "ClusterWriter", "CycleMiddleware", "StreamValidatorsMiddleware",
           "LeaseGuardMiddleware", "StreamPolitenessMiddleware",
           "Keys", "connect", "redacted", "url_key", "reap_dead_workers"]

CYCLE = "dxmon_cycle"  # request meta: the cycle (seeding) a request belongs to
KEY = "dxmon_cluster_key"  # request meta: its id in the queues and in-flight hashes
# A worker's heartbeat renews its leases this often; a worker silent for the lease time
# (DXMON_CLUSTER_LEASE, default LEASE_S) is dead: its hosts free, its in-flight requests
# re-queued. 10 s: a loaded machine can stall a process for seconds, and a lease lost
# while requests are in flight would let two workers at one host; a dead worker costs
# that long.
HEARTBEAT_S = 0.5
LEASE_S = 10.0
# Requests of one host a worker has taken and not finished (read, article streamed), at
# most. Its download slot paces them (the delay, one or two at a time) whatever the
# number; enough must wait there that the slot never idles while pages are read (at 2,
# 1 worker crawled the benchmark at 52 articles/s, at 8 at 70), and few enough that one
# worker does not hoard a host's queue (Scrapy keeps 8 connections per host as well).
PER_HOST_IN_FLIGHT = 8
WRITER = "writer"  # the consumer name of the one writer (its pending entries survive it)
STREAM_BATCH = 50  # entries the writer stores per transaction, at most
PAGES_OK = "cluster_pages_ok"  # a worker's stat: pages its sources answered (< 400)
# The writer ends a cycle once it has looked done this long: a worker's last stats
# (sent every heartbeat) arrive before the run rows close.
SETTLE_S = 3 * HEARTBEAT_S
SEEN_TTL_S = 2 * 86400  # a cycle's dupefilter set outlives any cycle
LEFT_TTL_S = 7 * 86400  # and its outstanding count
WRITER_WAIT_S = 0.5  # a seeder waiting for the stream's writer looks this often
KNOWN_BYTES = 8  # 64-bit URL hashes: ~1e-5 chance of one false "known" among 10M URLs


class Keys:
    """Every Redis key dxmon uses, under one prefix."""

    def __init__(self, prefix: str):
        self.p = prefix

    def queue(self, host: str) -> str:
        return f"{self.p}:q:{host}"

    def lease(self, host: str) -> str:
        return f"{self.p}:lease:{host}"

    def inflight(self, worker: str) -> str:
        return f"{self.p}:inflight:{worker}"

    def left(self, cycle: int) -> str:
        return f"{self.p}:left:{cycle}"

    def seen(self, cycle: int) -> str:
        return f"{self.p}:seen:{cycle}"

    def reap(self, worker: str) -> str:
        return f"{self.p}:reap:{worker}"

    hosts = property(lambda self: f"{self.p}:hosts")  # hosts with queued requests
    workers = property(lambda self: f"{self.p}:workers")  # worker id -> last beat (ms)
    cycle = property(lambda self: f"{self.p}:cycle")
    seq = property(lambda self: f"{self.p}:seq")
    known = property(lambda self: f"{self.p}:known")
    known_ready = property(lambda self: f"{self.p}:known:ready")
    stream = property(lambda self: f"{self.p}:stream")
    delays = property(lambda self: f"{self.p}:delays")  # host -> delay learned (s)
    writer = property(lambda self: f"{self.p}:writer")  # the one writer's lock


def redacted(url: str) -> str:
    """A Redis URL fit for a log line: its password (and user) never shown."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{'***@' if parts.password or parts.username else ''}" \
           f"{host}{port}{parts.path}"


def connect(url: str) -> redis.Redis:
    """A client for ``url``; a Redis that cannot be reached is one clear error (the URL
    redacted), before any request."""
    client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10,
                                  health_check_interval=30)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConnectionError(f"cannot reach Redis at {redacted(url)}: "
                              f"{type(exc).__name__}") from None
    return client


def url_key(url: str) -> bytes:
    """The member of the known-URL set for ``url``: its canonical form's hash."""
    return hashlib.sha1(canonical_url(url).encode("utf-8")).digest()[:KNOWN_BYTES]


def queue_host(request_dict: dict) -> str:
    """The queue (host) of a serialized request: its download slot, as the spider names it."""
    return (request_dict.get("meta") or {}).get("download_slot") or host_of(request_dict["url"])


# Take the best request of a host's queue into the worker's in-flight hash, atomically.
# A member is the request's 32-character key followed by its pickled dict.
_POP = """
local r = redis.call('ZPOPMIN', KEYS[1])
if #r == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  return false
end
redis.call('HSET', KEYS[2], string.sub(r[1], 1, 32), r[1])
return r[1]
"""
# Queue a request (KEYS: its host's queue, the hosts with work, its cycle's outstanding
# count, this worker's in-flight hash, the cycle's dupefilter set, the FIFO sequence;
# ARGV: member, priority's score, host, fingerprint or '', new 1/0, key, TTLs). One
# script, so the dupefilter mark and the queueing cannot be parted by a process dying
# between two round trips: a link marked seen and never queued would be lost for the
# cycle (whoever read its listing again would drop it as seen). One of ours coming back
# (a retry, a redirect) that is no longer in our in-flight hash was queued again by a
# reaper while this worker stalled: whoever took it redoes it, so this copy is dropped
# (-1) before it marks anything (two copies would be acknowledged twice, and the
# cycle's count would reach 0 with a request still queued).
_ENQUEUE = """
if ARGV[5] == '0' and redis.call('HEXISTS', KEYS[4], ARGV[6]) == 0 then
  return -1
end
if ARGV[4] ~= '' then
  if redis.call('SADD', KEYS[5], ARGV[4]) == 0 then
    if ARGV[5] == '0' and redis.call('HDEL', KEYS[4], ARGV[6]) == 1 then
      redis.call('DECR', KEYS[3])
    end
    return 0
  end
  redis.call('EXPIRE', KEYS[5], ARGV[7])
end
local seq = redis.call('INCR', KEYS[6])
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + seq, ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
if ARGV[5] == '1' then
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
else
  redis.call('HDEL', KEYS[4], ARGV[6])
end
return 1
"""
# Put a worker's taken requests back into their queues (KEYS: its in-flight hash, the
# hosts with work, the live workers, then each request's queue; ARGV: the worker, then
# per request its key, member, host and score): only those still in the hash as read
# (one the worker took meanwhile, presumed dead but alive, stays its own), and the
# worker forgotten only once its hash is empty.
_REQUEUE = """
local moved = 0
for j = 4, #KEYS do
  local i = 2 + (j - 4) * 4
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[j], ARGV[i + 3], ARGV[i + 1])
    redis.call('SADD', KEYS[2], ARGV[i + 2])
    redis.call('HDEL', KEYS[1], ARGV[i])
    moved = moved + 1
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return moved
"""
# A request done: out of the in-flight hash, and one fewer outstanding in its cycle.
_ACK = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('DECR', KEYS[2])
  return 1
end
return 0
"""
# Let a lock go, if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Renew a lease only while it is still ours; give one up by letting it run out later.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class HostLeaseQueue(Base):
    """scrapy-redis queue of one sorted set per host, crawled under a per-host lease.

    ``push`` may be called by any process (the seeder, a worker's spider); ``pop``
    only takes from hosts this worker holds (see the module docstring). The seeder
    never pops (its ``Scheduler`` returns no request).
    """

    def __init__(self, server, spider, key, serializer=None):
        super().__init__(server, spider, key, serializer or pickle)
        self.keys: Keys = spider.cluster.keys
        self.worker: str = spider.cluster.worker
        self.lease: float = spider.cluster.lease
        self.held: dict[str, int] = {}  # host -> requests taken and not done
        self.draining: set[str] = set()  # held hosts over this worker's share: handed over
        self.mine: dict[str, tuple[str, int]] = {}  # request key -> (host, cycle)
        self.delay_of = lambda host: 0.0  # set by ClusterWorker: the host's slot delay
        self._pop = server.register_script(_POP)
        self._enqueue = server.register_script(_ENQUEUE)
        self._ack = server.register_script(_ACK)
        self._renew = server.register_script(_RENEW)
        self._turn = 0
        # no host is taken before the worker can read pages in its reader processes:
        # until then pages are read in the crawl process itself, which can stall it for
        # seconds (imports, a loaded machine), long enough to lose a lease mid-request
        self.ready = False

    def __len__(self):
        return self.server.scard(self.keys.hosts)

    def push(self, request, fingerprint: str | None = None) -> bool:
        """Queue ``request`` under its host, in one step in Redis (a process killed
        anywhere leaves it queued or not, never half): a new one counts in its cycle,
        one of ours coming back (a redirect, a retry) moves from our in-flight hash
        instead. With a ``fingerprint``, the cycle's dupefilter mark is part of that
        step: a request already seen is not queued (one of ours is then done), and
        False is returned."""
        key = request.meta.get(KEY)
        new = key is None
        if new:
            key = request.meta[KEY] = uuid.uuid4().hex
        member = key.encode("ascii") + self._encode_request(request)
        host = request.meta.get("download_slot") or host_of(request.url)
        cycle = request.meta.get(CYCLE, 0)
        queued = self._enqueue(
            keys=[self.keys.queue(host), self.keys.hosts, self.keys.left(cycle),
                  self.keys.inflight(self.worker), self.keys.seen(cycle), self.keys.seq],
            args=[member, repr(-request.priority * 1e12), host, fingerprint or "",
                  int(new), key, SEEN_TTL_S, LEFT_TTL_S])
        if not new and key in self.mine:
            self._done_locally(key)
        if new and not queued:
            del request.meta[KEY]
        if queued == -1:
            logger.warning("cluster: %s was queued again while this worker stalled; "
                           "left to whoever took it", request.url)
        return queued == 1

    def _decode(self, member: bytes):
        return self._decode_request(member[32:])

    def pop(self, timeout=0):
        if not self.ready:
            return None
        hosts = list(self.held)
        n = len(hosts)
        for i in range(n):  # round robin over the hosts held
            host = hosts[(self._turn + i) % n]
            if self.held[host] >= PER_HOST_IN_FLIGHT or host in self.draining:
                continue
            if (request := self._take(host)) is not None:
                self._turn = (self._turn + i + 1) % max(n, 1)
                return request
            if self.held[host] == 0:
                self._release(host)
        return self._take_new_host()

    def _take(self, host: str):
        member = self._pop(keys=[self.keys.queue(host), self.keys.inflight(self.worker),
                                 self.keys.hosts], args=[host])
        if not member:
            return None
        request = self._decode(member)
        key = member[:32].decode("ascii")
        request.meta[KEY] = key
        self.held[host] += 1
        self.mine[key] = (host, request.meta.get(CYCLE, 0))
        return request

    def share(self) -> int:
        """How many hosts this worker may hold: hosts with work over live workers."""
        live = self.server.zcount(self.keys.workers, time.time() * 1000 - self.lease * 1000,
                                  "+inf")
        busy = self.server.scard(self.keys.hosts) + len([h for h, n in self.held.items() if n])
        return max(1, math.ceil(busy / max(live, 1)))

    def _take_new_host(self):
        if len(self.held) >= self.share():
            return None
        # the hosts with work and no lease, looked up in one round trip, tried in random
        # order (workers looking at once do not all race for the same one)
        candidates = [h for h in (raw.decode() for raw in self.server.smembers(self.keys.hosts))
                      if h not in self.held]
        pipe = self.server.pipeline(transaction=False)
        for host in candidates:
            pipe.exists(self.keys.lease(host))
        free = [h for h, taken in zip(candidates, pipe.execute(), strict=True) if not taken]
        random.shuffle(free)
        for host in free:
            if self.server.set(self.keys.lease(host), self.worker, nx=True,
                               px=int(self._lease_ms(host))):
                self.held[host] = 0
                logger.info("cluster: crawling %s", host)
                if (request := self._take(host)) is not None:
                    return request
                self._release(host)
        return None

    def _lease_ms(self, host: str) -> float:
        return max(self.lease, 2 * self.delay_of(host)) * 1000

    def _release(self, host: str) -> None:
        """Let ``host`` go: its lease runs out after the host's delay, so whoever takes
        it next cannot send sooner than this worker's next request would have gone."""
        self.held.pop(host, None)
        self.draining.discard(host)
        ms = max(1, int(self.delay_of(host) * 1000) + 1)
        self._renew(keys=[self.keys.lease(host)], args=[self.worker, ms])

    def renew(self) -> None:
        """The heartbeat: every lease held renewed (one lost to a stall is dropped), and
        hosts beyond this worker's share handed over to workers that joined later: no
        more of their requests are taken, and each is let go once none is in flight."""
        extra = len(self.held) - self.share()
        if extra <= 0:
            self.draining.clear()
        else:
            for host in sorted(set(self.held) - self.draining, key=self.held.get)[
                    :max(0, extra - len(self.draining))]:
                logger.info("cluster: handing %s over (%d hosts held, %d over the share)",
                            host, len(self.held), extra)
                self.draining.add(host)
        for host in [h for h in self.draining if self.held.get(h) == 0]:
            self._release(host)
        for host in list(self.held):
            if not self._renew(keys=[self.keys.lease(host)],
                               args=[self.worker, int(self._lease_ms(host))]):
                logger.warning("cluster: lost the lease of %s", host)
                self.held.pop(host, None)
                self.draining.discard(host)

    def ack(self, request) -> None:
        """``request`` is done (its callback, its articles in the stream)."""
        key = request.meta.get(KEY)
        if key is None or key not in self.mine:
            return
        _, cycle = self.mine[key]
        self._ack(keys=[self.keys.inflight(self.worker), self.keys.left(cycle)], args=[key])
        self._done_locally(key)

    def _done_locally(self, key: str) -> None:
        host, _ = self.mine.pop(key)
        if host in self.held:
            self.held[host] = max(0, self.held[host] - 1)

    def clear(self):
        """Never called on close (``SCHEDULER_PERSIST``): the queues outlive a worker."""


class CycleDupeFilter(RFPDupeFilter):
    """scrapy-redis's dupefilter, one set per cycle (the next cycle reads listings
    again), fingerprinting an article by its canonical URL (two spellings of one
    article linked from two listings are fetched once, by one worker)."""

    def request_seen(self, request):
        """Scrapy's check on its own (the cluster scheduler marks a request in the same
        step as it queues it: :meth:`HostLeaseQueue.push`)."""
        key = self.key + ":" + str(request.meta.get(CYCLE, 0))
        pipe = self.server.pipeline(transaction=False)
        pipe.sadd(key, self.request_fingerprint(request))
        pipe.expire(key, SEEN_TTL_S)
        added, _ = pipe.execute()
        return added == 0

    def request_fingerprint(self, request):
        canonical = request.meta.get(meta_keys.CANONICAL)
        if canonical:
            return hashlib.sha1(canonical.encode("utf-8")).hexdigest()
        return super().request_fingerprint(request)

    def close(self, reason=""):
        """Kept: the cycle's set expires on its own (other workers share it)."""


class ClusterScheduler(Scheduler):
    """scrapy-redis's scheduler with dxmon's queue and dupefilter; in the seeder it
    only pushes (each request with its cycle and its conditional-GET validators)."""

    @classmethod
    def from_crawler(cls, crawler):
        from crawler.addon import crawl_context

        cluster = crawl_context(crawler).cluster
        settings = crawler.settings
        instance = cls(server=cluster.server, persist=True, flush_on_start=False,
                       queue_key=f"{cluster.keys.p}:q:%(spider)s",
                       queue_cls="crawler.cluster.HostLeaseQueue",
                       dupefilter=CycleDupeFilter(cluster.server, key=f"{cluster.keys.p}:seen",
                                                  debug=settings.getbool("DUPEFILTER_DEBUG")),
                       serializer=pickle)
        instance.stats = crawler.stats
        instance.crawler = crawler
        instance.cluster = cluster
        return instance

    def open(self, spider):
        spider.cluster = self.cluster
        super().open(spider)
        self.cluster.queue = self.queue

    def enqueue_request(self, request):
        if CYCLE not in request.meta:
            request.meta[CYCLE] = self.cluster.cycle
        if self.cluster.role == "seeder":
            self.cluster.with_validators(request)
        fingerprint = None if request.dont_filter else self.df.request_fingerprint(request)
        if not self.queue.push(request, fingerprint):
            self.df.log(request, self.spider)  # seen this cycle (a redirect's: done)
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        if self.cluster.role != "worker":
            return None
        try:
            request = self.queue.pop()
        except redis.RedisError as exc:  # Redis away: try again at the next call
            self.stats.inc_value("dxmon/cluster_redis_errors")
            logger.warning("cluster: Redis: %s", type(exc).__name__)
            return None
        if request is not None:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self):
        return False  # the spider never closes on idle in cluster mode (see the extensions)


class ClusterState:
    """One process's side of the cluster: its client, keys, role and identity."""

    def __init__(self, url: str, prefix: str, role: str, lease: float = LEASE_S):
        self.server = connect(url)
        self.lease = lease  # seconds (DXMON_CLUSTER_LEASE)
        self.url_safe = redacted(url)
        self.keys = Keys(prefix)
        self.role = role
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.queue: HostLeaseQueue | None = None
        self.cycle = 0  # the seeder's cycle id (new per crawl), set when the spider opens
        self.conditional = None  # the seeder's ConditionalGetMiddleware, if enabled

    def with_validators(self, request) -> None:
        """The seeder's requests carry the validators a local crawl would send."""
        if self.conditional is not None:
            self.conditional.process_request(request)

    def send(self, kind: str, **fields) -> None:
        """One entry on the stream to the writer."""
        self.server.xadd(self.keys.stream, {"kind": kind,
                                            "data": pickle.dumps(fields, protocol=5)})

    def known(self, urls: list[str]) -> set[str]:
        """Which of ``urls`` are stored articles (one round trip)."""
        if not urls:
            return set()
        flags = self.server.smismember(self.keys.known, [url_key(u) for u in urls])
        return {u for u, flag in zip(urls, flags, strict=True) if flag}


def reap_dead_workers(state: ClusterState) -> int:
    """Re-queue what workers that stopped beating had taken; free them. Any process may
    run it; a lock per dead worker keeps two reapers from doubling work (and the
    requeue moves each request once anyway)."""
    server, keys = state.server, state.keys
    dead = server.zrangebyscore(keys.workers, "-inf", time.time() * 1000 - state.lease * 1000)
    moved = 0
    for raw in dead:
        worker = raw.decode()
        if not server.set(keys.reap(worker), state.worker, nx=True, px=30_000):
            continue
        n = requeue(state, worker)
        if server.zscore(keys.workers, worker) is not None:
            server.delete(keys.reap(worker))  # it took a request meanwhile: next beat
        moved += n
        logger.warning("cluster: worker %s stopped answering; %d requests it had taken "
                       "are queued again", worker, n)
    return moved


def requeue(state: ClusterState, worker: str) -> int:
    """Put every request ``worker`` had taken back into its host's queue, and forget
    the worker (a dead one, or this one stopping): in one script, which moves only what
    is still in its hash as read here and forgets a worker whose hash is empty."""
    server, keys = state.server, state.keys
    taken = server.hgetall(keys.inflight(worker))
    queues, args = [], [worker]
    for field, member in taken.items():
        data = pickle.loads(member[32:])
        host = queue_host(data)
        queues.append(keys.queue(host))
        args += [field, member, host, repr(-data.get("priority", 0) * 1e12)]
    script = server.register_script(_REQUEUE)
    return script(keys=[keys.inflight(worker), keys.hosts, keys.workers, *queues], args=args)


# --- worker side -------------------------------------------------------------------


class CycleMiddleware:
    """Spider middleware (worker): requests a page leads to belong to its cycle."""

    async def process_spider_output(self, response, result, spider=None):
        cycle = response.meta.get(CYCLE)
        async for out in result:
            if cycle is not None and hasattr(out, "meta") and CYCLE not in out.meta:
                out.meta[CYCLE] = cycle
            yield out


class LeaseGuardMiddleware:
    """Downloader middleware (worker), first of all: a request of a host whose lease
    this worker no longer holds (lost to a stall longer than the lease time, the host
    now another worker's) goes back to its queue instead of to the host."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request, spider=None):
        from scrapy.exceptions import IgnoreRequest

        queue = getattr(getattr(self.crawler.spider, "cluster", None), "queue", None)
        key = request.meta.get(KEY)
        if queue is None or key is None or key not in queue.mine:
            return None
        host, _ = queue.mine[key]
        if host in queue.held:
            return None
        self.crawler.stats.inc_value("dxmon/cluster_lease_lost_requeued")
        queue.push(request)  # moved back: another worker (or this one, later) sends it
        raise IgnoreRequest(f"the lease of {host} was lost; queued again")


class StreamPolitenessMiddleware(PolitenessMiddleware):
    """dxmon's politeness middleware in a worker: a host left for the crawl is left for
    its cycle by every worker (``<prefix>:gone:<cycle>:<host>``: whoever takes the host
    next drops its requests too), the next cycle tries again, as the next local crawl
    would; and the writer records it, so ``dxmon status`` shows it (host_state)."""

    cycle = 0
    GONE_CHECK_S = 1.0  # how long a worker trusts its last look at a host's gone mark

    def process_request(self, request, spider=None):
        cycle = request.meta.get(CYCLE, 0)
        if cycle > self.cycle:
            self.cycle = cycle
            self.given_up.clear()
            self.failures.clear()
        host = host_of(request.url)
        if host not in self.given_up and self._gone(cycle, host):
            self.given_up.add(host)
        return super().process_request(request, spider)

    def _gone(self, cycle: int, host: str) -> bool:
        state = getattr(self.crawler.spider, "cluster", None)
        if state is None:
            return False
        checked = self.__dict__.setdefault("checked", {})
        now = time.monotonic()
        seen = checked.get((cycle, host))
        if seen is None or now - seen[1] > self.GONE_CHECK_S:
            seen = checked[(cycle, host)] = (bool(state.server.exists(
                f"{state.keys.p}:gone:{cycle}:{host}")), now)
        return seen[0]

    def _give_up(self, host: str, reason: str, backoff) -> None:
        if host in self.given_up:
            return
        super()._give_up(host, reason, backoff)
        state = getattr(self.crawler.spider, "cluster", None)
        if state is not None:
            state.server.set(f"{state.keys.p}:gone:{self.cycle}:{host}", 1, ex=2 * 86400)
            state.send("host", host=host, reason=reason, backoff=backoff.total_seconds())


class StreamValidatorsMiddleware:
    """Downloader middleware (worker), seeing responses after the conditional-GET one
    (a lower order: 570 < 580): what that one would have written to SQLite goes to the
    writer (validators of listings, feeds and sitemaps; 304s and unchanged bytes)."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response, spider=None):
        kind = request.meta.get(meta_keys.KIND)
        state = getattr(self.crawler.spider, "cluster", None)
        if kind is None or state is None:
            return response
        if response.status == 304 or request.meta.get(meta_keys.UNCHANGED):
            state.send("unchanged", url=request.url, article=kind == "article")
        elif response.status == 200 and kind != "article":
            state.send("validators", url=request.url, cycle=request.meta.get(CYCLE, 0),
                       etag=_text(response.headers.get(b"ETag")),
                       last_modified=_text(response.headers.get(b"Last-Modified")),
                       digest=hashlib.sha1(response.body).hexdigest())
        return response


def _text(value) -> str | None:
    return value.decode("latin-1") if value else None


class StreamPipeline:
    """The worker's item pipeline: each prepared article onto the stream."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item, spider=None):
        state = self.crawler.spider.cluster
        state.send("article", item=item)
        self.crawler.stats.inc_value("dxmon/articles_streamed")
        return item


class ClusterWorker:
    """Extension (worker): the heartbeat (leases, liveness, reaping, stats), the
    acknowledgement of each finished request, and never closing when idle."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.loop: task.LoopingCall | None = None
        self.sent: Counter = Counter()
        self.dirty_sent: set[str] = set()
        crawler.signals.connect(self.engine_started, signal=signals.engine_started)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)
        crawler.signals.connect(self.response_received, signal=signals.response_received)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def response_received(self, response, request, spider=None):
        """Pages answered, per source: what the writer's run rows call ``pages_ok``."""
        name = request.meta.get(meta_keys.SOURCE)
        if name and response.status < 400:
            self.crawler.stats.inc_value(f"dxmon/source/{name}/{PAGES_OK}")

    def engine_started(self):
        engine = self.crawler.engine
        state = self.crawler.spider.cluster
        state.queue.delay_of = self._delay_of
        logger.info("cluster: worker %s on %s", state.worker, state.url_safe)
        # Scrapy has no signal for "this request's callback and its items are done":
        # the scraper's enqueue_scrape returns when they are (items through the pipeline,
        # new requests scheduled), for a response and for a failure alike
        scrape = engine.scraper.enqueue_scrape

        @defer.inlineCallbacks
        def enqueue_scrape(result, request):
            try:
                yield scrape(result, request)
            finally:
                state.queue.ack(request)

        engine.scraper.enqueue_scrape = enqueue_scrape
        self.loop = task.LoopingCall(self.beat)
        self.loop.start(HEARTBEAT_S)

    def _delay_of(self, host: str) -> float:
        slot = self.crawler.engine.downloader.slots.get(host)
        return slot.delay if slot is not None else 0.0

    def beat(self):
        spider = self.crawler.spider
        state = spider.cluster
        if not state.queue.ready and spider.reader is not None:
            if spider.reader.workers > 1:
                spider.reader._started()  # the pool starts now, not on the first page
            state.queue.ready = spider.reader.workers == 1 or spider.reader.up.done()
        try:
            state.server.zadd(state.keys.workers, {state.worker: time.time() * 1000})
            state.queue.renew()
            reap_dead_workers(state)
            self._send_stats(state)
        except redis.RedisError as exc:
            logger.warning("cluster: Redis: %s", type(exc).__name__)
        # wake the engine: requests others queued are not announced to this process
        # (Scrapy's own heartbeat asks the scheduler every 5 s only)
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None:
            slot.nextcall.schedule()

    def _send_stats(self, state: ClusterState) -> None:
        """Counters since the last beat, and listings that lost an article, to the writer."""
        stats = self.crawler.stats.get_stats()
        delta = {k: v - self.sent[k] for k, v in stats.items()
                 if k.startswith(("dxmon/", "response_received_count", "downloader/"))
                 and isinstance(v, int) and v != self.sent[k]}
        from crawler.addon import crawl_context

        dirty = set(crawl_context(self.crawler).dirty_listings) - self.dirty_sent
        if delta or dirty:
            state.send("stats", delta=delta, dirty=sorted(dirty))
            self.sent.update(delta)
            self.dirty_sent |= dirty

    def spider_idle(self):
        raise DontCloseSpider

    def engine_stopped(self):
        """A worker stopping (SIGTERM) hands back at once what it had not finished and
        its hosts (each after its delay), instead of waiting to be presumed dead."""
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        state = getattr(self.crawler.spider, "cluster", None)
        if state is None or state.queue is None:
            return
        try:
            for host in list(state.queue.held):
                state.queue._release(host)
            n = requeue(state, state.worker)
        except redis.RedisError as exc:
            logger.warning("cluster: could not hand back this worker's requests (%s); "
                           "they are queued again once it is presumed dead",
                           type(exc).__name__)
            return
        logger.info("cluster: worker stopped; %d unfinished requests queued again", n)


# --- seeder / writer side ----------------------------------------------------------


class ClusterWriter:
    """Extension (seeder): stores what the stream brings, then acknowledges it; ends
    the crawl once the cycle is done (nothing outstanding, the stream drained)."""

    def __init__(self, crawler, context, *, batch: int, wait: float):
        from storage.maintenance import MERGE_EVERY, MergeAsYouGo

        self.crawler = crawler
        self.context = context
        self.state: ClusterState = context.cluster
        self.batch = batch
        self.wait = wait
        self.loop: task.LoopingCall | None = None
        self.seeded = False
        self.closing = False
        self.done_since: float | None = None
        self.retry = False  # a batch failed: its entries (pending) are read again first
        self.cpu = 0.0  # CPU seconds spent storing stream entries (benchmarks/cluster_bench)
        self.entries = 0
        # a long cycle merges the search index between batches (crawler.pipelines too)
        self.merges = MergeAsYouGo(context.db, crawler.settings.getint("DXMON_MERGE_EVERY",
                                                                        MERGE_EVERY))
        # one writer a stream: a lock held while the cycle runs, renewed every tick, run
        # out after three lease times if the process dies
        self._lock_ms = int(3 * self.state.lease * 1000)
        self._renew = self.state.server.register_script(_RENEW)
        self._release = self.state.server.register_script(_RELEASE)
        self.lost = False
        self.validators: dict[str, tuple] = {}
        self.dirty: set[str] = set()
        self.last_report = time.monotonic()
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        from crawler.addon import crawl_context

        context = crawl_context(crawler)
        if context.cluster is None or context.cluster.role != "seeder":
            raise NotConfigured
        return cls(crawler, context, batch=crawler.settings.getint("DXMON_STORE_BATCH"),
                   wait=crawler.settings.getfloat("DXMON_STORE_WAIT"))

    def spider_opened(self, spider):
        """Once this process is the stream's one writer (another seeder's cycle on the
        same stream, a second ``dxmon serve`` crawl at once, is waited for): a new
        cycle, the known URLs, and what a writer that died left unacknowledged. (A
        Deferred: Scrapy starts the crawl once it fires.)"""
        return self._open()

    @defer.inlineCallbacks
    def _open(self):
        from twisted.internet import reactor

        state = self.state
        server = state.server
        waited = False
        while not server.set(state.keys.writer, state.worker, nx=True, px=self._lock_ms):
            if not waited:
                logger.info("cluster: another writer (%s) is storing its cycle on this "
                            "stream; waiting for it to finish",
                            (server.get(state.keys.writer) or b"?").decode())
                waited = True
            yield task.deferLater(reactor, WRITER_WAIT_S, lambda: None)
        if waited:
            logger.info("cluster: the stream is ours now")
        try:
            server.xgroup_create(state.keys.stream, WRITER, id="0", mkstream=True)
        except redis.ResponseError as exc:  # BUSYGROUP: made by an earlier writer
            if "BUSYGROUP" not in str(exc):
                raise
        state.cycle = server.incr(state.keys.cycle)
        server.set(state.keys.left(state.cycle), 0, ex=7 * 86400)
        for mw in self.crawler.engine.downloader.middleware.middlewares:
            if type(mw).__name__ == "ConditionalGetMiddleware":
                state.conditional = mw
        self._fill_known()
        logger.info("cluster: seeding cycle %d on %s", state.cycle, state.url_safe)
        self.drain(pending=True)  # what a writer that died left unacknowledged, first
        self.loop = task.LoopingCall(self.tick)
        self.loop.start(max(self.wait, 0.05))

    def _fill_known(self) -> None:
        """The known-URL set from SQLite, once (then the writer keeps it current)."""
        server, keys = self.state.server, self.state.keys
        if server.exists(keys.known_ready):
            return
        from storage.articles import article_url_chunks

        count = 0
        for urls in article_url_chunks(self.context.db, 10_000):
            server.sadd(keys.known, *[url_key(url) for url in urls])
            count += len(urls)
        server.set(keys.known_ready, 1)
        logger.info("cluster: %d known article URLs loaded into Redis", count)

    def spider_idle(self):
        self.seeded = True  # start() is exhausted: every start request is pushed
        if not self.closing:
            raise DontCloseSpider

    def tick(self):
        if self.closing:
            return
        try:
            if not self._renew(keys=[self.state.keys.writer],
                               args=[self.state.worker, self._lock_ms]) and not self.lost:
                self.lost = True  # stalled past the lock's time: another may write too
                logger.error("cluster: this writer's lock on the stream ran out (the "
                             "process stalled for %.0f s); another seeder may be writing",
                             self._lock_ms / 1000)
            self.drain(pending=self.retry)
            self.retry = False
            reap_dead_workers(self.state)
            self._maybe_done()
        except redis.RedisError as exc:
            logger.warning("cluster: Redis: %s", type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - the batch stays pending: tried again
            self.retry = True
            logger.warning("cluster: a batch could not be stored (%s: %s); trying again",
                           type(exc).__name__, exc)

    def _maybe_done(self) -> None:
        server, keys = self.state.server, self.state.keys
        left = int(server.get(keys.left(self.state.cycle)) or 0)
        if time.monotonic() - self.last_report > 30:
            self.last_report = time.monotonic()
            live = server.zcount(keys.workers, time.time() * 1000 - self.state.lease * 1000,
                                 "+inf")
            logger.info("cluster: cycle %d: %d requests outstanding, %d live workers",
                        self.state.cycle, left, live)
        if not self.seeded or left > 0:
            self.done_since = None
            return
        if self.drain() or server.xpending(keys.stream, WRITER)["pending"]:
            self.done_since = None
            return
        if self.done_since is None:
            self.done_since = time.monotonic()
        if time.monotonic() - self.done_since < SETTLE_S:
            return
        self.drain()
        self.closing = True
        self._save_validators()
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="finished"))

    def drain(self, *, pending: bool = False) -> int:
        """Store what the stream holds for the writer, a batch per transaction, each
        batch acknowledged after its commit. ``pending``: entries delivered to a writer
        before (that died before acknowledging them) first."""
        server, keys = self.state.server, self.state.keys
        done = 0
        while True:
            start = "0" if pending else ">"
            reply = server.xreadgroup(WRITER, WRITER, {keys.stream: start}, count=self.batch)
            entries = reply[0][1] if reply else []
            if not entries:
                if pending:
                    pending = False
                    continue
                return done
            self._store(entries)
            done += len(entries)
            if self.merges.stored(len(entries)):
                self.crawler.stats.inc_value("dxmon/search_index_merges")

    def _store(self, entries) -> None:
        began = time.process_time()
        try:
            self._store_batch(entries)
        finally:
            self.cpu += time.process_time() - began
            self.entries += len(entries)

    def _store_batch(self, entries) -> None:
        from storage.articles import store_article, store_batch
        from storage.crawl_state import (
            mark_unchanged,
            record_host,
            record_validators,
            schedule_revisit,
        )
        from storage.schema import utcnow_iso

        db, stats = self.context.db, self.crawler.stats
        now = datetime.now(UTC)
        seen = utcnow_iso(now)
        known: list[bytes] = []
        outcomes: list[tuple[str, str]] = []
        hosts: list[dict] = []
        window = timedelta(days=self.context.config.revisit_days)  # young: revisited
        with store_batch(db):  # as the local pipeline: the batch is atomic, no savepoints
            for _, fields in entries:
                kind = fields[b"kind"].decode()
                data = pickle.loads(fields[b"data"])
                if kind == "article":
                    item = data["item"]
                    prepared = item["prepared"]
                    stored = store_article(db, item["source"], prepared, now=now,
                                           urls=item.get("variants", ()),
                                           hint=item.get("canonical_hint"))
                    if not stored.conflict:  # checked now, as crawler.pipelines says
                        schedule_revisit(db, stored.article_id, now, window)
                    for url in {item["url"], item.get("requested_url") or item["url"]}:
                        record_validators(db, url, item.get("etag"), item.get("last_modified"),
                                          seen)
                    outcomes.append((item["source"], stored.outcome))
                    known += [url_key(u) for u in {prepared.article.canonical_url, item["url"],
                                                   *item.get("variants", ())}]
                elif kind == "unchanged":
                    mark_unchanged(db, data["url"], seen, article=data["article"],
                                   window=window)
                elif kind == "validators":
                    self.validators[data["url"]] = (data["etag"], data["last_modified"],
                                                    data["digest"], seen)
                elif kind == "stats":
                    self._add_stats(data)
                elif kind == "host":
                    hosts.append(data)
        # after the commit: acknowledged, and known to the workers
        server, keys = self.state.server, self.state.keys
        pipe = server.pipeline(transaction=False)
        pipe.xack(keys.stream, WRITER, *[entry_id for entry_id, _ in entries])
        pipe.xdel(keys.stream, *[entry_id for entry_id, _ in entries])
        if known:
            pipe.sadd(keys.known, *known)
        pipe.execute()
        for data in hosts:  # a host a worker left (its own transaction: status shows it)
            record_host(db, data["host"], ok=False, reason=data["reason"], now=now,
                        backoff=timedelta(seconds=data["backoff"]))
        for source, outcome in outcomes:
            stats.inc_value(f"dxmon/articles_{outcome}")
            stats.inc_value(f"dxmon/source/{source}/articles_{outcome}")

    def _add_stats(self, data: dict) -> None:
        stats = self.crawler.stats
        runs = next((e for e in self.crawler.extensions.middlewares
                     if type(e).__name__ == "CrawlRuns"), None)
        for key, value in data.get("delta", {}).items():
            stats.inc_value(key, value)
            parts = key.split("/")
            # what a local crawl's CrawlRuns counts per source: pages answered
            if runs is not None and len(parts) == 4 and parts[1] == "source" \
                    and parts[3] == PAGES_OK:
                runs.responses[parts[2]] = runs.responses.get(parts[2], 0) + value
        self.dirty |= set(data.get("dirty", ()))

    def _save_validators(self) -> None:
        """The listings' validators, as a local crawl saves them when it finishes."""
        from storage.crawl_state import record_validators
        from storage.schema import transaction

        kept = {u: v for u, v in self.validators.items() if u not in self.dirty}
        with transaction(self.context.db):
            for url, (etag, last_modified, digest, now) in kept.items():
                record_validators(self.context.db, url, etag, last_modified, now, digest)

    def spider_closed(self, spider, reason):
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if reason == "finished":
            try:  # whatever arrived meanwhile is stored before the run rows close
                self.drain()
            except redis.RedisError:
                pass
        try:  # the next seeder on this stream may write now
            self._release(keys=[self.state.keys.writer], args=[self.state.worker])
        except redis.RedisError:
            pass  # it runs out after its time
        logger.info("cluster: writer stored %d stream entries in %.3f s of CPU", self.entries,
                    self.cpu)


def unknown_links(state: ClusterState, links: list) -> list:
    """The ``links`` (URLs or (URL, canonical) pairs) whose canonical URL is not a
    stored article's: one SMISMEMBER for a page's links."""
    canon = [canonical_url(fetch_url(link)) if isinstance(link, str) else link[1]
             for link in links]
    known = state.known(canon)
    return [link for link, c in zip(links, canon, strict=True) if c not in known]
