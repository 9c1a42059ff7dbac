"""Articles: storing extracted pages deduplicated by content, their URL aliases,
versions, canonical hints, source conflicts and full-text search.

Tables: ``articles``, ``article_urls``, ``article_versions``, ``url_hints``,
``source_conflicts``, ``articles_search`` (FTS5), and the near-duplicate clusters
through :mod:`storage.neardup`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlite_utils

from core.errors import StorageError
from core.models import Extracted
from core.text import fold, normalize, published, published_title
from storage.crawl_state import ensure_source
from storage.neardup import (
    add_bands,
    assign_cluster,
    band_keys,
    closest_cluster,
    epoch_of,
    signature,
)
from storage.schema import transaction, utcnow_iso

logger = logging.getLogger(__name__)

# --- articles ---------------------------------------------------------------------------


def content_hash(text: str) -> str:
    """Identity of an article's content: sha256 of its text in the matching form
    (:func:`core.text.normalize`), so copies typed with either tone placement ("hoá",
    "hóa"), NFD or odd spaces are one content."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Stored:
    """What :func:`store_article` did: ``new``, ``alias``, ``updated``, ``unchanged`` or
    ``conflict`` (the page claimed another source's article: nothing was overwritten)."""

    article_id: int
    outcome: str
    conflict: bool = False  # a source conflict was recorded (source_conflicts)


def known_url(db: sqlite_utils.Database, url: str) -> int | None:
    """The id of the article any stored URL variant ``url`` led to, or None."""
    row = db.execute("SELECT article_id FROM article_urls WHERE url = ?", [url]).fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class Prepared:
    """An extracted article in the form it is stored, computed without the database
    (the crawl does it in its extraction workers, so the one writer only writes).

    ``title``, ``text`` and ``author`` are the publisher's text (NFC,
    :func:`core.text.published`); the digest, search and signature fields are built
    from the matching forms."""

    article: Extracted
    title: str
    text: str
    author: str | None
    digest: str  # content_hash(text)
    search_title: str  # folded, for articles_search
    search_text: str
    signature: bytes  # MinHash values, see storage.neardup.signature


def search_forms(title: str | None, text: str | None) -> tuple[str, str]:
    """The folded title and text that ``articles_search`` indexes for a stored title and
    text (:func:`prepare` computes the same from the page).

    ``articles_search`` is contentless: to take an article's entry out (an update, a
    respelling), FTS5's 'delete' command must be given the values that were indexed,
    and they are recomputed from the stored row with this function. The fold of the
    normalised text is deterministic, so they are; a change to ``core.text.fold`` or
    ``normalize`` that changes the folded form of stored text needs a migration that
    rebuilds the index (as ``0011_compact`` in storage/schema.py does).
    """
    return fold(normalize(title)), fold(normalize(text))


def prepare(article: Extracted) -> Prepared:
    """An extracted article as stored (its published text, title cleaned and capped),
    with the hash, search text and signature made from the matching forms."""
    text = published(article.text)
    title = published_title(article.title)
    matching = normalize(text)
    return Prepared(article=article, title=title, text=text,
                    author=published_title(article.author) or None,
                    digest=hashlib.sha256(matching.encode("utf-8")).hexdigest(),
                    search_title=fold(normalize(title)), search_text=fold(matching),  # =
                    # search_forms(title, text), without normalising the text twice
                    signature=signature(matching).tobytes())


@dataclass
class _Batch:
    conn: object
    failed: BaseException | None = None


_BATCH: ContextVar[_Batch | None] = ContextVar("dxmon_store_batch", default=None)


