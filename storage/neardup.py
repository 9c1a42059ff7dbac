"""Near-duplicate clusters: the same story republished with other furniture.

Portals syndicate each other's stories with a different header, footer or byline, or
a reworded lead. Exact dedup (the content hash) misses those; this module groups them
with MinHash over syllable shingles of the folded text, and LSH banding stored in
SQLite (``minhash_bands``) so a new article is compared only with the few stored
articles of its weeks that share a band, whatever the archive's size.

Storage (issue 16): one ``(key, article_id)`` row per band, WITHOUT ROWID, the key an
INTEGER made of the article's week, the band and a hash of the band's values
(:func:`band_keys`): ~14 bytes a row, 32 rows an article, at most BUCKET_CAP in a
bucket. A new article is compared with the articles of its week and the weeks either
side only (every article dated within 7 days of it, none more than 13 days away): its
copies, not the archive's past. So a store's cost is bounded by a week's volume, not by
the archive's size (see the constants below for the figures that decided it).

The MinHash is datasketch's (2.x, scheme "affine32", SHA-1 hashing), computed here
with numpy in a dozen lines: importing datasketch imports scipy (0.4 s and 35 MB in
every crawl process and page-reading worker), for nothing dxmon uses.
``tests/test_neardup.py`` checks the values are datasketch's, bit for bit, so stored
signatures stay comparable.

Numbers and how they were chosen (re-run ``benchmarks/neardup.py`` and
``tests/test_neardup.py`` before changing any of them):

- ``SHINGLE = 3`` syllables: Vietnamese words are one to three syllables, so 3-syllable
  shingles carry word order without being so long that one reworded word breaks many.
- ``NUM_PERM = 128``: standard error of a Jaccard estimate ~ 1/sqrt(128) ≈ 0.09, enough
  to separate the two populations below, and 512 bytes per article.
- ``BANDS, ROWS = 32, 4``: candidate threshold ≈ (1/32)^(1/4) ≈ 0.42, well below
  ``THRESHOLD``, so true copies are almost never missed by banding.
- ``THRESHOLD = 0.5``: on the test set (syndicated copies with a new header, footer,
  byline or reworded lead, versus distinct stories, including other outlets' own
  reports of the same session), benchmarks/neardup.py measured copies at 0.53–1.0
  (median 0.84) and distinct pairs at 0.0–0.13 over 145 base stories; 0.5 sits in the
  gap, nearer the copies' floor since a false merge hides a story while a missed merge
  only shows one twice.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import sqlite_utils

from core.text import fold

__all__ = ["signature", "estimate", "similarity", "assign_cluster", "closest_cluster",
           "add_bands", "band_keys", "cluster_members", "epoch_of", "THRESHOLD"]

SHINGLE = 3
NUM_PERM = 128
BANDS, ROWS = 32, 4
THRESHOLD = 0.5
_SEED = 20261122
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The affine maps h -> a*h + b (mod 2^32) of the NUM_PERM permutations, drawn as
    datasketch's MinHash(num_perm=NUM_PERM, seed=_SEED) draws them (``a`` odd)."""
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer (a bijection on 32 bits), applied once before the maps."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def shingles(text: str) -> set[bytes]:
    """Syllable 3-grams of the folded text (NFC/NFD and tone placement do not matter)."""
    words = _WORD.findall(fold(text))
    if len(words) < SHINGLE:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def signature(text: str) -> np.ndarray:
    """The text's MinHash values (uint32, NUM_PERM of them), as stored in
    ``articles.minhash``: for each permutation, the least permuted hash of a shingle
    (the first four bytes of its SHA-1, little-endian). No shingle: all 2^32 - 1."""
    grams = shingles(text)
    if not grams:
        return np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)
    digests = b"".join(hashlib.sha1(gram).digest()[:4] for gram in grams)
    hashes = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32)).reshape(-1, 1)
    a, b = _permutations()
    with np.errstate(over="ignore"):  # arithmetic mod 2^32 is the point
        return (hashes * a + b).min(axis=0)


