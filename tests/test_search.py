"""Search ranks among a bounded set of candidates (issue 16), the read commands start
without the crawl's or sqlite-utils' imports, and 0012_query_indexes carries an archive
forward."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import Extracted
from storage import articles, schema
from storage.articles import ranked_ids, search_articles, search_match, store_article
from storage.schema import open_db

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 1, tzinfo=UTC)
VOCAB = ["alpha", "beta", "gamma", "delta", "omega"]


def _store(db, n: int, title: str, text: str, source: str = "demo") -> int:
    """Article ``n`` through the real store path (its own text: no dedup by content)."""
    url = f"https://demo.example.test/bai-{n}.htm"
    article = Extracted(url=url, canonical_url=url, title=title, text=f"{text} ma{n}so.",
                        published_at=T0 + timedelta(hours=n))
    return store_article(db, source, article, now=T0 + timedelta(minutes=n)).article_id


# --- ranking ---------------------------------------------------------------------------


def test_title_then_phrase_then_newest(tmp_path):
    db = open_db(tmp_path / "a.db")
    scattered_old = _store(db, 1, "Tin tức", "Chuyển giao dữ liệu, đổi mới, số hóa")
    in_title = _store(db, 2, "Chuyển đổi số ở Hà Nội", "Bài viết về hạ tầng")
    phrase_text = _store(db, 3, "Tin địa phương", "Tỉnh đẩy mạnh chuyển đổi số trong y tế")
    scattered_new = _store(db, 4, "Tin mới", "Số liệu chuyển về, đổi lịch họp")
    title_words = _store(db, 5, "Số hóa và chuyển giao, đổi mới", "Nội dung khác")
    unrelated = _store(db, 6, "Thời tiết", "Trời mưa")
    for query in ("chuyen doi so", "chuyển đổi số", "CHUYỂN ĐỔI SỐ"):
        ids = [r["id"] for r in search_articles(db, query, limit=10)]
        # the words as a phrase in the title, then all of them in the title, then the
        # phrase in the text, then the other matches newest first; never a non-match
        assert ids == [in_title, title_words, phrase_text, scattered_new, scattered_old]
        assert unrelated not in ids
    assert [r["id"] for r in search_articles(db, "chuyen doi so", limit=2)] == [
        in_title, title_words]


def test_only_the_newest_candidates_are_ranked(tmp_path):
    """A title match older than the newest ``candidates`` matches is not promoted: the
    documented price of a bounded search (README "Search")."""
    db = open_db(tmp_path / "a.db")
    old_title = _store(db, 1, "Dữ liệu quốc gia", "Bài cũ về dữ liệu")
    newer = [_store(db, n, "Tin", f"Tin số {n} về dữ liệu") for n in range(2, 7)]
    assert ranked_ids(db, "du lieu", limit=3, candidates=100)[0] == old_title
    assert ranked_ids(db, "du lieu", limit=3, candidates=5) == newer[::-1][:3]
    assert old_title not in ranked_ids(db, "du lieu", limit=10, candidates=5)
    # beyond the ranking window it follows the ranked ones, newest first
    assert ranked_ids(db, "du lieu", limit=10, candidates=100, window=3) == [
        *newer[::-1], old_title]
    assert ranked_ids(db, "du lieu", limit=10, candidates=100, window=5)[0] == old_title


def test_diacritics_prefix_and_no_match(tmp_path):
    db = open_db(tmp_path / "a.db")
    a = _store(db, 1, "Hội nghị chuyên đề", "Đà Nẵng triển khai")
    b = _store(db, 2, "Chuyển đổi", "Đà Nẵng")
    assert {r["id"] for r in search_articles(db, "chuy*")} == {a, b}
    assert [r["id"] for r in search_articles(db, "da nang")] == [b, a]
    assert [r["id"] for r in search_articles(db, "Đà Nẵng")] == [b, a]
    assert search_articles(db, "hải phòng") == []
    assert search_articles(db, '" * "') == []
    assert "Đà Nẵng" in search_articles(db, "da nang")[0]["snippet"]


def _tokens(text: str) -> list[str]:
    return text.lower().replace(".", " ").split()


def _reference(docs, words, limit, candidates, window):
    """What ranked_ids promises, computed from the documents' own words."""
    def has_all(tokens):
        return all(w in tokens for w in words)

    def phrase(tokens):
        return any(tokens[i:i + len(words)] == words for i in range(len(tokens)))

    matches = sorted((d for d in docs if has_all(d[1] + d[2])), key=lambda d: -d[0])
    pool = matches[:candidates]

    def tier(d):
        if pool and d[0] < pool[0][0] - window:  # beyond the ranking window
            return 4
        if len(words) == 1:
            return 0 if words[0] in d[1] else 3
        return (0 if phrase(d[1]) else 1 if has_all(d[1]) else 2 if phrase(d[2]) else 3)

    return [d[0] for d in sorted(pool, key=lambda d: (tier(d), -d[0]))][:limit]


def _bytes_read() -> int:
    with open("/proc/self/io") as io:
        return int(next(line for line in io if line.startswith("rchar:")).split()[1])