@contextmanager
def store_batch(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction for many :func:`store_article` calls (the crawl's batches,
    ``crawler/pipelines.py``): the articles commit together or not at all.

    Inside it, an article is not wrapped in a savepoint of its own (a savepoint copies
    every page the article touches to a statement journal: over a third of the writer's
    time). So a failure anywhere fails the whole batch: an exception that leaves
    :func:`store_article` marks the batch, and the batch is rolled back and raises even
    if the caller caught that exception (half an article is never committed). The
    pipeline then stores the articles one by one, each in a batch of its own.
    """
    batch = _Batch(db.conn)
    token = _BATCH.set(batch)
    try:
        with transaction(db):
            yield db
            if batch.failed is not None:
                raise StorageError("an article of this batch failed to store; the batch is "
                                   "rolled back") from batch.failed
    finally:
        _BATCH.reset(token)


@contextmanager
def _atomic(db: sqlite_utils.Database) -> Iterator[None]:
    """Make one article's writes atomic: nothing more inside :func:`store_batch` (the
    batch is), a transaction or savepoint (:func:`storage.schema.transaction`) elsewhere."""
    batch = _BATCH.get()
    if batch is None or batch.conn is not db.conn or not db.conn.in_transaction:
        with transaction(db):
            yield
        return
    try:
        yield
    except BaseException as exc:
        batch.failed = exc
        raise


def store_article(db: sqlite_utils.Database, source: str, article: Extracted | Prepared,
                  *, now: datetime | None = None, urls: tuple[str, ...] | list[str] = (),
                  hint: str | None = None) -> Stored:
    """Store one extracted article, deduplicated by content.

    - a URL already known with the same content: ``unchanged`` (last_seen moves on; a
      text or title stored in another spelling of the same words, as archives written
      before issue 11 hold them, takes the page's own spelling, with no new version);
    - a URL already known with new content: ``updated``, and a row in article_versions;
      but if that article is another source's, ``conflict``: its row is never
      overwritten, the claim is recorded in ``source_conflicts`` (``dxmon status``);
    - new URL, content already stored under another URL: ``alias`` of that article
      (a syndicated copy, whichever source it came from);
    - otherwise ``new``.
    Every URL that led here (canonical, fetched, and the other spellings ``urls``
    seen for it) is recorded in ``article_urls``. ``hint``: a canonical link the page
    gave that is not its source's, kept in ``url_hints``; if it names another source's
    article, the two are linked there and the claim counted as a conflict.
    """
    seen = utcnow_iso(now)
    prepared = article if isinstance(article, Prepared) else prepare(article)
    article = prepared.article
    urls = list(dict.fromkeys([article.canonical_url, article.url, *urls]))
    with _atomic(db):
        ensure_source(db, source)
        existing = None
        for url in urls:
            existing = known_url(db, url)
            if existing:
                break
        if existing:
            row = db.execute("SELECT content_hash, source, text, title FROM articles WHERE id = ?",
                             [existing]).fetchone()
            if row[0] != prepared.digest and row[1] != source:
                _conflict(db, source, existing, article.url, "url", seen)
                return Stored(existing, "conflict", conflict=True)
            if row[0] == prepared.digest:
                outcome = "unchanged"
                db.execute("UPDATE articles SET last_seen = ? WHERE id = ?", [seen, existing])
                if row[1] == source:  # another source's spelling is never taken over
                    _respell(db, existing, row[2], row[3], prepared)
            else:
                outcome = "updated"
                _update_content(db, existing, prepared, seen, row[2], row[3])
            article_id = existing
        else:
            same = db.execute("SELECT id FROM articles WHERE content_hash = ? ORDER BY id LIMIT 1",
                              [prepared.digest]).fetchone()
            if same:
                outcome, article_id = "alias", same[0]
                db.execute("UPDATE articles SET last_seen = ? WHERE id = ?", [seen, article_id])
            else:
                outcome = "new"
                article_id = _insert_article(db, source, prepared, seen)
        db.conn.executemany("INSERT OR IGNORE INTO article_urls (url, article_id, first_seen) "
                            "VALUES (?, ?, ?)", [(url, article_id, seen) for url in urls])
        conflict = bool(hint) and _hint(db, source, article_id, hint, seen)
    return Stored(article_id, outcome, conflict)


def _hint(db, source: str, article_id: int, hint: str, seen: str) -> bool:
    """Keep a canonical claim that is not the source's own; True if it names another
    source's (other) article, which is then a recorded conflict."""
    db.execute("INSERT OR IGNORE INTO url_hints (url, article_id, kind, first_seen) "
               "VALUES (?, ?, 'canonical', ?)", [hint, article_id, seen])
    claimed = known_url(db, hint)
    if claimed is None or claimed == article_id:
        return False
    owner = db.execute("SELECT source FROM articles WHERE id = ?", [claimed]).fetchone()[0]
    if owner == source:
        return False
    _conflict(db, source, claimed, hint, "canonical", seen)
    return True


def _conflict(db, source: str, article_id: int, url: str, kind: str, seen: str) -> None:
    """Record (once) that a page of ``source`` claimed another source's article."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO source_conflicts (source, article_id, url, kind, first_seen) "
        "VALUES (?, ?, ?, ?, ?)", [source, article_id, url, kind, seen])
    if cursor.rowcount:
        logger.warning("source conflict: a page of %s claims article %d of another source "
                       "(by its %s %.200s); that article is kept as it is", source, article_id,
                       kind, url)


def record_url_variants(db: sqlite_utils.Database, variants: dict[str, set[str]],
                        *, now: datetime | None = None) -> int:
    """Record every spelling seen of known articles' links (``{canonical: spellings}``,
    fetched or not) as URLs of the article any of them already leads to; the number of
    new rows."""
    seen, added = utcnow_iso(now), 0
    with transaction(db):
        for canonical, spellings in variants.items():
            article_id = None
            for url in (canonical, *sorted(spellings)):
                if (article_id := known_url(db, url)) is not None:
                    break
            if article_id is None:
                continue
            cursor = db.conn.executemany(
                "INSERT OR IGNORE INTO article_urls (url, article_id, first_seen) VALUES (?, ?, ?)",
                [(url, article_id, seen) for url in sorted(spellings)])
            added += max(cursor.rowcount, 0)
    return added


def count_source_conflicts(db: sqlite_utils.Database) -> int:
    """How many times a page of one source claimed another source's article."""
    return db.execute("SELECT COUNT(*) FROM source_conflicts").fetchone()[0]


