"""Near-duplicate clusters: the same story republished with other furniture.

Portals syndicate each other's stories with a different header, footer or byline, or
a reworded lead. Exact dedup (the content hash) misses those; this module groups them
with MinHash over syllable shingles of the folded text, and LSH banding stored in
SQLite (``minhash_bands``) so a new article is compared only with the few stored
articles that share a band, whatever the archive's size.

Storage (issue 16): one ``(key, article_id)`` row per band, WITHOUT ROWID, the key an
INTEGER made of the band and a hash of its values (:func:`band_keys`): ~16 bytes a row,
32 rows an article. Those 32 inserts land at random places of the biggest random-key
table of the archive; once it is larger than a batch's share of it, each dirties its
own page (one WAL frame each), which is what the store cost grows with before it levels
off (benchmarks/store_cost.py --bands-only). A log-structured index (inserts into a
small recent table, merged level by level in key order) would make that write cost
flat at the price of probing every level on lookup: not done.

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
from functools import lru_cache

import numpy as np
import sqlite_utils

from core.text import fold

__all__ = ["signature", "estimate", "similarity", "assign_cluster", "closest_cluster",
           "add_bands", "band_keys", "cluster_members", "THRESHOLD"]

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
# One LSH bucket as one INTEGER: the band in the top 5 bits (BANDS = 32), below them 58
# bits of a hash of the band's ROWS values (a positive int64). Before issue 16 a row
# held (band, hex BLAKE2b digest, article id) under a text key, with a second index on
# the article: ~3x the bytes, and 32 BLAKE2b calls an article. Two articles share a
# bucket when the band's values are equal; two different bands' values meeting in 58
# bits only add a candidate, which the signature comparison then turns away.
_KEY_SHIFT = 64 - 58


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


def band_keys_of(values: np.ndarray) -> np.ndarray:
    """The LSH bucket keys (int64, ``minhash_bands.key``) of signatures ``values``
    (shape ``(..., NUM_PERM)``), one per band: shape ``(..., BANDS)``."""
    v = values.reshape(*values.shape[:-1], BANDS, ROWS).astype(np.uint64)
    low = v[..., 0] | (v[..., 1] << np.uint64(32))
    high = v[..., 2] | (v[..., 3] << np.uint64(32))
    with np.errstate(over="ignore"):  # arithmetic mod 2^64 is the point
        h = _mix64(_mix64(low ^ _band_salt()) ^ high)
    bands = np.arange(BANDS, dtype=np.uint64) << np.uint64(58)
    return (bands | (h >> np.uint64(_KEY_SHIFT))).astype(np.int64)


def band_keys(values: np.ndarray) -> list[int]:
    """One article's LSH bucket keys, one per band."""
    return band_keys_of(values).tolist()


def closest_cluster(db: sqlite_utils.Database, values: np.ndarray, keys: list[int],
                    article_id: int | None = None) -> int | None:
    """The cluster of the stored article closest to ``values`` (at least THRESHOLD
    alike) among those sharing a bucket, or None; ``article_id`` itself is left out.

    Candidates share at least one band; the ones sharing most come first, and a few
    are enough (a big cluster of copies must not make every store quadratic). They are
    counted in ``minhash_bands`` alone (its primary key covers the query), and only the
    chosen few are read from ``articles``: joining every matched band row to its article
    read a row, and the overflow pages of its text before ``minhash``, per row. Articles
    whose texts share stock phrases share buckets by the thousand in a large archive
    (~1,000 matched rows an article at 1M in benchmarks/scale.py): 4.1 ms an article
    with the join, against the count alone in 0.4 ms. A band row whose article is gone
    (no foreign key) can take one of the few places and is then skipped.
    """
    rows = db.execute(
        f"SELECT c.article_id, c.shared, a.minhash, a.cluster_id FROM ("
        f"SELECT article_id, COUNT(*) AS shared FROM minhash_bands "
        f"WHERE key IN ({', '.join('?' * len(keys))}) AND article_id != ? "
        f"GROUP BY article_id ORDER BY shared DESC, article_id LIMIT {MAX_CANDIDATES}) c "
        f"JOIN articles a ON a.id = c.article_id",
        [*keys, -1 if article_id is None else article_id]).fetchall()
    best_id, best = None, THRESHOLD
    for other, _shared, blob, cluster_id in sorted(rows, key=lambda r: r[0]):
        if blob is None:
            continue
        score = estimate(values, np.frombuffer(blob, dtype=np.uint32))
        if score >= best:
            best_id, best = cluster_id or other, score
    return best_id


def add_bands(db: sqlite_utils.Database, article_id: int, keys: list[int]) -> None:
    """The article's rows in ``minhash_bands``: one statement, every band."""
    if keys:
        db.execute("INSERT OR IGNORE INTO minhash_bands (key, article_id) VALUES "
                   + ", ".join("(?, ?)" for _ in keys),
                   [x for key in keys for x in (key, article_id)])


def assign_cluster(db: sqlite_utils.Database, article_id: int, sig: bytes | np.ndarray,
                   *, new: bool = False) -> int:
    """Store the article's MinHash ``sig`` (:func:`signature`) and put it in the cluster
    of its closest copy, if any. ``new``: the article has no bands stored yet.

    Returns the cluster id: the id of the cluster's first article (its own id when it
    has no near-duplicate). Call inside the transaction that stores the article, before
    ``articles.minhash`` is overwritten: an article's old buckets are recomputed from it
    (``minhash_bands`` has no index by article; only the buckets that changed are
    deleted and written).
    """
    values = np.frombuffer(sig, dtype=np.uint32) if isinstance(sig, bytes) else sig
    keys = band_keys(values)
    fresh = keys
    if not new:
        row = db.execute("SELECT minhash FROM articles WHERE id = ?", [article_id]).fetchone()
        if row and row[0] is not None:
            stale = set(band_keys(np.frombuffer(row[0], dtype=np.uint32)))
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