def test_ranking_reads_no_more_than_finding_the_candidates(tmp_path):
    """The tiers rank among the candidates, so they read no page the candidate query
    did not (bytes read from the database file, cold cache, no memory map: the work,
    not the machine's speed). The attack: a phrase of two common words found in no
    title, on 20,000 matching articles. Read in descending order, FTS5 gathered every
    match of the phrase in the index before the rowid bound applied: 233 KB more than
    the candidates here, 83 ms at 1M articles."""
    path = tmp_path / "a.db"
    db = open_db(path)
    with schema.transaction(db):
        db.conn.executemany(
            "INSERT INTO articles_search (rowid, title, text) VALUES (?, ?, ?)",
            [(i, *articles.search_forms(f"Tin số {i}", f"Người dân nộp hồ sơ trực tuyến tại "
                                        f"xã số {i}, thủ tục {i % 97} được số hóa."))
             for i in range(1, 20_001)])
    db.close()

    def cold_reads(call) -> int:
        reader = open_db(path, readonly=True)
        reader.execute("PRAGMA mmap_size = 0")
        before = _bytes_read()
        call(reader)
        spent = _bytes_read() - before
        reader.close()
        return spent

    candidates = cold_reads(lambda r: r.execute(
        "SELECT rowid FROM articles_search WHERE articles_search MATCH ? "
        "ORDER BY rowid DESC LIMIT 200", [search_match("ho so")[0]]).fetchall())
    got: list[int] = []
    ranked = cold_reads(lambda r: got.extend(ranked_ids(r, "ho so", limit=20, candidates=200)))
    assert got == list(range(20_000, 19_980, -1))  # in no title: the newest matches
    assert ranked - candidates <= 8192, (candidates, ranked)


WORDS = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(docs=st.lists(st.tuples(WORDS, WORDS), min_size=1, max_size=10),
       query=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3),
       limit=st.integers(1, 6), candidates=st.integers(1, 8), window=st.integers(0, 12))
def test_ranking_matches_its_definition(docs, query, limit, candidates, window):
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "a.db")
        stored = []
        for n, (title, text) in enumerate(docs, 1):
            article_id = _store(db, n, " ".join(title).capitalize(), " ".join(text))
            stored.append((article_id, _tokens(" ".join(title)), _tokens(" ".join(text))))
        got = ranked_ids(db, " ".join(query), limit=limit, candidates=candidates,
                         window=window)
        assert got == _reference(stored, query, limit, candidates, window)
        assert len(got) == len(set(got))
        db.close()


# --- the read commands' imports --------------------------------------------------------


def _archive_with_config(tmp_path: Path) -> Path:
    db = open_db(tmp_path / "dxmon.db")
    for n in range(1, 6):
        _store(db, n, f"Chuyển đổi số {n}", "Hội nghị về dữ liệu")
    db.close()
    config = tmp_path / "dxmon.toml"
    config.write_text('[storage]\npath = "dxmon.db"\n', encoding="utf-8")
    return config


HEAVY = ("scrapy", "trafilatura", "numpy", "sqlite_utils", "twisted", "lxml")


def test_read_commands_do_not_import_the_crawl(tmp_path):
    """Each read command runs its whole code path in a fresh interpreter; then none of
    the crawl's packages, numpy or sqlite-utils has run (a deferred stand-in that nothing
    used does not count: storage.lite)."""
    config = _archive_with_config(tmp_path)
    url = "https://demo.example.test/bai-1.htm"
    code = ("import contextlib, io, json, sys\n"
            "from monitor.cli import main\n"
            "from storage.lite import loaded\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    rc = main(sys.argv[1:])\n"
            f"print(json.dumps([rc, loaded({HEAVY!r}), out.getvalue()]))\n")
    for argv in (["search", "chuyen", "doi", "so"], ["search", "--json", "du lieu"],
                 ["sessions"], ["status"], ["articles"], ["articles", "--json"],
                 ["history", url]):
        done = subprocess.run([sys.executable, "-c", code, "--config", str(config), *argv],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        rc, heavy, out = json.loads(done.stdout.splitlines()[-1])
        assert rc == 0 and heavy == [], (argv, heavy)
        assert out.strip(), argv
    # the negative: a writing command does load them (the check can see an import)
    code_crawl = ("import json\nimport storage.articles, sqlite_utils\nsqlite_utils.Database\n"
                  "from storage.lite import loaded\n"
                  f"print(json.dumps(loaded({HEAVY!r})))")
    done = subprocess.run([sys.executable, "-c", code_crawl], capture_output=True, text=True,
                          timeout=120)
    assert "sqlite_utils" in json.loads(done.stdout)


def test_search_command_output(tmp_path):
    config = _archive_with_config(tmp_path)
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "--config", str(config),
                           "search", "--json", "chuyển", "đổi", "số"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert [h["title"] for h in hits] == [f"Chuyển đổi số {n}" for n in range(5, 0, -1)]


# --- 0012_query_indexes ----------------------------------------------------------------


def test_query_indexes_migration_keeps_what_users_see(tmp_path, monkeypatch):
    before = [m for m in schema.MIGRATIONS if m[0] != "0012_query_indexes"]
    monkeypatch.setattr(schema, "MIGRATIONS", before)
    db = open_db(tmp_path / "old.db")
    for n in range(1, 40):
        _store(db, n, f"Tin {n}", f"Nội dung {n} về dữ liệu",
               source=("hanoi" if n % 3 else "danang"))
    seen = (articles.recent_articles(db, limit=10),
            articles.recent_articles(db, source="danang", limit=5),
            search_articles(db, "du lieu", limit=7))
    assert "idx_articles_first_seen" not in {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    db.close()
    monkeypatch.undo()
    db = open_db(tmp_path / "old.db")  # migrates
    assert (articles.recent_articles(db, limit=10),
            articles.recent_articles(db, source="danang", limit=5),
            search_articles(db, "du lieu", limit=7)) == seen
    plan = " ".join(r[3] for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM articles a ORDER BY a.first_seen DESC, a.id DESC "
        "LIMIT 5"))
    assert "idx_articles_first_seen" in plan and "TEMP B-TREE" not in plan