def _respell(db, article_id: int, text: str, title: str | None, p: Prepared) -> None:
    """Store the page's own spelling of unchanged content (same matching form: no new
    version). The current version keeps the spelling it was first stored in (its row
    gets its own copy, see :func:`article_versions`); the search entry follows only if
    its folded form changed (it does not, for the same matching form)."""
    new_title = p.title if title != p.title and normalize(title) == normalize(p.title) else title
    if text == p.text and new_title == title:
        return
    _keep_current_version(db, article_id, title, text)
    old_forms, new_forms = search_forms(title, text), search_forms(new_title, p.text)
    if old_forms != new_forms:
        _unindex(db, article_id, title, text)
        db.execute("INSERT INTO articles_search (rowid, title, text) VALUES (?, ?, ?)",
                   [article_id, *new_forms])
    db.execute("UPDATE articles SET text = ?, title = ? WHERE id = ?",
               [p.text, new_title, article_id])


def _published(article: Extracted) -> str | None:
    return article.published_at.isoformat(timespec="seconds") if article.published_at else None


def _insert_article(db, source, p: Prepared, seen) -> int:
    """A new article: its row (with its MinHash and cluster), its current version, its
    search entry and its LSH buckets.

    The id is taken as SQLite would give it (the largest + 1; the caller holds the
    write lock), so the cluster, which is the article's own id when it has no copy, is
    written with the row instead of by a second statement."""
    values = np.frombuffer(p.signature, dtype=np.uint32)
    keys = band_keys(values, epoch_of(_published(p.article), seen))
    article_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM articles").fetchone()[0]
    cluster = closest_cluster(db, values, keys)
    db.execute(
        "INSERT INTO articles (id, url, source, title, author, published_at, text, content_hash, "
        "site_name, related, first_seen, last_seen, cluster_id, minhash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [article_id, p.article.canonical_url, source, p.title, p.author, _published(p.article),
         p.text, p.digest, p.article.site_name,
         json.dumps(list(p.article.related), ensure_ascii=False), seen, seen,
         article_id if cluster is None else cluster, values.tobytes()])
    _add_version(db, article_id, p, seen)
    add_bands(db, article_id, keys)
    return article_id


