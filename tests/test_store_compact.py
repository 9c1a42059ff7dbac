"""Issue 16's compact store: each text stored once, and nothing lost for it.

- ``articles_search`` is contentless: an update or a respelling takes the old entry
  out with FTS5's 'delete' and the folded values recomputed from the stored row. Given
  stale values, 'delete' silently leaves the old words findable: a property stores,
  updates and respells random Vietnamese texts (alone and in batches) and then asks the
  index for every word, expecting exactly the articles whose current text holds it.
- ``article_versions`` keeps the current text only in ``articles``: every version still
  comes back, oldest first, with its own text, after updates and respellings.
- Migration ``0011_compact`` carries an archive written by the store path of before
  (issue 16's base commit, run from git in a subprocess) forward: the same search
  results in the same order, versions, clusters; and the migrated archive takes updates.
- A batch (:func:`storage.articles.store_batch`) has no savepoint per article, so an
  article that fails fails the whole batch, even when the caller swallows the error.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import StorageError
from core.models import Extracted
from core.text import fold, normalize
from storage import articles
from storage.articles import (
    article_versions,
    prepare,
    search_articles,
    search_forms,
    store_article,
    store_batch,
)
from storage.neardup import cluster_members
from storage.schema import open_db

ROOT = Path(__file__).resolve().parent.parent
BASE = "64a86c5"  # issue 16's base: the store path and schema before 0011_compact
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# words written for this file; each pair in SPELLINGS is one word in two tone placements
WORDS = ("chuyển đổi số dữ liệu tỉnh ủy ban nhân dân hội nghị triển khai kế hoạch đề án "
         "công dân điện tử đường giao thông nông thôn miền núi biển đảo").split()
SPELLINGS = [("hóa", "hoá"), ("thủy", "thuỷ"), ("khỏe", "khoẻ"), ("họa", "hoạ")]


def _text(words: list[int], spelling: list[int]) -> str:
    """A text from word indexes (into WORDS + the SPELLINGS pairs) and, for each pair
    word, which of its two spellings to write."""
    out = []
    for i, w in enumerate(words):
        if w < len(WORDS):
            out.append(WORDS[w])
        else:
            out.append(SPELLINGS[w - len(WORDS)][spelling[i % len(spelling)]])
    return " ".join(out)


def _page(url: str, title: str, text: str) -> Extracted:
    return Extracted(url=url, canonical_url=url, title=title, text=text,
                     published_at=T0, author="Lan Anh", site_name="nguon")


def _tokens(value: str) -> list[str]:
    """The words FTS5's unicode61 tokenizer makes of a folded value, in order."""
    return [w.lower() for w in re.findall(r"[^\W_]+", value)]


def assert_index_exact(db) -> None:
    """The index is sound, holds exactly the words of the articles' current titles and
    texts at their positions (read back through fts5vocab), and every word a search
    can ask finds exactly the articles holding it now."""
    db.execute("INSERT INTO articles_search (articles_search) VALUES ('integrity-check')")
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_terms "
               "USING fts5vocab(main, articles_search, 'instance')")
    indexed = sorted(db.execute("SELECT term, doc, col, \"offset\" FROM temp.search_terms"))
    stored = {r["id"]: search_forms(r["title"], r["text"])
              for r in db.query("SELECT id, title, text FROM articles")}
    expected = sorted((term, i, col, at) for i, forms in stored.items()
                      for col, value in zip(("title", "text"), forms, strict=True)
                      for at, term in enumerate(_tokens(value)))
    assert indexed == expected
    for term in {t for t, *_ in expected} | {fold(a) for a, _ in SPELLINGS}:
        found = {r[0] for r in db.execute(
            "SELECT rowid FROM articles_search WHERE articles_search MATCH ?", [f'"{term}"'])}
        assert found == {i for i, (title, text) in stored.items()
                         if term in _tokens(title) + _tokens(text)}, term


word_lists = st.lists(st.integers(0, len(WORDS) + len(SPELLINGS) - 1), min_size=3, max_size=12)
spellings = st.lists(st.integers(0, 1), min_size=1, max_size=4)
# (which URL of four, text's words, spelling choices, title's words). FTS5 deletes a
# word's whole entry for the article, whatever the column: a title holding every word
# of the text would hide a text deleted with stale values, so the title is drawn apart.
operations = st.lists(st.tuples(st.integers(0, 3), word_lists, spellings,
                                st.lists(st.integers(0, len(WORDS) - 1), max_size=4)),
                      min_size=1, max_size=10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, batched=st.booleans())
