"""benchmarks/scale.py at a tiny size: it reports every cost next to the plain baseline,
and the two archives it builds hold the same articles (a build that stored nothing, or a
baseline that differed, fails here). Its figures are not judged: no timed assertions."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scale import METRICS, PLAIN_SQL, plain_match
from benchmarks.scale_corpus import item, kind
from core.text import fold
from storage.articles import article_by_url, article_versions, search_articles
from storage.neardup import BUCKET_CAP
from storage.schema import open_db

ROOT = Path(__file__).resolve().parent.parent
SIZES = (300, 600)


def run_scale(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--dir", str(folder),
         "--search-runs", "2", "--cli-runs", "1", "--window", "200", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"scale.py failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two sizes, every measurement on (the crawls and the CLI too), and a plot."""
    folder = tmp_path_factory.mktemp("scale")
    result = run_scale(folder, "--sizes", ",".join(map(str, SIZES)),
                       "--plot", str(folder / "cost.png"))
    return folder, result.stdout, json.loads((folder / "results.json").read_text())


def test_every_metric_is_reported_at_every_size_next_to_the_baseline(built):
    folder, stdout, results = built
    assert sorted(map(int, results["steps"])) == list(SIZES)
    for size in SIZES:
        step = results["steps"][str(size)]
        for key, _, _ in METRICS:
            for who in ("dxmon", "plain"):
                value = step[key][who]
                if (key, who) == ("merge_cpu_ms", "plain"):
                    assert value == 0  # plain merges inside its commits: in its store cost
                    continue
                assert isinstance(value, int | float) and value > 0, (size, key, who, value)
        assert step["store_failures"] == 0
        assert step["window_items"] == 200
    table = stdout[stdout.rindex("| metric"):]
    for _, label, _ in METRICS:
        row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
        assert row.count(" / ") == len(SIZES) + 1, row  # each size and the projection
    assert "| 300 | 600 | 10M (projected) |" in table
    assert (folder / "cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_archive_and_the_baseline_hold_the_same_articles(built):
    folder, _, results = built
    db = open_db(folder / "archive.db")
    plain = sqlite3.connect(folder / "plain.db")
    try:
        step = results["steps"][str(SIZES[-1])]
        rows = plain.execute("SELECT url, title, text FROM articles").fetchall()
        # every item is a new article but the edits (new versions of earlier ones)
        edits = sum(1 for i in range(SIZES[-1]) if kind(16, i) == "edit")
        assert edits and len(rows) == SIZES[-1] - edits == step["articles"] == step["plain_rows"]
        assert step["version_rows"] >= len(rows) + 1  # (a first version may be implicit)
        for url, title, text in rows[::37]:
            stored = article_by_url(db, url)
            assert stored is not None and (stored["title"], stored["text"]) == (title, text)
    finally:
        db.close()
        plain.close()


def _queries_with_few_hits(plain) -> list[str]:
    """Queries of 4 words of one article that 1-15 articles hold: their whole hit sets
    can be compared. (No d or đ: dxmon folds đ to d, plain FTS5 keeps them apart.)"""
    rng = random.Random(5)
    rows = plain.execute("SELECT text FROM articles ORDER BY url").fetchall()
    out = []
    for _ in range(1000):
        words = [w for w in rng.choice(rows)[0].split()
                 if w.isalpha() and not {"d", "đ"} & set(w.lower())]
        query = " ".join(rng.sample(words, 4))
        hits = plain.execute("SELECT COUNT(*) FROM articles_fts WHERE articles_fts MATCH ?",
                             [plain_match(query)]).fetchone()[0]
        if 1 <= hits <= 15:
            out.append(query)
            if len(out) == 6:
                break
    return out


def test_dxmon_search_finds_what_the_baseline_finds(built):
    folder, _, _ = built
    db = open_db(folder / "archive.db", readonly=True)
    plain = sqlite3.connect(folder / "plain.db")
    try:
        queries = _queries_with_few_hits(plain)
        assert len(queries) == 6
        for query in queries:
            expected = {r[0] for r in plain.execute(PLAIN_SQL, [plain_match(query)])}
            for asked in (query, fold(query)):  # with and without diacritics
                found = {r["url"] for r in search_articles(db, asked, limit=50)}
                assert found == expected, (asked, found ^ expected)
    finally:
        db.close()
        plain.close()


def test_edits_are_versions_and_copies_are_near_duplicates(built):
    folder, _, _ = built
    db = open_db(folder / "archive.db", readonly=True)
    try:
        edit = next(i for i in range(SIZES[-1]) if kind(16, i) == "edit")
        url = item(16, edit).extracted.canonical_url
        versions = article_versions(db, article_by_url(db, url)["id"])
        assert len(versions) >= 2 and versions[-1]["text"] != versions[0]["text"]
        clustered = db.execute("SELECT COUNT(*) FROM articles WHERE cluster_id != id"
                               ).fetchone()[0]
        copies = sum(1 for i in range(SIZES[-1]) if kind(16, i) == "copy")
        assert clustered >= copies * 0.8, (clustered, copies)
    finally:
        db.close()


def test_a_later_run_continues_the_same_archive(built, tmp_path):
    folder, _, _ = built
    # a copy of the archive, grown further (the first run's folder stays as it was)
    for name in ("archive.db", "plain.db", "results.json"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    result = run_scale(tmp_path, "--sizes", "600,800", "--no-crawl", "--no-cli")
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(map(int, results["steps"])) == [300, 600, 800]
    assert "growing to 600" not in result.stdout
    step = results["steps"]["800"]
    edits = sum(1 for i in range(800) if kind(16, i) == "edit")
    assert step["articles"] == step["plain_rows"] == 800 - edits


# --- the bulk filler (--fill-above): the big steps' growth, then the store path's window --

FILLED = (300, 900)  # 300 through the store path, 300-700 filled, 700-900 the store path


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("filled")
    result = run_scale(folder, "--sizes", ",".join(map(str, FILLED)), "--fill-above", "300",
                       "--no-crawl", "--no-cli")
    return folder, result.stdout, json.loads((folder / "results.json").read_text())


def _filled_story(folder: Path) -> tuple[str, str]:
    """A filled story (a ``new`` item of 300-700, not edited later): its URL and a query
    of the words of its lead sentence."""
    for i in range(650, 300, -1):
        it = item(16, i)
        edited = any(kind(16, j) == "edit" and item(16, j).extracted.canonical_url
                     == it.extracted.canonical_url for j in range(i + 1, FILLED[-1]))
        if it.kind == "new" and not edited:
            words = it.extracted.text.split("\n")[0].split()[:14]
            return it.extracted.canonical_url, " ".join(w.strip("().,:“”") for w in words)
    raise AssertionError("no filled story")


def test_filled_sizes_say_so_and_hold_what_the_baseline_holds(filled):
    folder, stdout, results = filled
    assert results["steps"]["300"]["filled"] is None
    fill = results["steps"]["900"]["filled"]
    assert (fill["from"], fill["to"], fill["items"]) == (300, 700, 400)
    assert fill["items_per_s"] > 0 and "random MinHash" in fill["how"]
    assert "| items written by the bulk filler, not the store path | none | 300–700" in stdout
    assert results["steps"]["900"]["window_items"] == 200  # the store path's, timed
    edits = sum(1 for i in range(FILLED[-1]) if kind(16, i) == "edit")
    step = results["steps"]["900"]
    assert step["articles"] == step["plain_rows"] == FILLED[-1] - edits
    db = sqlite3.connect(folder / "archive.db")
    plain = sqlite3.connect(folder / "plain.db")
    try:
        rows = plain.execute("SELECT url, title, text FROM articles").fetchall()
        for url, title, text in rows:  # every article, filled or not, as the baseline's
            got = db.execute("SELECT a.title, a.text FROM article_urls u JOIN articles a "
                             "ON a.id = u.article_id WHERE u.url = ?", [url]).fetchone()
            assert got == (title, text), url
        # the store path's shapes: a version row, 32 bands (but in buckets already full:
        # storage.neardup.BUCKET_CAP), the fetched URL's validators
        versions = [n for (n,) in db.execute(
            "SELECT COUNT(t.article_id) FROM articles a LEFT JOIN article_versions t "
            "ON t.article_id = a.id GROUP BY a.id")]
        assert min(versions) >= 1
        bands = [n for (n,) in db.execute(
            "SELECT COUNT(t.article_id) FROM articles a LEFT JOIN minhash_bands t "
            "ON t.article_id = a.id GROUP BY a.id")]
        assert max(bands) == 32 and sum(n == 32 for n in bands) >= 0.9 * len(bands), bands
        assert db.execute("SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM minhash_bands "
                          "GROUP BY key)").fetchone()[0] <= BUCKET_CAP
        assert db.execute("SELECT COUNT(*) FROM articles WHERE processed_hash IS NOT "
                          "content_hash OR cluster_id IS NULL OR length(minhash) != 512"
                          ).fetchone()[0] == 0
        fetched = {item(16, i).extracted.url for i in range(FILLED[-1])}
        assert fetched <= {u for (u,) in db.execute("SELECT url FROM fetch_state")}
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        # raises (SQLITE_CORRUPT_VTAB) if the index disagrees with itself; the edits of
        # filled articles took their old entries out with the filled folded text
        db.execute("INSERT INTO articles_search (articles_search, rank) "
                   "VALUES ('integrity-check', 1)")
    finally:
        db.close()
        plain.close()


def test_a_filled_article_is_found_by_dxmon_search_and_by_the_baseline(filled):
    folder, _, _ = filled
    url, query = _filled_story(folder)
    db = open_db(folder / "archive.db", readonly=True)
    plain = sqlite3.connect(folder / "plain.db")
    try:
        assert url in {r["url"] for r in search_articles(db, query, limit=50)}
        assert url in {r["url"] for r in search_articles(db, fold(query), limit=50)}
        assert url in {r[0] for r in plain.execute(
            "SELECT a.url FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid "
            "WHERE articles_fts MATCH ?", [plain_match(query)])}
    finally:
        db.close()
        plain.close()
    config = folder / "search.toml"
    config.write_text(f'[storage]\npath = "{folder / "archive.db"}"\n', encoding="utf-8")
    dxmon = Path(sys.executable).with_name("dxmon")
    cli = subprocess.run([str(dxmon), "search", *fold(query).split(), "--limit", "50",
                          "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert url in cli.stdout


# --- store_flat.py and store_profile.py on copies of the built archive --


def articles_in(path: Path) -> int:
    return sqlite3.connect(path).execute("SELECT COUNT(*) FROM articles").fetchone()[0]


def copy_archive(folder: Path, target: Path) -> Path:
    """The built archive, its baseline and its config, copied into ``target``."""
    target.mkdir(exist_ok=True)
    for name in ("archive.db", "plain.db", "archive.toml"):
        (target / name).write_bytes((folder / name).read_bytes())
    return target


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_store_flat_grows_each_archive_and_reports_cpu_and_disk_per_size(built, tmp_path):
    """benchmarks/store_flat.py over two copies of the built archive: each grows by
    rounds x items, in dxmon and in the baseline alike, and each size gets its CPU figures
    and what its writer read from the disk."""
    folder, _, _ = built
    dirs = [copy_archive(folder, tmp_path / name) for name in ("a", "b")]
    result = run_bench("store_flat.py", *map(str, dirs), "--rounds", "2", "--items", "60")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len([line for line in lines if "x plain); dxmon x" in line]) == 2, result.stdout
    assert len([line for line in lines if " faults, " in line and line.endswith("KiB")]) == 2
    # (the built archive also holds the article its crawl measurement stored)
    before = articles_in(folder / "archive.db"), articles_in(folder / "plain.db")
    new = sum(1 for i in range(SIZES[-1], SIZES[-1] + 2 * 60) if kind(16, i) != "edit")
    for target in dirs:
        grown = (articles_in(target / "archive.db") - before[0],
                 articles_in(target / "plain.db") - before[1])
        assert grown == (new, new)


@pytest.mark.parametrize("in_memory", [False, True])
def test_store_profile_times_the_store_path_statements(built, tmp_path, in_memory):
    """benchmarks/store_profile.py on a copy of the built archive: it stores the items
    (the archive grows) and names the statements their time went to."""
    archive = copy_archive(built[0], tmp_path) / "archive.db"
    before = articles_in(archive)
    result = run_bench("store_profile.py", str(archive), str(SIZES[-1]), "100",
                       *(["--in-memory"] if in_memory else []))
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("indexes read into the cache" in result.stdout) is in_memory
    assert "INSERT INTO articles (id," in result.stdout and "COMMIT" in result.stdout
    assert articles_in(archive) - before == sum(1 for i in range(SIZES[-1], SIZES[-1] + 100)
                                                if kind(16, i) != "edit")


def test_store_flat_refuses_an_archive_grown_past_its_baseline(built, tmp_path):
    """An archive store_profile.py grew (the baseline's position left behind) would have
    store_flat.py time known URLs: it stops and says so, and stores nothing."""
    archive = copy_archive(built[0], tmp_path) / "archive.db"
    profile = run_bench("store_profile.py", str(archive), str(SIZES[-1]), "50")
    assert profile.returncode == 0, profile.stderr[-3000:]
    before = articles_in(archive)
    result = run_bench("store_flat.py", str(tmp_path), "--rounds", "1", "--items", "20")
    assert result.returncode != 0
    assert "already holds item 600 of the stream" in result.stderr
    assert articles_in(archive) == before