def _update_content(db, article_id, p: Prepared, seen, old_text: str, old_title: str | None
                    ) -> None:
    """New content for a stored article: the version it replaces keeps its text, the
    search entry and LSH buckets follow."""
    _keep_current_version(db, article_id, old_title, old_text)
    _unindex(db, article_id, old_title, old_text)
    assign_cluster(db, article_id, p.signature, _published(p.article))  # (before the row
    # changes: its old buckets are made from its stored MinHash and dates)
    db.execute(
        "UPDATE articles SET title = ?, author = COALESCE(?, author), "
        "published_at = COALESCE(?, published_at), text = ?, content_hash = ?, "
        "related = ?, last_seen = ? WHERE id = ?",
        [p.title, p.author, _published(p.article), p.text, p.digest,
         json.dumps(list(p.article.related), ensure_ascii=False), seen, article_id])
    _add_version(db, article_id, p, seen)


def _keep_current_version(db, article_id: int, title: str | None, text: str) -> None:
    """Give the current version's row (text NULL: "the article's") its own copy of the
    title and text the article is about to lose."""
    db.execute("UPDATE article_versions SET title = ?, text = ? "
               "WHERE article_id = ? AND text IS NULL", [title, text, article_id])


def _unindex(db, article_id: int, title: str | None, text: str) -> None:
    """Take the article's entry out of the contentless search index: FTS5's 'delete'
    with the values it indexed, recomputed from the stored row (:func:`search_forms`)."""
    db.execute("INSERT INTO articles_search (articles_search, rowid, title, text) "
               "VALUES ('delete', ?, ?, ?)", [article_id, *search_forms(title, text)])


def _add_version(db, article_id: int, p: Prepared, seen: str) -> None:
    """The new content's version row (its text is the article's: NULL here) and its
    search entry."""
    db.execute("INSERT INTO article_versions (article_id, content_hash, seen_at) "
               "VALUES (?, ?, ?)", [article_id, p.digest, seen])
    db.execute("INSERT INTO articles_search (rowid, title, text) VALUES (?, ?, ?)",
               [article_id, p.search_title, p.search_text])


def article_by_url(db: sqlite_utils.Database, url: str) -> dict | None:
    """The stored article that ``url`` (canonical or any variant) led to."""
    article_id = known_url(db, url)
    if article_id is None:
        return None
    return next(db.query("SELECT * FROM articles WHERE id = ?", [article_id]), None)


def article_url_chunks(db: sqlite_utils.Database, size: int) -> Iterator[list[str]]:
    """Every URL that led to a stored article, ``size`` at a time (walking the primary
    key: an archive of millions is never held whole)."""
    last = ""
    while urls := [r[0] for r in db.execute(
            "SELECT url FROM article_urls WHERE url > ? ORDER BY url LIMIT ?", [last, size])]:
        yield urls
        last = urls[-1]


def article_aliases(db: sqlite_utils.Database, article_id: int) -> list[str]:
    """Every URL that led to the article, oldest first."""
    return [r[0] for r in db.execute(
        "SELECT url FROM article_urls WHERE article_id = ? ORDER BY first_seen, url", [article_id])]


def article_versions(db: sqlite_utils.Database, article_id: int) -> list[dict]:
    """The article's text versions, oldest first: ``id, article_id, content_hash, title,
    text, seen_at``.

    The current version's row stores no text (NULL text and title: the articles row
    holds them, once); a superseded version's row keeps its own. A respelled article's
    current version keeps the spelling it was first stored in (see :func:`_respell`).
    """
    return list(db.query(
        "SELECT v.id, v.article_id, v.content_hash, "
        "CASE WHEN v.text IS NULL THEN a.title ELSE v.title END AS title, "
        "COALESCE(v.text, a.text) AS text, v.seen_at "
        "FROM article_versions v JOIN articles a ON a.id = v.article_id "
        "WHERE v.article_id = ? ORDER BY v.id", [article_id]))