def estimate(a: np.ndarray, b: np.ndarray) -> float:
    """The Jaccard similarity two signatures estimate: the share of values they agree on."""
    return float(np.mean(a == b))


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets."""
    return estimate(signature(a), signature(b))


MAX_CANDIDATES = 25
# The candidate index (issue 16: a store cost that does not grow with the archive).
#
# A bucket key is one INTEGER: the article's week (``EPOCH_DAYS``) in the top bits, then
# the band, then 30 bits of a hash of the band's ROWS values. An article is looked up
# in its own week's buckets and in the weeks either side (``WINDOW_EPOCHS``), so every
# article dated within 7 days of it is a candidate, and none dated more than 13 days
# away: near-duplicates are syndicated copies, which follow their original within
# hours or days, and a copy found after the window starts a cluster of its own (a
# missed merge shows a story twice; see THRESHOLD). The week is the article's
# publication date (a backfill of old archives finds copies by when they were
# published, whenever they were crawled), or when dxmon first saw it if it has none or
# claims a later one (:func:`epoch_of`).
#
# Why: with the week first, the 32 keys an article inserts land in the current week's
# part of the table instead of all over it. Before, at 1M articles, each of a batch's
# 1,600 inserts dirtied a page of its own (1,871 WAL frames a batch of 50, against
# 1,208 at 10k), and the candidates came from the whole archive: a bucket of stock
# phrases grows with the archive (~1,000 rows an article at 1M, ~100 at 10k). Now
# both are bounded by a week's volume, not by the archive's size.
#
# ``BUCKET_CAP``: a bucket takes at most 10 articles (a week's bucket; its first 10).
# Buckets of boilerplate (stock phrases shared by hundreds of unrelated stories) carry
# no signal, and a true copy shares many buckets with its original (at similarity
# 0.84, the copies' median, 16 of 32 on average), so the cap bounds the count without
# losing copies: a copy is found through its other buckets (tests/test_neardup_window.py
# attacks it). A story syndicated by more than 10 outlets in a week still gathers
# them all: each new copy finds the first 10 in the full buckets. benchmarks/scale.py's
# generator (stock phrases by the hundred): with a cap of 50 the window's buckets gave
# 307 rows a lookup at 100k against 123 at 10k; with 10, the copies found are the
# same (1,976 of 1,976 at 20k; 1,975 with no cap).
EPOCH_DAYS = 7
_EPOCH0 = date(2000, 1, 3)  # a Monday: epochs are ISO weeks
_EPOCH_BITS, _BAND_BITS, _HASH_BITS = 12, 5, 30  # 47 bits: a 6-byte SQLite integer
_EPOCH_SHIFT = _BAND_BITS + _HASH_BITS
MAX_EPOCH = (1 << _EPOCH_BITS) - 1  # weeks up to 2078
WINDOW_EPOCHS = 1
BUCKET_CAP = 10


def epoch_of(published_at: str | None, first_seen: str) -> int:
    """The week an article is banded under: of its publication date (ISO 8601), or of
    ``first_seen`` when it has none or claims one more than a day after it (a page's
    wrong or future date must not move it out of reach of its copies)."""
    seen = _utc_date(first_seen)
    day = _utc_date(published_at) if published_at else None
    if day is None or day > seen + timedelta(days=1):
        day = seen
    return min(max((day - _EPOCH0).days // EPOCH_DAYS, 0), MAX_EPOCH)


def _utc_date(stamp: str) -> date | None:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


@lru_cache(maxsize=1)
def _band_salt() -> np.ndarray:
    """One salt per band (made on first use: numpy stays unimported on the CLI's read
    paths, which import this module but never compute a key)."""
    with np.errstate(over="ignore"):
        return (np.arange(BANDS, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a bijection on 64 bits that spreads every input bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def band_keys_of(values: np.ndarray, epochs: np.ndarray | int) -> np.ndarray:
    """The LSH bucket keys (int64, ``minhash_bands.key``) of signatures ``values``
    (shape ``(..., NUM_PERM)``) banded under ``epochs`` (:func:`epoch_of`, one per
    signature), one per band: shape ``(..., BANDS)``."""
    v = values.reshape(*values.shape[:-1], BANDS, ROWS).astype(np.uint64)
    low = v[..., 0] | (v[..., 1] << np.uint64(32))
    high = v[..., 2] | (v[..., 3] << np.uint64(32))
    with np.errstate(over="ignore"):  # arithmetic mod 2^64 is the point
        h = _mix64(_mix64(low ^ _band_salt()) ^ high) >> np.uint64(64 - _HASH_BITS)
    bands = np.arange(BANDS, dtype=np.uint64) << np.uint64(_HASH_BITS)
    weeks = np.clip(np.asarray(epochs, dtype=np.int64), 0, MAX_EPOCH).astype(np.uint64)
    weeks = weeks.reshape(*weeks.shape, *([1] * (h.ndim - weeks.ndim)))
    return ((weeks << np.uint64(_EPOCH_SHIFT)) | bands | h).astype(np.int64)


def band_keys(values: np.ndarray, epoch: int) -> list[int]:
    """One article's LSH bucket keys, one per band."""
    return band_keys_of(values, epoch).tolist()


def _window(keys: list[int]) -> list[int]:
    """The buckets an article with ``keys`` is compared in: the same band and hash in
    its week and the weeks either side."""
    week = keys[0] >> _EPOCH_SHIFT  # (an article's keys share its week)
    return [key + (shift << _EPOCH_SHIFT)
            for shift in range(-WINDOW_EPOCHS, WINDOW_EPOCHS + 1)
            if 0 <= week + shift <= MAX_EPOCH for key in keys]