def test_search_index_follows_stores_updates_and_respellings(tmp_path_factory, ops, batched):
    """Same URL again with the same words in another spelling: a respelling (no
    version); with other words: an update. The index holds only current words."""
    db = open_db(tmp_path_factory.mktemp("fts") / "dxmon.db")
    pages = []
    for n, (slot, words, spelling, title_words) in enumerate(ops):
        url = f"https://nguon.example.test/bai-{slot}.htm"
        text = _text(words, spelling)
        title = _text(title_words, spelling).capitalize()
        pages.append((url, prepare(_page(url, title, text)), T0 + timedelta(minutes=n)))
    if batched:
        with store_batch(db):
            results = [store_article(db, "nguon", p, now=now) for _, p, now in pages]
    else:
        results = [store_article(db, "nguon", p, now=now) for _, p, now in pages]
    versions: dict[int, list[str]] = {}
    current: dict[int, str] = {}
    for (_, p, _), stored in zip(pages, results, strict=True):
        if stored.outcome in ("new", "updated"):
            versions.setdefault(stored.article_id, []).append(p.text)
        if stored.outcome != "alias":  # unchanged: the page's own spelling is taken
            current[stored.article_id] = p.text
    assert_index_exact(db)
    for article_id, texts in versions.items():
        article = db.execute("SELECT text FROM articles WHERE id = ?", [article_id]).fetchone()
        assert article[0] == current[article_id]
        stored_versions = article_versions(db, article_id)
        # every content change is a version, oldest first, in the spelling it came in
        assert [v["text"] for v in stored_versions] == texts
        assert [v["id"] for v in stored_versions] == sorted(v["id"] for v in stored_versions)


def test_versions_round_trip_and_the_current_text_stored_once(tmp_path):
    db = open_db(tmp_path / "dxmon.db")
    url = "https://nguon.example.test/bai.htm"
    drafts = ["Ủy ban nhân dân tỉnh họp về chuyển đổi số.\nKế hoạch năm nay.",
              "Ủy ban nhân dân tỉnh họp về chuyển đổi số.\nKế hoạch năm nay được thông qua.",
              "Ủy ban nhân dân tỉnh họp phiên thứ hai về chuyển đổi số."]
    for i, text in enumerate(drafts):
        store_article(db, "nguon", _page(url, f"Tin số {i}", text), now=T0 + timedelta(hours=i))
    article = articles.article_by_url(db, url)
    versions = article_versions(db, article["id"])
    assert [v["text"] for v in versions] == drafts
    assert [v["title"] for v in versions] == ["Tin số 0", "Tin số 1", "Tin số 2"]
    assert [v["seen_at"] for v in versions] == [
        (T0 + timedelta(hours=i)).isoformat() for i in range(3)]
    assert set(versions[0]) == {"id", "article_id", "content_hash", "title", "text", "seen_at"}
    # the current text is the article row's; its version row holds no copy
    rows = list(db.query("SELECT title, text FROM article_versions WHERE article_id = ? "
                         "ORDER BY id", [article["id"]]))
    assert [r["text"] for r in rows] == drafts[:2] + [None]
    # a respelling keeps the spelling the version was stored in
    respelled = drafts[2].replace("Ủy", "Uỷ")
    assert normalize(respelled) == normalize(drafts[2]) and respelled != drafts[2]
    assert store_article(db, "nguon", _page(url, "Tin số 2", respelled),
                         now=T0 + timedelta(hours=5)).outcome == "unchanged"
    versions = article_versions(db, article["id"])
    assert [v["text"] for v in versions] == drafts
    assert articles.article_by_url(db, url)["text"] == respelled
    assert_index_exact(db)


def test_a_failed_article_fails_its_whole_batch_even_if_the_error_is_swallowed(tmp_path):
    """No savepoint per article in a batch: half an article must never commit."""
    db = open_db(tmp_path / "dxmon.db")
    good = prepare(_page("https://nguon.example.test/a.htm", "Tin A", "Hội nghị chuyển đổi số."))
    bad = prepare(_page("https://nguon.example.test/b.htm", "Tin B", "Đường giao thông nông thôn."))
    # B fails after its row is written: its version row is refused
    db.execute("CREATE TEMP TRIGGER refuse_b BEFORE INSERT ON article_versions "
               "WHEN (SELECT title FROM articles WHERE id = NEW.article_id) = 'Tin B' "
               "BEGIN SELECT RAISE(ABORT, 'planted failure'); END")
    with pytest.raises(StorageError), store_batch(db):
        store_article(db, "nguon", good, now=T0)
        with pytest.raises(sqlite3.IntegrityError):
            store_article(db, "nguon", bad, now=T0)
    assert articles.count_articles(db) == 0
    # alone, an article is atomic by itself: the bad one leaves nothing, the good one stays
    store_article(db, "nguon", good, now=T0)
    with pytest.raises(sqlite3.IntegrityError):
        store_article(db, "nguon", bad, now=T0)
    assert articles.count_articles(db) == 1
    assert_index_exact(db)