def recent_articles(db: sqlite_utils.Database, *, source: str | None = None,
                    limit: int = 50) -> list[dict]:
    """Newest articles first (by first_seen), optionally of one source: a walk of the
    ``(first_seen, id)`` or ``(source, first_seen, id)`` index that stops after
    ``limit`` rows (migration ``0012_query_indexes``), never a sort of the table."""
    where, params = ("WHERE a.source = ?", [source]) if source else ("", [])
    return list(db.query(
        f"SELECT a.id, a.url, a.source, a.title, a.author, a.published_at, a.first_seen, "
        f"(SELECT COUNT(*) FROM article_urls u WHERE u.article_id = a.id) AS urls "
        f"FROM articles a {where} ORDER BY a.first_seen DESC, a.id DESC LIMIT ?",
        [*params, limit]))


# Search ranks among the newest this many matches, never among every hit. FTS5 walks
# a doclist in rowid (= article id, = crawl order) order lazily, so taking the newest N
# matches costs O(N) whatever the archive holds; ranking them is bounded by N too. With
# 1,000 the walk and the ranking queries take a few ms (measured on a 100k archive,
# README "Search"), and a query whose matches are fewer than this is ranked over all
# of them. FTS5's own bm25 is not used: it counts every row of each phrase for its IDF
# (xQueryPhrase), a cost that grows with the archive (11.6 ms for "chuyen doi so" at
# 100k, ~10x that at 1M).
SEARCH_CANDIDATES = 1000
# ... and the ranking queries look no further back than this many ids below the newest
# match. Words that seldom meet (233 matches in 100k articles) spread their candidates
# over the whole archive, and the title and phrase queries walk every id between: 30 ms
# at 100k, ~10x that at 1M. Candidates older than the window follow the ranked ones,
# newest first; 50,000 ids bound those queries to ~15 ms whatever the archive holds.
RANK_WINDOW = 50_000


def search_articles(db: sqlite_utils.Database, query: str, *, limit: int = 20,
                    candidates: int = SEARCH_CANDIDATES,
                    window: int = RANK_WINDOW) -> list[dict]:
    """Full-text search, with or without diacritics ("chuyen doi so" finds "chuyển đổi số").

    Words are matched as an AND of terms; each term may be a prefix (``chuyen*``).
    Ranked among the newest ``candidates`` matches (see :func:`ranked_ids`). Results
    carry a snippet of the stored text, as published, around the match.
    """
    match, terms = search_match(query)
    if not terms:
        return []
    ids = ranked_ids(db, query, limit=limit, candidates=candidates, window=window)
    if not ids:
        return []
    found = {row["id"]: row for row in db.query(
        "SELECT id, url, source, title, published_at, text FROM articles "
        f"WHERE id IN ({', '.join('?' * len(ids))})", ids)}
    rows = [found[i] for i in ids if i in found]
    for row in rows:
        row["snippet"] = _snippet(row.pop("text"), terms)
    return rows


def ranked_ids(db: sqlite_utils.Database, query: str, *, limit: int = 20,
               candidates: int = SEARCH_CANDIDATES, window: int = RANK_WINDOW) -> list[int]:
    """The ids of the best ``limit`` matches of ``query`` among its newest ``candidates``.

    Best means, in this order: the words as a phrase in the title, all the words in the
    title, the words as a phrase in the text, then the other candidates; newest first
    within each tier. Each tier is one FTS5 query bounded below by the oldest candidate's
    rowid (and at most ``window`` ids below the newest match): a tier's matches are
    candidates, so it reads at most ``candidates`` rows, and a search costs
    O(candidates) whatever the archive's size. The tier is read in ascending rowid
    order from that bound and reversed here: in descending order FTS5 gathers every
    match of a phrase in the whole index before the bound applies (a phrase of two
    common words in no title: 83 ms at 1M articles, 0.3 ms ascending).
    """
    match, terms = search_match(query)
    if not terms:
        return []
    newest = [r[0] for r in db.execute(
        "SELECT rowid FROM articles_search WHERE articles_search MATCH ? "
        "ORDER BY rowid DESC LIMIT ?", [match, candidates])]
    if len(newest) <= 1:
        return newest[:limit]
    low, picked, seen = max(newest[-1], newest[0] - window), [], set()
    for expr in _tiers(match):
        if len(picked) >= limit:
            break
        rows = db.execute("SELECT rowid FROM articles_search WHERE articles_search MATCH ? "
                          "AND rowid >= ? ORDER BY rowid", [expr, low]).fetchall()
        for (rowid,) in rows[::-1][:limit + len(picked)]:
            if rowid not in seen:
                seen.add(rowid)
                picked.append(rowid)
    picked += [i for i in newest if i not in seen]
    return picked[:limit]