def closest_cluster(db: sqlite_utils.Database, values: np.ndarray, keys: list[int],
                    article_id: int | None = None) -> int | None:
    """The cluster of the stored article closest to ``values`` (at least THRESHOLD
    alike) among those sharing a bucket of its window (:func:`_window`), or None;
    ``article_id`` itself is left out. ``keys``: the article's own (:func:`band_keys`).

    Candidates share at least one bucket; the ones sharing most come first (newest
    first among equals), and a few are enough (a big cluster of copies must not make
    every store quadratic). They are counted in ``minhash_bands`` alone (its primary
    key covers the query; a bucket holds at most BUCKET_CAP rows), and only the chosen
    few are read from ``articles``. A band row whose article is gone (no foreign key)
    can take one of the few places and is then skipped.
    """
    probes = _window(keys)
    rows = db.execute(
        f"SELECT c.article_id, c.shared, a.minhash, a.cluster_id FROM ("
        f"SELECT article_id, COUNT(*) AS shared FROM minhash_bands "
        f"WHERE key IN ({', '.join('?' * len(probes))}) AND article_id != ? "
        f"GROUP BY article_id ORDER BY shared DESC, article_id DESC LIMIT {MAX_CANDIDATES}) c "
        f"JOIN articles a ON a.id = c.article_id",
        [*probes, -1 if article_id is None else article_id]).fetchall()
    best_id, best = None, THRESHOLD
    for other, _shared, blob, cluster_id in sorted(rows, key=lambda r: r[0]):
        if blob is None:
            continue
        score = estimate(values, np.frombuffer(blob, dtype=np.uint32))
        if score >= best:
            best_id, best = cluster_id or other, score
    return best_id


# A row goes in unless its bucket (``{key}``) already holds BUCKET_CAP rows (the OFFSET
# walk reads at most that many).
_ROOM = ("(SELECT 1 FROM minhash_bands WHERE key = {key} "
         f"LIMIT 1 OFFSET {BUCKET_CAP - 1}) IS NULL")
# For executemany: (key, article_id).
ADD_BAND_SQL = ("INSERT OR IGNORE INTO minhash_bands (key, article_id) SELECT ?1, ?2 WHERE "
                + _ROOM.format(key="?1"))


def add_bands(db: sqlite_utils.Database, article_id: int, keys: list[int]) -> None:
    """The article's rows in ``minhash_bands``, except in buckets already full
    (BUCKET_CAP): one statement, every band."""
    if keys:
        db.execute(f"INSERT OR IGNORE INTO minhash_bands (key, article_id) SELECT column1, ? "
                   f"FROM (VALUES {', '.join('(?)' for _ in keys)}) WHERE "
                   + _ROOM.format(key="column1"), [article_id, *keys])


def assign_cluster(db: sqlite_utils.Database, article_id: int, sig: bytes | np.ndarray,
                   published_at: str | None) -> int:
    """Store a stored article's new MinHash ``sig`` (:func:`signature`) and put it in the
    cluster of its closest copy, if any. ``published_at``: its new publication date, or
    None when it keeps the stored one (as ``storage.articles`` updates the row).

    Returns the cluster id: the id of the cluster's first article (its own id when it
    has no near-duplicate). Call inside the transaction that stores the article, before
    the row is updated: the article's old buckets are recomputed from its stored
    MinHash and dates (``minhash_bands`` has no index by article; only the buckets that
    changed are deleted and written).
    """
    values = np.frombuffer(sig, dtype=np.uint32) if isinstance(sig, bytes) else sig
    old_blob, old_published, first_seen = db.execute(
        "SELECT minhash, published_at, first_seen FROM articles WHERE id = ?",
        [article_id]).fetchone()
    keys = band_keys(values, epoch_of(published_at or old_published, first_seen))
    fresh = keys
    if old_blob is not None:
        stale = set(band_keys(np.frombuffer(old_blob, dtype=np.uint32),
                              epoch_of(old_published, first_seen)))
        gone = sorted(stale - set(keys))
        if gone:
            db.execute(f"DELETE FROM minhash_bands WHERE article_id = ? AND key IN "
                       f"({', '.join('?' * len(gone))})", [article_id, *gone])
        fresh = [key for key in keys if key not in stale]
    cluster = closest_cluster(db, values, keys, article_id)
    cluster = article_id if cluster is None else cluster
    db.execute("UPDATE articles SET minhash = ?, cluster_id = ? WHERE id = ?",
               [values.tobytes(), cluster, article_id])
    add_bands(db, article_id, fresh)
    return cluster


def cluster_members(db: sqlite_utils.Database, article_id: int) -> list[dict]:
    """The other articles in the article's near-duplicate cluster."""
    return list(db.query(
        "SELECT b.id, b.url, b.source, b.title FROM articles a JOIN articles b "
        "ON b.cluster_id = a.cluster_id AND b.id != a.id WHERE a.id = ? ORDER BY b.id",
        [article_id]))