# --- migration 0011 from the store path of before ------------------------------------------

LEGACY = r'''
import json, sys
from datetime import UTC, datetime, timedelta
from core.models import Extracted
from storage.articles import article_versions, search_articles, store_article
from storage.neardup import cluster_members
from storage.schema import open_db

pages, queries = json.loads(sys.stdin.read())
db = open_db(sys.argv[1])
t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
for i, (source, url, title, text) in enumerate(pages):
    store_article(db, source, Extracted(url=url, canonical_url=url, title=title, text=text,
                  published_at=t0, site_name=source), now=t0 + timedelta(minutes=i))
'''
SNAPSHOT = r'''
ids = [r[0] for r in db.execute("SELECT id FROM articles ORDER BY id")]
print(json.dumps({
    "search": {q: [(r["id"], r["snippet"]) for r in search_articles(db, q, limit=50)]
               for q in queries},
    "versions": {i: article_versions(db, i) for i in ids},
    "clusters": {i: [m["id"] for m in cluster_members(db, i)] for i in ids},
    "cluster_of": {i: db.execute("SELECT cluster_id FROM articles WHERE id = ?", [i]
                                  ).fetchone()[0] for i in ids},
}, ensure_ascii=False))
'''

STORY = ("Chiều nay, Ủy ban nhân dân tỉnh tổ chức hội nghị triển khai kế hoạch chuyển đổi số "
         "năm 2026. Đồng chí Chủ tịch yêu cầu các sở, ngành hoàn thành cơ sở dữ liệu dân cư, "
         "đẩy mạnh dịch vụ công trực tuyến toàn trình và thanh toán không dùng tiền mặt.\n"
         "Theo báo cáo, toàn tỉnh đã số hóa hơn tám mươi phần trăm hồ sơ thủ tục hành chính; "
         "nhiều xã miền núi đã có sóng di động và tổ công nghệ số cộng đồng.\n"
         "Hội nghị thống nhất giao Sở Khoa học và Công nghệ chủ trì, phối hợp với các huyện "
         "tháo gỡ vướng mắc về hạ tầng, nhân lực, bảo đảm an toàn thông tin.")
OTHER = ("Sáng nay, Sở Giao thông vận tải khởi công tuyến đường nối trung tâm huyện với các xã "
         "vùng biển. Dự án dài mười hai ki-lô-mét, vốn ngân sách tỉnh và trung ương.\n"
         "Nhà thầu cam kết bảo đảm an toàn, vệ sinh môi trường, giữ cảnh quan văn hóa, "
         "hoàn thành trong hai năm.")


def _legacy_pages() -> list[tuple[str, str, str, str]]:
    a, b = "https://tinh-a.example.test", "https://bao-b.example.test"
    return [
        ("tinh-a", f"{a}/hoi-nghi.htm", "Hội nghị chuyển đổi số năm 2026", STORY),
        ("tinh-a", f"{a}/duong.htm", "Khởi công đường ven biển", OTHER),
        # a syndicated copy with its own header and footer: a near-duplicate
        ("bao-b", f"{b}/tinh-a-chuyen-doi-so.htm", "Tỉnh A đẩy mạnh chuyển đổi số",
         "(Báo B) – " + STORY + "\nBạn đọc có thể xem thêm tại chuyên mục Thời sự."),
        # an exact copy under another URL: an alias
        ("bao-b", f"{b}/ban-sao.htm", "Hội nghị chuyển đổi số năm 2026", STORY),
        # the first article edited twice: three versions
        ("tinh-a", f"{a}/hoi-nghi.htm", "Hội nghị chuyển đổi số năm 2026 (cập nhật)",
         STORY + "\nHội nghị kết thúc lúc 17 giờ."),
        ("tinh-a", f"{a}/hoi-nghi.htm", "Hội nghị chuyển đổi số năm 2026 (cập nhật)",
         STORY.replace("tám mươi", "chín mươi") + "\nHội nghị kết thúc lúc 17 giờ."),
        # the road article respelled (same words, the other tone placement): no version
        ("tinh-a", f"{a}/duong.htm", "Khởi công đường ven biển", OTHER.replace("hóa", "hoá")),
        ("tinh-a", f"{a}/duong.htm", "Khởi công đường ven biển",
         OTHER.replace("Sở Giao thông vận tải", "Sở Xây dựng")),
    ]