def _tiers(match: str) -> list[str]:
    """The FTS5 expressions of the ranking tiers for ``match`` (see :func:`ranked_ids`):
    phrase in title, all words in title, phrase in text. One word: title only."""
    words = match.split(" ")
    if len(words) == 1:
        return [f"{{title}} : ({match})"]
    phrase = " + ".join(words)
    return [f"{{title}} : ({phrase})", f"{{title}} : ({match})", f"{{text}} : ({phrase})"]


def search_match(query: str) -> tuple[str, list[str]]:
    """(the FTS5 expression for ``query``, its folded terms without a prefix ``*``).

    Each word is folded (no diacritics, đ → d) and quoted, so FTS5 syntax in a query is
    only ever text; a word ending in ``*`` is a prefix. An empty term list: no query.
    """
    terms = [t for t in fold(normalize(query)).replace('"', " ").split() if t]
    terms = [t for t in terms if t.rstrip("*")]
    match = " ".join(f'"{t[:-1]}"*' if t.endswith("*") else f'"{t}"' for t in terms)
    return match, [t.rstrip("*") for t in terms]


def snippet(text: str, terms: list[str], width: int = 160) -> str:
    """The stored text around the first of the folded ``terms`` (see :func:`_snippet`)."""
    return _snippet(text, terms, width)


def _snippet(text: str, terms: list[str], width: int = 160) -> str:
    """The stored text around the first matched term, as published (diacritics, tone
    placement and all): the match is found in the folded text and cut from the stored
    one at the same place (:func:`_folded_with_positions`)."""
    folded, where = _folded_with_positions(text)
    # the whole query as a phrase first, else the first term found as a word
    found = None
    for pattern in [r"\b" + r"\W+".join(map(re.escape, terms)) + r"\b",
                    *(r"\b" + re.escape(t) + r"\b" for t in terms)]:
        if found := re.search(pattern, folded):
            break
    at = where(found.start()) if found else 0
    start = max(0, at - width // 3)
    end = start + width
    # whole words at both ends: move in to the nearest space, unless none is near
    # (a window's sixth: a text without spaces is still cut where it must be)
    if start and 0 <= (space := text.find(" ", start, at)) - start < width // 6:
        start = space + 1
    if end < len(text) and 0 <= end - (space := text.rfind(" ", at, end)) < width // 6:
        end = space
    piece = text[start:end].replace("\n", " ")
    return ("…" if start else "") + piece + ("…" if end < len(text) else "")


def _folded_with_positions(text: str):
    """(the fold of ``text``, a function from a position in it to one in ``text``).

    An NFC Vietnamese text folds to one character per character, so positions are
    the same; a text holding something that folds to more or fewer characters (an
    invisible character, a space run, Hangul) is folded one character at a time and
    each folded character remembers where it came from.
    """
    folded = fold(text)
    if len(folded) == len(text):
        return folded, lambda i: i
    pieces, origin = [], []
    for i, ch in enumerate(text):
        piece = " " if ch.isspace() else fold(ch)
        pieces.append(piece)
        origin += [i] * len(piece)
    return "".join(pieces), lambda i: origin[i] if i < len(origin) else len(text)


def unprocessed_articles(db: sqlite_utils.Database) -> list[dict]:
    """Articles whose current content detection has not run on yet."""
    return list(db.query(
        "SELECT * FROM articles WHERE processed_hash IS NULL OR processed_hash != content_hash "
        "ORDER BY id"))


def count_articles(db: sqlite_utils.Database, source: str | None = None) -> int:
    """How many distinct articles are stored (of ``source``, if given)."""
    if source:
        return db.execute("SELECT COUNT(*) FROM articles WHERE source = ?", [source]).fetchone()[0]
    return db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]




def mark_processed(db: sqlite_utils.Database, article_id: int) -> None:
    """Detection has run on the article's current content (see ``processed_hash``)."""
    db.execute("UPDATE articles SET processed_hash = content_hash WHERE id = ?", [article_id])