QUERIES = ["chuyen doi so", "chuyển đổi số", "duong", "so hoa", "thong*", "khoi cong",
           "ket thuc", "xa mien nui", "ha tang"]


def _base_tree(tmp_path: Path) -> Path:
    """The code of issue 16's base commit (core, storage), from this repository's git."""
    tree = tmp_path / "base"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASE, "core", "storage"],
                             capture_output=True, check=False)
    assert archive.returncode == 0, (
        f"issue 16's base commit {BASE} is not in this clone's history "
        f"({archive.stderr.decode(errors='replace').strip()}): fetch the full history")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def test_migration_0011_carries_an_archive_of_before_forward(tmp_path):
    tree = _base_tree(tmp_path)
    path = tmp_path / "dxmon.db"
    run = subprocess.run([sys.executable, "-c", LEGACY + SNAPSHOT, str(path)],
                         input=json.dumps([_legacy_pages(), QUERIES]), text=True,
                         capture_output=True, cwd=tree, env={"PYTHONPATH": str(tree)})
    assert run.returncode == 0, run.stderr
    before = json.loads(run.stdout)
    # what the archive of before holds: versions, a cluster, an alias, hits
    assert len(before["versions"]["1"]) == 3
    assert before["clusters"]["1"] == [3]
    assert all(before["search"][q] for q in QUERIES[:5])

    db = open_db(path)  # migrates
    assert db.execute("SELECT name FROM _migrations WHERE name = '0011_compact'").fetchone()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the snapshot the old code printed, here
        exec(SNAPSHOT, {"db": db, "queries": QUERIES, "json": json,
                        "search_articles": search_articles, "article_versions": article_versions,
                        "cluster_members": cluster_members})
    after = json.loads(printed.getvalue())
    # the same hits with the same snippets; their order is the ranking's, which issue 16
    # also changed (storage.articles.search_articles: bounded candidates)
    for snapshot in (before, after):
        snapshot["search"] = {q: sorted(hits) for q, hits in snapshot["search"].items()}
    assert after == before
    # texts are stored once now: only superseded versions (and a respelled current
    # version, which keeps its first spelling) hold a text of their own
    copies = db.execute("SELECT COUNT(*) FROM article_versions WHERE text IS NOT NULL"
                        ).fetchone()[0]
    assert copies == 2 + 1  # two drafts of article 1, the road article's first version
    assert db.execute("SELECT COUNT(*) FROM article_versions").fetchone()[0] == sum(
        len(v) for v in before["versions"].values())
    assert_index_exact(db)

    # the migrated archive takes the store path of now: an update of a migrated entry
    # (deleted from the contentless index by recomputed values) and a new copy
    pages = _legacy_pages()
    source, url, title, text = pages[1]
    store_article(db, source, _page(url, title, OTHER + "\nDự kiến thông xe năm 2028."),
                  now=T0 + timedelta(days=1))
    source, url, title, text = pages[2]
    copy = store_article(db, "bao-c", _page("https://bao-c.example.test/x.htm", title,
                                            "Theo Báo C: " + STORY + "\nHội nghị kết thúc lúc 17 giờ."),
                         now=T0 + timedelta(days=1))
    assert copy.outcome == "new"
    assert db.execute("SELECT cluster_id FROM articles WHERE id = ?", [copy.article_id]
                      ).fetchone()[0] == before["cluster_of"]["1"]
    assert [v["text"] for v in article_versions(db, 2)][-1].endswith("thông xe năm 2028.")
    assert_index_exact(db)


def test_prepared_search_forms_are_those_recomputed_from_the_stored_row():
    """What the writer indexes and what an update deletes must be the same tokens."""
    for text in (STORY, OTHER, unicodedata.normalize("NFD", STORY), "Hoá  đơn\u00a0điện tử\n\nkhỏe"):
        p = prepare(_page("https://nguon.example.test/x.htm", "Thủy lợi – hoá chất", text))
        assert (p.search_title, p.search_text) == search_forms(p.title, p.text)
